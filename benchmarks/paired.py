"""Paired image-to-image benchmarks: preprocessing cost, Pix2Pix and colorization learning on the embedded photos.

    python benchmarks/paired.py                       # all three parts (a few CPU minutes each on 2 cores)
    python benchmarks/paired.py --parts cost          # only the preprocessing cost
    python benchmarks/paired.py --pix2pix-steps 200 --color-steps 200 --gan-steps 0   # a quicker look

1. Cost per batch of 16x3x256x256 (uint8 RGB in, as a loader delivers it): the Lab conversion
   (``rgb_to_lab_normalized``, fp32), the colorization device pipeline (flip + Lab), and the pix2pix jitter of A
   and B (bicubic antialiased resize 256 -> 286, shared random 256 crop, shared flip). Median of ``--reps``
   runs after one warm-up, on the CPU (and on CUDA when available).
2. Pix2Pix on the embedded edges -> photo task (``experiments/pix2pix_embedded.yaml``'s model and data:
   U-Net 6 downs / ngf 16, PatchGAN ndf 16, 64 px crops, batch 4) for a fixed number of generator iterations,
   then L1 / PSNR / SSIM on fixed held-out crops (coffee, flower; never trained on) against returning the
   input (the edge map).
3. Colorization: L1 pretraining (``GeneratorPretraining``, ``experiments/colorization_embedded_pretrain.yaml``'s
   U-Net 1 -> 2, ngf 16, 64 px crops, batch 8) for a fixed number of steps, optionally followed by GAN steps
   (``Pix2Pix`` with ``color_space: lab`` from the pretrained generator); ab-L1 (normalised and in a*b* units)
   and RGB PSNR on fixed held-out crops against the gray baseline (ab = 0).

Fixed step counts and seeds (not wall time: the machine is shared). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import lightning as L
import torch

from datamodules.lab_colorization import LabColorizationDataModule
from datamodules.paired import PairedDataModule, resize_each, shared_random_crop, shared_random_flip, to_float
from lit_gans.metrics.paired import psnr_per_image, ssim_per_image
from lit_gans.models.pix2pix import GeneratorPretraining, Pix2Pix
from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.unet import UnetGenerator
from lit_gans.utils.images import to_unit_range
from lit_gans.utils.lab import AB_SCALE, gray_to_rgb, lab_normalized_to_rgb, rgb_to_lab_normalized

CROP = 64
VAL_CROPS = 16  # fixed crops per held-out photo (2 photos -> 32 crops)


# ----------------------------------------------------------------------------- 1. cost
def _time(fn: Callable[[], object], reps: int, device: torch.device) -> tuple[float, float]:
    """(median wall ms, mean process CPU ms) per call. On a shared machine the wall time grows with the load;
    the CPU time (all threads of this process) is the work itself."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()
    sync()
    times = []
    cpu0 = time.process_time()
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000.0, (time.process_time() - cpu0) / reps * 1000.0


def cost(reps: int) -> list[str]:
    rows = ["| device | operation (batch 16x3x256x256) | wall ms / batch (median) | CPU ms / batch |", "|---|---|---|---|"]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        g = torch.Generator().manual_seed(0)
        a = torch.randint(0, 256, (16, 3, 256, 256), generator=g, dtype=torch.uint8).to(device)
        b = torch.randint(0, 256, (16, 3, 256, 256), generator=g, dtype=torch.uint8).to(device)
        x = to_float(a)
        hw = torch.full((16, 2), 286, device=device)
        sizes = [(256, 256)] * 16

        def pix2pix_jitter() -> None:
            fa, fb = to_float(a), to_float(b)
            ra, rb = resize_each(fa, sizes, (286, 286)), resize_each(fb, sizes, (286, 286))
            shared_random_flip(shared_random_crop([ra, rb], 256, hw))

        def color_pipeline() -> None:
            (flipped,) = shared_random_flip([to_float(a)])
            rgb_to_lab_normalized(flipped)

        light, ab = rgb_to_lab_normalized(x)
        ops = {
            "RGB -> Lab (L/50-1, ab/110), fp32": lambda: rgb_to_lab_normalized(x),
            "Lab -> RGB (display/metrics)": lambda: lab_normalized_to_rgb(light, ab),
            "colorization: uint8 -> flip -> Lab": color_pipeline,
            "pix2pix jitter of A and B: resize 286 + crop 256 + flip": pix2pix_jitter,
        }
        for name, fn in ops.items():
            wall, cpu = _time(fn, reps, device)
            rows.append(f"| {device.type} ({torch.get_num_threads()} threads) | {name} | {wall:.1f} | {cpu:.1f} |")
    return rows


# ----------------------------------------------------------------------------- 2. pix2pix
def _trainer(steps: int) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu", devices=1, max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
    )


@torch.no_grad()
def _pix2pix_eval(model: Pix2Pix, dm: PairedDataModule) -> dict[str, float]:
    dm.setup("validate")
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("l1", "psnr", "ssim", "l1_in", "psnr_in", "ssim_in")}
    model.eval()
    for batch in dm.val_dataloader():
        a, b = dm.geometry([batch["A"], batch["B"]], batch, training=False)
        a, b = a * 2 - 1, b * 2 - 1
        fake, target, inp = to_unit_range(model.translate(a)), to_unit_range(b), to_unit_range(a)
        for suffix, pred in (("", fake), ("_in", inp)):
            out["l1" + suffix].append((pred - target).abs().flatten(1).mean(1))
            out["psnr" + suffix].append(psnr_per_image(pred, target))
            out["ssim" + suffix].append(ssim_per_image(pred, target))
    return {k: torch.cat(v).mean().item() for k, v in out.items()}


def pix2pix(steps: int) -> list[str]:
    L.seed_everything(0, verbose=False)
    dm = PairedDataModule(None, preprocess="crop", crop_size=CROP, batch_size=4, num_workers=0, epoch_repeats=25, val_crops=VAL_CROPS)
    model = Pix2Pix(UnetGenerator(3, 3, 6, 16), PatchDiscriminator(6, 16), metrics=False, inference_mode="eval")
    untrained = _pix2pix_eval(model, dm)
    t = time.perf_counter()
    _trainer(2 * steps).fit(model, dm)  # global_step counts the G and the D step
    wall = time.perf_counter() - t
    results = {"eval": _pix2pix_eval(model, dm)}
    model.inference_mode = "paper"
    torch.manual_seed(1)
    results["paper"] = _pix2pix_eval(model, dm)
    ev = results["eval"]
    rows = [
        f"Pix2Pix, edges -> photo, {steps} generator iterations ({wall:.0f} s wall on a shared CPU), "
        f"{2 * VAL_CROPS} held-out {CROP} px crops:",
        "",
        "| output | L1 (RGB [0,1]) | PSNR (dB) | SSIM |",
        "|---|---|---|---|",
        f"| returning the input (edge map) | {ev['l1_in']:.4f} | {ev['psnr_in']:.2f} | {ev['ssim_in']:.4f} |",
        f"| Pix2Pix, untrained | {untrained['l1']:.4f} | {untrained['psnr']:.2f} | {untrained['ssim']:.4f} |",
    ]
    for mode, r in results.items():
        rows.append(f"| Pix2Pix, {steps} it., inference_mode={mode} | {r['l1']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    return rows


# ----------------------------------------------------------------------------- 3. colorization
@torch.no_grad()
def _color_eval(net_module, dm: LabColorizationDataModule) -> dict[str, float]:  # noqa: ANN001
    dm.setup("validate")
    ab_l1, gray_l1, psnr, psnr_gray = [], [], [], []
    net_module.eval()
    for batch in dm.val_dataloader():
        light, ab = dm.to_lab(batch["image"], batch, training=False)
        fake = net_module.translate(light).float()
        target_rgb = lab_normalized_to_rgb(light, ab)
        ab_l1.append((fake - ab).abs().flatten(1).mean(1))
        gray_l1.append(ab.abs().flatten(1).mean(1))
        psnr.append(psnr_per_image(lab_normalized_to_rgb(light, fake), target_rgb))
        psnr_gray.append(psnr_per_image(gray_to_rgb(light), target_rgb))
    cat = lambda v: torch.cat(v).mean().item()  # noqa: E731
    return {"ab_l1": cat(ab_l1), "gray_l1": cat(gray_l1), "psnr": cat(psnr), "psnr_gray": cat(psnr_gray)}


def colorization(steps: int, gan_steps: int) -> list[str]:
    L.seed_everything(0, verbose=False)
    dm = LabColorizationDataModule(None, preprocess="crop", crop_size=CROP, batch_size=8, num_workers=0, epoch_repeats=25, val_crops=VAL_CROPS)
    generator = UnetGenerator(1, 2, 6, 16)
    pre = GeneratorPretraining(generator, optimizer=lambda p: torch.optim.Adam(p, lr=2e-4), metrics=False)
    untrained = _color_eval(pre, dm)
    t = time.perf_counter()
    _trainer(steps).fit(pre, dm)
    wall = time.perf_counter() - t
    results = [(f"L1 pretraining, {steps} steps", _color_eval(pre, dm))]
    if gan_steps:
        gan = Pix2Pix(generator, PatchDiscriminator(3, 16), color_space="lab", inference_mode="eval", metrics=False)
        t2 = time.perf_counter()
        _trainer(2 * gan_steps).fit(gan, dm)
        wall += time.perf_counter() - t2
        results.append((f"+ GAN (lambda 100), {gan_steps} it.", _color_eval(gan, dm)))
    g = results[0][1]
    rows = [
        f"Colorization (L -> ab), {2 * VAL_CROPS} held-out {CROP} px crops ({wall:.0f} s wall on a shared CPU):",
        "",
        "| output | ab L1 (ab/110) | ab L1 (a*b* units) | RGB PSNR (dB) |",
        "|---|---|---|---|",
        f"| gray baseline (ab = 0) | {g['gray_l1']:.4f} | {g['gray_l1'] * AB_SCALE:.2f} | {g['psnr_gray']:.2f} |",
        f"| untrained generator | {untrained['ab_l1']:.4f} | {untrained['ab_l1'] * AB_SCALE:.2f} | {untrained['psnr']:.2f} |",
    ]
    for name, r in results:
        rows.append(f"| {name} | {r['ab_l1']:.4f} | {r['ab_l1'] * AB_SCALE:.2f} | {r['psnr']:.2f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", nargs="+", default=["cost", "pix2pix", "colorization"], choices=["cost", "pix2pix", "colorization"])
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions of each cost measurement")
    parser.add_argument("--pix2pix-steps", type=int, default=1000)
    parser.add_argument("--color-steps", type=int, default=1000)
    parser.add_argument("--gan-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared machine 2 threads spin-wait for each other)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sections = []
    if "cost" in args.parts:
        sections.append(cost(args.reps))
    if "pix2pix" in args.parts:
        sections.append(pix2pix(args.pix2pix_steps))
    if "colorization" in args.parts:
        sections.append(colorization(args.color_steps, args.gan_steps))
    print("\n\n".join("\n".join(s) for s in sections))


if __name__ == "__main__":
    main()

"""Does the Context Encoder learn? Hole metrics on held-out crops of the embedded photos, against mean-fill.

    python benchmarks/inpainting.py                  # center hole, experiments/context_encoder_embedded.yaml
    python benchmarks/inpainting.py --steps 300 --config experiments/context_encoder_embedded_random_region.yaml

Trains for a fixed number of generator iterations (not wall time, so CPU contention does not change the
result) with the YAML's settings through the real CLI, then fills the holes of ``--crops`` fixed crops
per held-out photo (coffee, flower: never seen in training) and prints a markdown table of hole L1, L2,
PSNR and SSIM for the mean-filled input (the official fill, the baseline) and for the model's composite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lit_gans.cli import LitGansCLI  # noqa: E402
from lit_gans.metrics.masked import MaskedImageMetrics  # noqa: E402
from lit_gans.utils.images import to_unit_range  # noqa: E402


def evaluate(model, dm, crops: int) -> dict[str, dict[str, float]]:  # noqa: ANN001
    from types import SimpleNamespace

    dm.val_crops, dm.val_set = crops, None
    dm.setup("validate")
    dm.trainer = SimpleNamespace(training=False, predicting=False)  # deterministic validation masks
    model.eval()
    ours, base = MaskedImageMetrics(), MaskedImageMetrics()
    with torch.no_grad():
        for raw in dm.val_dataloader():
            batch = dm.on_after_batch_transfer(raw, 0)
            _, comp = model.inpaint(batch["masked"], batch["image"], batch["mask"], model.generator)
            target = to_unit_range(batch["image"])
            ours.update(to_unit_range(comp), target, batch["mask"])
            base.update(to_unit_range(batch["masked"]), target, batch["mask"])
    return {"mean-fill (input)": {k: float(v) for k, v in base.compute().items()}, "Context Encoder": {k: float(v) for k, v in ours.compute().items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="experiments/context_encoder_embedded.yaml")
    parser.add_argument("--steps", type=int, default=300, help="generator iterations")
    parser.add_argument("--crops", type=int, default=32, help="held-out crops per photo")
    parser.add_argument("--seed", type=int, default=0)
    args, extra = parser.parse_known_args()
    sys.argv = sys.argv[:1]  # the CLI gets its arguments from `args=` (extra ones are passed on)
    os.environ.setdefault("WANDB_MODE", "offline")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        cli = LitGansCLI(args=[
            "fit", "--config", str(ROOT / args.config), f"--seed_everything={args.seed}",
            f"--trainer.max_steps={2 * args.steps}",  # global_step counts the D and the G step
            "--trainer.max_epochs=-1", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
            "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]", f"--trainer.default_root_dir={tmp}", *extra,
        ])
        train_s = time.perf_counter() - start
        model, dm = cli.model, cli.datamodule
        results = evaluate(model, dm, args.crops)
    g = model.generator
    n_val = 2 * args.crops
    print(f"\n{args.config}: {g.image_size} px crops, mask '{dm.mask}', generator {sum(p.numel() for p in g.parameters()):,} "
          f"parameters ({type(g).__name__}, output {g.output}), {model.g_iter} generator iterations of batch "
          f"{dm.batch_size} in {train_s:.0f} s; {n_val} held-out crops (coffee, flower)\n")
    print("| fill | hole PSNR (dB) | hole SSIM | hole L1 | hole L2 |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['l1']:.4f} | {r['l2']:.4f} |")
    gain = results["Context Encoder"]["psnr"] - results["mean-fill (input)"]["psnr"]
    print(f"\nPSNR gain over mean-fill: {gain:+.2f} dB")


if __name__ == "__main__":
    main()

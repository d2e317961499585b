"""Learning benchmark of the noise-to-image GANs on the embedded digits (CPU, a few minutes each).

Each model is built from its own YAML (``experiments/<model>_digits.yaml``, exactly what a user runs),
validated untrained, trained for a fixed number of epochs, and validated again. The metric is FID on
the features of the project's digit classifier (``lit_gans.metrics``; 359 generated samples against the
359 held-out digits), plus, for the conditional GAN, the share of samples the classifier assigns to the
requested class (chance: 10%).

    python benchmarks/noise_gans.py                      # all five, default epoch budgets
    python benchmarks/noise_gans.py --models dcgan --epochs 30
    python benchmarks/noise_gans.py --models wgan_gp --model.init_args.optimizer_g.init_args.lr=2e-4   # CLI overrides

Prints a markdown table. Fixed epoch budgets (not wall time), so a loaded machine gives the same numbers.
The table also gives the training step time early and late in training (``step_timer.growth``: mean ms per
step of the first and last tenth of the epochs, at most 5 each) and their ratio; a ratio above 1.5 (a step
that slows down as training goes on, e.g. CPU denormals) prints a warning and is marked ``(!)``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from lit_gans.cli import LitGansCLI
from step_timer import GROWTH_WARN, EpochStepTimer, growth, warn_if_growing

ROOT = Path(__file__).resolve().parents[1]
#: epochs of 22 batches (batch 64, 1438 training digits); WGAN's official warm-up alone takes 2500 critic batches
EPOCHS = {"gan": 100, "dcgan": 60, "wgan": 150, "wgan_gp": 300, "cgan": 60}


def run(model: str, epochs: int, seed: int, extra: list[str]) -> dict:
    args = [
        "--config", str(ROOT / "experiments" / f"{model}_digits.yaml"),
        f"--seed_everything={seed}", f"--trainer.max_epochs={epochs}", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--trainer.check_val_every_n_epoch=100000", "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]", *extra,
    ]
    cli = LitGansCLI(args=args, run=False)
    timer = EpochStepTimer()
    cli.trainer.callbacks.append(timer)
    before = cli.trainer.validate(cli.model, cli.datamodule, verbose=False)[0]
    start = time.perf_counter()
    cli.trainer.fit(cli.model, cli.datamodule)
    seconds = time.perf_counter() - start
    after = cli.trainer.validate(cli.model, cli.datamodule, verbose=False)[0]
    fid_key = next(k for k in after if k.startswith("val/fid"))
    acc_key = next((k for k in after if k.startswith("val/classacc")), None)
    g = growth(timer.epoch_ms)
    warn_if_growing(f"{model}_digits", g)
    return {**g,
        "model": model, "epochs": epochs, "g_iter": cli.model.g_iter, "seconds": seconds, "metric": fid_key[4:],
        "fid0": before[fid_key], "fid1": after[fid_key],
        "acc0": before.get(acc_key) if acc_key else None, "acc1": after.get(acc_key) if acc_key else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(EPOCHS))
    ap.add_argument("--epochs", type=int, default=None, help="override every model's epoch budget")
    ap.add_argument("--seed", type=int, default=0)
    args, extra = ap.parse_known_args()  # anything else goes to LightningCLI, e.g. --model.init_args.n_critic=2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = [run(m, args.epochs or EPOCHS[m], args.seed, extra) for m in args.models]
    print("\n| model (YAML) | epochs | G iters | train time (s) | metric | untrained | trained | trained / untrained | class accuracy (untrained -> trained) | ms/step early -> late (ratio) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        acc = f"{r['acc0']:.1%} -> {r['acc1']:.1%}" if r["acc1"] is not None else "-"
        flag = " (!)" if r["ratio"] > GROWTH_WARN else ""
        steps = f"{r['early_ms']:.1f} -> {r['late_ms']:.1f} ({r['ratio']:.2f}{flag})"
        print(
            f"| {r['model']}_digits | {r['epochs']} | {r['g_iter']} | {r['seconds']:.0f} | {r['metric']} | {r['fid0']:.1f} | "
            f"{r['fid1']:.1f} | {r['fid1'] / r['fid0']:.1%} | {acc} | {steps} |"
        )


if __name__ == "__main__":
    main()

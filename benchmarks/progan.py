"""Learning benchmark of ProGAN on the embedded digits at 32x32 (CPU).

The model is built from ``experiments/progan_digits.yaml`` (exactly what a user runs: reduced widths
fmap_base 512 / fmap_max 64, 3k + 3k images per resolution, 40k images in all) and trained for a fixed number
of images (not wall time, so a loaded machine gives the same numbers). Every ``--eval-kimg`` thousand images,
and before training, the EMA generator (the one the paper evaluates) is measured at the final resolution
(lower stages are nearest-upscaled, as the official ``Gs`` outputs):

* FID on the features of the project's digit classifier (359 generated digits against the 359 held-out ones);
* SWD x1e3 on Laplacian-pyramid patches (the paper's metric, ``lit_gans.metrics.swd``), levels 32 and 16 px.

A last row measures 359 *training* digits against the held-out ones: the floor a perfect generator reaches
with this sample size.

    python benchmarks/progan.py                    # the YAML's 40 kimg, measured every 5 kimg
    python benchmarks/progan.py --kimg 10 --eval-kimg 2

Prints a markdown table. Runs with one intra-op thread (two OpenMP threads spin against each other on a
shared 2-core machine).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightning as L
import torch

from lit_gans.cli import LitGansCLI
from lit_gans.metrics.generation import GenerationMetrics
from lit_gans.metrics.swd import SlicedWassersteinDistance
from lit_gans.models.noise import seeded_noise

ROOT = Path(__file__).resolve().parents[1]


def measure(model, dm, metrics: dict) -> dict[str, float]:  # noqa: ANN001
    """FID (EMA and trained G) and SWD (EMA G) on the held-out digits, latents seeded by sample index
    exactly as ``ProGAN.validation_step``."""
    was_training = model.training
    model.eval()
    fid_ema, fid_raw, swd = metrics["fid_ema"], metrics["fid_raw"], metrics["swd"]
    for m in (fid_ema, fid_raw):
        m.to(model.device)
    swd.to(model.device)
    need_real = not fid_ema.has_real_features
    with torch.no_grad():
        for batch in dm.val_dataloader():
            real = batch["image"].to(model.device).float() / 255.0
            z = seeded_noise(batch["index"], model.generator.latent_dim, seed=10_000 + model.sample_seed).to(model.device)
            fake = model.generate_images(z)
            if need_real:
                fid_ema.update_real(real)
                fid_raw.update_real(real)
            fid_ema.update_fake(fake)
            fid_raw.update_fake(model.generate_images(z, ema=False))
            swd.update(real, real=True)
            swd.update(fake, real=False)
    out = {k: float(v) for k, v in {**fid_ema.compute(), **swd.compute()}.items()}
    out["fid_raw"] = float(next(v for k, v in fid_raw.compute().items() if k.startswith("fid")))
    for m in (fid_ema, fid_raw, swd):
        m.reset()
    model.train(was_training)
    return out


class Evaluate(L.Callback):
    def __init__(self, every_kimg: float, resolution: int) -> None:
        self.metrics = {
            "fid_ema": GenerationMetrics("digits", reference="val", reset_real_features=False),
            "fid_raw": GenerationMetrics("digits", reference="val", reset_real_features=False),
            "swd": SlicedWassersteinDistance(resolution),
        }
        self.every = every_kimg * 1000
        self.next = 0.0
        self.rows: list[dict] = []
        self.start = time.perf_counter()

    def _row(self, trainer, model) -> None:  # noqa: ANN001
        state = model.schedule_at()
        t = time.perf_counter()
        values = measure(model, trainer.datamodule, self.metrics)
        self.start += time.perf_counter() - t  # train time excludes evaluation
        self.rows.append({"kimg": model.images_seen / 1000, "stage": state.stage, "res": state.resolution, "alpha": state.alpha,
                          "g_iter": model.g_iter, "seconds": time.perf_counter() - self.start, **values})
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.rows[-1].items()}, flush=True)
        self.next += self.every

    def on_train_start(self, trainer, model) -> None:  # noqa: ANN001
        self.start = time.perf_counter()
        self._row(trainer, model)

    def on_train_batch_end(self, trainer, model, *args) -> None:  # noqa: ANN001, ANN002
        if model.images_seen >= self.next:
            self._row(trainer, model)

    def on_train_end(self, trainer, model) -> None:  # noqa: ANN001
        if self.rows[-1]["kimg"] != model.images_seen / 1000:
            self._row(trainer, model)


def data_floor(dm) -> dict[str, float]:  # noqa: ANN001
    """359 training digits against the 359 held-out ones: the best value this protocol can show."""
    fid, swd = GenerationMetrics("digits", reference="val"), SlicedWassersteinDistance(dm.resolution)
    val = torch.cat([b["image"] for b in dm.val_dataloader()]).float() / 255.0
    train = torch.stack([dm.train_set[i]["image"] for i in range(len(val))]).float() / 255.0
    fid.update_real(val)
    fid.update_fake(train)
    swd.update(val, real=True)
    swd.update(train, real=False)
    return {k: float(v) for k, v in {**fid.compute(), **swd.compute()}.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kimg", type=float, default=None, help="total thousands of images (default: the YAML's total_kimg)")
    ap.add_argument("--eval-kimg", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    extra = [f"--model.init_args.schedule.total_kimg={args.kimg}"] if args.kimg else []
    cli = LitGansCLI(args=[
        "--config", str(ROOT / "experiments" / "progan_digits.yaml"), f"--seed_everything={args.seed}",
        "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--trainer.check_val_every_n_epoch=100000", "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]",
        *extra,
    ], run=False)
    ev = Evaluate(args.eval_kimg, cli.model.resolution)
    cli.trainer.callbacks.append(ev)
    cli.trainer.fit(cli.model, cli.datamodule)
    floor = data_floor(cli.datamodule)
    fid_key = next(k for k in ev.rows[0] if k.startswith("fid"))
    swd_keys = sorted((k for k in ev.rows[0] if k.startswith("swd")), key=lambda k: (k.endswith("avg"), -int(k.split("_")[-1][:-2]) if k.endswith("px") else 0))
    print(f"\nprogan_digits.yaml, {cli.model.images_seen / 1000:.1f} kimg, seed {args.seed}; EMA generator at the final 32 px; "
          f"FID = {fid_key}, SWD x1e3 = {swd_keys[-1].rsplit('_', 1)[0]}")
    print("\n| kimg | G iters | stage (res, alpha) | train time (s) | FID (EMA G) | FID (trained G) | "
          + " | ".join(f"SWD {k.split('_')[-1]} (EMA G)" for k in swd_keys) + " |")
    print("|---|---|---|---|---|---|" + "---|" * len(swd_keys))
    for r in ev.rows:
        print(f"| {r['kimg']:.1f} | {r['g_iter']} | {r['stage']} ({r['res']} px, {r['alpha']:.2f}) | {r['seconds']:.0f} | {r[fid_key]:.1f} | "
              f"{r['fid_raw']:.1f} | " + " | ".join(f"{r[k]:.1f}" for k in swd_keys) + " |")
    print(f"| data floor (359 training digits) | - | - | - | {floor[fid_key]:.1f} | - | " + " | ".join(f"{floor[k]:.1f}" for k in swd_keys) + " |")


if __name__ == "__main__":
    main()

"""Learning benchmark: x4 PSNR-oriented pretraining beats bicubic on held-out photos (Y-PSNR).

    python benchmarks/super_resolution.py                 # RRDBNet (reduced), L1: the table in docs/super_resolution.md
    python benchmarks/super_resolution.py --arch srresnet --num-blocks 2   # SRResNet (reduced), MSE

Training: ``SRPretrain`` on the embedded training photos (``datamodules.embedded``: 8 photos), HR crops
made and degraded on the device by ``SuperResolutionDataModule`` (MATLAB bicubic x4), a fixed number of
steps (not wall time: the machine is shared) with a fixed seed; Adam with BasicSR's betas and BasicSR's
cosine-annealing schedule (one period over the run, down to 1e-7).
Evaluation (the SR protocol of ``lit_gans.metrics.sr``: 8-bit, Y channel, 4 border pixels cropped, per-image
PSNR averaged), against MATLAB-bicubic upscaling of the same LR:
* the 2 held-out photos (coffee, flower) as whole images (what ``val/psnr_y`` reports on the embedded data);
* the same photos cut into 27 non-overlapping 128 px crops; 8 of them are nearly flat background where
  bicubic is almost exact (> 50 dB), which weighs heavily in a per-crop average.

Deviations for the CPU budget, stated in the printed header: reduced widths/depths, 32 px HR crops, batch 32,
a higher learning rate and a run of a few thousand steps (the papers: 1e6 iterations on DIV2K).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import lightning as L
import torch

from datamodules.embedded import load_photos
from datamodules.super_resolution import SuperResolutionDataModule, degrade
from lit_gans.metrics.sr import imresize_bicubic, psnr_y, ssim_y
from lit_gans.models.super_resolution import SRPretrain
from lit_gans.networks.rrdb import RRDBNet
from lit_gans.networks.srresnet import SRResNet

SCALE = 4
EVAL_CROP = 128


def heldout_crops(size: int = EVAL_CROP) -> torch.Tensor:
    """Non-overlapping ``size`` x ``size`` crops of the held-out photos, [N, 3, size, size] in [0, 1]."""
    crops = []
    for array in load_photos("heldout").values():
        img = torch.from_numpy(array).permute(2, 0, 1).float() / 255.0
        for y in range(0, img.shape[1] - size + 1, size):
            for x in range(0, img.shape[2] - size + 1, size):
                crops.append(img[:, y : y + size, x : x + size])
    return torch.stack(crops)


def heldout_photos() -> list[torch.Tensor]:
    """The held-out photos, mod-cropped to the scale: list of [1, 3, H, W] in [0, 1]."""
    out = []
    for array in load_photos("heldout").values():
        img = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255.0
        h, w = (img.shape[-2] // SCALE) * SCALE, (img.shape[-1] // SCALE) * SCALE
        out.append(img[..., :h, :w])
    return out


@torch.no_grad()
def _scores(model: SRPretrain, hr: torch.Tensor) -> tuple[torch.Tensor, ...]:
    lr = degrade(hr, SCALE)
    sr = model.super_resolve(lr)
    bic = imresize_bicubic(lr, SCALE)
    return psnr_y(sr, hr, SCALE), ssim_y(sr, hr, SCALE), psnr_y(bic, hr, SCALE), ssim_y(bic, hr, SCALE)


def evaluate(model: SRPretrain, photos: list[torch.Tensor], crops: torch.Tensor) -> dict[str, float]:
    was_training = model.training
    model.eval()
    per_photo = torch.stack([torch.cat(_scores(model, p)) for p in photos])  # [2, 4]
    per_crop = torch.cat([torch.stack(_scores(model, crops[i : i + 9]), 1) for i in range(0, len(crops), 9)])
    model.train(was_training)
    keys = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic")
    result = {f"photo_{k}": v.item() for k, v in zip(keys, per_photo.mean(0))}
    result.update({f"crop_{k}": v.item() for k, v in zip(keys, per_crop.mean(0))})
    return result


def build(arch: str, lr: float, num_feat: int, num_blocks: int, growth: int, steps: int) -> SRPretrain:
    # BasicSR train_RRDBNet_PSNR_x4.yml: cosine annealing to 1e-7 (here one period = the whole run)
    scheduler = partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=steps, eta_min=1e-7)
    if arch == "rrdb":
        net = RRDBNet(SCALE, num_feat=num_feat, num_blocks=num_blocks, growth=growth)
        opt = partial(torch.optim.Adam, lr=lr, betas=(0.9, 0.99))  # BasicSR betas
        return SRPretrain(net, pixel_loss="l1", optimizer=opt, scheduler=scheduler)
    net = SRResNet(SCALE, num_feat=num_feat, num_blocks=num_blocks)
    opt = partial(torch.optim.Adam, lr=lr, betas=(0.9, 0.999))  # SRGAN Sec. 3.2
    return SRPretrain(net, pixel_loss="mse", optimizer=opt, scheduler=scheduler)


class _Probe(L.Callback):
    """Evaluates every ``every`` optimizer steps; the evaluation time is kept out of the training time."""

    def __init__(self, photos: list[torch.Tensor], crops: torch.Tensor, every: int) -> None:
        self.photos, self.crops, self.every, self.rows, self.eval_time, self.t0 = photos, crops, every, [], 0.0, 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: SRPretrain) -> None:
        self.t0 = time.perf_counter()

    def record(self, trainer: L.Trainer, pl_module: SRPretrain) -> None:
        t = time.perf_counter()
        row = (trainer.global_step, evaluate(pl_module, self.photos, self.crops), t - self.t0 - self.eval_time)
        self.rows.append(row)
        m = row[1]
        print(f"step {row[0]}: photos {m['photo_psnr']:.2f} dB (bicubic {m['photo_psnr_bicubic']:.2f}), crops "
              f"{m['crop_psnr']:.2f} (bicubic {m['crop_psnr_bicubic']:.2f}), {row[2]:.0f} s", flush=True)
        self.eval_time += time.perf_counter() - t

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: SRPretrain, *args) -> None:  # noqa: ANN002
        step = trainer.global_step
        if self.every and step % self.every == 0 and step < trainer.max_steps:
            self.record(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: SRPretrain) -> None:
        self.record(trainer, pl_module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=["rrdb", "srresnet"], default="rrdb")
    parser.add_argument("--num-feat", type=int, default=16)
    parser.add_argument("--num-blocks", type=int, default=1)
    parser.add_argument("--growth", type=int, default=8, help="RRDBNet growth channels")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--hr-crop", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-every", type=int, default=1000, help="also evaluate every N steps (0: only at the end)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    L.seed_everything(0, verbose=False)
    photos, crops = heldout_photos(), heldout_crops()
    model = build(args.arch, args.lr, args.num_feat, args.num_blocks, args.growth, args.steps)
    data = SuperResolutionDataModule(
        scale=SCALE, hr_crop=args.hr_crop, batch_size=args.batch_size, num_workers=0, cache_images=True,
        repeat=max(1, args.steps * args.batch_size // 8 + 1),  # one epoch covers the run (8 training photos)
    )
    probe = _Probe(photos, crops, args.eval_every)
    rows = [(0, evaluate(model, photos, crops), 0.0)]
    trainer = L.Trainer(
        accelerator="cpu", devices=1, max_steps=args.steps, logger=False, enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False, limit_val_batches=0, num_sanity_val_steps=0,
        callbacks=[probe],
    )
    trainer.fit(model, data)
    rows += probe.rows

    n_params = sum(p.numel() for p in model.generator.parameters())
    g = model.generator
    arch = (f"RRDBNet(num_feat={args.num_feat}, num_blocks={args.num_blocks}, growth={args.growth})" if args.arch == "rrdb"
            else f"SRResNet(num_feat={args.num_feat}, num_blocks={args.num_blocks})")
    print(f"\nx4 PSNR-oriented pretraining on the embedded photos: {arch}, {n_params:,} parameters, "
          f"{model.pixel_loss.upper()}, batch {args.batch_size} x {args.hr_crop} px HR crops, Adam lr {args.lr:g} cosine "
          f"to 1e-7, {args.threads} threads. Held-out: coffee + flower (whole, and {len(crops)} crops of {EVAL_CROP} px); "
          f"Y channel, {type(g).__name__} output vs MATLAB bicubic, {SCALE} px border cropped.\n")
    print("| steps | photos: Y-PSNR model | photos: Y-PSNR bicubic | photos: gain | photos: Y-SSIM model / bicubic "
          "| crops: Y-PSNR model / bicubic | train time (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for steps, m, t in rows:
        print(f"| {steps} | {m['photo_psnr']:.2f} | {m['photo_psnr_bicubic']:.2f} | {m['photo_psnr'] - m['photo_psnr_bicubic']:+.2f} "
              f"| {m['photo_ssim']:.4f} / {m['photo_ssim_bicubic']:.4f} | {m['crop_psnr']:.2f} / {m['crop_psnr_bicubic']:.2f} | {t:.0f} |")


if __name__ == "__main__":
    main()

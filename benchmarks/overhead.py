"""Cost of the Lightning layer: the DCGAN training step through lit_gans (LightningModule, manual
optimisation, toggling, logging, Trainer loop) against a plain PyTorch loop of the same networks,
optimizers and batches, measured side by side in one process, interleaved, median of repeats.

    python benchmarks/overhead.py                  # CPU, 64x64 reference DCGAN, batch 64
    python benchmarks/overhead.py --device cuda --precision bf16-mixed

Prints a markdown table with the per-step times and their ratio (target on CPU: <= 1.10).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from lit_gans.losses.adversarial import d_vanilla, g_vanilla
from lit_gans.models.noise import DCGAN
from lit_gans.networks.dcgan import DCGANDiscriminator, DCGANGenerator


class FixedBatches(Dataset):
    """The same images for both loops: ``steps`` batches of random images in [-1, 1]."""

    def __init__(self, n: int, size: int, channels: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, channels, size, size, generator=g) * 2 - 1

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.x[i], "label": 0, "index": i}


def plain_loop(G, D, loader, device, steps, autocast_dtype) -> float:  # noqa: ANN001
    """The textbook loop: D step on detached fakes, then G step; D frozen during the G step."""
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    it = iter(loader)
    start = None
    for step in range(steps + 3):
        if step == 3:  # warm-up excluded
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        real = next(it)["image"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            fake = G(torch.randn(real.shape[0], G.latent_dim, device=device))
            for p in G.parameters():
                p.requires_grad_(False)
            loss_d = d_vanilla(D(real), D(fake.detach()))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        for p in G.parameters():
            p.requires_grad_(True)
        for p in D.parameters():
            p.requires_grad_(False)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss_g = g_vanilla(D(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


class Timer(L.Callback):
    def __init__(self, device: torch.device) -> None:
        self.device, self.start, self.end = device, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        if batch_idx == 3:
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.end = time.perf_counter()


def lightning_loop(G, D, loader, device, steps, precision) -> float:  # noqa: ANN001
    model = DCGAN(G, D)  # paper optimizers: Adam 2e-4 (0.5, 0.999)
    timer = Timer(device)
    trainer = L.Trainer(
        accelerator=device.type, devices=1, precision=precision, max_steps=2 * (steps + 3), logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0, callbacks=[timer],
    )
    trainer.fit(model, train_dataloaders=loader)
    return (timer.end - timer.start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="32-true", help="Lightning precision; bf16-mixed uses autocast in the plain loop too")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    device = torch.device(args.device)
    autocast_dtype = torch.bfloat16 if args.precision.startswith("bf16") else None
    torch.manual_seed(0)
    G0 = DCGANGenerator(100, 3, args.image_size, 64)
    D0 = DCGANDiscriminator(3, args.image_size, 64)
    data = FixedBatches(args.batch_size * (args.steps + 3), args.image_size, 3)
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=False, drop_last=True)
    t_plain, t_light = [], []
    for _ in range(args.repeats):  # interleaved, fresh copies each time
        t_plain.append(plain_loop(copy.deepcopy(G0).to(device), copy.deepcopy(D0).to(device), loader, device, args.steps, autocast_dtype))
        t_light.append(lightning_loop(copy.deepcopy(G0), copy.deepcopy(D0), loader, device, args.steps, args.precision))
    mp, ml = statistics.median(t_plain), statistics.median(t_light)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"| device | precision | DCGAN {args.image_size}px, batch {args.batch_size} | plain PyTorch (ms/step) | lit_gans + Lightning (ms/step) | ratio |")
    print("|---|---|---|---|---|---|")
    print(f"| {name} | {args.precision} | {args.steps} steps x {args.repeats} | {mp * 1e3:.1f} | {ml * 1e3:.1f} | {ml / mp:.3f} |")


if __name__ == "__main__":
    main()

"""Training throughput of every image-to-image model at its paper configuration, through the real Trainer.

For each model (built from its paper YAML, ``experiments/<model>.yaml``: networks, batch, crop) and each
precision variant (fp32; bf16-mixed; bf16-mixed + channels_last; + torch.compile, GPU only), three timings:

(a) **synthetic**: the real Trainer fed one preprocessed batch, already on the device, over and over
    (images/s, ms per generator iteration, peak device memory);
(b) **datamodule**: the real datamodule on a temporary folder of JPEGs in the data set's layout and at its
    typical image size, with the YAML's ``num_workers`` (images/s and the share of the step spent waiting
    for data: fetching, transfer and the datamodule's device-side preprocessing, timed between batches);
(c) **plain loop**: a plain PyTorch loop of the same networks, losses and optimizers (the model's own
    ``generate`` / ``discriminator_loss`` / ``generator_loss``, ``requires_grad`` toggling, ``torch.autocast``
    for bf16, backward outside autocast), without Lightning; the table gives Lightning (a) / plain (c).

(a) runs for every variant; (b) and (c) for ``--bc-variants`` (default fp32 and bf16+cl).

Warm-up steps are excluded from every timing; CUDA is synchronised around the timers; peak memory is
``torch.cuda.max_memory_allocated`` (reset before each run). Each (model, variant) has a step budget and
the whole run a time budget (``--budget-s``): rows that do not fit are printed as skipped, never dropped.

    python benchmarks/throughput.py --device cuda           # the GPU table (about 8 minutes at most)
    python benchmarks/throughput.py --quick                 # tiny sizes on the CPU (< 1 min; run by the tests)
    python benchmarks/throughput.py --device cuda --models pix2pix_facades esrgan_div2k --variants fp32 bf16

Also timed: ProGAN at the last phase of its schedule (``progan_celeba``: 128 px, batch 16, stable; the model is
set to that point of its schedule before timing), and the noise GANs of the ``*_mnist`` YAMLs with the embedded
digits in place of MNIST (same image size and batch; (b) then times an in-memory datamodule; metrics off). A
generator iteration of WGAN / WGAN-GP takes ``n_critic`` = 5 batches. Not covered: the single-network
pretraining stages.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import gc
import logging
import math
import os
import random
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import lightning as L
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: the project's datamodules/ package
    sys.path.insert(0, str(ROOT))

from lit_gans.cli import LitGansCLI  # noqa: E402

#: a compile run starts only with at least this much of ``--budget-s`` left (compilation takes ~a minute per model)
COMPILE_RESERVE_S = 100.0

VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {"precision": "32-true", "channels_last": False, "compile": False},
    "bf16": {"precision": "bf16-mixed", "channels_last": False, "compile": False},
    "bf16+cl": {"precision": "bf16-mixed", "channels_last": True, "compile": False},
    "bf16+cl+compile": {"precision": "bf16-mixed", "channels_last": True, "compile": True},
}


# ----------------------------------------------------------------------------------------------- JPEG folders
def write_jpegs(folder: Path, n: int, size: tuple[int, int], seed: int) -> None:
    """``n`` smooth colour JPEGs of ``size`` (w, h): upsampled low-resolution noise, so that the files and their
    decoding cost resemble photographs (white noise compresses badly and decodes slowly)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    for i in range(n):
        small = Image.fromarray(rng.integers(0, 256, (max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8))
        img = np.asarray(small.resize((w, h), Image.BICUBIC), dtype=np.int16)
        img = np.clip(img + rng.integers(-12, 13, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:05d}.jpg", quality=90)


def side_by_side(folder: Path, n: int, size: tuple[int, int], seed: int) -> None:
    """pix2pix's aligned layout: A|B side by side in one JPEG per pair."""
    tmp = folder.parent / (folder.name + "_halves")
    write_jpegs(tmp, n, size, seed)
    folder.mkdir(parents=True, exist_ok=True)
    for p in sorted(tmp.glob("*.jpg")):
        a = Image.open(p).convert("RGB")
        pair = Image.new("RGB", (2 * size[0], size[1]))
        pair.paste(a, (0, 0))
        pair.paste(a.transpose(Image.FLIP_LEFT_RIGHT), (size[0], 0))
        pair.save(folder / p.name, quality=90)


# ----------------------------------------------------------------------------------------------- the models
@dataclass
class Spec:
    """One benchmarked configuration: a paper YAML, CLI overrides, and how to lay out its JPEG folder."""

    name: str
    yaml: str
    make_data: Callable[[Path, bool], list[str]]  # (folder, quick) -> data overrides
    args: list[str] = field(default_factory=list)  # always (no pretrained files, no ImageNet downloads)
    quick_args: list[str] = field(default_factory=list)  # tiny sizes for --quick
    prepare: Optional[Callable[[L.LightningModule], None]] = None  # put the built model where it is timed
    in_quick: bool = True  # part of --quick (the test run); the others differ from a quick one in a loss only


def _paired(root: Path, quick: bool, batch: int) -> list[str]:
    # CMP facades: 256x256 photos (pix2pix's datasets/facades: 512x256 A|B files)
    side_by_side(root / "train", 4 if quick else 64, (48, 48) if quick else (256, 256), 0)
    return [f"--data.init_args.root={root}", "--data.init_args.epoch_repeats=1000", f"--data.init_args.batch_size={batch}"]


def _unpaired(root: Path, quick: bool) -> list[str]:
    n, size = (4, (48, 48)) if quick else (64, (256, 256))  # horse2zebra: 256x256 JPEGs
    write_jpegs(root / "trainA", n, size, 1)
    write_jpegs(root / "trainB", n, size, 2)
    return [f"--data.init_args.root={root}", "--data.init_args.epoch_repeats=1000"]


def _sr(root: Path, quick: bool) -> list[str]:
    size = (160, 136) if quick else (2040, 1356)  # DIV2K HR: 2040 px wide
    write_jpegs(root / "hr", 2 if quick else 16, size, 3)
    return [f"--data.init_args.root={root / 'hr'}", f"--data.init_args.val_root={root / 'hr'}", "--data.init_args.repeat=1000"]


def _coco(root: Path, quick: bool) -> list[str]:
    write_jpegs(root / "train2017", 8 if quick else 128, (80, 60) if quick else (640, 480), 4)  # COCO: ~640x480
    return [f"--data.init_args.root={root / 'train2017'}", "--data.init_args.subset=null", "--data.init_args.epoch_repeats=1000"]


def _paris(root: Path, quick: bool) -> list[str]:
    write_jpegs(root / "train", 8 if quick else 64, (96, 64) if quick else (936, 537), 5)  # Paris StreetView: 936x537
    return [f"--data.init_args.root={root / 'train'}", f"--data.init_args.val_root={root / 'train'}",
            f"--data.init_args.samples_per_epoch={10**6}"]


def _lowlight(root: Path, quick: bool) -> list[str]:
    n, size = (4, (96, 64)) if quick else (64, (600, 400))  # EnlightenGAN's unpaired set: ~600x400
    write_jpegs(root / "trainA", n, size, 6)
    write_jpegs(root / "trainB", n, size, 7)
    return [f"--data.init_args.root={root}", "--data.init_args.epoch_repeats=1000"]


def _digits(root: Path, quick: bool) -> list[str]:
    # the *_mnist YAMLs' MNIST needs a download: the embedded digits at the YAML's image size and batch instead
    return ["--data.class_path=datamodules.digits.DigitsDataModule"]


def _celeba(root: Path, quick: bool) -> list[str]:
    write_jpegs(root / "img_align_celeba", 8 if quick else 64, (178, 218), 8)  # img_align_celeba: 178x218 JPEGs
    return [f"--data.init_args.root={root / 'img_align_celeba'}", f"--data.init_args.cache_dir={root / 'cache'}",
            "--data.init_args.val_images=8", "--data.init_args.num_workers=0" if quick else "--data.init_args.num_workers=2"]


def _progan_last_phase(model: L.LightningModule) -> None:
    """Start at the last phase of the growing schedule: the full resolution, stable (no fade-in)."""
    sched = model.schedule
    phases = len(sched.resolutions(model.resolution)) - 1
    model.images_seen = phases * round(1000 * (sched.training_kimg + sched.transition_kimg))
    state = model.schedule_at()
    assert state.resolution == model.resolution and state.alpha == 1.0, state


def _noise(name: str, width: str = "ngf", in_quick: bool = True) -> Spec:
    g_small = [f"{G}.{width}=8"] if width == "ngf" else [f"{G}.hidden=[32]"]
    d_small = [f"{D}.ndf=8"] if width == "ngf" else [f"{D}.hidden=[32]"]
    return Spec(name, name, _digits, args=["--model.init_args.metrics=null"], quick_args=[*g_small, *d_small],
                in_quick=in_quick)


G, D = "--model.init_args.generator.init_args", "--model.init_args.discriminator.init_args"
SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("pix2pix_facades", "pix2pix_facades", lambda r, q: _paired(r, q, 1),
         quick_args=[f"{G}.num_downs=5", f"{G}.ngf=8", f"{D}.ndf=8", "--data.init_args.load_size=36",
                     "--data.init_args.crop_size=32", "--data.init_args.num_workers=0"]),
    # the same model at batch 32 (the data-waiting target covers batch 1 and 32)
    Spec("pix2pix_facades_b32", "pix2pix_facades", lambda r, q: _paired(r, q, 4 if q else 32),
         quick_args=[f"{G}.num_downs=5", f"{G}.ngf=8", f"{D}.ndf=8", "--data.init_args.load_size=36",
                     "--data.init_args.crop_size=32", "--data.init_args.num_workers=0"]),
    Spec("cyclegan_horse2zebra", "cyclegan_horse2zebra", _unpaired,
         quick_args=[f"{G}.ngf=8", f"{G}.n_blocks=1", "--model.init_args.generator_ba.init_args.ngf=8",
                     "--model.init_args.generator_ba.init_args.n_blocks=1", f"{D}.ndf=8",
                     "--model.init_args.discriminator_a.init_args.ndf=8", "--data.init_args.load_size=36",
                     "--data.init_args.crop_size=32", "--data.init_args.num_workers=0"]),
    Spec("srgan_div2k", "srgan_div2k", _sr,
         args=["--model.init_args.generator_ckpt=null", "--model.init_args.vgg_weights=random"],
         quick_args=[f"{G}.num_feat=8", f"{G}.num_blocks=1", f"{D}.num_feat=8", f"{D}.input_size=32",
                     f"{D}.dense_features=16", "--data.init_args.hr_crop=32", "--data.init_args.batch_size=2",
                     "--data.init_args.num_workers=0"]),
    Spec("esrgan_div2k", "esrgan_div2k", _sr,
         args=["--model.init_args.generator_ckpt=null", "--model.init_args.vgg_weights=random"],
         quick_args=[f"{G}.num_feat=8", f"{G}.num_blocks=1", f"{G}.growth=4", f"{D}.num_feat=4",
                     "--data.init_args.batch_size=1", "--data.init_args.num_workers=0"]),
    Spec("colorization_coco", "colorization_coco", _coco,
         args=["--model.init_args.generator_ckpt=null"],
         quick_args=[f"{G}.img_size=32", f"{D}.ndf=8", "--data.init_args.image_size=32",
                     "--data.init_args.batch_size=2", "--data.init_args.num_workers=0"]),
    Spec("context_encoder_paris", "context_encoder_paris", _paris,
         quick_args=[f"{G}.image_size=32", f"{G}.nef=8", f"{G}.ngf=8", f"{G}.bottleneck_dim=16",
                     f"{D}.image_size=16", f"{D}.ndf=8", "--data.init_args.image_size=32",
                     "--data.init_args.load_size=40", "--data.init_args.overlap=1", "--data.init_args.batch_size=2",
                     "--data.init_args.num_workers=0"]),
    Spec("enlightengan", "enlightengan", _lowlight,
         args=["--model.init_args.vgg_weights=random"],
         quick_args=[f"{G}.base_channels=4", f"{D}.ndf=4", f"{D}.n_layers=3",
                     "--model.init_args.discriminator_local.init_args.ndf=4",
                     "--model.init_args.discriminator_local.init_args.n_layers=2",
                     "--model.init_args.n_patches=2", "--model.init_args.patch_size=16", "--data.init_args.crop_size=32",
                     "--data.init_args.batch_size=2", "--data.init_args.num_workers=0"]),
]}
#: beyond the image-to-image models (tests/test_bf16.py checks those from SPECS; these have their own bf16 tests)
OTHER_SPECS: dict[str, Spec] = {s.name: s for s in [
    # ProGAN at the last phase of its schedule (128 px, batch 16, stable), the phase that takes most of the time
    Spec("progan_celeba", "progan_celeba", _celeba, prepare=_progan_last_phase,
         quick_args=[f"{G}.resolution=16", f"{G}.fmap_base=32", f"{G}.fmap_max=16", f"{D}.resolution=16",
                     f"{D}.fmap_base=32", f"{D}.fmap_max=16", "--data.init_args.resolution=16",
                     "--data.init_args.crop=null", "--model.init_args.schedule.batch_size={4: 4, 8: 4, 16: 4}"]),
    # --quick: GAN's MLPs are cGAN's, WGAN's networks DCGAN's (weight clipping instead of the penalty)
    _noise("gan_mnist", "hidden", in_quick=False), _noise("dcgan_mnist"), _noise("wgan_mnist", in_quick=False),
    _noise("wgan_gp_mnist"),
    _noise("cgan_mnist", "hidden"),
]}
ALL_SPECS: dict[str, Spec] = {**SPECS, **OTHER_SPECS}


def build(spec: Spec, data_root: Path, quick: bool, device: str) -> tuple[L.LightningModule, L.LightningDataModule]:
    """The model and datamodule exactly as ``lit-gans fit --config experiments/<yaml>.yaml`` builds them,
    with the spec's overrides (no logger, no callbacks, no pretrained files)."""
    args = [
        "--config", str(ROOT / "experiments" / f"{spec.yaml}.yaml"), "--trainer.logger=false",
        "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false", f"--trainer.accelerator={device}",
        *spec.make_data(data_root, quick), *spec.args, *(spec.quick_args if quick else []),
    ]
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        cli = LitGansCLI(args=args, run=False)
    finally:
        sys.argv = argv
    if spec.prepare is not None:
        spec.prepare(cli.model)
    return cli.model, cli.datamodule


# ----------------------------------------------------------------------------------------------- timing
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock(L.Callback):
    """Times the training batches after ``warmup``: the whole window, and the gaps between one batch's end and
    the next one's start (fetch, transfer and the datamodule's device-side preprocessing)."""

    def __init__(self, device: torch.device, warmup: int, sync_each: bool) -> None:
        self.device, self.warmup, self.sync_each = device, warmup, sync_each
        self.start: Optional[float] = None
        self.end: Optional[float] = None
        self.last_end: Optional[float] = None
        self.wait = 0.0
        self.steps = 0
        self.g0 = 0
        self.g1 = 0
        self.images = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        if batch_idx < self.warmup:
            return
        if self.sync_each or batch_idx == self.warmup:
            sync(self.device)
        now = time.perf_counter()
        if batch_idx == self.warmup:
            self.start, self.g0 = self.last_end, pl_module.g_iter  # the window starts at the end of the warm-up
        self.wait += now - self.last_end

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001, ANN201
        if batch_idx < self.warmup - 1:
            return
        if self.sync_each or batch_idx in (self.warmup - 1, trainer.num_training_batches - 1):
            sync(self.device)
        self.last_end = time.perf_counter()
        if batch_idx >= self.warmup:
            self.steps += 1
            self.images += batch_images(batch)
            self.end, self.g1 = self.last_end, pl_module.g_iter


def batch_images(batch: dict[str, Any]) -> int:
    """Training images in a batch (its first image tensor's batch dimension)."""
    for v in batch.values():
        if torch.is_tensor(v) and v.dim() == 4:
            return int(v.shape[0])
    raise ValueError(f"no image tensor in the batch (keys {sorted(batch)})")


class Repeat:
    """The same batch ``n`` times (a fresh dict each time: models may replace entries)."""

    def __init__(self, batch: dict[str, Any], n: int) -> None:
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):  # noqa: ANN204
        return (dict(self.batch) for _ in range(self.n))


class Capture(L.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        self.batch = {k: v.clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in batch.items()}
        trainer.should_stop = True


def trainer(device: torch.device, precision: str, batches: int, callbacks: list, log_every_n_steps: int = 50) -> L.Trainer:
    return L.Trainer(
        accelerator=device.type, devices=1, precision=precision, max_epochs=1, limit_train_batches=batches,
        log_every_n_steps=log_every_n_steps,
        limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks, default_root_dir=tempfile.gettempdir(),
    )


def fresh(model: L.LightningModule, variant: dict[str, Any]) -> L.LightningModule:
    """An untrained copy of ``model`` for one run. Shared, not copied: the optimizer/scheduler callables
    (jsonargparse partials hold modules) and the ``random`` module that image pools draw from."""
    memo: dict[int, Any] = {id(random): random}
    memo.update({id(v): v for v in vars(model).values() if isinstance(v, functools.partial)})
    m = copy.deepcopy(model, memo)
    m.channels_last, m.compile_networks = variant["channels_last"], variant["compile"]
    return m


def device_batch(model, dm, device: torch.device) -> dict[str, Any]:  # noqa: ANN001
    """One training batch as the model receives it: decoded by the datamodule, moved to the device and
    preprocessed there by the datamodule's ``on_after_batch_transfer``."""
    cap = Capture()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(device, "32-true", 1, [cap]).fit(fresh(model, VARIANTS["fp32"]), copy.deepcopy(dm))
    return cap.batch


def peak_reset(device: torch.device) -> None:
    gc.collect()  # the previous run's copies
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan")


def run_lightning(model, variant, device, warmup, steps, batch=None, dm=None) -> dict[str, float]:  # noqa: ANN001
    """(a) with ``batch`` (synthetic, on the device) or (b) with ``dm`` (the real datamodule)."""
    clock = StepClock(device, warmup, sync_each=dm is not None)
    m = fresh(model, variant)
    peak_reset(device)
    data = {"datamodule": copy.deepcopy(dm)} if dm is not None else {"train_dataloaders": Repeat(batch, warmup + steps)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer(device, variant["precision"], warmup + steps, [clock]).fit(m, **data)
    seconds = clock.end - clock.start
    g_iters = max(clock.g1 - clock.g0, 1)
    return {"img_s": clock.images / seconds, "ms_g": 1e3 * seconds / g_iters, "peak": peak_mib(device),
            "wait": clock.wait / seconds}


def run_plain(model, variant, device, warmup, steps, batch) -> dict[str, float]:  # noqa: ANN001
    """(c) the same networks, losses and optimizers in a plain PyTorch loop (no Trainer, no LightningModule
    machinery: no logging, no precision plugin, no hooks)."""
    m = fresh(model, variant).to(device)
    m.setup("fit")
    m.configure_model()
    m.train()
    (opt_g, opt_d), _ = m.configure_optimizers()
    params = {"g": list(m.generator_parameters()), "d": list(m.discriminator_parameters())}
    opts = {"g": opt_g, "d": opt_d}
    bf16 = variant["precision"].startswith("bf16")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    since_g = [0]  # discriminator steps since the last generator step (n_critic, as GANModule.training_step)

    def step() -> int:
        do_g = since_g[0] + 1 >= m.critic_steps(m.g_iter)
        with autocast(), torch.set_grad_enabled(do_g):
            out = m.generate(batch)
        for which in m.step_order:
            if which == "g" and not do_g:
                continue
            for w, ps in params.items():  # only the stepped network gets gradients
                for p in ps:
                    p.requires_grad_(w == which)
            with autocast():
                loss, _ = (m.discriminator_loss if which == "d" else m.generator_loss)(batch, out)
            opts[which].zero_grad(set_to_none=True)
            loss.backward()
            opts[which].step()
            if which == "d":
                m.after_discriminator_step()
                since_g[0] += 1
            else:
                m.g_iter += 1
                since_g[0] = 0
                m._update_ema()
        for ps in params.values():
            for p in ps:
                p.requires_grad_(True)
        return int(do_g)

    peak_reset(device)
    for _ in range(warmup):
        step()
    sync(device)
    start = time.perf_counter()
    g_iters = sum(step() for _ in range(steps))
    sync(device)
    seconds = time.perf_counter() - start
    return {"img_s": batch_images(batch) * steps / seconds, "ms_g": 1e3 * seconds / max(g_iters, 1), "peak": peak_mib(device)}


# ----------------------------------------------------------------------------------------------- table
COLUMNS = [
    "model", "batch x crop", "variant", "(a) images/s", "(a) ms / G iter", "(a) peak MiB", "(a) / fp32 (a) speed-up",
    "(b) images/s", "(b) data wait %", "(c) plain ms / G iter", "Lightning / plain",
]


def fmt(x: Optional[float], spec: Optional[str] = None) -> str:
    """``spec``, or by default three significant digits at least (no exponent): 1234, 123.4, 12.35, 0.123."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if spec is None:
        spec = ".0f" if abs(x) >= 1000 else ".1f" if abs(x) >= 100 else ".2f" if abs(x) >= 10 else ".3g"
    return format(x, spec)


def crop_of(batch: dict[str, Any]) -> str:
    """Batch size x the largest image side in the batch (the HR crop for super-resolution)."""
    images = [v for v in batch.values() if torch.is_tensor(v) and v.dim() == 4]
    v = max(images, key=lambda t: t.shape[-1] * t.shape[-2])
    return f"{v.shape[0]} x {v.shape[-2]}x{v.shape[-1]}"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true",
                    help="tiny networks and crops, 1+2 steps, variants fp32 and bf16+cl, (b)/(c) in fp32 (CPU, < 1 min)")
    ap.add_argument("--models", nargs="*", default=None, choices=list(ALL_SPECS),
                    help="default: all (with --quick: those marked in_quick)")
    ap.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS),
                    help="default: all on CUDA, all but compile on the CPU")
    ap.add_argument("--modes", default="abc", help="any of a (synthetic), b (datamodule), c (plain loop)")
    ap.add_argument("--bc-variants", nargs="*", default=["fp32", "bf16+cl"], help="variants also timed in (b) and (c)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 1 quick, 3; +3 under compile)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per run (default 2 quick, 20)")
    ap.add_argument("--budget-s", type=float, default=340.0,
                    help="start no new run after this many seconds (a compile run needs 100 s left); with start-up and "
                    "the last runs, the whole command stays under 8 minutes")
    ap.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible (torch.cuda.is_available() is False)")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # one table, not a log per Trainer
    if args.models is None:
        args.models = [n for n, spec in ALL_SPECS.items() if spec.in_quick or not args.quick]
    if args.quick:  # the test run: every column, fewest Trainer runs
        variants = args.variants or ["fp32", "bf16+cl"]
        args.bc_variants = ["fp32"]
    else:
        variants = args.variants or [v for v in VARIANTS if device.type == "cuda" or not VARIANTS[v]["compile"]]
    warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    steps = args.steps or (2 if args.quick else 20)
    t0 = time.perf_counter()
    built: dict[str, tuple] = {}
    results: dict[tuple[str, str], list[str]] = {}
    fp32_speed: dict[str, float] = {}
    # compile last: its warm-up (compilation) is the longest, so it must not crowd out the other variants
    passes = [[v for v in variants if not VARIANTS[v]["compile"]], [v for v in variants if VARIANTS[v]["compile"]]]
    with tempfile.TemporaryDirectory(prefix="lit_gans_throughput_") as tmp:
        for pass_variants in passes:
            for name in args.models:
                for vname in pass_variants:
                    variant = VARIANTS[vname]
                    left = args.budget_s - (time.perf_counter() - t0)
                    if left <= (COMPILE_RESERVE_S if variant["compile"] else 0):
                        crop = crop_of(built[name][2]) if name in built else "-"
                        results[(name, vname)] = [name, crop, vname, "skipped (time budget)"] + ["-"] * (len(COLUMNS) - 4)
                        continue
                    if name not in built:
                        model, dm = build(ALL_SPECS[name], Path(tmp) / name, args.quick, device.type)
                        built[name] = (model, dm, device_batch(model, dm, device))
                    model, dm, batch = built[name]
                    w = warmup + (3 if variant["compile"] else 0)
                    a = run_lightning(model, variant, device, w, steps, batch=batch) if "a" in args.modes else None
                    if a is not None and vname == "fp32":
                        fp32_speed[name] = a["img_s"]
                    do_bc = vname in args.bc_variants
                    b = run_lightning(model, variant, device, w, steps, dm=dm) if do_bc and "b" in args.modes else None
                    c = run_plain(model, variant, device, w, steps, batch) if do_bc and "c" in args.modes else None
                    base = fp32_speed.get(name)
                    row = [
                        name, crop_of(batch), vname,
                        fmt(a and a["img_s"]), fmt(a and a["ms_g"]), fmt(a and a["peak"], ".0f"),
                        fmt(a["img_s"] / base if a and base else None, ".2f"),
                        fmt(b and b["img_s"]), fmt(b and 100 * b["wait"]), fmt(c and c["ms_g"]),
                        fmt(a["ms_g"] / c["ms_g"] if a and c else None, ".3f"),
                    ]
                    results[(name, vname)] = row
                    print(" | ".join(row), file=sys.stderr, flush=True)
    rows = [results[(n, v)] for n in args.models for v in variants]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    lines = [
        f"{where}{load}; torch {torch.__version__}, lightning {L.__version__}; warm-up {warmup}, {steps} timed steps"
        f"{' (quick: tiny networks and crops)' if args.quick else ''}; {time.perf_counter() - t0:.0f} s in all",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

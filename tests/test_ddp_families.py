"""Every image-to-image family and ProGAN under real 2-process DDP on CPU (gloo), through the CLI's YAMLs.

One DDP launch per family (``python -m tests.ddp_probe``: the real ``LitGansCLI``, then ``fit``, a checkpoint,
``validate`` and ``predict`` from it in the same two processes) and one in-process, one-device ``validate`` of
the same checkpoint. Checked per family:

* after the steps every rank holds the same parameters (every network, the generator EMA included);
* the logged training losses are finite;
* the validation metrics of the 2-process run equal those of the one-process run of the same checkpoint on
  the same data: the validation sets here have an odd number of items, so a sampler that pads the second
  rank with a repeated item (Lightning's default ``DistributedSampler``) would count that item twice;
* ``predict`` writes each file once: the names the ranks returned are disjoint and together are the files.

``test_two_ranks_equal_one_process_double_batch``: one CycleGAN step on 2 ranks x batch b equals one step in
one process on batch 2b (InstanceNorm, image pool off, no random crop/flip, serial pairing; SGD).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gans.cli import LitGansCLI

ROOT = Path(__file__).resolve().parents[1]


def photo_folder(folder: Path, n: int = 3, size: tuple[int, int] = (64, 48), gain: float = 1.0) -> Path:
    """``n`` small PNGs (``img<i>.png``) from the embedded held-out photos, scaled by ``gain`` (< 1: darkened)."""
    from datamodules.embedded import load_photos

    folder.mkdir(parents=True, exist_ok=True)
    photos = list(load_photos("heldout").values())
    for i in range(n):
        img = Image.fromarray(photos[i % len(photos)]).resize(size, Image.BICUBIC)
        if i >= len(photos):
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if gain != 1.0:
            img = Image.fromarray((np.asarray(img, dtype=np.float32) * gain).round().astype(np.uint8))
        img.save(folder / f"img{i}.png")
    return folder


def unpaired_root(root: Path) -> Path:
    """The embedded trainA/trainB (darkened / normal photo halves) and 3 test images per domain."""
    from datamodules.lowlight import embedded_lowlight_root

    src = embedded_lowlight_root()
    for sub in ("trainA", "trainB"):
        shutil.copytree(src / sub, root / sub)
    photo_folder(root / "testA", gain=0.3)
    photo_folder(root / "testB")
    return root


def _common(config: str, tmp_path: Path) -> list[str]:
    return [
        "--config", str(ROOT / "experiments" / config),
        "--trainer.accelerator=cpu", "--trainer.max_epochs=1", "--trainer.max_steps=-1",
        "--trainer.check_val_every_n_epoch=1000", "--trainer.limit_val_batches=1.0", "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.logger=false",
        f"--trainer.default_root_dir={tmp_path}", f"--writer.output_dir={tmp_path / 'predictions'}",
    ]


def run_ddp_probe(config: str, tmp_path: Path, *extra: str, devices: int = 2, fit_only: bool = False) -> dict:
    """Launch ``python -m tests.ddp_probe`` on ``devices`` CPU processes; return what each rank recorded."""
    out = tmp_path / "probe"
    cmd = [sys.executable, "-m", "tests.ddp_probe", *(["--fit-only"] if fit_only else []), str(out),
           *_common(config, tmp_path), f"--trainer.devices={devices}", "--trainer.strategy=ddp", *extra]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-6000:]
    ranks = range(devices)
    if fit_only:
        return {"train": [torch.load(out / f"rank{r}.pt") for r in ranks]}
    return {
        "train": [torch.load(out / f"rank{r}.pt") for r in ranks],
        "val": [torch.load(out / f"val_rank{r}.pt")["metrics"] for r in ranks],
        "predict": [torch.load(out / f"predict_rank{r}.pt")["names"] for r in ranks],
        "ckpt": out / "final.ckpt",
    }


def one_process_validate(config: str, tmp_path: Path, ckpt: Path, *extra: str) -> dict[str, float]:
    os.chdir(tmp_path)  # the YAMLs' relative checkpoint/sample folders (the callers monkeypatch the cwd)
    cli = LitGansCLI(args=[*_common(config, tmp_path), "--trainer.devices=1", "--trainer.strategy=auto", *extra], run=False)
    cli.trainer.validate(cli.model, datamodule=cli.datamodule, ckpt_path=str(ckpt), verbose=False)
    return {k: v.item() for k, v in cli.trainer.callback_metrics.items() if k.startswith("val/")}


def assert_same_weights(r0: dict, r1: dict) -> None:
    assert r0["params"].keys() == r1["params"].keys()
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"


def check_family(config: str, tmp_path: Path, monkeypatch, extra: list[str], predict_count: int, expect_ema: bool = False) -> dict:
    monkeypatch.chdir(tmp_path)
    res = run_ddp_probe(config, tmp_path, *extra)
    r0, r1 = res["train"]
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["g_iter"] == r1["g_iter"] > 0
    assert_same_weights(r0, r1)
    assert any("_ema." in n for n in r0["params"]) == expect_ema
    assert r0["metrics"], "no training loss was logged"
    for r in (r0, r1):
        for k, v in r["metrics"].items():
            assert torch.isfinite(v).all(), f"{k} = {v}"
    # validation: the 2-process metrics (rank 0's = rank 1's after the sync) equal one process's
    v0, v1 = res["val"]
    assert v0, "no validation metric was logged"
    assert v0.keys() == v1.keys()
    for k in v0:
        assert torch.allclose(v0[k], v1[k]), f"{k}: rank 0 {v0[k]} vs rank 1 {v1[k]}"
    single = one_process_validate(config, tmp_path, res["ckpt"], *extra)
    assert single.keys() == v0.keys()
    for k in v0:
        assert v0[k].item() == pytest.approx(single[k], rel=1e-4, abs=1e-5), f"{k}: 2 processes {v0[k].item()} vs 1 process {single[k]}"
    # predict: each file once
    n0, n1 = res["predict"]
    assert not set(n0) & set(n1), f"both ranks predicted {set(n0) & set(n1)}"
    assert len(n0) + len(n1) == len(set(n0) | set(n1)) == predict_count
    files = sorted(p.stem for p in (tmp_path / "predictions").glob("*.png"))
    assert files == sorted(set(n0) | set(n1))
    return res


# ------------------------------------------------------------------------------------------ families
_PAIRED_TINY = [
    "--data.init_args.crop_size=32", "--data.init_args.batch_size=2", "--data.init_args.val_max_images=1",
    "--data.init_args.val_crops=3", "--model.init_args.generator.init_args.num_downs=5",
    "--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8",
    "--model.init_args.discriminator.init_args.n_layers=2", "--trainer.limit_train_batches=3",
]


@pytest.mark.slow  # 18-66 s; the family also runs under 2-process DDP in its own CLI tests (default run)
def test_ddp_pix2pix(tmp_path, monkeypatch):
    # validation: 1 held-out photo x 5 fixed crops = 5 items, batches of 2: rank 0 runs 2 batches, rank 1 one.
    # inference_mode=eval: the paper's test mode (dropout on, statistics of the test batch) depends on how the
    # items are batched and on each rank's dropout draws.
    pred = photo_folder(tmp_path / "pred_in", size=(40, 36))
    # Also validates inside fit, through the DDP wrapper, which syncs BatchNorm buffers before the first
    # validation batch only: the ranks' different batch counts must not make one wait for the other.
    check_family("pix2pix_embedded.yaml", tmp_path, monkeypatch, _PAIRED_TINY + [
        "--data.init_args.val_crops=5", "--model.init_args.inference_mode=eval", f"--data.init_args.predict_root={pred}",
        "--trainer.check_val_every_n_epoch=1"], predict_count=3)


def test_ddp_colorization(tmp_path, monkeypatch):
    # validation: 1 held-out photo x 3 fixed crops = 3 items (the YAML's inference_mode is eval)
    pred = photo_folder(tmp_path / "pred_in", size=(40, 36))
    check_family("colorization_embedded.yaml", tmp_path, monkeypatch, _PAIRED_TINY + [
        "--model.init_args.predict_size=32", f"--data.init_args.predict_root={pred}"], predict_count=3)


_CYCLEGAN_TINY = [
    "--data.init_args.load_size=36", "--data.init_args.crop_size=32", "--data.init_args.val_size=32",
    "--data.init_args.batch_size=2", "--data.init_args.epoch_repeats=1",
    *(f"--model.init_args.{g}.init_args.{k}" for g in ("generator", "generator_ba") for k in ("ngf=8", "n_blocks=1")),
    *(f"--model.init_args.{d}.init_args.{k}" for d in ("discriminator", "discriminator_a") for k in ("ndf=8", "n_layers=2")),
]


@pytest.mark.slow  # 18-66 s; the family also runs under 2-process DDP in its own CLI tests (default run)
def test_ddp_cyclegan(tmp_path, monkeypatch):
    # validation: testA/testB of 3 images each; the YAML's image pools (50) on, per rank
    root = unpaired_root(tmp_path / "data")
    check_family("cyclegan_embedded.yaml", tmp_path, monkeypatch, _CYCLEGAN_TINY + [
        f"--data.init_args.root={root}", f"--data.init_args.predict_root={root / 'testA'}", "--trainer.limit_train_batches=3",
    ], predict_count=3)


def test_ddp_enlightengan(tmp_path, monkeypatch):
    # validation: 3 low/high pairs (PSNR, SSIM, brightness; NIQE when its parameters are available)
    paired = tmp_path / "paired"
    photo_folder(paired / "low", gain=0.3)
    photo_folder(paired / "high")
    check_family("enlightengan_embedded.yaml", tmp_path, monkeypatch, [
        f"--data.init_args.paired_root={paired}", f"--data.init_args.predict_root={paired / 'low'}",
        "--data.init_args.crop_size=32", "--data.init_args.val_size=32", "--data.init_args.batch_size=2",
        "--model.init_args.patch_size=16", "--model.init_args.n_patches=2",
        "--model.init_args.discriminator.init_args.ndf=8", "--model.init_args.discriminator.init_args.n_layers=3",
        "--model.init_args.discriminator_local.init_args.ndf=8", "--model.init_args.discriminator_local.init_args.n_layers=2",
        "--trainer.limit_train_batches=3",
    ], predict_count=3)


@pytest.mark.slow  # 18-66 s; the family also runs under 2-process DDP in its own CLI tests (default run)
def test_ddp_context_encoder(tmp_path, monkeypatch):
    # validation: 3 photos x 1 crop, centre hole (val/rec and the hole metrics)
    val = photo_folder(tmp_path / "val")
    check_family("context_encoder_embedded.yaml", tmp_path, monkeypatch, [
        f"--data.init_args.val_root={val}", f"--data.init_args.predict_root={val}", "--data.init_args.val_crops=1",
        "--data.init_args.image_size=32", "--data.init_args.load_size=48", "--data.init_args.overlap=1",
        "--data.init_args.batch_size=4", "--data.init_args.samples_per_epoch=16",
        "--model.init_args.generator.init_args.image_size=32", "--model.init_args.generator.init_args.nef=8",
        "--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.image_size=16",
        "--model.init_args.discriminator.init_args.ndf=8", "--trainer.limit_train_batches=2",
    ], predict_count=3)


_SR_TINY = [
    "--data.init_args.batch_size=2", "--data.init_args.repeat=1", "--model.init_args.generator.init_args.num_feat=8",
    "--model.init_args.generator.init_args.num_blocks=1", "--model.init_args.discriminator.init_args.num_feat=8",
    "--trainer.limit_train_batches=2",
]


def test_ddp_srgan(tmp_path, monkeypatch):
    val, lr = photo_folder(tmp_path / "val", size=(80, 64)), photo_folder(tmp_path / "lr", size=(16, 12))
    check_family("srgan_embedded.yaml", tmp_path, monkeypatch, _SR_TINY + [
        f"--data.init_args.val_root={val}", f"--data.init_args.predict_root={lr}", "--data.init_args.hr_crop=32",
        "--model.init_args.discriminator.init_args.input_size=32", "--model.init_args.discriminator.init_args.dense_features=16",
    ], predict_count=3)


@pytest.mark.slow  # 18-66 s; the family also runs under 2-process DDP in its own CLI tests (default run)
def test_ddp_esrgan(tmp_path, monkeypatch):
    val, lr = photo_folder(tmp_path / "val", size=(80, 64)), photo_folder(tmp_path / "lr", size=(16, 12))
    check_family("esrgan_embedded.yaml", tmp_path, monkeypatch, _SR_TINY + [
        f"--data.init_args.val_root={val}", f"--data.init_args.predict_root={lr}",
        "--model.init_args.generator.init_args.growth=4",
    ], predict_count=3, expect_ema=True)


@pytest.mark.slow  # 18-66 s; the family also runs under 2-process DDP in its own CLI tests (default run)
def test_ddp_progan_across_a_fade(tmp_path, monkeypatch):
    """4 px stable for 16 images, the 8 px fade-in over the next 16, 8 px stable: 6 steps of 2 ranks x 4 images."""
    res = check_family("progan_digits.yaml", tmp_path, monkeypatch, [
        "--model.init_args.generator.init_args.resolution=16", "--model.init_args.discriminator.init_args.resolution=16",
        "--model.init_args.generator.init_args.fmap_max=16", "--model.init_args.discriminator.init_args.fmap_max=16",
        "--data.init_args.resolution=16", "--model.init_args.metrics=null", "--model.init_args.swd=true",
        "--model.init_args.schedule.training_kimg=0.016", "--model.init_args.schedule.transition_kimg=0.016",
        "--model.init_args.schedule.batch_size={4: 4, 8: 4, 16: 4}", "--model.init_args.schedule.total_kimg=0.048",
        "--data.init_args.predict_samples=5", "--data.init_args.predict_interpolation=[2, 3]",
    ], predict_count=6, expect_ema=True)  # 5 samples + the interpolation grid, each written once
    r0, r1 = res["train"]
    assert r0["images_seen"] == r1["images_seen"] == 48  # counted over both ranks: the fade ends at the same step


def test_two_ranks_equal_one_process_double_batch(tmp_path, monkeypatch):
    """One CycleGAN step on 2 ranks x batch 2 equals one step in one process on batch 4.

    Chosen so that the step is a function of the data alone: InstanceNorm everywhere (no statistics across
    the batch), image pool off (``pool_size: 0``: the discriminators see this step's fakes, not a per-rank
    history), serial A/B pairing, crops the size of the image and no flips (no per-rank draws), and a data
    set of exactly 4 items (one step sees all of them in any order). Every loss is a mean over the batch and
    DDP averages the two ranks' gradients, so the gradients are the 4-item ones. SGD (lr 0.1) instead of the
    paper's Adam: Adam's first step is ~lr * sign(grad), which turns float rounding on near-zero gradients
    into full lr-sized differences; SGD keeps the comparison at float precision.
    """
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data"
    for sub, gain in (("trainA", 0.3), ("trainB", 1.0)):
        photo_folder(root / sub, n=4, size=(32, 32), gain=gain)
    sgd = '{"class_path": "torch.optim.SGD", "init_args": {"lr": 0.1}}'
    extra = [
        f"--data.init_args.root={root}", "--data.init_args.load_size=32", "--data.init_args.crop_size=32",
        "--data.init_args.hflip=false", "--data.init_args.pairing=serial", "--data.init_args.epoch_repeats=1",
        "--model.init_args.pool_size=0", f"--model.init_args.optimizer_g={sgd}", f"--model.init_args.optimizer_d={sgd}",
        "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=0",
        *(f"--model.init_args.{g}.init_args.{k}" for g in ("generator", "generator_ba") for k in ("ngf=8", "n_blocks=1")),
        *(f"--model.init_args.{d}.init_args.{k}" for d in ("discriminator", "discriminator_a") for k in ("ndf=8", "n_layers=2")),
    ]
    ddp = run_ddp_probe("cyclegan_embedded.yaml", tmp_path, "--data.init_args.batch_size=2", *extra, fit_only=True)
    r0, r1 = ddp["train"]
    assert r0["g_iter"] == r1["g_iter"] == 1
    assert_same_weights(r0, r1)

    from tests.ddp_probe import build

    single_dir = tmp_path / "single"
    cli = build(single_dir, [*_common("cyclegan_embedded.yaml", tmp_path), "--trainer.devices=1", "--trainer.strategy=auto",
                             "--data.init_args.batch_size=4", *extra])
    initial = {n: p.detach().clone() for n, p in cli.model.named_parameters()}
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    one = torch.load(single_dir / "rank0.pt")
    assert one["g_iter"] == 1 and one["world_size"] == 1
    moved = max((one["params"][n] - initial[n]).abs().max().item() for n in initial)
    assert moved > 1e-3, "the step did not move the weights"
    for name, value in one["params"].items():
        torch.testing.assert_close(r0["params"][name], value, rtol=1e-5, atol=1e-6, msg=lambda m: f"{name}: {m}")

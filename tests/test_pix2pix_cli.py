"""Pix2Pix through the real CLI: one training step (+ validation) of each YAML on the embedded data, prediction
on odd-sized images, and a 2-process CPU DDP run (gloo) as a user types it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_gans.cli import LitGansCLI

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--trainer.max_epochs=1", "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1",  # 2 (not 1: 1.0 = all)
    "--trainer.num_sanity_val_steps=0", "--trainer.check_val_every_n_epoch=1", "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
#: Tiny sizes/widths on the command line so one step is cheap (the YAMLs' own values are tested elsewhere).
OVERRIDES = {
    "pix2pix_facades.yaml": [
        "--data.init_args.root=null", "--data.init_args.load_size=72", "--data.init_args.crop_size=64",
        "--data.init_args.num_workers=0", "--model.init_args.generator.init_args.num_downs=6",
        "--model.init_args.generator.init_args.ngf=4", "--model.init_args.discriminator.init_args.ndf=4",
    ],
    "pix2pix_embedded.yaml": [],
}


def odd_images(folder: Path) -> dict[str, tuple[int, int]]:
    """RGB, grayscale and RGBA files of odd sizes; returns {stem: (width, height)}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (77, 101, 3), dtype=np.uint8)).save(folder / "rgb_odd.png")
    Image.fromarray(rng.integers(0, 255, (63, 50), dtype=np.uint8)).save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (40, 133, 4), dtype=np.uint8)).save(folder / "rgba.png")
    return {"rgb_odd": (101, 77), "gray": (50, 63), "rgba": (133, 40)}


def fit_one_step(name: str, tmp_path: Path, monkeypatch, extra: list[str]) -> LitGansCLI:
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ (checkpoints, samples, wandb) relative to the working dir
    args = ["fit", "--config", str(ROOT / "experiments" / name), *QUICK, *extra]
    return LitGansCLI(args=args)


def predict_folder(name: str, ckpt: Path, tmp_path: Path, extra: list[str]) -> dict[str, tuple[int, int]]:
    sizes = odd_images(tmp_path / "odd")
    out = tmp_path / "out"
    LitGansCLI(args=[
        "predict", "--config", str(ROOT / "experiments" / name), f"--ckpt_path={ckpt}", "--trainer.logger=false",
        f"--data.init_args.predict_root={tmp_path / 'odd'}", f"--writer.output_dir={out}",
        "--trainer.enable_progress_bar=false", *extra,
    ])
    written = {p.stem: Image.open(p).size for p in out.glob("*.png")}
    assert written == sizes, f"outputs {written} != inputs {sizes}"
    return written


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_yaml_one_step_with_validation_then_predict(name, tmp_path, monkeypatch):
    """Two optimizer steps of G and D, a validation pass with the metrics, W&B offline, the sample grid, and
    ``predict`` on odd-sized RGB/gray/RGBA files giving one PNG per input at the input's size."""
    cli = fit_one_step(name, tmp_path, monkeypatch, OVERRIDES[name])
    metrics = cli.trainer.callback_metrics
    assert cli.model.g_iter == 2 and cli.model.d_iter == 2
    assert {"val/psnr", "val/ssim", "val/l1"} <= set(metrics) and torch.isfinite(metrics["val/psnr"])
    assert any((tmp_path / "runs").glob("*/wandb/offline-run-*"))
    assert list((tmp_path / "runs").glob("*/samples/translation_final.png"))
    ckpt = Path(cli.trainer.checkpoint_callback.last_model_path)
    predict_folder(name, ckpt, tmp_path, OVERRIDES[name])


def test_predict_with_an_official_generator_file(tmp_path):
    """``lit-gans predict ... --model.init_args.generator_ckpt=latest_net_G.pth``: junyanz's file (a small official
    U-Net saved by the official code) is mapped and used, no lit_gans checkpoint needed."""
    from lit_gans.networks.unet import UnetGenerator
    from lit_gans.utils.images import to_unit_range

    saved = torch.load(Path(__file__).parent / "fixtures" / "jz_unet_tiny_batch.pt")
    torch.save(saved["state_dict"], tmp_path / "latest_net_G.pth")
    (tmp_path / "in").mkdir()
    rgb = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "in" / "facade.png")
    LitGansCLI(args=[
        "predict", "--config", str(ROOT / "experiments" / "pix2pix_facades.yaml"), "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--data.init_args.root=null",
        f"--data.init_args.predict_root={tmp_path / 'in'}", f"--writer.output_dir={tmp_path / 'out'}",
        "--model.init_args.generator.init_args.num_downs=6", "--model.init_args.generator.init_args.ngf=2",
        f"--model.init_args.generator_ckpt={tmp_path / 'latest_net_G.pth'}", "--model.init_args.inference_mode=eval",
    ])
    net = UnetGenerator(**saved["config"])
    net.load_state_dict(UnetGenerator.convert_official_state_dict(saved["state_dict"]))
    with torch.no_grad():
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        expected = (to_unit_range(net.eval()(x))[0].permute(1, 2, 0) * 255).round().numpy()
    written = np.asarray(Image.open(tmp_path / "out" / "facade.png")).astype(np.float32)
    assert np.abs(written - expected).max() <= 1.0


def test_ddp_two_processes_cpu(tmp_path):
    """``--trainer.strategy=ddp`` on 2 CPU processes (gloo): both ranks end with identical networks."""
    probe = tmp_path / "probe"
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "pix2pix_embedded.yaml"),
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=2",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
        "--data.init_args.crop_size=32", "--data.init_args.batch_size=2",
        "--model.init_args.generator.init_args.num_downs=5", "--model.init_args.generator.init_args.ngf=4",
        "--model.init_args.discriminator.init_args.ndf=4",
        "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}",
    ]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["g_iter"] == r1["g_iter"] == 3
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"

"""SR experiments through the real CLI on the embedded photos (one step of every SR YAML, DIV2K ones included,
is in tests/test_experiments.py): the two-stage chain pretrain -> GAN, `validate` on a Set5-layout
folder, `predict` on odd-sized/grayscale/RGBA files, and a 2-process CPU DDP run."""

from __future__ import annotations

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

#: Tiny networks; for the GAN stage a random VGG (no ImageNet weights offline) and no pretraining checkpoint.
SMALL = {
    "rrdb_psnr": ["--model.init_args.generator.init_args.num_feat=8", "--model.init_args.generator.init_args.num_blocks=1",
                  "--model.init_args.generator.init_args.growth=4"],
    "esrgan": [
        "--model.init_args.generator.init_args.num_feat=8", "--model.init_args.generator.init_args.num_blocks=1",
        "--model.init_args.generator.init_args.growth=4", "--model.init_args.discriminator.init_args.num_feat=8",
        "--model.init_args.vgg_weights=random", "--model.init_args.generator_ckpt=null",
    ],
}


def run_dir(tmp_path: Path, name: str) -> Path:
    """The experiment's run folder (the CLI's runs/<experiment>/), under tmp_path."""
    return tmp_path / "runs" / Path(name).stem


def _common(tmp_path: Path, name: str) -> list[str]:
    return [
        "--config", str(ROOT / "experiments" / name),
        f"--trainer.default_root_dir={run_dir(tmp_path, name)}", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]


def _set5_like(root: Path) -> Path:
    """A test-set folder in BasicSR's layout (GTmod12 + LRbicx4), from two embedded photos."""
    from datamodules.embedded import load_photos
    from datamodules.super_resolution import degrade

    for name, array in list(load_photos("heldout").items()):
        hr = torch.from_numpy(array[150:246, 250:370]).permute(2, 0, 1)[None].float() / 255  # textured centre
        lr = degrade(hr, 4)
        for folder, img in (("GTmod12", hr), ("LRbicx4", lr)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            arr = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            Image.fromarray(arr).save(root / folder / f"{name}.png")
    return root


def test_pretrain_then_esrgan_then_validate_and_predict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = SMALL["rrdb_psnr"]
    ckpt_dir = run_dir(tmp_path, "rrdb_psnr_embedded") / "checkpoints"
    LitGansCLI(args=["fit"] + _common(tmp_path, "rrdb_psnr_embedded.yaml") + small + [
        "--trainer.max_steps=2", "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0",
        "--data.init_args.batch_size=2", "--data.init_args.val_crop=64",
    ])
    pretrain = ckpt_dir / "last.ckpt"
    assert pretrain.is_file()
    gan_args = _common(tmp_path, "esrgan_embedded.yaml") + SMALL["esrgan"][:-1] + [
        f"--model.init_args.generator_ckpt={pretrain}", "--data.init_args.batch_size=2",
    ]
    cli = LitGansCLI(args=["fit"] + gan_args + ["--trainer.max_steps=2", "--trainer.limit_val_batches=0",
                                                "--trainer.num_sanity_val_steps=0"])
    assert cli.model.g_iter == 1 and cli.model.d_iter == 1
    gan_ckpt = run_dir(tmp_path, "esrgan_embedded") / "checkpoints" / "last.ckpt"

    set5 = _set5_like(tmp_path / "Set5")
    cli = LitGansCLI(args=["validate"] + gan_args + [f"--data.init_args.val_root={set5}", f"--ckpt_path={gan_ckpt}"])
    metrics = cli.trainer.callback_metrics
    assert {"val/psnr_y", "val/ssim_y", "val/psnr_y_bicubic"} <= set(metrics)
    # The bicubic baseline is the protocol applied by hand to the saved files (mean of per-image PSNR).
    from lit_gans.metrics.sr import imresize_bicubic, psnr_y

    def load(path: Path) -> torch.Tensor:
        return torch.from_numpy(np.asarray(Image.open(path))).permute(2, 0, 1)[None].float() / 255

    expected = torch.stack([
        psnr_y(imresize_bicubic(load(set5 / "LRbicx4" / hr.name), 4), load(hr), crop=4)
        for hr in sorted((set5 / "GTmod12").glob("*.png"))
    ]).mean()
    assert 20 < expected < 35
    assert metrics["val/psnr_y_bicubic"].item() == pytest.approx(expected.item(), abs=1e-3)

    lr_dir = tmp_path / "lr"
    lr_dir.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)).save(lr_dir / "odd.png")
    Image.fromarray(rng.integers(0, 256, (20, 24), dtype=np.uint8), "L").save(lr_dir / "gray.png")
    Image.fromarray(rng.integers(0, 256, (18, 22, 4), dtype=np.uint8), "RGBA").save(lr_dir / "rgba.png")
    out = tmp_path / "sr"
    LitGansCLI(args=["predict"] + gan_args + [
        f"--data.init_args.predict_root={lr_dir}", f"--ckpt_path={gan_ckpt}", f"--writer.output_dir={out}",
        "--model.init_args.tile=16", "--model.init_args.tile_overlap=4",
    ])
    sizes = {p.stem: Image.open(p).size for p in out.glob("*.png")}
    assert sizes == {"odd": (124, 92), "gray": (96, 80), "rgba": (88, 72)}


def test_ddp_two_cpu_processes(tmp_path):
    """`lit-gans fit` with strategy ddp on 2 CPU processes (gloo): ESRGAN, tiny networks, 2 iterations, a
    validation pass; the weights end identical on both ranks and the ranks draw different crops."""
    probe = tmp_path / "probe"
    args = [sys.executable, "-m", "lit_gans", "fit"] + _common(tmp_path, "esrgan_embedded.yaml") + SMALL["esrgan"] + [
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_steps=4",
        "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0", "--data.init_args.batch_size=2",
        "--data.init_args.val_crop=64", "--data.init_args.num_workers=0",
        "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}",
    ]
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(run_dir(tmp_path, "esrgan_embedded") / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["lit_gans"]["g_iter"] == 2 and ckpt["lit_gans"]["d_iter"] == 2
    assert any(k.startswith("generator_ema.") for k in ckpt["state_dict"])
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == 2 and r0["params"].keys() == r1["params"].keys()
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"
    assert not torch.equal(r0["noise"], r1["noise"]), "both ranks draw the same random crops"

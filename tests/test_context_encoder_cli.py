"""Context Encoder through the real CLI: one step of each YAML on the embedded photos, `predict` on a
folder (with the center hole and with mask files; known pixels exact in the PNGs), and 2-process CPU DDP."""

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
YAMLS = sorted(p.name for p in (ROOT / "experiments").glob("context_encoder*.yaml"))

#: Tiny widths and batches so that one step takes about a second (sizes and masks stay the YAML's).
SMALL = [
    "--model.init_args.generator.init_args.nef=8", "--model.init_args.generator.init_args.ngf=8",
    "--model.init_args.generator.init_args.bottleneck_dim=32", "--model.init_args.discriminator.init_args.ndf=8",
    "--data.init_args.batch_size=4", "--data.init_args.num_workers=0", "--data.init_args.val_crops=2",
]
#: The Paris preset on the embedded photos (root unset), with a smaller load size for speed.
EMBEDDED = {"context_encoder_paris.yaml": ["--data.init_args.root=null", "--data.init_args.val_root=null", "--data.init_args.load_size=160"]}


def run(*args: str) -> LitGansCLI:
    return LitGansCLI(args=list(args))


def test_three_yamls_exist():
    assert YAMLS == ["context_encoder_embedded.yaml", "context_encoder_embedded_random_region.yaml", "context_encoder_paris.yaml"]


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_one_step(name, cli_args, tmp_path):
    cli = run(
        "fit", *cli_args(name), *SMALL, *EMBEDDED.get(name, []),
        "--trainer.max_steps=2", "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0",
        "--trainer.check_val_every_n_epoch=1", "--trainer.val_check_interval=1",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    )
    model = cli.model
    assert model.g_iter == 1 and model.d_iter == 1
    logged = cli.trainer.logged_metrics
    for key in ("train/d_loss", "train/g_rec", "train/g_adv", "val/hole_psnr", "val/meanfill_psnr", "val/hole_ssim"):
        assert key in logged and torch.isfinite(logged[key]), key
    grid = next(tmp_path.rglob("samples/inpainting_final.png"))
    w, h = Image.open(grid).size
    assert w > h / 8 * 4 * 0.9  # 4 columns: masked | prediction | composite | original
    assert any((tmp_path / "wandb").glob("offline-run-*"))


def _write_inputs(folder: Path, masks: Path | None = None) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {}
    for name, (h, w) in {"a": (64, 64), "b": (50, 90)}.items():  # network size and an own size
        arrays[name] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(arrays[name]).save(folder / f"{name}.png")
        if masks is not None:
            masks.mkdir(exist_ok=True)
            m = np.zeros((h, w), np.uint8)
            m[h // 4 : h // 2, w // 3 : w - 5] = 255
            Image.fromarray(m).save(masks / f"{name}.png")
    return arrays


@pytest.mark.parametrize("name,with_masks", [("context_encoder_embedded.yaml", False), ("context_encoder_embedded_random_region.yaml", True)])
def test_predict_folder_keeps_known_pixels(name, with_masks, cli_args, tmp_path):
    common = [*cli_args(name), *SMALL, "--trainer.logger=false"]
    run("fit", *common, "--trainer.max_steps=2", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0")
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    images, masks, out = tmp_path / "in", (tmp_path / "masks" if with_masks else None), tmp_path / "out"
    arrays = _write_inputs(images, masks)
    extra = [f"--data.init_args.predict_mask_root={masks}"] if with_masks else []
    run("predict", *common, f"--ckpt_path={ckpt}", f"--data.init_args.predict_root={images}", *extra, f"--writer.output_dir={out}")
    for stem, original in arrays.items():
        result = np.asarray(Image.open(out / f"{stem}.png"))
        assert result.shape == original.shape  # the file's own size
        h, w = original.shape[:2]
        if with_masks:
            hole = np.asarray(Image.open(masks / f"{stem}.png")) > 127
        else:  # the center hole of the 64 px network (overlap 2), scaled to the file
            small = np.zeros((64, 64), bool)
            small[18:46, 18:46] = True
            hole = np.asarray(Image.fromarray(small).resize((w, h), Image.NEAREST))
        assert np.array_equal(result[~hole], original[~hole]), "a known pixel changed"
        assert not np.array_equal(result[hole], original[hole])


def test_center_model_refuses_mask_files(cli_args, tmp_path):
    name = "context_encoder_embedded.yaml"
    images, masks = tmp_path / "in", tmp_path / "masks"
    _write_inputs(images, masks)
    with pytest.raises(ValueError, match="need a model trained with output: image"):
        run("predict", *cli_args(name), *SMALL, "--trainer.logger=false", f"--data.init_args.predict_root={images}",
            f"--data.init_args.predict_mask_root={masks}", f"--writer.output_dir={tmp_path / 'out'}")


def test_center_model_refuses_random_masks(cli_args):
    with pytest.raises(ValueError, match="needs a whole-image generator"):
        run("fit", *cli_args("context_encoder_embedded.yaml"), *SMALL, "--trainer.logger=false", "--data.init_args.mask=random_block", "--trainer.max_steps=2")


def test_ddp_two_processes(tmp_path):
    """2 CPU processes (gloo) through the CLI as a user types it; both ranks end with the same weights."""
    probe = tmp_path / "probe"
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "context_encoder_embedded.yaml"),
        *SMALL, "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}",
    ]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2 and r0["g_iter"] == r1["g_iter"] == 3
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"

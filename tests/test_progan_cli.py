"""ProGAN through the real CLI: one step of each YAML (on the embedded digits), predict (samples at the final
resolution + interpolation grid), and a 2-process CPU DDP run (gloo) that grows through a fade-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from lit_gans.cli import LitGansCLI

ROOT = Path(__file__).resolve().parents[1]
ON_DIGITS = ["--data.init_args.source=digits", "--data.init_args.num_workers=0", "--model.init_args.metrics=null"]
SMALL_BATCH = ["--model.init_args.schedule.batch_size=4"]  # the paper-width networks stay cheap at 4x4
OVERRIDES = {
    "progan_digits.yaml": ["--model.init_args.metrics=null"],
    "progan_mnist.yaml": ON_DIGITS + SMALL_BATCH,
    "progan_celeba.yaml": ON_DIGITS + SMALL_BATCH,  # 128 px, 3 channels: the digits upsampled and replicated
}


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _fit_args(name: str, tmp_path: Path, cli_args, *extra: str) -> list[str]:  # noqa: ANN001
    return ["fit"] + cli_args(name) + OVERRIDES[name] + [
        "--trainer.max_steps=2", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
        f"--trainer.logger.init_args.save_dir={tmp_path}", *extra,
    ]


@pytest.mark.parametrize("name", sorted(OVERRIDES))
def test_yaml_one_step(name, cli_args, tmp_path):
    cli = LitGansCLI(args=_fit_args(name, tmp_path, cli_args))
    model = cli.model
    assert cli.trainer.global_step == 2 and model.g_iter == model.d_iter == 1
    assert model.images_seen == (4 if name != "progan_digits.yaml" else 32)
    assert any((tmp_path / "wandb").glob("offline-run-*"))
    expected = {"progan_digits.yaml": 32, "progan_mnist.yaml": 32, "progan_celeba.yaml": 128}[name]
    assert model.resolution == cli.datamodule.resolution == expected


def test_predict_writes_final_resolution_samples_and_interpolation(cli_args, tmp_path):
    cli = LitGansCLI(args=_fit_args("progan_digits.yaml", tmp_path, cli_args, "--trainer.max_steps=4"))
    ckpt = cli.trainer.checkpoint_callback.last_model_path
    assert ckpt and cli.model.images_seen == 64
    out = tmp_path / "pred"
    LitGansCLI(args=["predict"] + cli_args("progan_digits.yaml") + [
        f"--ckpt_path={ckpt}", f"--writer.output_dir={out}", "--data.init_args.predict_samples=5",
        "--data.init_args.predict_batch_size=4", "--data.init_args.predict_interpolation=[2, 3]", f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--model.init_args.metrics=null",
    ])
    samples = sorted(out.glob("sample_*.png"))
    assert len(samples) == 5 and Image.open(samples[0]).size == (32, 32)  # final resolution (stage 0 upscaled)
    grid = Image.open(out / "interpolation.png")
    assert grid.size == (3 * 32 + 4 * 2, 2 * 32 + 3 * 2)  # 2 rows x 3 steps of 32 px with 2 px padding


class ProGANProbe(L.Callback):
    """Per rank: progress, the first batch's data indices, and the final parameters."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.first_indices = None
        self.sizes: list[tuple[int, int]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        if self.first_indices is None:
            self.first_indices = batch["index"].cpu()
        self.sizes.append((batch["image"].shape[0], batch["image"].shape[-1]))

    def on_train_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "params": {n: p.detach().clone() for n, p in pl_module.named_parameters()},
                "ema": {k: v.clone() for k, v in pl_module.generator_ema.state_dict().items()},
                "images_seen": pl_module.images_seen, "stage": pl_module.stage, "alpha": pl_module.alpha,
                "first_indices": self.first_indices, "sizes": self.sizes, "world_size": trainer.world_size,
            },
            self.out_dir / f"rank{trainer.global_rank}.pt",
        )


def test_ddp_two_processes(tmp_path):
    probe = tmp_path / "probe"
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "progan_digits.yaml"),
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_steps=24",
        "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false", "--model.init_args.metrics=null",
        "--model.init_args.schedule.training_kimg=0.016", "--model.init_args.schedule.transition_kimg=0.032",
        "--model.init_args.schedule.batch_size={4: 4, 8: 4, 16: 2, 32: 2}",
        f"--trainer.default_root_dir={tmp_path}", f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.callbacks+=tests.test_progan_cli.ProGANProbe", f"--trainer.callbacks.out_dir={probe}",
    ]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == r1["world_size"] == 2
    # 12 batches; images counted over both ranks (8 per batch, then 4): 4x4 up to 16 images (a boundary is still
    # stable, as in the official schedule), 8x8 fading in over 32 and stable over 16, then 16 px batches of 2 per rank
    assert r0["sizes"] == r1["sizes"] == [(4, 4)] * 3 + [(4, 8)] * 6 + [(2, 16)] * 3
    assert r0["images_seen"] == r1["images_seen"] == 3 * 8 + 6 * 8 + 3 * 4
    assert (r0["stage"], r0["alpha"]) == (r1["stage"], r1["alpha"]) == (2, pytest.approx((84 - 64) / 32))
    assert set(r0["first_indices"].tolist()).isdisjoint(r1["first_indices"].tolist())  # each rank its own images
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"
    for name in r0["ema"]:
        assert torch.equal(r0["ema"][name], r1["ema"][name]), f"EMA {name} differs between ranks"

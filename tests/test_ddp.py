"""Real DDP on CPU: 2 processes (gloo) through the CLI with `--trainer.strategy=ddp` as a user types it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_ddp(config: str, tmp_path: Path, *extra: str) -> list[dict]:
    probe = tmp_path / "probe"
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / config),
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp",
        "--trainer.max_epochs=1", "--trainer.limit_train_batches=6", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_progress_bar=false",
        "--model.init_args.metrics=null", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}", *extra,
    ]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "unused" not in proc.stderr.lower() or "find_unused_parameters=True" in proc.stderr
    return [torch.load(probe / f"rank{r}.pt") for r in (0, 1)]


@pytest.mark.parametrize(
    "config,extra",
    [
        ("wgan_gp_digits.yaml", ["--model.init_args.n_critic=2"]),
        ("cgan_digits.yaml", []),
    ],
)
def test_ddp_two_processes(config, extra, tmp_path):
    r0, r1 = run_ddp(config, tmp_path, *extra)
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["g_iter"] == r1["g_iter"] > 0
    assert r0["params"].keys() == r1["params"].keys()
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"
    assert not torch.equal(r0["noise"], r1["noise"]), "both ranks draw the same noise"

"""Shared fixtures. W&B runs offline in tests (never a prompt, never the network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(1)  # pytest -n 2 runs two workers on 2 cores; more threads per worker only contend

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture()
def cli_args(tmp_path: Path):  # noqa: ANN201
    """Common CLI arguments that keep a test run small and inside tmp_path."""

    def make(config: str | None = None, *extra: str) -> list[str]:
        args = []
        if config:
            args += ["--config", str(ROOT / "experiments" / config)]
        args += [
            f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
        ]
        return args + list(extra)

    return make

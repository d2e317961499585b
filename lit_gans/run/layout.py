"""The run folder: one per experiment (``lit-gans`` sets ``trainer.default_root_dir`` to ``runs/<experiment>/``)::

    runs/<experiment>/checkpoints/last.ckpt   RunCheckpoint (atomic; every epoch end, end of fit, optional timer)
    runs/<experiment>/samples/*.png           SampleGridLogger
    runs/<experiment>/wandb/                  the W&B run (offline files, or the online run's cache)
    runs/<experiment>/config.yaml             the resolved config of the run (later runs: config_<stage>_<time>.yaml)
    runs/<experiment>/test/<ckpt>_<time>/     the results of ``lit-gans test``
    runs/<experiment>/hpc_ckpt_N.ckpt         Lightning's SLURM preemption checkpoint (then requeue)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

RUNS = Path("runs")


def default_folder(experiment: str) -> Path:
    """``runs/<experiment>`` (relative to the working directory)."""
    return RUNS / experiment


def run_dir(trainer: Any) -> Path:
    """The run's folder: ``trainer.default_root_dir`` (``runs/<experiment>/`` under ``lit-gans``)."""
    return Path(trainer.default_root_dir)


def checkpoint_dir(folder: Path) -> Path:
    return Path(folder) / "checkpoints"


def samples_dir(folder: Path) -> Path:
    return Path(folder) / "samples"


def results_dir(folder: Path) -> Path:
    """Where ``lit-gans test`` writes its results (one sub-folder per run)."""
    return Path(folder) / "test"


def config_path(folder: Path, stage: str) -> Path:
    """``config.yaml`` for the experiment's first fit, ``config_<stage>_<time>[_k].yaml`` for later runs (resumes,
    validate, test, predict): never an existing file."""
    path = Path(folder) / "config.yaml"
    if stage != "fit" or path.exists():
        path = Path(folder) / f"config_{stage}_{time.strftime('%Y%m%d-%H%M%S')}.yaml"
        k = 2
        while path.exists():
            path = path.with_name(f"{path.stem.rsplit('.', 1)[0]}_{k}.yaml")
            k += 1
    return path

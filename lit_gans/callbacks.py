"""Compatibility names: the callbacks live in :mod:`lit_gans.run` (YAML class paths such as
``lit_gans.callbacks.RunCheckpoint`` and checkpoints that name them keep working)."""

from lit_gans.io.checkpoints import CheckpointWriteError
from lit_gans.run.callbacks import (
    METRIC_DIRECTIONS,
    PredictionWriter,
    RunConfigSaver,
    RunTracker,
    SampleGridLogger,
    main_metric,
    to_uint8_image,
)
from lit_gans.run.checkpoint import AtomicCheckpointIO, RunCheckpoint
from lit_gans.run.layout import run_dir

__all__ = [
    "AtomicCheckpointIO", "CheckpointWriteError", "METRIC_DIRECTIONS", "PredictionWriter", "RunCheckpoint",
    "RunConfigSaver", "RunTracker", "SampleGridLogger", "main_metric", "run_dir", "to_uint8_image",
]

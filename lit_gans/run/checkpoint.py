"""RunCheckpoint: checkpoints that are never lost and never broken (atomic writes, SLURM requeue)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any, Optional

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lit_gans.errors import ConfigError
from lit_gans.io.checkpoints import CheckpointWriteError, write_checkpoint
from lit_gans.run._lightning import ModelCheckpointHooks
from lit_gans.run.callbacks import generator_iteration
from lit_gans.run.layout import checkpoint_dir, run_dir

__all__ = ["AtomicCheckpointIO", "CheckpointWriteError", "RunCheckpoint"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in its own folder, flushes it to disk, then renames it into
    place (``lit_gans.io.checkpoints.write_checkpoint``). A full disk or a kill mid-write leaves the previous
    ``last.ckpt`` intact and no partial file (Lightning's own writer stages the file in the system temp folder
    and copies it across filesystems, which can leave a truncated checkpoint)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote: fsspec's transaction
        write_checkpoint(checkpoint, str(path).removeprefix("file://"))


def _finite_model(module: torch.nn.Module) -> bool:
    """All parameters and floating buffers finite (one host sync; called when saving only)."""
    tensors = [t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


class RunCheckpoint(ModelCheckpointHooks):
    """``ModelCheckpoint`` that never loses a run and never keeps a broken one.

    * ``last.ckpt`` is written at every training-epoch end (whether or not validation ran that epoch), at the
      end of fit, and optionally every ``every_n_minutes`` of training and every ``every_n_g_iters`` generator
      iterations (mid-epoch: a run killed between epochs loses at most that much).
    * Writes are atomic and in the checkpoint's own folder (:class:`AtomicCheckpointIO`).
    * A model with non-finite weights is never saved: the previous ``last.ckpt`` stays the last good one.

    * Under SLURM, ``requeue_signal`` (sbatch ``--signal=SIGUSR1@90``) makes the run save ``last.ckpt`` at the
      end of the current step (all ranks agree on the step), call ``scontrol requeue $SLURM_JOB_ID`` and stop;
      the requeued job (same command, no ``--ckpt_path``) resumes from it exactly, into the same W&B run.
      Lightning's own handler (which saves inside the signal handler, possibly in the middle of a G/D step) is
      switched off by ``lit-gans`` (``SLURMEnvironment(auto_requeue=False)``).

    Other arguments are ``ModelCheckpoint``'s (``dirpath`` defaults to ``<run dir>/checkpoints``). With its default
    ``save_top_k=1`` and no ``monitor``, the folder also holds ``epoch=E-step=S.ckpt``: the checkpoint of the newest
    epoch end, which ModelCheckpoint writes first and ``last.ckpt`` copies (Lightning writes ``last.ckpt`` at an
    epoch end only after such a save, so ``save_top_k=0`` would stop the per-epoch ``last.ckpt``).

    Args:
        every_n_minutes: also save ``last.ckpt`` when this many minutes of training passed since the last save.
        every_n_g_iters: also save ``last.ckpt`` every this many generator iterations (the model's ``g_iter``).
        requeue_signal: the signal SLURM sends before the time limit or a preemption (None: no handler).
    """

    def __init__(
        self,
        dirpath: Optional[str] = None,
        every_n_minutes: Optional[float] = None,
        every_n_g_iters: Optional[int] = None,
        save_last: bool = True,
        save_on_train_epoch_end: bool = True,
        requeue_signal: Optional[str] = "SIGUSR1",
        **kwargs: Any,
    ) -> None:
        super().__init__(dirpath=dirpath, save_last=save_last, save_on_train_epoch_end=save_on_train_epoch_end, **kwargs)
        if every_n_minutes is not None and every_n_minutes <= 0:
            raise ConfigError(f"RunCheckpoint every_n_minutes must be > 0, got {every_n_minutes}")
        if every_n_g_iters is not None and every_n_g_iters < 1:
            raise ConfigError(f"RunCheckpoint every_n_g_iters must be >= 1, got {every_n_g_iters}")
        self.every_n_minutes, self.every_n_g_iters = every_n_minutes, every_n_g_iters
        self.requeue_signal = requeue_signal
        self._timer_start = time.monotonic()
        self._last_g_iter_saved = -1
        self._slurm = False
        self._signalled = False
        self._frozen = False
        self._previous_handler: Any = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = str(checkpoint_dir(run_dir(trainer)))
        super().setup(trainer, pl_module, stage)
        strategy = trainer.strategy
        if type(strategy.checkpoint_io) is TorchCheckpointIO:  # the default writer: make it atomic
            strategy.checkpoint_io = AtomicCheckpointIO()
        from lightning.fabric.plugins.environments import SLURMEnvironment

        if stage == "fit" and self.requeue_signal and SLURMEnvironment.detect():
            self._slurm = True
            self._previous_handler = signal.signal(getattr(signal, self.requeue_signal), self._on_requeue_signal)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._slurm and self._previous_handler is not None:
            signal.signal(getattr(signal, self.requeue_signal), self._previous_handler)
            self._previous_handler = None

    def _on_requeue_signal(self, signum: int, frame: Any) -> None:
        self._signalled = True  # acted on at the end of the current step, not inside it

    def _requeue(self, trainer: L.Trainer) -> None:
        self.save_last_now(trainer)
        self._frozen = True  # nothing after this point (the cut-short epoch's end) may replace that checkpoint
        if trainer.is_global_zero:
            array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
            job = f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array_job else os.environ.get("SLURM_JOB_ID", "")
            status = subprocess.call(["scontrol", "requeue", job]) if job else -1
            rank_zero_info(f"lit_gans: {self.requeue_signal}: saved {self.last_model_path}; "
                           + (f"requeued SLURM job {job}" if status == 0 else f"scontrol requeue {job} failed ({status})"))
        trainer.should_stop = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._timer_start = time.monotonic()

    def _due(self, trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        g_iter = generator_iteration(trainer, pl_module)
        if self.every_n_g_iters and g_iter % self.every_n_g_iters == 0 and g_iter != self._last_g_iter_saved:
            return True
        if self.every_n_minutes is None:
            return False
        due = time.monotonic() - self._timer_start >= 60.0 * self.every_n_minutes
        # every rank must agree (the save is collective); rank 0's clock decides
        return bool(trainer.strategy.broadcast(due, src=0))

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        if self._slurm and not self._frozen:
            # every rank must stop at the same step: one tiny all-reduce per step, only in SLURM jobs
            if trainer.strategy.reduce_boolean_decision(self._signalled, all=False):
                self._requeue(trainer)
                return
        if self.skip_saving(trainer) or not (self.every_n_minutes or self.every_n_g_iters):
            return
        if self._due(trainer, pl_module):
            self.save_last_now(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not self.skip_saving(trainer) and self.last_saved_step() != trainer.global_step:
            self.save_last_now(trainer)

    def may_write(self, trainer: L.Trainer, filepath: str) -> bool:
        if self._frozen:
            return False
        if not _finite_model(trainer.lightning_module):
            rank_zero_warn(
                f"lit_gans: not writing {filepath}: the model has non-finite weights (NaN/inf); "
                f"the last good checkpoint is {self.last_model_path or 'none'}"
            )
            return False
        return True

    def after_write(self, trainer: L.Trainer, filepath: str) -> None:
        self._timer_start = time.monotonic()
        self._last_g_iter_saved = generator_iteration(trainer, trainer.lightning_module)

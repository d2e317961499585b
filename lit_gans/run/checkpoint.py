"""RunCheckpoint: checkpoints that are never lost and never broken (atomic writes, SLURM requeue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_gans.errors import ConfigError
from lit_gans.io.checkpoints import CheckpointWriteError, write_checkpoint
from lit_gans.run._lightning import ModelCheckpointHooks
from lit_gans.run.callbacks import generator_iteration
from lit_gans.run.layout import checkpoint_dir, run_dir

__all__ = ["AtomicCheckpointIO", "CheckpointWriteError", "RunCheckpoint", "checkpoint_summary"]


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
    * SIGTERM (what schedulers send to end a job: SLURM's ``scancel``, a preemption or the time limit send SIGCONT
      then SIGTERM), SIGINT (Ctrl+C), and SIGUSR1/SIGUSR2 (schedulers' warning signals; SIGUSR1 is the requeue
      signal in a SLURM job) during fit: ``last.ckpt`` is saved at the end of the current step and the command
      exits with 128 + the signal's number (143, 130, 138, 140), so a script or scheduler sees a failure, not
      success. Lightning stops the loops at a step boundary on SIGTERM (``SIGTERMException``); SIGINT and
      SIGUSR1/2 are routed through that same path (when their handler is Python's default; one that the program
      running fit installed is left to it). A second Ctrl+C interrupts at once. SIGCONT changes nothing.

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
        self.refused = False  # a save was refused (non-finite weights): the summary says so
        self.stop_signal: Optional[str] = None  # the signal that stopped fit (SIGTERM unless another was routed)
        self._previous_handler: Any = None
        self._stop_handlers: dict[int, Any] = {}

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

    def _route_to_sigterm(self, signum: int, frame: Any) -> None:
        """SIGINT / SIGUSR1 / SIGUSR2 during fit: what SIGTERM does (Lightning's handler, installed for fit: stop at
        the end of the step); the signal's own previous handler comes back, so a second Ctrl+C interrupts at once."""
        self.stop_signal = signal.Signals(signum).name
        signal.signal(signum, self._stop_handlers.pop(signum, signal.SIG_DFL))
        handler = signal.getsignal(signal.SIGTERM)
        if callable(handler):
            handler(signum, frame)

    def _restore_stop_handlers(self) -> None:
        for signum, handler in self._stop_handlers.items():
            signal.signal(signum, handler)
        self._stop_handlers = {}

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_stop_handlers()
        if not isinstance(exception, SIGTERMException) or trainer.state.fn != "fit":
            return
        name = self.stop_signal or "SIGTERM"
        if not self._frozen and not self.skip_saving(trainer):
            self.save_last_now(trainer)
        exception.code = 128 + int(signal.Signals[name])
        if trainer.is_global_zero:
            saved = self.last_model_path if self.last_model_path and os.path.isfile(self.last_model_path) else None
            print(f"lit_gans: {name}: stopped at generator iteration {generator_iteration(trainer, pl_module)} "
                  + (f"and saved {saved}; resume with --ckpt_path last" if saved else "(no checkpoint written)")
                  + f"; exit status {exception.code}", file=sys.stderr)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_stop_handlers()
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
            try:
                status: Any = subprocess.call(["scontrol", "requeue", job]) if job else "no SLURM_JOB_ID"
            except OSError as err:  # no scontrol on PATH (a container without the SLURM tools)
                status = f"{err.strerror}: scontrol is not on PATH; requeue the job yourself: scontrol requeue {job}"
            rank_zero_info(f"lit_gans: {self.requeue_signal}: saved {self.last_model_path}; "
                           + (f"requeued SLURM job {job}" if status == 0 else f"scontrol requeue {job} failed ({status})"))
        trainer.should_stop = True

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._timer_start = time.monotonic()
        # after Lightning installed its SIGTERM handler (Trainer._run: setup, then signal handlers, then the loops)
        if threading.current_thread() is threading.main_thread():
            for name in ("SIGINT", "SIGUSR1", "SIGUSR2"):
                if self._slurm and name == self.requeue_signal:
                    continue  # the SLURM requeue (above)
                signum = getattr(signal, name)
                current = signal.getsignal(signum)
                if current not in (signal.SIG_DFL, signal.default_int_handler):
                    continue  # a handler the embedding program installed (or SIG_IGN) is left to it
                self._stop_handlers[signum] = signal.signal(signum, self._route_to_sigterm)

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

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A run folder copied or moved to another path resumes into its own files: the paths the checkpoint holds
        (absolute, under the old folder) are read as the same names in this callback's folder. Lightning would
        drop them, then see ``last.ckpt`` as another run's file and write ``last-v1.ckpt`` beside it."""
        old = state_dict.get("dirpath")
        if old and self.dirpath and os.path.realpath(old) != os.path.realpath(self.dirpath):
            def moved(path: Any) -> Any:
                if isinstance(path, str) and path and os.path.dirname(path) == old:
                    return os.path.join(self.dirpath, os.path.basename(path))
                return path

            state_dict = {k: moved(v) for k, v in state_dict.items()}
            state_dict["best_k_models"] = {moved(k): v for k, v in (state_dict.get("best_k_models") or {}).items()}
            state_dict["dirpath"] = self.dirpath
        super().load_state_dict(state_dict)

    def may_write(self, trainer: L.Trainer, filepath: str) -> bool:
        if self._frozen:
            return False
        if not _finite_model(trainer.lightning_module):
            self.refused = True
            rank_zero_warn(
                f"lit_gans: not writing {filepath}: the model has non-finite weights (NaN/inf); "
                f"the last good checkpoint is {self.last_model_path or 'none'}"
            )
            return False
        return True

    def after_write(self, trainer: L.Trainer, filepath: str) -> None:
        self._timer_start = time.monotonic()
        self._last_g_iter_saved = generator_iteration(trainer, trainer.lightning_module)


def checkpoint_summary(trainer: L.Trainer, experiment: Optional[str]) -> list[str]:
    """The end-of-fit lines about the run's checkpoint: its path and how to resume, only when the file is there
    (a run with checkpointing off, or whose every save was refused as non-finite, names none and offers no resume)."""
    ckpt = trainer.checkpoint_callback
    path = (getattr(ckpt, "last_model_path", "") or getattr(ckpt, "best_model_path", "")) if ckpt is not None else ""
    if not path or not os.path.isfile(path):
        if ckpt is None:
            return ["no checkpoint written (checkpointing is off: --trainer.enable_checkpointing=false)"]
        return ["no checkpoint written: nothing to resume from"]
    lines = [f"checkpoint: {Path(path).resolve()}"]
    if getattr(ckpt, "refused", False):
        lines[0] += " (the last good one: later saves were refused, the model's weights were not finite)"
    lines.append(f"resume with: --ckpt_path last (experiment '{experiment}')")
    return lines

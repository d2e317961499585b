"""Every use of Lightning's private API in lit_gans, by name, in one place.

Lightning gives no public way to do these few things; each function or hook below says what it reads or
overrides. ``PRIVATE`` lists them (and where lit_gans relies on them); ``tests/test_lightning_private.py``
checks each against the installed Lightning, so an upgrade that renames or changes one fails there, by name,
instead of silently. pyproject.toml pins Lightning to the minor versions this was tested with.

Nothing else in lit_gans may touch a ``_private`` attribute of a Lightning object (checked by the same test).
This module imports only Lightning (and jsonargparse through it), so any layer may import it.
"""

from __future__ import annotations

from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

#: (owner, private attribute, kind, what lit_gans uses it for). Kinds: "method" (called or overridden),
#: "attribute" (an instance attribute), "contextvar" (a module-level ContextVar).
PRIVATE: tuple[tuple[str, str, str, str], ...] = (
    ("lightning.pytorch.LightningModule", "_trainer", "attribute",
     "attached_trainer(): is the module attached to a Trainer (the public .trainer raises when not)"),
    ("lightning.pytorch.Trainer", "_logger_connector", "attribute",
     "should_update_logs(): GANModule skips the per-step logging bookkeeping between logging steps"),
    ("lightning.pytorch.strategies.DDPStrategy", "_ddp_kwargs", "attribute",
     "ddp_kwargs(): GANModule checks find_unused_parameters=True (no public getter)"),
    ("lightning.pytorch.loggers.WandbLogger", "_experiment", "attribute",
     "finish_wandb_run(): close the W&B run after a subcommand so a later one in the process starts its own"),
    ("lightning.pytorch.loggers.WandbLogger", "_wandb_init", "attribute",
     "drop_wandb_init_arg(): drop the anonymous=None Lightning always passes (W&B warns it has no effect)"),
    ("lightning.pytorch.cli.LightningCLI", "_parse_ckpt_path", "method",
     "LightningCLIHooks: replaced by resolve_run() (Lightning's lets a checkpoint's hparams replace the YAML's model)"),
    ("lightning.pytorch.cli.LightningCLI", "_run_subcommand", "method",
     "LightningCLIHooks.on_run_error(): close the W&B run as failed, set the exit status, word Lightning's option errors"),
    ("lightning.pytorch.cli.LightningCLI", "_instantiate_trainer", "method",
     "LightningCLIHooks: prepare_trainer() adds the run's callbacks and the SLURM plugin; trainer_error() words errors"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_save_checkpoint", "method",
     "ModelCheckpointHooks: may_write()/after_write() around every write (RunCheckpoint's finite check)"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_save_last_checkpoint", "method",
     "ModelCheckpointHooks.save_last_now(): RunCheckpoint's mid-epoch, timer and requeue saves"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_monitor_candidates", "method",
     "ModelCheckpointHooks.save_last_now(): the values a last checkpoint is saved with"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_should_skip_saving_checkpoint", "method",
     "ModelCheckpointHooks.skip_saving(): no save in sanity check / fast_dev_run / twice at one step"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_last_global_step_saved", "attribute",
     "ModelCheckpointHooks.last_saved_step(): RunCheckpoint saves at the end of fit unless this step was saved"),
    ("lightning.pytorch.callbacks.ModelCheckpoint", "_find_last_checkpoints", "method",
     "ModelCheckpointHooks.find_last_checkpoints(): where Lightning itself looks up 'last' (tests)"),
)


# ---------------------------------------------------------------------------------------------- module / trainer
def attached_trainer(module: L.LightningModule) -> Optional[L.Trainer]:
    """The Trainer ``module`` is attached to, or None (``module.trainer`` raises when there is none)."""
    return getattr(module, "_trainer", None)


def should_update_logs(trainer: Optional[L.Trainer]) -> bool:
    """Whether Lightning writes step values to the loggers at this step (every ``log_every_n_steps``)."""
    connector = getattr(trainer, "_logger_connector", None) if trainer is not None else None
    return True if connector is None else bool(getattr(connector, "should_update_logs", True))


def ddp_kwargs(strategy: Any) -> dict[str, Any]:
    """The keyword arguments a DDP strategy passes to ``DistributedDataParallel`` (read only, never edited)."""
    return dict(getattr(strategy, "_ddp_kwargs", {}) or {})


def finish_wandb_run(logger: Any, exit_code: int = 0) -> None:
    """Finish ``logger``'s W&B run if it started one (``exit_code`` != 0: marked failed), and forget it (a later
    ``experiment`` starts a new run)."""
    if getattr(logger, "_experiment", None) is not None:
        logger.experiment.finish(exit_code=exit_code)
        logger._experiment = None


def drop_wandb_init_arg(logger: Any, key: str, unless_set: bool = False) -> None:
    """Remove ``key`` from the arguments ``logger`` will pass to ``wandb.init`` (with ``unless_set``: only when
    its value is None, i.e. the user did not set it). No effect once the run has started."""
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and key in init and not (unless_set and init[key] is not None):
        del init[key]


# ---------------------------------------------------------------------------------------------- LightningCLI
class LightningCLIHooks(LightningCLI):
    """LightningCLI with two of its private steps replaced by public, named hooks."""

    def resolve_run(self) -> None:
        """Runs where LightningCLI would resolve ``--ckpt_path`` (after parsing, before anything is built)."""

    def prepare_trainer(self, config: dict[str, Any], callbacks: list) -> list:
        """The Trainer's init arguments (``config``, may be edited) and the callbacks to build it with."""
        return callbacks

    def on_run_error(self, error: BaseException) -> Optional[BaseException]:
        """Called when the subcommand (``trainer.fit`` and its before/after hooks) raises anything, ``SystemExit``
        included; the error returned (None: ``error`` itself) propagates after it."""
        return None

    def trainer_error(self, error: Exception) -> Exception:
        """The error to raise when building the Trainer raised ``error`` (default: ``error`` itself)."""
        return error

    def _parse_ckpt_path(self) -> None:
        self.resolve_run()

    def _run_subcommand(self, subcommand: str) -> None:
        try:
            super()._run_subcommand(subcommand)
        except BaseException as error:
            replacement = self.on_run_error(error)
            if replacement is not None and replacement is not error:
                raise replacement from error
            raise

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> L.Trainer:
        try:
            return super()._instantiate_trainer(config, self.prepare_trainer(config, list(callbacks)))
        except Exception as error:
            replacement = self.trainer_error(error)
            if replacement is error:
                raise
            raise replacement from error


# ---------------------------------------------------------------------------------------------- ModelCheckpoint
class ModelCheckpointHooks(ModelCheckpoint):
    """ModelCheckpoint with its private save steps behind public, named methods."""

    def may_write(self, trainer: L.Trainer, filepath: str) -> bool:
        """Called before every checkpoint write; False skips it."""
        return True

    def after_write(self, trainer: L.Trainer, filepath: str) -> None:
        """Called after every checkpoint write."""

    def save_last_now(self, trainer: L.Trainer) -> None:
        """Save ``last.ckpt`` now (as ModelCheckpoint does at an epoch end)."""
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def skip_saving(self, trainer: L.Trainer) -> bool:
        """ModelCheckpoint's own reasons not to save now (sanity check, fast_dev_run, this step already saved)."""
        return self._should_skip_saving_checkpoint(trainer)

    def last_saved_step(self) -> int:
        """The global step of the last checkpoint this callback wrote."""
        return self._last_global_step_saved

    def find_last_checkpoints(self, trainer: Optional[L.Trainer]) -> set[str]:
        """The files Lightning's own ``ckpt_path="last"`` lookup finds for this callback."""
        return set(self._find_last_checkpoints(trainer))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        if not self.may_write(trainer, filepath):
            return
        super()._save_checkpoint(trainer, filepath)
        self.after_write(trainer, filepath)

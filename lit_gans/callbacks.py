"""Callbacks and the run folder: checkpoints that are never lost, sample grids, the prediction writer.

A run's files live in one folder per experiment (``lit-gans`` sets ``trainer.default_root_dir`` to
``runs/<experiment>/``)::

    runs/<experiment>/checkpoints/last.ckpt   RunCheckpoint (atomic; every epoch end, end of fit, optional timer)
    runs/<experiment>/samples/*.png           SampleGridLogger
    runs/<experiment>/wandb/                  the W&B run (offline files, or the online run's cache)
    runs/<experiment>/config.yaml             the resolved config of the run (later runs: config_<stage>_<time>.yaml)
    runs/<experiment>/hpc_ckpt_N.ckpt         Lightning's SLURM preemption checkpoint (then requeue)
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import BasePredictionWriter, Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lit_gans.errors import ConfigError, UserError
from lit_gans.utils.files import atomic_path
from lit_gans.utils.images import save_png


def run_dir(trainer: L.Trainer) -> Path:
    """The run's folder: ``trainer.default_root_dir`` (``runs/<experiment>/`` under ``lit-gans``)."""
    return Path(trainer.default_root_dir)


class CheckpointWriteError(UserError, OSError):
    """A checkpoint could not be written (disk full, permissions); the previous file is intact."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in its own folder, flushes it to disk, then renames it into
    place (``os.replace``, atomic on one filesystem). A full disk or a kill mid-write leaves the previous
    ``last.ckpt`` intact and no partial file (Lightning's own writer stages the file in the system temp folder
    and copies it across filesystems, which can leave a truncated checkpoint)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if "://" in str(path) and not str(path).startswith("file://"):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote: fsspec's transaction
        path = Path(str(path).removeprefix("file://"))
        try:
            with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
                torch.save(checkpoint, f)
        except OSError as err:
            raise CheckpointWriteError(
                f"could not write the checkpoint {path} ({err.strerror or err}); the previous file, if any, is "
                "intact. Free space or choose another folder (--trainer.default_root_dir), then resume with "
                "--ckpt_path last"
            ) from err


def _finite_model(module: torch.nn.Module) -> bool:
    """All parameters and floating buffers finite (one host sync; called when saving only)."""
    tensors = [t for t in list(module.parameters()) + list(module.buffers()) if t.is_floating_point()]
    if not tensors:
        return True
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


class RunCheckpoint(ModelCheckpoint):
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

    Other arguments are ``ModelCheckpoint``'s (``dirpath`` defaults to ``<run dir>/checkpoints``).

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
            self.dirpath = str(run_dir(trainer) / "checkpoints")
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
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
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
        g_iter = int(getattr(pl_module, "g_iter", trainer.global_step))
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
        if self._should_skip_saving_checkpoint(trainer) or not (self.every_n_minutes or self.every_n_g_iters):
            return
        if self._due(trainer, pl_module):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        if not self._should_skip_saving_checkpoint(trainer) and self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        if self._frozen:
            return
        if not _finite_model(trainer.lightning_module):
            rank_zero_warn(
                f"lit_gans: not writing {filepath}: the model has non-finite weights (NaN/inf); "
                f"the last good checkpoint is {self.last_model_path or 'none'}"
            )
            return
        super()._save_checkpoint(trainer, filepath)
        self._timer_start = time.monotonic()
        self._last_g_iter_saved = int(getattr(trainer.lightning_module, "g_iter", trainer.global_step))


def to_uint8_image(grid: torch.Tensor) -> "Any":
    """A [C, H, W] float image in [0, 1] as an HxW or HxWx3 uint8 array (what W&B stores without rescaling:
    wandb casts float data to uint8 without scaling, so a float grid in [0, 1] would be stored black)."""
    array = (grid.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu().permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


class SampleGridLogger(Callback):
    """Every ``every_n_steps`` generator iterations, log the model's ``sample_images()`` (fixed noise /
    fixed inputs, so grids compare across steps and runs) to the logger (W&B image panel as 8-bit images,
    TensorBoard) and write them as PNG under ``<run dir>/samples/``; a final grid is written when training
    ends. Rank zero only.

    Args:
        every_n_steps: interval in generator iterations (the model's ``g_iter``; 0 disables the periodic grid).
        dirpath: folder of the PNG files (default: ``<run dir>/samples``).
    """

    def __init__(self, every_n_steps: int = 200, dirpath: Optional[str] = None) -> None:
        self.every_n_steps, self.dirpath = every_n_steps, dirpath
        self._last = -1
        self.last_paths: list[Path] = []

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, tag: str) -> None:
        if not trainer.is_global_zero:
            return
        was_training = pl_module.training
        pl_module.eval()
        try:
            grids = pl_module.sample_images()
        finally:
            pl_module.train(was_training)
        folder = Path(self.dirpath) if self.dirpath else run_dir(trainer) / "samples"
        self.last_paths = []
        step = int(getattr(pl_module, "g_iter", trainer.global_step))
        for name, grid in grids.items():
            self.last_paths.append(save_png(grid, folder / f"{name}_{tag}.png"))
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_image(key=f"samples/{name}", images=[to_uint8_image(grid)], caption=[f"g_iter {step}"])
                elif isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"samples/{name}", grid, step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        g_iter = int(getattr(pl_module, "g_iter", trainer.global_step))
        if self.every_n_steps and g_iter % self.every_n_steps == 0 and g_iter != self._last:
            self._last = g_iter
            self._write(trainer, pl_module, f"{g_iter:07d}")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "final")


#: "lower is better" / "higher is better" for the main validation metric, by name fragment (first match wins).
METRIC_DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("fid", "min"), ("kid", "min"), ("swd", "min"), ("niqe", "min"), ("lpips", "min"),
    ("psnr", "max"), ("ssim", "max"), ("accuracy", "max"), ("l1", "min"), ("l2", "min"),
)


def main_metric(names: list[str], preferred: Optional[str] = None) -> Optional[tuple[str, str]]:
    """The run's main validation metric and its direction: the model's ``main_metric`` when it names a logged
    value, else the first ``val/`` metric matching ``METRIC_DIRECTIONS`` in that order (FID before PSNR...)."""
    vals = [n for n in names if n.startswith("val/")]
    if preferred and preferred in vals:
        for frag, mode in METRIC_DIRECTIONS:
            if frag in preferred.lower():
                return preferred, mode
    for frag, mode in METRIC_DIRECTIONS:
        for name in sorted(vals):
            if frag in name.lower() and "bicubic" not in name and "baseline" not in name:
                return name, mode
    return None


class RunTracker(Callback):
    """What the user watches: W&B curves on the generator iteration, the best value of the main metric in the
    run summary (``best/<metric>`` with ``best/<metric>_g_iter``), the latest validation metric in the
    progress bar, and the final validation metrics kept for the end-of-fit printout. Added by ``lit-gans``."""

    def __init__(self) -> None:
        self.best: Optional[tuple[str, float, int]] = None
        self.final_metrics: dict[str, float] = {}

    @staticmethod
    def _wandb(trainer: L.Trainer) -> list[WandbLogger]:
        return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for logger in self._wandb(trainer):
            run = logger.experiment
            if hasattr(run, "define_metric"):
                run.define_metric("g_iter")
                for prefix in ("train/*", "train_epoch/*", "val/*", "best/*"):
                    run.define_metric(prefix, step_metric="g_iter")
                summary = getattr(run, "summary", None)
                if summary is not None and "best/metric" in summary.keys():
                    name = summary["best/metric"]
                    self.best = (name, float(summary[f"best/{name}"]), int(summary.get(f"best/{name}_g_iter", 0)))

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and hasattr(pl_module, "g_iter") and trainer.state.fn == "fit":
            # the x-axis of the validation curves: logged with the metrics (one W&B row), whatever the model's hooks
            pl_module.log("g_iter", float(pl_module.g_iter), batch_size=1)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
        self.final_metrics = metrics
        choice = main_metric(list(metrics), getattr(pl_module, "main_metric", None))
        if choice is None or not trainer.is_global_zero:
            return
        name, mode = choice
        value, g_iter = metrics[name], int(getattr(pl_module, "g_iter", trainer.global_step))
        pl_module._latest_val_metric = (name, value)  # shown in the progress bar by GANModule
        if not math.isfinite(value):
            return
        better = self.best is None or self.best[0] != name or (value < self.best[1] if mode == "min" else value > self.best[1])
        if better:
            self.best = (name, value, g_iter)
            for logger in self._wandb(trainer):
                summary = logger.experiment.summary
                summary["best/metric"] = name
                summary[f"best/{name}"] = value
                summary[f"best/{name}_g_iter"] = g_iter

    def state_dict(self) -> dict[str, Any]:
        return {"best": list(self.best) if self.best else None}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        best = state_dict.get("best")
        self.best = (best[0], float(best[1]), int(best[2])) if best else None


def _unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict_step`` returns, ``{"images": [B, C, H, W] or list of [C, H, W] in [0, 1],
    "names": [str]}``, as ``<output_dir>/<name>.png`` (atomically, one file per image, mode 0644 less umask).

    Nothing is overwritten silently: an output folder that already holds PNG files is refused unless
    ``overwrite`` is set, and two inputs that map to one name in a run are written as ``<name>.png`` and
    ``<name>_2.png`` with a notice. The count printed at the end is of the files written, over all ranks.

    Args:
        output_dir: folder of the PNG files (created).
        overwrite: allow writing into a folder that already holds PNG files (replacing same-named files).
    """

    def __init__(self, output_dir: str = "predictions", overwrite: bool = False) -> None:
        super().__init__(write_interval="batch")
        self.output_dir, self.overwrite = output_dir, overwrite
        self.count = 0
        self.renamed: list[tuple[str, str]] = []
        self._taken: set[str] = set()

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        self.count, self.renamed, self._taken = 0, [], set()
        out = Path(self.output_dir)
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--writer.output_dir {out} is a file, not a folder: give a folder path (it is created)")
        existing = sorted(out.glob("*.png")) if out.is_dir() else []
        if existing and not self.overwrite:
            raise ConfigError(
                f"--writer.output_dir {out} already holds {len(existing)} PNG file(s) (e.g. {existing[0].name}): "
                "choose an empty or new folder, or pass --writer.overwrite=true to replace same-named files"
            )

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):  # noqa: ANN001, ANN201
        if not isinstance(prediction, dict) or "images" not in prediction:
            raise TypeError(f"{type(pl_module).__name__}.predict_step must return {{'images', 'names'}}, got {type(prediction).__name__}")
        for image, name in zip(prediction["images"], prediction["names"]):
            unique = _unique_name(str(name), self._taken)
            if unique != name:
                self.renamed.append((str(name), unique))
            self._taken.add(unique)
            save_png(image, Path(self.output_dir) / f"{unique}.png")
            self.count += 1

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = int(trainer.strategy.reduce(torch.tensor(float(self.count), device=pl_module.device), reduce_op="sum").item())
        for name, unique in self.renamed[:10]:
            rank_zero_warn(f"lit_gans: two inputs map to {name}.png; the second was written as {unique}.png")
        rank_zero_info(f"lit_gans: wrote {total} PNG file(s) to {Path(self.output_dir).resolve()}")
        self.total = total

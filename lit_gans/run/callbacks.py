"""The callbacks of a run: sample grids (W&B + PNG), RunTracker (what the user watches; the W&B run id),
the prediction writer, and the resolved config of each run (RunConfigSaver). Files go to the run folder
(:mod:`lit_gans.run.layout`)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.cli import SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn

from lit_gans.errors import ConfigError
from lit_gans.run._lightning import should_update_logs
from lit_gans.run.layout import config_path, run_dir, samples_dir
from lit_gans.run.wandb import wandb_loggers, wandb_run_id
from lit_gans.utils.files import atomic_path
from lit_gans.utils.images import save_png


def generator_iteration(trainer: L.Trainer, pl_module: L.LightningModule) -> int:
    """The x-axis of a run: a lit_gans model's ``g_iter`` (generator iterations), Lightning's global step for
    any other module."""
    return int(getattr(pl_module, "g_iter", trainer.global_step))


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
        folder = Path(self.dirpath) if self.dirpath else samples_dir(run_dir(trainer))
        self.last_paths = []
        step = generator_iteration(trainer, pl_module)
        for name, grid in grids.items():
            self.last_paths.append(save_png(grid, folder / f"{name}_{tag}.png"))
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_image(key=f"samples/{name}", images=[to_uint8_image(grid)], caption=[f"g_iter {step}"])
                elif isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"samples/{name}", grid, step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        g_iter = generator_iteration(trainer, pl_module)
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
    """What the user watches and what a resume continues: W&B curves on the generator iteration, the best value
    of the main metric in the run summary (``best/<metric>`` with ``best/<metric>_g_iter``), the latest
    validation metric in the progress bar, the final validation metrics kept for the end-of-fit printout, and
    the W&B run id, kept in this callback's checkpoint state (``checkpoint["callbacks"]["RunTracker"]``) so that
    ``--ckpt_path`` continues the same run. Added by ``lit-gans``."""

    def __init__(self) -> None:
        self.best: Optional[tuple[str, float, int]] = None
        self.final_metrics: dict[str, float] = {}
        self.wandb_run_id: Optional[str] = None
        self._shown: Optional[tuple[str, float]] = None  # the latest main metric, for the progress bar
        self._show_now = False

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        # the option names of each optimizer the checkpoint holds, checked against the config's in on_fit_start
        self._saved_groups = [sorted({k for g in state.get("param_groups") or [] for k in g if k != "params"})
                              for state in checkpoint.get("optimizer_states") or []]

    def _check_optimizers(self, trainer: L.Trainer) -> None:
        """A resumed fit whose config builds other optimizers than the checkpoint's (Adam -> SGD: ``KeyError:
        'momentum'`` at the first step) is refused before anything is loaded, naming both."""
        saved, self._saved_groups = getattr(self, "_saved_groups", None), None
        if not saved:
            return
        ckpt_path = trainer.ckpt_path
        optimizers = list(trainer.optimizers)
        if len(saved) != len(optimizers):
            raise ConfigError(f"--ckpt_path {ckpt_path} holds the state of {len(saved)} optimizer(s), but the config "
                              f"builds {len(optimizers)}: resume with the config the checkpoint was trained with")
        for i, (names, optimizer) in enumerate(zip(saved, optimizers)):
            own = sorted({k for g in optimizer.param_groups for k in g if k != "params"})
            missing, extra = sorted(set(own) - set(names)), sorted(set(names) - set(own))
            if missing:
                raise ConfigError(
                    f"--ckpt_path {ckpt_path}: optimizer {i} of the checkpoint is not a {type(optimizer).__name__} "
                    f"(the config's): its settings lack {missing} and have {extra}. Resume with the optimizer the "
                    f"checkpoint was trained with (--model.init_args.optimizer_g / optimizer_d, as in the run folder's "
                    f"config.yaml), or start a new run (--experiment <new name>) that loads only the weights")

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_optimizers(trainer)
        self.wandb_run_id = wandb_run_id(trainer)
        if not trainer.is_global_zero:
            return
        for logger in wandb_loggers(trainer):
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
        value, g_iter = metrics[name], generator_iteration(trainer, pl_module)
        self._shown, self._show_now = (name.removeprefix("val/"), value), True
        if not math.isfinite(value):
            return
        better = self.best is None or self.best[0] != name or (value < self.best[1] if mode == "min" else value > self.best[1])
        if better:
            self.best = (name, value, g_iter)
            for logger in wandb_loggers(trainer):
                summary = logger.experiment.summary
                summary["best/metric"] = name
                summary[f"best/{name}"] = value
                summary[f"best/{name}_g_iter"] = g_iter

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        # the latest main metric in the progress bar: after each validation and on Lightning's logging steps
        if self._shown is not None and (self._show_now or should_update_logs(trainer)):
            self._show_now = False
            pl_module.log(self._shown[0], self._shown[1], on_step=True, on_epoch=False, prog_bar=True, logger=False,
                          batch_size=1)

    def state_dict(self) -> dict[str, Any]:
        return {"best": list(self.best) if self.best else None, "wandb_run_id": self.wandb_run_id}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        best = state_dict.get("best")
        self.best = (best[0], float(best[1]), int(best[2])) if best else None
        self.wandb_run_id = state_dict.get("wandb_run_id")


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
        try:  # a folder it cannot write into (read-only, no permission): said now, before any image is computed
            out.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=out, prefix=".write_test", delete=True)
            probe.close()
        except OSError as err:
            raise ConfigError(f"--writer.output_dir {out}: cannot write into it ({err.strerror}): give a folder you "
                              f"can write to") from None
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


# ---------------------------------------------------------------------------------------------- config per run
class RunConfigSaver(SaveConfigCallback):
    """Writes the resolved config of each run into the run's folder (``config.yaml`` for the experiment's first
    fit, ``config_<stage>_<time>.yaml`` for later ones: resumes, validate, test, predict; never overwritten)
    and records it in the W&B run (Lightning does not: PL #19728)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.already_saved or not trainer.is_global_zero:
            return
        stage = getattr(stage, "value", stage)
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        path = config_path(folder, stage)
        with atomic_path(path) as tmp:
            tmp.write_text(self.parser.dump(self.config, skip_none=False))
        self.config_path = path
        self.already_saved = True
        self.save_config(trainer, pl_module, stage)

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for logger in wandb_loggers(trainer):
            import yaml

            config = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_check=True))
            logger.experiment.config.update(config, allow_val_change=True)

"""Callbacks: sample grids from fixed inputs (W&B + PNG) and the folder writer of ``predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import lightning as L
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info

from lit_gans.utils.images import save_png


def run_dir(trainer: L.Trainer) -> Path:
    """The run's folder: next to its checkpoints when there are any, else ``default_root_dir``."""
    ckpt = trainer.checkpoint_callback
    if ckpt is not None and getattr(ckpt, "dirpath", None):
        return Path(ckpt.dirpath).parent
    return Path(trainer.default_root_dir)


class SampleGridLogger(Callback):
    """Every ``every_n_steps`` generator iterations, log the model's ``sample_images()`` (fixed noise /
    fixed inputs, so grids compare across steps and runs) to the logger (W&B image panel, TensorBoard)
    and write them as PNG under ``<run dir>/samples/``; a final grid is written when training ends.
    Rank zero only.

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
                    logger.log_image(key=f"samples/{name}", images=[grid], caption=[f"g_iter {step}"])
                elif isinstance(logger, TensorBoardLogger):
                    logger.experiment.add_image(f"samples/{name}", grid, step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        g_iter = int(getattr(pl_module, "g_iter", trainer.global_step))
        if self.every_n_steps and g_iter % self.every_n_steps == 0 and g_iter != self._last:
            self._last = g_iter
            self._write(trainer, pl_module, f"{g_iter:07d}")

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module, "final")


class PredictionWriter(BasePredictionWriter):
    """Writes what ``predict_step`` returns, ``{"images": [B, C, H, W] or list of [C, H, W] in [0, 1],
    "names": [str]}``, as ``<output_dir>/<name>.png`` (atomically, one file per image).

    Args:
        output_dir: folder of the PNG files (created).
    """

    def __init__(self, output_dir: str = "predictions") -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.count = 0

    def write_on_batch_end(self, trainer, pl_module, prediction, batch_indices, batch, batch_idx, dataloader_idx):  # noqa: ANN001, ANN201
        if not isinstance(prediction, dict) or "images" not in prediction:
            raise TypeError(f"{type(pl_module).__name__}.predict_step must return {{'images', 'names'}}, got {type(prediction).__name__}")
        for image, name in zip(prediction["images"], prediction["names"]):
            save_png(image, Path(self.output_dir) / f"{name}.png")
            self.count += 1

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        rank_zero_info(f"lit_gans: wrote {self.count} PNG file(s) to {Path(self.output_dir).resolve()}")

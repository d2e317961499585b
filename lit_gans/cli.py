"""``lit-gans``: LightningCLI over any lit_gans model and datamodule (``class_path`` in YAML).

    lit-gans fit --config experiments/dcgan_digits.yaml
    lit-gans predict --config experiments/dcgan_digits.yaml --ckpt_path <ckpt> --writer.output_dir out/
    python -m lit_gans ...   (the same)

Two optimizers are init arguments of the model (``optimizer_g`` / ``optimizer_d``), so the CLI's
automatic optimizer is switched off (``auto_configure_optimizers=False``; PITFALLS.md 2).
W&B: when a ``WandbLogger`` is configured and there is no API key or no network, W&B runs offline and
one line says how to sync later; it never prompts.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from lit_gans.callbacks import PredictionWriter, SampleGridLogger


def _wandb_has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return host in netrc.read_text()
    except OSError:
        return False


def _wandb_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def configure_wandb_mode(save_dir: str = ".") -> Optional[str]:
    """Set ``WANDB_MODE=offline`` when there is no key or no network (unless the user set a mode).

    Returns the notice printed, if any.
    """
    if os.environ.get("WANDB_MODE"):
        return None
    reason = "no API key (set WANDB_API_KEY or run `wandb login`)" if not _wandb_has_key() else (
        "W&B server unreachable" if not _wandb_reachable() else None
    )
    if reason is None:
        return None
    os.environ["WANDB_MODE"] = "offline"
    notice = f"lit_gans: W&B offline ({reason}); sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
    print(notice, file=sys.stderr)
    return notice


class WandbSaveConfigCallback(SaveConfigCallback):
    """Writes config.yaml (LightningCLI) and also records the whole resolved config in the W&B run
    (Lightning does not: PL #19728)."""

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not trainer.is_global_zero:
            return
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import yaml

                config = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_check=True))
                logger.experiment.config.update(config, allow_val_change=True)


class LitGansCLI(LightningCLI):
    def __init__(self, args: Optional[list[str]] = None, run: bool = True) -> None:
        super().__init__(
            model_class=L.LightningModule,
            datamodule_class=L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            save_config_callback=WandbSaveConfigCallback,
            save_config_kwargs={"overwrite": True},
            args=args,
            run=run,
        )

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        parser.add_lightning_class_args(PredictionWriter, "writer")

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        logger = config.get("trainer", {}).get("logger")
        if "WandbLogger" in str(logger):
            save_dir = "."
            try:
                save_dir = logger.init_args.save_dir or "."
            except AttributeError:
                pass
            configure_wandb_mode(save_dir)

    def _finish_wandb(self) -> None:
        """One subcommand = one W&B run: close it so a later run in the same process starts its own."""
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.finish()
                logger._experiment = None

    def after_validate(self) -> None:
        self._finish_wandb()

    def after_test(self) -> None:
        self._finish_wandb()

    def after_predict(self) -> None:
        self._finish_wandb()

    def after_fit(self) -> None:
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        self._finish_wandb()
        lines = []
        ckpt = trainer.checkpoint_callback
        if ckpt is not None:
            path = getattr(ckpt, "last_model_path", "") or getattr(ckpt, "best_model_path", "")
            if path:
                lines.append(f"checkpoint: {Path(path).resolve()}")
        for cb in trainer.callbacks:
            if isinstance(cb, SampleGridLogger):
                lines += [f"samples: {p.resolve()}" for p in cb.last_paths]
        if lines:
            print("lit_gans: " + "\nlit_gans: ".join(lines))


def cli_main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``lit-gans`` and ``python -m lit_gans`` (returns None: a console script's exit status)."""
    LitGansCLI(args=args)

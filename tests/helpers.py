"""Small builders shared by tests (tiny networks so a step takes milliseconds)."""

from __future__ import annotations

from typing import Any

import lightning as L

from datamodules.digits import DigitsDataModule
from lit_gans.models.noise import DCGAN, WGAN, WGANGP, ConditionalGAN
from lit_gans.networks.dcgan import (
    ConditionalDCGANDiscriminator,
    ConditionalDCGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
)


def tiny_nets(norm: str = "batch", size: int = 16, width: int = 8):  # noqa: ANN201
    return DCGANGenerator(16, 1, size, width), DCGANDiscriminator(1, size, width, norm=norm)


def tiny_model(kind: str = "dcgan", **kwargs: Any):  # noqa: ANN201
    if kind == "dcgan":
        return DCGAN(*tiny_nets(), **kwargs)
    if kind == "wgan":
        return WGAN(*tiny_nets(), **kwargs)
    if kind == "wgan_gp":
        return WGANGP(*tiny_nets("layer"), **kwargs)
    if kind == "cgan":
        return ConditionalGAN(ConditionalDCGANGenerator(10, 16, 1, 16, 8), ConditionalDCGANDiscriminator(10, 1, 16, 8), **kwargs)
    raise ValueError(kind)


def tiny_data(batch_size: int = 16) -> DigitsDataModule:
    return DigitsDataModule(image_size=16, batch_size=batch_size)


def trainer(tmp_path, **kwargs: Any) -> L.Trainer:  # noqa: ANN001
    defaults = dict(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, limit_val_batches=0, default_root_dir=str(tmp_path),
    )
    defaults.update(kwargs)
    return L.Trainer(**defaults)

"""Fully connected GAN networks: the vanilla GAN (Goodfellow et al. 2014) and the conditional GAN
(Mirza & Osindero 2014), sized as eriklindernoren/PyTorch-GAN ``gan.py`` / ``cgan.py``.

G: latent(+label embedding) -> 128 -> 256 -> 512 -> 1024 -> C*H*W, LeakyReLU 0.2, BatchNorm on all
but the first hidden layer, Tanh out. D: image(+label embedding) -> 512 -> 256 -> 1 (gan.py) or
-> 512 -> 512 -> 512 -> 1 with Dropout 0.4 (cgan.py). Deviates from PyTorch-GAN on purpose:
``BatchNorm1d(n, 0.8)`` there sets eps=0.8 by mistake; we use the default eps (1e-5). D returns a logit
(no Sigmoid): losses use BCE-with-logits.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

from lit_gans.utils.checks import check_sizes


def _g_body(in_dim: int, hidden: Sequence[int], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, h in enumerate(hidden):
        layers.append(nn.Linear(in_dim, h))
        if i > 0:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        in_dim = h
    layers += [nn.Linear(in_dim, out_dim), nn.Tanh()]
    return nn.Sequential(*layers)


def _d_body(in_dim: int, hidden: Sequence[int], dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, h in enumerate(hidden):
        layers.append(nn.Linear(in_dim, h))
        if dropout and i > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        in_dim = h
    layers.append(nn.Linear(in_dim, 1))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """z [B, latent_dim] -> image [B, C, S, S] in [-1, 1].

    Args:
        latent_dim: 100 (PyTorch-GAN ``--latent_dim``).
        out_channels, image_size: image shape (1 x 28 in PyTorch-GAN; 1 x 32 for the embedded digits).
        hidden: hidden widths (128, 256, 512, 1024).
        num_classes: > 0 makes it conditional: an ``Embedding(num_classes, num_classes)`` of the label is
            concatenated to z (cgan.py).
    """

    def __init__(self, latent_dim: int = 100, out_channels: int = 1, image_size: int = 28, hidden: Sequence[int] = (128, 256, 512, 1024), num_classes: int = 0) -> None:
        check_sizes(MLPGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.latent_dim, self.num_classes, self.shape = latent_dim, num_classes, (out_channels, image_size, image_size)
        self.embed = nn.Embedding(num_classes, num_classes) if num_classes else None
        self.net = _g_body(latent_dim + num_classes, hidden, math.prod(self.shape))

    def forward(self, z: Tensor, labels: Tensor | None = None) -> Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], 1)
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """image -> logit [B].

    Args:
        in_channels, image_size: image shape.
        hidden: (512, 256) for gan.py; (512, 512, 512) for cgan.py.
        dropout: 0 for gan.py; 0.4 after the 2nd and 3rd layers for cgan.py.
        num_classes: > 0 concatenates an ``Embedding(num_classes, num_classes)`` of the label.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 28, hidden: Sequence[int] = (512, 256), dropout: float = 0.0, num_classes: int = 0) -> None:
        check_sizes(MLPDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.num_classes, self.shape = num_classes, (in_channels, image_size, image_size)
        self.embed = nn.Embedding(num_classes, num_classes) if num_classes else None
        self.net = _d_body(math.prod(self.shape) + num_classes, hidden, dropout)

    def forward(self, x: Tensor, labels: Tensor | None = None) -> Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"MLPDiscriminator built for images {self.shape}, got {tuple(x.shape[1:])}")
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], 1)
        return self.net(h).view(-1)

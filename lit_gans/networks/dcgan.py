"""DCGAN generator and discriminator (Radford et al. 2016), also the WGAN / WGAN-GP critics.

The 64x64 layout is pytorch/examples ``dcgan/main.py`` layer for layer (nz=100, ngf=ndf=64):
G 3,576,704 and D 2,765,568 parameters for 3-channel images (pinned in the tests). Other sizes use
the same rule: start at 4x4 (7x7 for 28x28 MNIST), one stride-2 4x4 transposed conv per doubling,
channels halving from ``ngf * 2**(n-1)``; D mirrors it and ends with a 4x4 (7x7) valid conv to 1x1.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.networks.init import init_weights
from lit_gans.utils.checks import check_sizes


def _plan(image_size: int) -> tuple[int, int]:
    """(start resolution, number of doublings) or a clear error."""
    if image_size == 28:
        return 7, 2
    n = math.log2(image_size / 4) if image_size >= 8 else -1
    if n < 1 or n != int(n):
        raise ConfigError(
            f"DCGAN image_size={image_size} is not supported: use 28 or a power of two >= 8 "
            "(e.g. 32 for MNIST/digits, 64 for the paper's layout); set --model.init_args.generator.init_args.image_size "
            "and the datamodule's image_size to the same value"
        )
    return 4, int(n)


class DCGANGenerator(nn.Module):
    """z [B, latent_dim] -> image [B, C, S, S] in [-1, 1] (Tanh), BatchNorm + ReLU inside.

    Args:
        latent_dim: z size (100, pytorch/examples ``--nz``).
        out_channels: image channels (1 for digits/MNIST, 3 for RGB).
        image_size: output side, 28 or a power of two >= 8 (64 in the paper).
        ngf: generator width (64, ``--ngf``).
        cond_dim: extra input features concatenated to z (one-hot labels of a conditional GAN).
    """

    def __init__(self, latent_dim: int = 100, out_channels: int = 3, image_size: int = 64, ngf: int = 64, cond_dim: int = 0) -> None:
        check_sizes(DCGANGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        start, n = _plan(image_size)
        self.latent_dim, self.image_size, self.out_channels = latent_dim, image_size, out_channels
        ch = ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim + cond_dim, ch, start, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        init_weights(self, 0.02)  # Radford et al. 2016, Sec. 4

    def forward(self, z: Tensor) -> Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """image -> one logit/critic value per sample [B]. No sigmoid: losses take logits.

    Args:
        in_channels: image channels (plus label maps for a conditional critic).
        image_size: input side, as for the generator.
        ndf: width (64, ``--ndf``).
        norm: 'batch' (DCGAN, WGAN), 'layer' (WGAN-GP: "no batch norm in the critic", Gulrajani et al.
            2017 Sec. 4, layer norm recommended; implemented as GroupNorm(1, C) = LayerNorm over C,H,W with
            a per-channel affine), or 'none'.
    """

    def __init__(self, in_channels: int = 3, image_size: int = 64, ndf: int = 64, norm: Literal["batch", "layer", "none"] = "batch") -> None:
        check_sizes(DCGANDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        start, n = _plan(image_size)
        self.image_size = image_size
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), _norm(norm, ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, start, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        init_weights(self, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"DCGANDiscriminator built for {self.image_size}px, got input {tuple(x.shape)}")
        return self.main(x).view(-1)


def _norm(norm: str, ch: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(ch)
    if norm == "layer":
        return nn.GroupNorm(1, ch)
    if norm == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be 'batch', 'layer' or 'none', got {norm!r}")


class ConditionalDCGANGenerator(DCGANGenerator):
    """DCGAN generator conditioned on a class: one-hot(label) concatenated to z (Mirza & Osindero 2014, Sec. 4.1)."""

    def __init__(self, num_classes: int = 10, latent_dim: int = 100, out_channels: int = 1, image_size: int = 32, ngf: int = 64) -> None:
        check_sizes(ConditionalDCGANGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__(latent_dim, out_channels, image_size, ngf, cond_dim=num_classes)
        self.num_classes = num_classes

    def forward(self, z: Tensor, labels: Tensor) -> Tensor:  # type: ignore[override]
        onehot = nn.functional.one_hot(labels, self.num_classes).to(z.dtype)
        return super().forward(torch.cat([z, onehot], 1))


class ConditionalDCGANDiscriminator(DCGANDiscriminator):
    """DCGAN discriminator seeing the class as constant one-hot maps concatenated to the image channels."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 32, ndf: int = 64, norm: Literal["batch", "layer", "none"] = "batch") -> None:
        check_sizes(ConditionalDCGANDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__(in_channels + num_classes, image_size, ndf, norm)
        self.num_classes = num_classes

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:  # type: ignore[override]
        maps = nn.functional.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
        return super().forward(torch.cat([x, maps.expand(-1, -1, *x.shape[-2:])], 1))

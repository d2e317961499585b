"""PatchGAN discriminators of pix2pix/CycleGAN (Isola et al. 2017, Sec. 3.2.2; Zhu et al. 2017).

Layer for layer as junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``
(``NLayerDiscriminator``, ``PixelDiscriminator``), including the ``model`` Sequential so official
discriminator state_dicts load unchanged.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

Norm = Literal["batch", "instance", "none"]


def norm_layer(norm: Norm, channels: int) -> nn.Module:
    """junyanz ``get_norm_layer``: BatchNorm (affine, running stats) or InstanceNorm (affine=False)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if norm == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be 'batch', 'instance' or 'none', got {norm!r}")


def conv_bias(norm: Norm) -> bool:
    """junyanz uses a conv bias only before InstanceNorm (BatchNorm has its own shift). With norm 'none'
    its ``use_bias`` test is also False; we keep that quirk so parameter counts match the official code."""
    return norm == "instance"


class PatchDiscriminator(nn.Module):
    """N-layer PatchGAN. ``n_layers=3`` is the 70x70 PatchGAN (default), ``1`` the 16x16 one, ``0`` PixelGAN.

    Args:
        in_channels: channels of the input; pix2pix concatenates (A, B): 6; CycleGAN: 3; Lab: 3 (L + ab).
        ndf: filters of the first layer (64, junyanz ``--ndf``).
        n_layers: stride-2 conv layers (3, junyanz ``--n_layers_D``); 0 gives the 1x1 PixelGAN.
        norm: 'batch' (pix2pix default) or 'instance' (CycleGAN default) or 'none'.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 64, n_layers: int = 3, norm: Norm = "batch") -> None:
        check_sizes(PatchDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        bias = conv_bias(norm)
        if n_layers == 0:  # PixelDiscriminator: 1x1 convs, every pixel judged alone
            layers: list[nn.Module] = [
                nn.Conv2d(in_channels, ndf, 1, 1, 0),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=bias),
                norm_layer(norm, ndf * 2),
                nn.LeakyReLU(0.2, True),
                nn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=bias),
            ]
            self.net = nn.Sequential(*layers)
            return
        layers = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return (self.net if hasattr(self, "net") else self.model)(x)

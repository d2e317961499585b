"""Res-U-Net: the deep residual U-Net of Zhang, Liu & Wang, "Road Extraction by Deep Residual U-Net",
IEEE GRSL 2018 (https://arxiv.org/abs/1711.10684), the first generator of seed 002 ("残差U型网 (Res-Unet)",
its reference [3]: "each conv block of the U-Net replaced by a residual block, the block's input added to
its conv result").

Architecture (paper Table I and Fig. 3; there is no official code, and seed 002's Kaggle notebook is not
public, so the paper is the reference):

* encoder: three residual units, 64-128-256 filters; the first unit is conv -> BN -> ReLU -> conv on the
  input (no pre-activation), the others are pre-activation units BN -> ReLU -> conv -> BN -> ReLU -> conv
  whose first conv has stride 2 (the paper downsamples by stride, not pooling);
* bridge: one residual unit, 512 filters, stride 2;
* decoder: three levels of x2 up-sampling, concatenation with the encoder unit of the same resolution, and
  a residual unit (256-128-64);
* output: 1x1 conv.

Choices the paper leaves open (stated, not hidden): the shortcut of a unit whose shape changes is a 1x1
conv (stride as the unit) + BN projection (He et al. 2016 option B); up-sampling is nearest-neighbour
x2 (Keras ``UpSampling2D``, the paper's framework); 3x3 convs have biases. The output activation is Tanh
(the ab channels are in [-1, 1]) where the paper's road masks used a Sigmoid (deviates from paper: a
different output range). Parameters for 1 -> 2 channels: 8,222,594 (pinned in
``tests/test_colorization_networks.py``); the paper states 7.8M for its 3 -> 1 network (this one: 8,223,809),
the difference is not explained by the paper's text.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

FILTERS = (64, 128, 256, 512)  # Table I: levels 1-3 and the bridge


class ResidualUnit(nn.Module):
    """Residual unit of Fig. 3: ``shortcut(x) + conv(ReLU(BN(conv(ReLU(BN(x))))))`` (pre-activation;
    ``first=True``: no BN-ReLU before the first conv, as the unit applied to the input image)."""

    def __init__(self, cin: int, cout: int, stride: int = 1, first: bool = False) -> None:
        super().__init__()
        pre = [] if first else [nn.BatchNorm2d(cin), nn.ReLU(inplace=False)]
        self.body = nn.Sequential(
            *pre,
            nn.Conv2d(cin, cout, 3, stride, 1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, 1, 1),
        )
        if cin != cout or stride != 1:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.shortcut(x) + self.body(x)


class ResUNet(nn.Module):
    """Deep residual U-Net (Zhang et al. 2018, Table I).

    Args:
        in_channels: input channels (1: L).
        out_channels: output channels (2: ab).
        filters: widths of levels 1-3 and the bridge (64, 128, 256, 512 in Table I).
        output_activation: 'tanh' (ab in [-1, 1]; default), 'sigmoid' (the paper's masks) or 'none'.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        filters: tuple[int, int, int, int] = FILTERS,
        output_activation: Literal["tanh", "sigmoid", "none"] = "tanh",
    ) -> None:
        check_sizes(ResUNet, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if len(filters) != 4:
            raise ConfigError(f"filters must list 4 widths (3 levels and the bridge), got {filters}")
        f1, f2, f3, f4 = filters
        self.in_channels, self.out_channels = in_channels, out_channels
        self.input_multiple = 8  # three stride-2 units
        self.enc1 = ResidualUnit(in_channels, f1, 1, first=True)
        self.enc2 = ResidualUnit(f1, f2, 2)
        self.enc3 = ResidualUnit(f2, f3, 2)
        self.bridge = ResidualUnit(f3, f4, 2)
        self.dec3 = ResidualUnit(f4 + f3, f3)
        self.dec2 = ResidualUnit(f3 + f2, f2)
        self.dec1 = ResidualUnit(f2 + f1, f1)
        self.head = nn.Conv2d(f1, out_channels, 1)
        self.activation = {"tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "none": nn.Identity()}[output_activation]

    @staticmethod
    def _up_cat(x: Tensor, skip: Tensor) -> Tensor:
        return torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="nearest"), skip], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        b = self.bridge(e3)
        d3 = self.dec3(self._up_cat(b, e3))
        d2 = self.dec2(self._up_cat(d3, e2))
        d1 = self.dec1(self._up_cat(d2, e1))
        return self.activation(self.head(d1))

"""Discriminators of SRGAN and ESRGAN. Both return raw logits [B, 1] (the sigmoid lives in the loss:
BCE-with-logits, never Sigmoid + BCELoss) and take HR RGB images in [0, 1].

* :class:`SRGANDiscriminator`: Ledig et al. 2017, Sec. 2.2 and Fig. 4 (no official code): eight 3x3 convs
  with 64, 64, 128, 128, 256, 256, 512, 512 filters and strides 1, 2, 1, 2, ...; BatchNorm after every conv
  but the first; LeakyReLU(0.2); Dense(1024) - LeakyReLU - Dense(1). The dense layer fixes the input size
  (96x96 HR crops, Sec. 3.2).
* :class:`VGGStyleDiscriminator`: BasicSR ``basicsr/archs/discriminator_arch.py`` ``VGGStyleDiscriminator``
  (ESRGAN's D, "VGGStyleDiscriminator128" in the ESRGAN options), layer for layer with the same module
  names (``conv0_0``, ``conv0_1``, ``bn0_1``, ..., ``linear1``, ``linear2``), 128 or 256 px input;
  14,499,401 parameters at 128 px with 64 features (measured on BasicSR's definition, pinned in the tests).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

_SLOPE = 0.2  # LeakyReLU alpha: SRGAN Fig. 4 ("alpha = 0.2"), BasicSR VGGStyleDiscriminator


def _check_size(x: Tensor, size: int, name: str) -> None:
    if x.shape[-2:] != (size, size):
        raise ValueError(
            f"{name} was built for {size}x{size} inputs (its dense layer fixes the size) but got "
            f"{tuple(x.shape[-2:])}; set the datamodule's hr_crop to {size} or the discriminator's input_size "
            "to the crop"
        )


class SRGANDiscriminator(nn.Module):
    """SRGAN's VGG-like discriminator (Ledig et al. 2017, Fig. 4).

    Args:
        in_channels: input channels.
        num_feat: filters of the first two convs (64); doubled every second conv up to ``8 * num_feat``.
        input_size: HR crop side (96 in the paper, Sec. 3.2); must be a multiple of 16.
        dense_features: width of the first dense layer (1024).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 96, dense_features: int = 1024) -> None:
        check_sizes(SRGANDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if input_size % 16:
            raise ConfigError(f"SRGANDiscriminator input_size must be a multiple of 16 (4 stride-2 convs), got {input_size}")
        self.input_size = input_size
        widths = [num_feat, num_feat, 2 * num_feat, 2 * num_feat, 4 * num_feat, 4 * num_feat, 8 * num_feat, 8 * num_feat]
        layers: list[nn.Module] = []
        prev = in_channels
        for i, width in enumerate(widths):
            stride = 1 if i % 2 == 0 else 2
            layers.append(nn.Conv2d(prev, width, 3, stride, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(_SLOPE))
            prev = width
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(prev * side * side, dense_features),
            nn.LeakyReLU(_SLOPE),
            nn.Linear(dense_features, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        _check_size(x, self.input_size, "SRGANDiscriminator")
        return self.classifier(self.features(x))


class VGGStyleDiscriminator(nn.Module):
    """ESRGAN's discriminator (BasicSR ``VGGStyleDiscriminator``).

    Five (six at 256 px) stages of [3x3 conv stride 1, 4x4 conv stride 2], BatchNorm on every conv but the
    first, LeakyReLU(0.2), then Linear(8*num_feat*4*4, 100) - LeakyReLU - Linear(100, 1).

    Args:
        in_channels: input channels.
        num_feat: base width (64 in ESRGAN's options).
        input_size: 128 (ESRGAN's ``gt_size``) or 256.
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, input_size: int = 128) -> None:
        check_sizes(VGGStyleDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if input_size not in (128, 256):
            raise ConfigError(f"VGGStyleDiscriminator supports input_size 128 or 256 (BasicSR), got {input_size}")
        self.input_size = input_size
        widths = [num_feat, 2 * num_feat, 4 * num_feat, 8 * num_feat, 8 * num_feat]
        if input_size == 256:
            widths.append(8 * num_feat)
        self.num_stages = len(widths)
        prev = in_channels
        for i, width in enumerate(widths):
            first_has_bn = i > 0  # BasicSR: conv0_0 has a bias and no BN; every other conv has BN, no bias
            setattr(self, f"conv{i}_0", nn.Conv2d(prev, width, 3, 1, 1, bias=not first_has_bn))
            if first_has_bn:
                setattr(self, f"bn{i}_0", nn.BatchNorm2d(width))
            setattr(self, f"conv{i}_1", nn.Conv2d(width, width, 4, 2, 1, bias=False))
            setattr(self, f"bn{i}_1", nn.BatchNorm2d(width))
            prev = width
        self.linear1 = nn.Linear(prev * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: Tensor) -> Tensor:
        _check_size(x, self.input_size, "VGGStyleDiscriminator")
        feat = x
        for i in range(self.num_stages):
            feat = getattr(self, f"conv{i}_0")(feat)
            if i > 0:
                feat = getattr(self, f"bn{i}_0")(feat)
            feat = F.leaky_relu(feat, _SLOPE)
            feat = F.leaky_relu(getattr(self, f"bn{i}_1")(getattr(self, f"conv{i}_1")(feat)), _SLOPE)
        feat = F.leaky_relu(self.linear1(feat.flatten(1)), _SLOPE)
        return self.linear2(feat)

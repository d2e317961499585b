"""SRResNet, the SRGAN generator (Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", CVPR 2017, arXiv:1609.04802, Sec. 2.2 and Fig. 4).

There is no official code; the layout follows the paper's Fig. 4 exactly:

    conv 9x9 (64) + PReLU
    16 x residual block: conv 3x3 (64) - BN - PReLU - conv 3x3 (64) - BN, elementwise sum
    conv 3x3 (64) - BN, elementwise sum with the output of the first PReLU (long skip)
    2 x [conv 3x3 (256) - PixelShuffle x2 - PReLU]          (x4; x2: once; x3: conv (576) - PixelShuffle x3)
    conv 9x9 (3)

Choices the paper leaves open (stated, not silently taken):

* PReLU has one learned slope per layer (``nn.PReLU()``, init 0.25), as in the widely used re-implementations
  (leftthomas/SRGAN, twtygqyy/pytorch-SRResNet); the paper does not say per-channel.
* Convs followed by BatchNorm have no bias (BN's shift makes it redundant); the others have one.
* Range: deviates from the paper (LR in [0, 1], HR in [-1, 1], Sec. 3.2): input and output are both RGB in
  [0, 1], like BasicSR's SR networks, so one data pipeline and one metric path serve SRGAN and ESRGAN; the
  output is linear (no tanh) and clamped only when saved or measured.
* PyTorch's default initialisation (the paper states none).
"""

from __future__ import annotations

from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

_NUM_FEAT = 64  # Fig. 4: k3n64s1 everywhere in the trunk
_NUM_BLOCKS = 16  # Sec. 2.2: "B residual blocks"; B = 16 in Sec. 3.2 / Fig. 4


class _ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN with an identity skip (Fig. 4, after Gross & Wilber's ResNet blocks)."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(num_feat)
        self.act = nn.PReLU()
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(num_feat)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """SRGAN generator.

    Args:
        scale: upscaling factor, 2, 3 or 4 (x4 in the paper: two PixelShuffle x2 stages).
        in_channels: input channels.
        out_channels: output channels.
        num_feat: trunk width (64, Fig. 4).
        num_blocks: residual blocks (16, Fig. 4).
    """

    input_multiple = 1

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = _NUM_FEAT,
        num_blocks: int = _NUM_BLOCKS,
    ) -> None:
        check_sizes(SRResNet, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if scale not in (2, 3, 4):
            raise ConfigError(
                f"--model.init_args.generator.init_args.scale={scale}: SRResNet supports scale 2, 3 or 4 "
                "(e.g. 4, the paper's; the datamodule follows the generator's scale)"
            )
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, 1, 4), nn.PReLU())
        self.body = nn.Sequential(*[_ResidualBlock(num_feat) for _ in range(num_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=False), nn.BatchNorm2d(num_feat))
        factors = (3,) if scale == 3 else (2,) * (scale // 2)  # Fig. 4: "two trained sub-pixel convolution layers"
        up: list[nn.Module] = []
        for f in factors:
            up += [nn.Conv2d(num_feat, num_feat * f * f, 3, 1, 1), nn.PixelShuffle(f), nn.PReLU()]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(num_feat, out_channels, 9, 1, 4)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [B, C, h, w] in [0, 1] -> [B, C_out, h*scale, w*scale]."""
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.tail(self.upsample(feat))

"""Context Encoder networks (Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR 2016,
https://arxiv.org/abs/1604.07379; official Lua code pathak22/context-encoder).

Code-to-paper map:

* ``ContextEncoderGenerator.encoder``: the pool-free encoder of the joint-loss model (paper Sec. 4
  "Implementation details": "similar to the discriminator of DCGAN"), layer for layer the ``netE`` of
  train.lua / train_random.lua: 4x4 stride-2 convs, LeakyReLU 0.2, BatchNorm after all but the first,
  from ``image_size`` down to 4x4 with ``8 * nef`` channels. At 128 px the second conv keeps ``nef``
  channels (``if opt.fineSize == 128``), so the widths are nef, nef, 2nef, 4nef, 8nef.
* ``bottleneck='channelwise'`` (default): the paper's channel-wise fully connected layer (Sec. 3.1):
  one dense ``(4*4) -> (4*4)`` map per channel, ``m * n^4`` weights for ``m`` maps of ``n x n``
  (131,072 for 512 maps of 4x4) instead of ``m^2 n^4`` for a dense layer, followed by "a stride 1
  convolution to propagate information across channels" (the paper does not give its kernel: 1x1 here,
  the least that mixes channels).
* ``bottleneck='conv'``: the official 128 px code: a 4x4 valid conv to a ``bottleneck_dim`` vector
  (README command ``nBottleneck=4000``), BatchNorm + LeakyReLU 0.2, then a 4x4 transposed conv back to
  4x4 with ``8 * ngf`` channels. The paper's channel-wise layer belongs to its AlexNet/227 px variant.
* ``decoder``: DCGAN-like up-convolutions (4x4, stride 2, BatchNorm + ReLU, Tanh out) from 4x4 to the
  ``image_size/2`` center patch (``output='center'``, train.lua) or the whole image
  (``output='image'``, train_random.lua, which adds a ``ngf -> ngf`` layer at 128 px).
* ``ContextEncoderDiscriminator``: train.lua's ``netD`` on the predicted region (64 px for the 128 px
  center model; the whole image for random masks), built like the encoder and ending in a 4x4 valid
  conv to one logit (no Sigmoid: the loss is BCE-with-logits, which is safe under autocast, unlike
  ``BCELoss``; PyTorch AMP docs).

All convs have ``bias=False``: the official code creates biases but zeroes every conv bias before
each forward (``m.bias:zero()`` at the top of ``fDx`` and ``fGx``), so they never act; the PyTorch port
(BoyuanJiang/context_encoder_pytorch ``model.py``) drops them too. Weights ~ N(0, 0.02), BatchNorm
weights ~ N(1, 0.02) (train.lua ``weights_init``).

Parameter counts (3 channels, widths 64, pinned in tests/test_context_encoder_networks.py): official
128 px center generator with ``bottleneck='conv'`` 71,448,768 (the same as the PyTorch port's
``_netG``, checked by loading its weights), center D 2,765,568.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.networks.init import init_weights
from lit_gans.utils.checks import check_sizes


def _levels(size: int, what: str) -> int:
    """Number of stride-2 levels between ``size`` and 4x4, or a clear error."""
    n = math.log2(size / 4) if size >= 8 else -1
    if n < 1 or n != int(n):
        raise ConfigError(f"{what} size {size} must be a power of two >= 8 (128 in the official code)")
    return int(n)


def _down_widths(size: int, width: int) -> list[int]:
    """Output widths of the stride-2 convs from ``size`` to 4x4 (train.lua ``netE`` / ``netD`` rule).

    64 px: w, 2w, 4w, 8w (DCGAN); 128 px: w, w, 2w, 4w, 8w (the extra ``nef -> nef`` conv of
    train_random.lua's ``fineSize == 128``); larger sizes repeat the width-``w`` conv.
    """
    n = _levels(size, "input")
    mults = ([1] * max(n - 3, 1) + [2, 4, 8])[-n:]
    return [width * m for m in mults]


def down_stack(in_channels: int, size: int, width: int) -> nn.Sequential:
    """The official encoder/discriminator trunk: ``[B, in, size, size] -> [B, 8 * width, 4, 4]``."""
    widths = _down_widths(size, width)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for cin, cout in zip(widths[:-1], widths[1:]):
        layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, True)]
    return nn.Sequential(*layers)


def up_stack(out_channels: int, size: int, width: int) -> nn.Sequential:
    """The official decoder after its first layer: ``[B, 8 * width, 4, 4] -> [B, out, size, size]`` (Tanh)."""
    widths = list(reversed(_down_widths(size, width)))  # 8w, 4w, 2w, w(, w)
    layers: list[nn.Module] = []
    for cin, cout in zip(widths[:-1], widths[1:]):
        layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], out_channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class ChannelwiseFC(nn.Module):
    """Channel-wise fully connected layer (paper Sec. 3.1): a separate dense map per channel.

    ``[B, C, H, W] -> [B, C, H, W]`` with ``y[b, c] = W_c x[b, c] + b_c`` over the ``H*W`` positions:
    ``C * (H*W)^2`` weights and ``C * H*W`` biases, and no connection between channels.
    """

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.channels, self.size = channels, size
        area = size * size
        self.weight = nn.Parameter(torch.empty(channels, area, area))  # [C, in, out]
        self.bias = nn.Parameter(torch.zeros(channels, area))
        nn.init.normal_(self.weight, 0.0, 0.02)  # the official N(0, 0.02) of every other layer

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        if (c, h, w) != (self.channels, self.size, self.size):
            raise ValueError(f"ChannelwiseFC built for [{self.channels}, {self.size}, {self.size}], got {tuple(x.shape)}")
        y = torch.einsum("bci,cio->bco", x.reshape(b, c, h * w), self.weight) + self.bias
        return y.view(b, c, h, w)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, size={self.size}"


class ContextEncoderGenerator(nn.Module):
    """Masked image ``[B, C, S, S]`` in [-1, 1] -> the center patch ``[B, C, S/2, S/2]`` or the image.

    Args:
        in_channels: channels of the masked input (3; the hole is already filled with the mean).
        out_channels: channels of the prediction (3).
        image_size: input side, a power of two >= 16 (128: train.lua ``fineSize``).
        output: 'center' predicts the ``S/2`` center patch (train.lua); 'image' predicts the whole
            image, for arbitrary masks (train_random.lua).
        bottleneck: 'channelwise' (paper Sec. 3.1, default) or 'conv' (official 128 px code).
        bottleneck_dim: size of the 'conv' bottleneck vector (4000: README ``nBottleneck=4000``;
            train.lua's own default of 100 is overridden by every command in the README).
        nef: encoder width (64, ``nef``).
        ngf: decoder width (64, ``ngf``).
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        image_size: int = 128,
        output: Literal["center", "image"] = "center",
        bottleneck: Literal["channelwise", "conv"] = "channelwise",
        bottleneck_dim: int = 4000,
        nef: int = 64,
        ngf: int = 64,
    ) -> None:
        check_sizes(ContextEncoderGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if output not in ("center", "image"):
            raise ConfigError(f"output must be 'center' or 'image', got {output!r}")
        out_size = image_size // 2 if output == "center" else image_size
        _levels(out_size, "output")
        self.image_size, self.output, self.out_size = image_size, output, out_size
        self.encoder = down_stack(in_channels, image_size, nef)  # -> [B, 8 nef, 4, 4]
        if bottleneck == "conv":
            self.bottleneck = nn.Sequential(
                nn.Conv2d(8 * nef, bottleneck_dim, 4, 1, 0, bias=False),  # -> [B, bottleneck_dim, 1, 1]
                nn.BatchNorm2d(bottleneck_dim),
                nn.LeakyReLU(0.2, True),
                nn.ConvTranspose2d(bottleneck_dim, 8 * ngf, 4, 1, 0, bias=False),  # -> [B, 8 ngf, 4, 4]
                nn.BatchNorm2d(8 * ngf),
                nn.ReLU(True),
            )
        elif bottleneck == "channelwise":
            self.bottleneck = nn.Sequential(
                ChannelwiseFC(8 * nef, 4),
                nn.BatchNorm2d(8 * nef),
                nn.LeakyReLU(0.2, True),  # as after the official bottleneck
                nn.Conv2d(8 * nef, 8 * ngf, 1, 1, 0, bias=False),  # "stride 1 convolution" across channels
                nn.BatchNorm2d(8 * ngf),
                nn.ReLU(True),
            )
        else:
            raise ConfigError(f"bottleneck must be 'channelwise' or 'conv', got {bottleneck!r}")
        self.decoder = up_stack(out_channels, out_size, ngf)
        init_weights(self, 0.02)  # train.lua weights_init: N(0, 0.02); BN N(1, 0.02), 0

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"ContextEncoderGenerator built for {self.image_size} px, got input {tuple(x.shape)}")
        return self.decoder(self.bottleneck(self.encoder(x)))

    @staticmethod
    def convert_official_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a BoyuanJiang/context_encoder_pytorch ``netG`` state dict (``main.<i>.*``) to this layout.

        Its ``_netG`` is the official 128 px center model with ``bottleneck='conv'``; the layers come in the
        same order, so the tensors are taken in order (shapes checked by ``load_state_dict``).
        """
        if "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]  # the port saves {'epoch', 'state_dict'}
        own = ContextEncoderGenerator(bottleneck="conv").state_dict()
        counters = any(k.endswith("num_batches_tracked") for k in sd)  # absent in PyTorch < 0.4 files
        theirs = sorted(sd, key=lambda k: (int(k.split(".")[1]), k.split(".", 2)[2]) if k.startswith("main.") else (10**6, k))
        mine = sorted((k for k in own if counters or not k.endswith("num_batches_tracked")), key=_layer_order(own))
        if len(theirs) != len(mine):
            raise KeyError(f"official state dict has {len(theirs)} tensors, the 128 px conv-bottleneck generator {len(mine)}")
        out = {k: v for k, v in own.items() if k.endswith("num_batches_tracked")}
        out.update({m: sd[t] for m, t in zip(mine, theirs)})
        return out


def _layer_order(sd: dict[str, Tensor]):  # noqa: ANN202
    """Sort key: module order of a state dict (its insertion order), then the tensor name within a module."""
    index = {k.rsplit(".", 1)[0]: i for i, k in reversed(list(enumerate(sd)))}
    return lambda k: (index[k.rsplit(".", 1)[0]], k.rsplit(".", 1)[1])


class ContextEncoderDiscriminator(nn.Module):
    """Predicted (or real) region ``[B, C, S, S]`` -> one logit per sample ``[B]``.

    Args:
        in_channels: 3.
        image_size: side of the region it judges: 64 for the 128 px center model, the image size for
            whole-image (random mask) models.
        ndf: width (64, ``ndf``).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 64, ndf: int = 64) -> None:
        check_sizes(ContextEncoderDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.image_size = image_size
        self.main = nn.Sequential(*down_stack(in_channels, image_size, ndf), nn.Conv2d(8 * ndf, 1, 4, 1, 0, bias=False))
        init_weights(self, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"ContextEncoderDiscriminator built for {self.image_size} px, got input {tuple(x.shape)}")
        return self.main(x).view(-1)

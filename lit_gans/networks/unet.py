"""The pix2pix U-Net generator (Isola et al., "Image-to-Image Translation with Conditional Adversarial
Networks", CVPR 2017, https://arxiv.org/abs/1611.07004, Sec. 3.2.1 and appendix 6.1.1).

Layer for layer as the official junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``
(``UnetGenerator`` / ``UnetSkipConnectionBlock``, built with ``define_G(netG='unet_256'|'unet_128')``):

* ``num_downs`` 4x4 stride-2 convolutions; ``unet_256`` = 8 (256 px -> 1x1 bottleneck), ``unet_128`` = 7.
  Channels ``ngf * min(2**i, 8)``: 64-128-256-512-512-512-512-512 (appendix 6.1.1, "C64-C128-C256-C512-
  C512-C512-C512-C512").
* Down path: LeakyReLU(0.2) -> conv -> norm; no activation before the first conv, no norm on the first
  conv nor on the innermost one (the bottleneck).
* Up path: ReLU -> 4x4 stride-2 transposed conv -> norm, then concatenation with the skip (skip first);
  the outermost transposed conv has a bias and a Tanh.
* Dropout 0.5 after the norm of the ``num_downs - 5`` blocks right above the innermost one (the three inner
  512-channel decoder blocks of ``unet_256``; paper appendix 6.1.1 "CD512-CD1024-CD1024").
* Conv biases only with InstanceNorm (junyanz ``use_bias = norm_layer == InstanceNorm2d``).
* Init N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm weights (junyanz ``init_weights``).

Parameter counts (pinned in ``tests/test_pix2pix_networks.py``, measured against the official class run
outside the project): ``unet_256`` 3->3 batch norm 54,413,955 (instance norm 54,409,603); ``unet_128``
3->3 41,828,995; the colorization baseline ``unet_256`` 1->2 (seed 002's tutorial
``Unet(input_c=1, output_c=2, n_down=8)``, the same layers) 54,409,858.

Layout: the official network nests one ``UnetSkipConnectionBlock`` in the next; here the same layers are
two flat lists, ``downs`` (outermost first) and ``ups`` (outermost first). junyanz's down-path LeakyReLU
is in place, so its skip tensors carry LeakyReLU(x) instead of x; the only consumer of a skip is the
ReLU at the start of the next up block, and ReLU(LeakyReLU(x)) = ReLU(x), so outputs are identical
(checked against the official class with the same weights). Official checkpoints (``latest_net_G.pth``)
load through :meth:`UnetGenerator.convert_official_state_dict` (``lit_gans.io.checkpoints.load_weights_into``
calls it).
"""

from __future__ import annotations

import re
from typing import Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.networks.init import init_weights
from lit_gans.networks.patchgan import Norm, conv_bias, norm_layer
from lit_gans.utils.checks import check_sizes

#: pix2pix Sec. 3.2.1 / junyanz define_G: ``unet_256`` and ``unet_128``.
UNET_DEPTHS = {"unet_256": 8, "unet_128": 7}
DROPOUT = 0.5  # appendix 6.1.1: "dropout rate of 50%"
LEAKY_SLOPE = 0.2  # appendix 6.1.1: "LeakyReLUs with slope 0.2" in the encoder
INIT_STD = 0.02  # Sec. 3.3 / junyanz init_type='normal', init_gain=0.02


class UnetGenerator(nn.Module):
    """pix2pix U-Net: ``in_channels`` -> ``out_channels`` at the input size (sides divisible by ``2**num_downs``).

    Args:
        in_channels: input channels (3 for pix2pix; 1, the L channel, for colorization).
        out_channels: output channels (3; 2, the ab channels, for colorization).
        num_downs: stride-2 downsamplings (8 = ``unet_256``, 7 = ``unet_128``; at least 5).
        ngf: filters of the outermost conv (64, junyanz ``--ngf``).
        norm: 'batch' (pix2pix default), 'instance' or 'none'.
        use_dropout: dropout 0.5 in the inner blocks (pix2pix: on, junyanz ``--no_dropout`` off).
        init_std: std of the N(0, std) init (0.02); None keeps PyTorch's default init.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        num_downs: int = 8,
        ngf: int = 64,
        norm: Norm = "batch",
        use_dropout: bool = True,
        init_std: Optional[float] = INIT_STD,
    ) -> None:
        check_sizes(UnetGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if num_downs < 5:
            raise ConfigError(f"num_downs must be >= 5 (unet_128 = 7, unet_256 = 8), got {num_downs}")
        self.in_channels, self.out_channels, self.num_downs = in_channels, out_channels, num_downs
        #: Input sides must be multiples of this (the bottleneck is 1x1 at 2**num_downs px).
        self.input_multiple = 2**num_downs
        bias = conv_bias(norm)
        ch = [ngf * min(2**i, 8) for i in range(num_downs)]  # output channels of down conv i
        last = num_downs - 1

        downs: list[nn.Module] = [nn.Sequential(nn.Conv2d(in_channels, ch[0], 4, 2, 1, bias=bias))]
        for i in range(1, num_downs):
            layers = [nn.LeakyReLU(LEAKY_SLOPE, inplace=True), nn.Conv2d(ch[i - 1], ch[i], 4, 2, 1, bias=bias)]
            if i < last:  # the innermost (bottleneck) conv has no norm
                layers.append(norm_layer(norm, ch[i]))
            downs.append(nn.Sequential(*layers))

        ups: list[nn.Module] = [
            nn.Sequential(nn.ReLU(inplace=True), nn.ConvTranspose2d(2 * ch[0], out_channels, 4, 2, 1), nn.Tanh())
        ]
        for i in range(1, num_downs):
            width_in = ch[i] if i == last else 2 * ch[i]  # the innermost up block has no skip to concatenate
            layers = [nn.ReLU(inplace=True), nn.ConvTranspose2d(width_in, ch[i - 1], 4, 2, 1, bias=bias), norm_layer(norm, ch[i - 1])]
            if use_dropout and 4 <= i < last:  # junyanz: the num_downs - 5 blocks above the innermost
                layers.append(nn.Dropout(DROPOUT))
            ups.append(nn.Sequential(*layers))
        self.downs = nn.ModuleList(downs)
        self.ups = nn.ModuleList(ups)
        if init_std is not None:
            init_weights(self, init_std)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.input_multiple
        if h % m or w % m:
            raise ValueError(
                f"UnetGenerator(num_downs={self.num_downs}) needs sides divisible by {m}, got {h}x{w}; "
                "pad the input (lit_gans.utils.padding.pad_to_multiple) or use smaller num_downs"
            )
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        x = self.ups[-1](x)
        for i in range(self.num_downs - 2, -1, -1):
            x = self.ups[i](torch.cat([skips[i], x], dim=1))
        return x

    # ------------------------------------------------------------------ official checkpoints
    @staticmethod
    def convert_official_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a junyanz ``UnetGenerator`` state_dict (``latest_net_G.pth``) to this class's keys.

        Official keys nest one block per level: ``model.model.<j>`` (outermost), then ``model.model.1.model.<j>``,
        then ``...model.3.model.<j>`` for each deeper level. Position ``j`` in each block's Sequential:
        outermost [conv 0, sub 1, relu 2, convT 3, tanh 4]; middle [lrelu 0, conv 1, norm 2, sub 3, relu 4,
        convT 5, norm 6, (dropout 7)]; innermost [lrelu 0, conv 1, relu 2, convT 3, norm 4]. InstanceNorm
        running statistics of old checkpoints (PyTorch < 0.4 kept them) are dropped, as junyanz's
        ``__patch_instance_norm_state_dict`` does. A ``module.`` prefix (DataParallel) is removed.
        Raises ``KeyError`` on a key that is not part of a U-Net.
        """
        pattern = re.compile(r"^model\.model\.((?:\d+\.model\.)*)(\d+)\.(.+)$")
        parsed: list[tuple[int, int, str, Tensor]] = []
        for key, value in state_dict.items():
            k = key[len("module."):] if key.startswith("module.") else key
            m = pattern.match(k)
            if not m:
                raise KeyError(f"not a junyanz UnetGenerator key: {key!r}")
            hops = m.group(1).split(".model.")[:-1] if m.group(1) else []
            expected = ["1"] + ["3"] * (len(hops) - 1)
            if hops != expected[: len(hops)]:
                raise KeyError(f"unexpected nesting in junyanz UnetGenerator key: {key!r}")
            parsed.append((len(hops), int(m.group(2)), m.group(3), value))
        if not parsed:
            raise KeyError("empty state_dict: not a junyanz UnetGenerator checkpoint")
        last = max(level for level, *_ in parsed)
        positions = {  # official Sequential index -> ("downs"|"ups", index in our Sequential)
            "outer": {0: ("downs", 0), 3: ("ups", 1)},
            "middle": {1: ("downs", 1), 2: ("downs", 2), 5: ("ups", 1), 6: ("ups", 2)},
            "inner": {1: ("downs", 1), 3: ("ups", 1), 4: ("ups", 2)},
        }
        out: dict[str, Tensor] = {}
        for level, index, rest, value in parsed:
            kind = "outer" if level == 0 else "inner" if level == last else "middle"
            if index not in positions[kind]:
                raise KeyError(f"junyanz UnetGenerator key at level {level}, position {index} has no counterpart: {rest}")
            if rest.split(".")[-1] in ("running_mean", "running_var", "num_batches_tracked") and value.dim() <= 1:
                if (kind, index) in (("middle", 2), ("middle", 6), ("inner", 4)) and _is_instance_stat(state_dict, rest):
                    continue
            part, j = positions[kind][index]
            out[f"{part}.{level}.{j}.{rest}"] = value
        return out


def _is_instance_stat(state_dict: dict[str, Tensor], rest: str) -> bool:
    """An InstanceNorm (affine=False) has running statistics but no weight: no ``weight`` key anywhere."""
    return not any(k.endswith(".weight") and v.dim() == 1 for k, v in state_dict.items())


def unet_generator(name: str = "unet_256", **kwargs) -> UnetGenerator:  # noqa: ANN003
    """``UnetGenerator`` by junyanz's ``--netG`` name ('unet_256' or 'unet_128')."""
    if name not in UNET_DEPTHS:
        raise ValueError(f"unknown U-Net {name!r}; choose one of {sorted(UNET_DEPTHS)}")
    return UnetGenerator(num_downs=UNET_DEPTHS[name], **kwargs)

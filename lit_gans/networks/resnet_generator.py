"""ResNet generator of CycleGAN (Zhu et al. 2017, Appendix 7.2), after Johnson et al. 2016.

Layer for layer as junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` ``ResnetGenerator``
(``--netG resnet_9blocks`` for 256 px, ``resnet_6blocks`` for 128 px; paper Appendix 7.2):

    c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3 (+ Tanh)

with reflection padding, InstanceNorm(affine=False) and a conv bias only where the norm is InstanceNorm
(junyanz ``use_bias``). The official checkpoints (``latest_net_G_A.pth``) load through
:meth:`ResnetGenerator.convert_official_state_dict` (their flat ``model.<i>`` keys -> our named blocks).

Parameter counts (measured against the official class, tests/test_cyclegan_networks.py):
``resnet_9blocks`` 11,378,179; ``resnet_6blocks`` 7,837,699.
"""

from __future__ import annotations

import re
from typing import Literal, Mapping

from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.networks.patchgan import Norm, conv_bias, norm_layer
from lit_gans.utils.checks import check_sizes

Padding = Literal["reflect", "replicate", "zero"]


def _pad(padding: Padding, size: int) -> tuple[list[nn.Module], int]:
    """(explicit padding layers, conv padding) as junyanz ``build_conv_block``."""
    if padding == "reflect":
        return [nn.ReflectionPad2d(size)], 0
    if padding == "replicate":
        return [nn.ReplicationPad2d(size)], 0
    if padding == "zero":
        return [], size
    raise ConfigError(f"padding must be 'reflect', 'replicate' or 'zero', got {padding!r}")


class ResnetBlock(nn.Module):
    """pad-conv3x3-norm-ReLU-(dropout)-pad-conv3x3-norm, plus the identity (junyanz ``ResnetBlock``)."""

    def __init__(self, dim: int, norm: Norm, padding: Padding, dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        pad1, p = _pad(padding, 1)
        pad2, _ = _pad(padding, 1)
        self.pad1 = nn.Sequential(*pad1)
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=p, bias=bias)
        self.norm1 = norm_layer(norm, dim)
        self.act = nn.ReLU(True)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()  # 0.5: junyanz, off for CycleGAN
        self.pad2 = nn.Sequential(*pad2)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=p, bias=bias)
        self.norm2 = norm_layer(norm, dim)

    def forward(self, x: Tensor) -> Tensor:
        h = self.dropout(self.act(self.norm1(self.conv1(self.pad1(x)))))
        return x + self.norm2(self.conv2(self.pad2(h)))


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: 2 stride-2 downsamplings, ``n_blocks`` residual blocks, 2 transposed convs.

    Input and output in [-1, 1] (Tanh). Any input whose sides are multiples of 4 keeps its size; other
    sizes are reflect-padded to a multiple of 4 and cropped back (junyanz's network would return a
    slightly different size, see their issue #527).

    Args:
        in_channels: input channels (3, junyanz ``--input_nc``).
        out_channels: output channels (3, ``--output_nc``).
        ngf: filters of the first conv (64, ``--ngf``).
        n_blocks: residual blocks: 9 for 256 px, 6 for 128 px (Zhu et al. 2017, Appendix 7.2).
        norm: 'instance' (CycleGAN, ``--norm instance``), 'batch' or 'none'.
        dropout: dropout 0.5 inside the blocks (False: CycleGAN sets ``no_dropout=True``).
        padding: padding of the residual blocks ('reflect', paper Appendix 7.2).
    """

    n_downsampling = 2  # junyanz ResnetGenerator: fixed two stride-2 convs (d128, d256)

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        ngf: int = 64,
        n_blocks: int = 9,
        norm: Norm = "instance",
        dropout: bool = False,
        padding: Padding = "reflect",
    ) -> None:
        check_sizes(ResnetGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if n_blocks < 0:
            raise ConfigError(f"n_blocks must be >= 0, got {n_blocks}")
        self.in_channels, self.out_channels, self.ngf, self.n_blocks = in_channels, out_channels, ngf, n_blocks
        self.norm, self.dropout, self.padding = norm, dropout, padding
        bias = conv_bias(norm)
        # c7s1-ngf
        self.stem = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(in_channels, ngf, 7, bias=bias), norm_layer(norm, ngf), nn.ReLU(True)
        )
        # d(2 ngf), d(4 ngf)
        down: list[nn.Module] = []
        for i in range(self.n_downsampling):
            c = ngf * 2**i
            down += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=bias), norm_layer(norm, 2 * c), nn.ReLU(True)]
        self.down = nn.Sequential(*down)
        dim = ngf * 2**self.n_downsampling
        self.blocks = nn.Sequential(*[ResnetBlock(dim, norm, padding, dropout) for _ in range(n_blocks)])
        # u(2 ngf), u(ngf): fractionally strided convs
        up: list[nn.Module] = []
        for i in range(self.n_downsampling):
            c = ngf * 2 ** (self.n_downsampling - i)
            up += [
                nn.ConvTranspose2d(c, c // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                norm_layer(norm, c // 2),
                nn.ReLU(True),
            ]
        self.up = nn.Sequential(*up)
        # c7s1-out, always with a bias (junyanz), then Tanh
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh())

    @property
    def size_multiple(self) -> int:
        return 2**self.n_downsampling

    @property
    def min_input_side(self) -> int:
        """Smallest input side this network runs on: the features after the stride-2 convs need 2 pixels per
        side (reflection padding of 1 in each ResnetBlock, instance norm over more than one value), so
        ``2 ** n_downsampling + 1`` (5 for the paper's network; the 7x7 stem's reflection padding needs 4)."""
        return 2**self.n_downsampling + 1

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:  # odd sizes (predict on arbitrary photos): reflect-pad, crop back
            x = nn.functional.pad(x, (0, pw, 0, ph), mode="reflect")
        y = self.head(self.up(self.blocks(self.down(self.stem(x)))))
        return y[..., :h, :w] if (ph or pw) else y

    # ------------------------------------------------------------------ official weights
    @staticmethod
    def convert_official_state_dict(official: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Map a junyanz generator checkpoint (e.g. ``horse2zebra/latest_net_G_A.pth``) onto our names.

        junyanz builds one flat ``nn.Sequential``: [pad, conv, norm, relu] + 2 x [conv, norm, relu]
        + n_blocks x ResnetBlock + 2 x [convT, norm, relu] + [pad, conv, tanh]; inside a block,
        ``conv_block`` is [pad?, conv, norm, relu, dropout?, pad?, conv, norm]. The layout (number of
        blocks, dropout, padding) is read from the keys, so build the generator with the matching
        ``n_blocks`` (6 or 9) and ``load_state_dict(..., strict=True)`` reports any mismatch.

        A ``module.`` prefix (DataParallel saves) is stripped. InstanceNorm running statistics and
        ``num_batches_tracked``, which checkpoints saved with ``track_running_stats=True`` carry, are
        dropped: junyanz's own loader (``__patch_instance_norm_state_dict``) drops them as well, and an
        InstanceNorm without affine weights is recognised by having statistics but no ``weight``.

        Usage: ``g.load_state_dict(ResnetGenerator.convert_official_state_dict(torch.load(path)))``.
        """
        sd = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in official.items()}
        block_re = re.compile(r"^model\.(\d+)\.conv_block\.(\d+)\.(\w+)$")
        top_re = re.compile(r"^model\.(\d+)\.(\w+)$")
        blocks = sorted({int(m.group(1)) for k in sd if (m := block_re.match(k))})
        if not blocks or any(not (block_re.match(k) or top_re.match(k)) for k in sd):
            bad = [k for k in sd if not (block_re.match(k) or top_re.match(k))][:5]
            raise ValueError(
                f"not a junyanz ResnetGenerator state_dict (keys like 'model.1.weight' and "
                f"'model.10.conv_block.1.weight' expected; found {bad or list(sd)[:5]})"
            )
        first_block, n_blocks = blocks[0], len(blocks)
        n_down = (first_block - 1) // 3 - 1
        inner_convs = sorted({int(m.group(2)) for k, v in sd.items() if (m := block_re.match(k)) and v.ndim == 4})
        if len(inner_convs) != 2:
            raise ValueError(f"unexpected ResnetBlock layout (conv indices {inner_convs})")
        c1, c2 = inner_convs
        names = {"model.1": "stem.1", "model.2": "stem.2"}
        for i in range(n_down):
            names[f"model.{4 + 3 * i}"] = f"down.{3 * i}"
            names[f"model.{5 + 3 * i}"] = f"down.{3 * i + 1}"
        for b in range(n_blocks):
            theirs = f"model.{first_block + b}.conv_block"
            names.update({f"{theirs}.{c1}": f"blocks.{b}.conv1", f"{theirs}.{c1 + 1}": f"blocks.{b}.norm1",
                          f"{theirs}.{c2}": f"blocks.{b}.conv2", f"{theirs}.{c2 + 1}": f"blocks.{b}.norm2"})
        first_up = first_block + n_blocks
        for i in range(n_down):
            names[f"model.{first_up + 3 * i}"] = f"up.{3 * i}"
            names[f"model.{first_up + 3 * i + 1}"] = f"up.{3 * i + 1}"
        names[f"model.{first_up + 3 * n_down + 1}"] = "head.1"
        out: dict[str, Tensor] = {}
        for key, value in sd.items():
            prefix, _, leaf = key.rpartition(".")
            if leaf in ("running_mean", "running_var", "num_batches_tracked") and f"{prefix}.weight" not in sd:
                continue  # InstanceNorm(affine=False) statistics: unused, dropped (see above)
            if prefix not in names:
                raise ValueError(f"official key {key!r} has no counterpart in ResnetGenerator")
            out[f"{names[prefix]}.{leaf}"] = value
        return out

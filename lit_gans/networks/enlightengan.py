"""EnlightenGAN networks (Jiang et al. 2021, "EnlightenGAN: Deep Light Enhancement without Paired
Supervision", IEEE TIP; arXiv:1906.06972), layer for layer as VITA-Group/EnlightenGAN ``models/networks.py``
with the options of its ``scripts/script.py`` (the released model):

* :class:`AttentionUNetGenerator` = ``Unet_resize_conv`` (``--which_model_netG sid_unet_resize
  --self_attention --times_residual --skip 1 --use_norm 1``): a 5-level U-Net (32-64-128-256-512 channels),
  each level 2 x (conv3x3 -> LeakyReLU 0.2 -> BatchNorm), max-pool down, bilinear x2 + conv3x3 up
  ("resize-conv"). The input is RGB and the attention map ``1 - luminance`` (4 channels); the attention
  map, max-pooled to each scale, multiplies the conv5_1 features and the 4 skip features (paper Sec. 3.1,
  Fig. 2); the 1x1 output conv (the residual) is multiplied by the attention and added to the input.
  No Tanh (``--tanh`` is not set). Parameter count: 8,636,675.
* :class:`NoNormDiscriminator` = ``NoNormDiscriminator`` (``--which_model_netD no_norm_4``): convs k4, pad 2,
  LeakyReLU 0.2, no normalisation; ``n_layers=5`` is the global discriminator (``--n_layers_D 5``,
  11,154,369 parameters), ``n_layers=4`` the local one on 32x32 patches (``--n_layers_patchD 4``,
  6,959,553 parameters).

The released generator (``200_net_G_A.pth``, a DataParallel state_dict) loads through
:meth:`AttentionUNetGenerator.convert_official_state_dict`.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.utils.checks import check_sizes

# ITU-R BT.601 luma weights, EnlightenGAN data/unaligned_dataset.py: A_gray = 1 - (0.299 R + 0.587 G + 0.114 B)
LUMA = (0.299, 0.587, 0.114)


def attention_map(x: Tensor) -> Tensor:
    """EnlightenGAN's self-regularised attention map ``1 - Y`` (paper Sec. 3.1; official
    ``data/unaligned_dataset.py``): ``x`` RGB in [-1, 1], [B, 3, H, W] -> [B, 1, H, W] in [0, 1]
    (0 on white, 1 on black). It is luminance, not max(R, G, B)."""
    w = x.new_tensor(LUMA).view(1, 3, 1, 1)
    return 1.0 - ((x + 1.0) * 0.5 * w).sum(1, keepdim=True)


def enlightengan_init(module: nn.Module, std: float = 0.02) -> nn.Module:
    """Official ``weights_init``: conv weights ~ N(0, 0.02) with the biases left at PyTorch's default,
    BatchNorm weights ~ N(1, 0.02) and biases 0 (VITA-Group/EnlightenGAN models/networks.py)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
    return module


class _ConvPair(nn.Module):
    """conv3x3 -> LeakyReLU(0.2) -> BN -> [x attention] -> conv3x3 -> LeakyReLU(0.2) -> BN (official order:
    the BatchNorm comes after the activation, ``self.bn1_1(self.LReLU1_1(self.conv1_1(x)))``)."""

    def __init__(self, cin: int, cout: int, norm: bool, norm_last: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(cout) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout) if norm and norm_last else nn.Identity()
        self.act = nn.LeakyReLU(0.2, inplace=False)

    def forward(self, x: Tensor, mid_scale: Tensor | None = None) -> Tensor:
        h = self.bn1(self.act(self.conv1(x)))
        if mid_scale is not None:
            h = h * mid_scale
        return self.bn2(self.act(self.conv2(h)))


class AttentionUNetGenerator(nn.Module):
    """EnlightenGAN's attention-guided U-Net (official ``sid_unet_resize``).

    ``forward(x)`` takes RGB in [-1, 1] and returns the enhanced image ``x * skip + attention * residual``
    (not clamped, as in the official code; clamp for display). Any size works: the input is
    reflect-padded to a multiple of 16 and cropped back (official ``pad_tensor``).

    Args:
        in_channels: image channels (3).
        base_channels: channels of the first level (32); levels are base x (1, 2, 4, 8, 16).
        self_attention: feed and apply the attention map (``--self_attention``); False gives a plain
            3-channel U-Net (the paper's ablation).
        use_norm: BatchNorm after each activation (``--use_norm 1``).
        times_residual: multiply the residual by the attention map (``--times_residual``).
        skip: weight of the input added to the residual (``--skip 1``); 0 returns the residual alone.
        tanh: Tanh on the residual (``--tanh``, off in the released model).
        avg_pool: average instead of max pooling in the encoder (``--use_avgpool``, off).
        align_corners: bilinear upsampling mode. The official code calls ``F.upsample(mode='bilinear')``
            under torch 0.3.1, which behaves as ``align_corners=True`` (the default changed to False in
            torch 0.4), so True reproduces the released model; the official file run on a current torch
            gives ``False``.
        halve_above_width: the official forward average-pools inputs wider than 2200 px by 2 and
            upsamples the output back (a memory work-around). None (default) deviates from the official
            code: full resolution always, large photos go through tiled prediction instead
            (``lit_gans.utils.tiling``); set 2200 to reproduce the official behaviour.
    """

    pad_multiple = 16  # 4 poolings: official pad_tensor pads to a multiple of 16

    def __init__(
        self,
        in_channels: int = 3,
        base_channels: int = 32,
        self_attention: bool = True,
        use_norm: bool = True,
        times_residual: bool = True,
        skip: float = 1.0,
        tanh: bool = False,
        avg_pool: bool = False,
        align_corners: bool = True,
        halve_above_width: int | None = None,
    ) -> None:
        check_sizes(AttentionUNetGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.in_channels, self.self_attention, self.times_residual = in_channels, self_attention, times_residual
        self.skip, self.tanh, self.align_corners, self.halve_above_width = skip, tanh, align_corners, halve_above_width
        ch = [base_channels * 2**i for i in range(5)]  # 32, 64, 128, 256, 512
        cin = in_channels + (1 if self_attention else 0)
        self.down = nn.ModuleList(_ConvPair(a, b, use_norm) for a, b in zip([cin] + ch[:-1], ch))
        self.pool = nn.AvgPool2d(2) if avg_pool else nn.MaxPool2d(2)
        # decoder level i: upsample x2, conv3x3 halving the channels (official deconv5..8), concat the skip,
        # then the conv pair (official conv6..9); the very last conv (conv9_2) has no BatchNorm.
        self.reduce = nn.ModuleList(nn.Conv2d(ch[i], ch[i - 1], 3, padding=1) for i in range(4, 0, -1))
        self.up = nn.ModuleList(
            _ConvPair(ch[i], ch[i - 1], use_norm, norm_last=(i != 1)) for i in range(4, 0, -1)
        )
        self.out_conv = nn.Conv2d(ch[0], in_channels, 1)  # official conv10: the residual

    def _pad(self, x: Tensor) -> tuple[Tensor, tuple[int, int, int, int]]:
        h, w = x.shape[-2:]
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        pads = (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2)  # official: floor half left/top
        return (F.pad(x, pads, mode="reflect") if (ph or pw) else x), pads

    def forward(self, x: Tensor, attention: Tensor | None = None, return_residual: bool = False):
        """``x``: RGB in [-1, 1]; ``attention``: [B, 1, H, W] (default: :func:`attention_map` of ``x``).
        Returns the output, or ``(output, residual)`` with ``return_residual``."""
        if attention is None:
            attention = attention_map(x)
        size = x.shape[-2:]
        halved = self.halve_above_width is not None and x.shape[-1] > self.halve_above_width
        if halved:
            x, attention = F.avg_pool2d(x, 2), F.avg_pool2d(attention, 2)
        x, pads = self._pad(x)
        g, _ = self._pad(attention)
        grays = [g]
        for _ in range(4):
            grays.append(F.max_pool2d(grays[-1], 2))  # attention at 1, 1/2, 1/4, 1/8, 1/16
        use_att = self.self_attention
        h = torch.cat([x, g], 1) if use_att else x
        skips = []
        for i, block in enumerate(self.down):
            if i == 4:
                h = block(h, grays[4] if use_att else None)  # conv5_1 features x attention
            else:
                skips.append(block(h))
                h = self.pool(skips[-1])
        for i in range(4):
            level = 3 - i  # skips[3] = conv4, ..., skips[0] = conv1
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=self.align_corners)
            s = skips[level] * grays[level] if use_att else skips[level]
            h = self.up[i](torch.cat([self.reduce[i](h), s], 1))
        residual = self.out_conv(h)
        if self.times_residual:
            residual = residual * g
        if self.tanh:
            residual = torch.tanh(residual)
        out = residual + x * self.skip if self.skip else residual
        top, left = pads[2], pads[0]
        H, W = out.shape[-2:]
        out = out[..., top : H - pads[3], left : W - pads[1]]
        residual = residual[..., top : H - pads[3], left : W - pads[1]]
        if halved:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=self.align_corners)
        return (out, residual) if return_residual else out

    # ------------------------------------------------------------------ official weights
    @staticmethod
    def convert_official_state_dict(official: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Map the official ``Unet_resize_conv`` state_dict (e.g. the released ``200_net_G_A.pth``) onto
        our names: ``conv{L}_{k}``/``bn{L}_{k}`` of levels 1-5 -> ``down.{L-1}.conv{k}``/``bn{k}``,
        ``deconv{5..8}`` -> ``reduce.{0..3}``, ``conv{6..9}_{k}``/``bn{6..9}_{k}`` -> ``up.{0..3}.*``,
        ``conv10`` -> ``out_conv``. The ``module.`` prefix of DataParallel saves is stripped; BatchNorm
        ``num_batches_tracked`` (absent from torch 0.3 files) is filled in by ``load_state_dict``.

        Usage: ``g.load_state_dict(AttentionUNetGenerator.convert_official_state_dict(torch.load(path)))``.
        """
        pat = re.compile(r"^(conv|bn)(\d+)_(\d)\.(\w+)$|^deconv(\d)\.(\w+)$|^conv10\.(\w+)$")
        out: dict[str, Tensor] = {}
        for key, value in official.items():
            k = key[len("module."):] if key.startswith("module.") else key
            m = pat.match(k)
            if m is None:
                raise ValueError(
                    f"official key {key!r} is not part of EnlightenGAN's Unet_resize_conv "
                    "(expected conv1_1 ... conv10, bn1_1 ..., deconv5 ... deconv8)"
                )
            if m.group(1):
                kind, level, idx, leaf = m.group(1), int(m.group(2)), m.group(3), m.group(4)
                where = f"down.{level - 1}" if level <= 5 else f"up.{level - 6}"
                out[f"{where}.{kind}{idx}.{leaf}"] = value
            elif m.group(5):
                out[f"reduce.{int(m.group(5)) - 5}.{m.group(6)}"] = value
            else:
                out[f"out_conv.{m.group(7)}"] = value
        return out


class NoNormDiscriminator(nn.Module):
    """EnlightenGAN's ``no_norm_4`` PatchGAN: like the pix2pix PatchGAN without normalisation and with
    padding 2 (official ``padw = ceil((4 - 1) / 2)``).

    Args:
        in_channels: input channels (3).
        ndf: filters of the first layer (64, ``--ndf``).
        n_layers: stride-2 layers: 5 for the global D (``--n_layers_D 5``), 4 for the local D on 32x32
            patches (``--n_layers_patchD 4``).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 5) -> None:
        check_sizes(NoNormDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        kw, pad = 4, 2
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, kw, 2, pad), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kw, 2, pad), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, kw, 1, pad), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(ndf * mult, 1, kw, 1, pad)]
        self.model = nn.Sequential(*layers)  # same keys as the official module

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

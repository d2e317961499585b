"""Progressive GAN generator and discriminator (Karras et al. 2018, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation", arXiv:1710.10196).

Layer for layer the official ``G_paper`` / ``D_paper`` of tkarras/progressive_growing_of_gans
(``networks.py``, TensorFlow release). Parameter counts measured by running the official
``networks.py`` (TF 2.21 ``compat.v1``, outside the project) and pinned in ``tests/test_progan_networks.py``:

| resolution, channels, fmap_base/fmap_max | G | D |
|---|---|---|
| 1024, 3, 8192/512 (paper, Table 2: 23.1M each) | 23,079,115 | 23,087,249 |
| 128, 3, 8192/512 (CelebA 128 default) | 22,933,394 | 22,941,313 |
| 32, 1, 8192/512 | 20,715,524 | 20,722,689 |
| 32, 1, 256/64 (reduced CPU width) | 211,220 | 212,081 |

With the same weights, this module and the official graph (``structure='linear'``, ``fused_scale=False``)
give the same outputs at every level of detail (max abs difference ~1e-6, float32); see docs/progan.md.

Name map (code vs. official):
    ``stage`` s = 0..num_stages-1 works at ``4 * 2**s`` px; official ``lod = log2(resolution) - 2 - s``
    while stable. ``alpha`` is the fade-in weight of the newest stage: official ``lod`` fraction
    ``t = 1 - alpha``; ``alpha = 0`` is exactly the previous stage's output (upsampled), ``alpha = 1``
    exactly the new one.

Equalized learning rate (Sec. 4.1, ``use_wscale``): weights are initialized N(0, 1) and multiplied at run
time by the He constant ``gain / sqrt(fan_in)``; biases start at 0. Gains follow ``networks.py``:
sqrt(2) everywhere, sqrt(2)/4 on G's first dense layer ("to match the original Theano implementation"),
1 on the to-RGB convolutions and on D's last dense layer.

``fused_scale`` (official default True for both networks, kept by ``config.py``):
    - In G, the official fused op (a 4x4 stride-2 transposed conv built from the 3x3 weight) is the same
      linear map as nearest upsampling + 3x3 conv with the kernel flipped; G is written with the separate
      ops (paper Table 2). Checked against the official graph: same outputs with flipped weights.
    - In D it is *not* only an implementation detail: the fused 3x3 conv + 2x2 average pooling (a stride-2
      4x4 conv) runs before the bias and the LeakyReLU, whereas the separate ops (and the paper's Table 2)
      pool after the activation. ``ProGANDiscriminator(fused_scale=True)`` (default, official code) pools
      the conv output then adds the bias and activates; ``fused_scale=False`` follows Table 2. Both match
      the official graph built with the same flag.

Deviations from the official code:
    - Minibatch stddev: when the batch is not divisible by ``group_size`` the official code fails; here the
      largest divisor of the batch in [2, group_size] is used, or the whole batch when there is none.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

SQRT2 = math.sqrt(2.0)  # He gain for (leaky) ReLU, official ``get_weight(gain=np.sqrt(2))``


def num_features(stage: int, fmap_base: int = 8192, fmap_decay: float = 1.0, fmap_max: int = 512) -> int:
    """Feature maps of a layer: official ``nf(stage) = min(int(fmap_base / 2**(stage * fmap_decay)), fmap_max)``.

    Note that the official ``stage`` argument here is ``log2(resolution) - 1``: the 4x4 block uses nf(1).
    """
    return min(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_max)


class EqualizedConv2d(nn.Module):
    """Conv with 'same' padding whose weight is N(0, 1) at init and scaled by ``gain/sqrt(fan_in)`` at run time.

    Args:
        in_channels / out_channels / kernel_size: as ``nn.Conv2d`` (odd kernel, stride 1, 'same' padding).
        gain: He gain (sqrt(2) for leaky ReLU layers, 1 for linear outputs).
        use_wscale: equalized learning rate; when False the weight is initialized N(0, (gain/sqrt(fan_in))^2)
            and used as is (official ``use_wscale=False``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, gain: float = SQRT2, use_wscale: bool = True) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        fan_in = in_channels * kernel_size * kernel_size
        std = gain / math.sqrt(fan_in)  # He init, official get_weight
        self.scale = std if use_wscale else 1.0
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) * (1.0 if use_wscale else std))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, scale={self.scale:.4g}"


class EqualizedLinear(nn.Module):
    """Linear layer with the equalized learning rate (see :class:`EqualizedConv2d`)."""

    def __init__(self, in_features: int, out_features: int, gain: float = SQRT2, use_wscale: bool = True, bias: bool = True) -> None:
        super().__init__()
        std = gain / math.sqrt(in_features)
        self.scale = std if use_wscale else 1.0
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * (1.0 if use_wscale else std))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, scale={self.scale:.4g}"


class PixelNorm(nn.Module):
    """Pixelwise feature vector normalization (Sec. 4.2): ``x / sqrt(mean_c(x^2) + eps)``, eps 1e-8 (official)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Append the average per-group standard deviation as one extra feature map (Sec. 3).

    Official ``minibatch_stddev_layer``: the batch [N] is split as ``[G, M]`` with ``G = min(group_size, N)``
    (sample ``n`` belongs to group ``n % M``); per group, the population std over its G members of every
    feature and pixel (+1e-8 inside the sqrt), averaged over features and pixels, is tiled over the group's
    samples and pixels. Statistics run in float32.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def _group(self, n: int) -> int:
        g = min(self.group_size, n)
        if n % g == 0:
            return g
        # deviates from official (which requires N % G == 0): largest divisor in [2, group_size], else N
        for d in range(g, 1, -1):
            if n % d == 0:
                return d
        return n

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = self._group(n)
        y = x.float().reshape(g, -1, c, h, w)  # [G, M, C, H, W]
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.pow(2).mean(dim=0) + 1e-8)  # [M, C, H, W]
        y = y.mean(dim=(1, 2, 3)).to(x.dtype)  # [M]
        y = y.repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)  # sample n -> group n % M
        return torch.cat([x, y], dim=1)


def upscale2d(x: Tensor, factor: int = 2) -> Tensor:
    """Nearest-neighbour upscaling (official ``upscale2d``)."""
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downscale2d(x: Tensor, factor: int = 2) -> Tensor:
    """Box-filter downscaling (official ``downscale2d``: average pooling)."""
    return x if factor == 1 else F.avg_pool2d(x, factor)


def _stages(resolution: int) -> int:
    log2 = math.log2(resolution) if resolution > 0 else -1
    if resolution < 4 or log2 != int(log2):
        near = 2 ** max(2, round(log2)) if resolution > 0 else 4
        raise ConfigError(
            f"ProGAN resolution={resolution} is not a power of two >= 4 (official networks.py asserts this): set "
            f"--model.init_args.generator.init_args.resolution, --model.init_args.discriminator.init_args.resolution "
            f"and --data.init_args.resolution to a power of two, e.g. {near}"
        )
    return int(log2) - 1


class ProGANGenerator(nn.Module):
    """Growing generator: z [B, latent_dim] -> image [B, C, 4*2**stage, 4*2**stage], no tanh.

    Args:
        resolution: final output side (power of two >= 4). Official default 32; CelebA-HQ 1024.
        channels: image channels (1 for digits/MNIST, 3 for RGB).
        latent_dim: latent size; ``None`` = nf(0) = min(fmap_base, fmap_max) (512 in the paper).
        fmap_base / fmap_decay / fmap_max: width formula ``nf`` (8192 / 1.0 / 512 official). Smaller values
            give a narrow network for CPU runs (say so in the experiment).
        normalize_latents: pixel-normalize z first (official True).
        use_wscale: equalized learning rate (official True).
        use_pixelnorm: pixel norm after every conv (official True).
        pixelnorm_eps: 1e-8 official (1e-4 for their fp16 preset).
        use_leakyrelu: LeakyReLU(0.2) (official True) instead of ReLU.
    """

    def __init__(
        self,
        resolution: int = 128,
        channels: int = 3,
        latent_dim: int | None = None,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        normalize_latents: bool = True,
        use_wscale: bool = True,
        use_pixelnorm: bool = True,
        pixelnorm_eps: float = 1e-8,
        use_leakyrelu: bool = True,
    ) -> None:
        check_sizes(ProGANGenerator, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.num_stages = _stages(resolution)
        self.resolution, self.channels = resolution, channels

        def nf(s: int) -> int:
            return num_features(s, fmap_base, fmap_decay, fmap_max)

        self.latent_dim = nf(0) if latent_dim is None else latent_dim
        self.normalize_latents = normalize_latents
        self.latent_norm = PixelNorm(pixelnorm_eps)
        self.act = nn.LeakyReLU(0.2) if use_leakyrelu else nn.ReLU()  # official leaky_relu alpha=0.2
        self.norm = PixelNorm(pixelnorm_eps) if use_pixelnorm else nn.Identity()
        # stage 0 (4x4): dense to nf(1)*16 with gain sqrt(2)/4 (official override), reshaped to [nf(1), 4, 4],
        # then one bias per feature map (official applies the bias after the reshape), then a 3x3 conv
        self.dense = EqualizedLinear(self.latent_dim, nf(1) * 16, gain=SQRT2 / 4, use_wscale=use_wscale, bias=False)
        self.dense_bias = nn.Parameter(torch.zeros(nf(1)))
        self.blocks = nn.ModuleList([nn.ModuleList([EqualizedConv2d(nf(1), nf(1), 3, use_wscale=use_wscale)])])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(nf(1), channels, 1, gain=1.0, use_wscale=use_wscale)])
        for s in range(1, self.num_stages):  # 8x8 and up: upscale, conv0, conv1 with nf(log2(res) - 1)
            r = s + 2
            self.blocks.append(
                nn.ModuleList(
                    [EqualizedConv2d(nf(r - 2), nf(r - 1), 3, use_wscale=use_wscale), EqualizedConv2d(nf(r - 1), nf(r - 1), 3, use_wscale=use_wscale)]
                )
            )
            self.to_rgb.append(EqualizedConv2d(nf(r - 1), channels, 1, gain=1.0, use_wscale=use_wscale))

    def _block(self, x: Tensor, stage: int) -> Tensor:
        if stage == 0:
            if self.normalize_latents:
                x = self.latent_norm(x)
            x = self.dense(x.flatten(1)).reshape(x.shape[0], -1, 4, 4) + self.dense_bias.reshape(1, -1, 1, 1)
            x = self.norm(self.act(x))
        else:
            x = upscale2d(x)
        for conv in self.blocks[stage]:
            x = self.norm(self.act(conv(x)))
        return x

    def forward(self, z: Tensor, stage: int | None = None, alpha: float = 1.0) -> Tensor:
        """Image at stage ``stage`` (default: the last), the new to-RGB faded in by ``alpha`` in [0, 1]."""
        stage = self.num_stages - 1 if stage is None else stage
        if not 0 <= stage < self.num_stages:
            raise ValueError(f"stage={stage} is outside 0..{self.num_stages - 1} for resolution {self.resolution}")
        x = prev = self._block(z, 0)
        for s in range(1, stage + 1):
            prev, x = x, self._block(x, s)
        img = self.to_rgb[stage](x)
        if stage > 0 and alpha < 1.0:  # fade-in (Fig. 2): lerp(upscaled old to-RGB, new to-RGB, alpha)
            img = torch.lerp(upscale2d(self.to_rgb[stage - 1](prev)), img, alpha)
        return img


class ProGANDiscriminator(nn.Module):
    """Growing critic: image [B, C, 4*2**s, 4*2**s] -> score [B, 1] (no sigmoid, WGAN-GP).

    The stage is read from the image side. Args as :class:`ProGANGenerator`, plus
    ``mbstd_group_size``: minibatch stddev group (official 4; 0 or 1 disables it) and
    ``fused_scale``: pool before the bias and activation of each block's second conv (official default
    True); False pools after the activation (paper Table 2, official ``fused_scale=False``).
    """

    def __init__(
        self,
        resolution: int = 128,
        channels: int = 3,
        fmap_base: int = 8192,
        fmap_decay: float = 1.0,
        fmap_max: int = 512,
        use_wscale: bool = True,
        mbstd_group_size: int = 4,
        fused_scale: bool = True,
    ) -> None:
        check_sizes(ProGANDiscriminator, "--model.init_args.discriminator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.fused_scale = fused_scale
        self.num_stages = _stages(resolution)
        self.resolution, self.channels = resolution, channels

        def nf(s: int) -> int:
            return num_features(s, fmap_base, fmap_decay, fmap_max)

        self.act = nn.LeakyReLU(0.2)
        self.from_rgb = nn.ModuleList()
        self.blocks = nn.ModuleList()
        for s in range(self.num_stages):
            r = s + 2
            self.from_rgb.append(EqualizedConv2d(channels, nf(r - 1), 1, use_wscale=use_wscale))
            if s > 0:  # conv0 nf(r-1) -> nf(r-1), conv1 nf(r-1) -> nf(r-2), then 2x2 average pooling
                self.blocks.append(
                    nn.ModuleList(
                        [EqualizedConv2d(nf(r - 1), nf(r - 1), 3, use_wscale=use_wscale), EqualizedConv2d(nf(r - 1), nf(r - 2), 3, use_wscale=use_wscale)]
                    )
                )
            else:
                self.blocks.append(nn.ModuleList())  # the 4x4 head below
        self.mbstd = MinibatchStdDev(mbstd_group_size) if mbstd_group_size > 1 else None
        extra = 1 if self.mbstd is not None else 0
        self.conv = EqualizedConv2d(nf(1) + extra, nf(1), 3, use_wscale=use_wscale)
        self.dense0 = EqualizedLinear(nf(1) * 16, nf(0), use_wscale=use_wscale)
        self.dense1 = EqualizedLinear(nf(0), 1, gain=1.0, use_wscale=use_wscale)

    def stage_of(self, x: Tensor) -> int:
        side = x.shape[-1]
        s = int(math.log2(side)) - 2 if side >= 4 else -1
        if x.shape[-2] != side or side != 4 * 2**s or not 0 <= s < self.num_stages:
            raise ValueError(
                f"ProGANDiscriminator got images of size {tuple(x.shape[-2:])}; expected square 4*2**stage px "
                f"up to {self.resolution}"
            )
        return s

    def _block(self, x: Tensor, stage: int) -> Tensor:
        if stage == 0:
            if self.mbstd is not None:
                x = self.mbstd(x)
            x = self.act(self.conv(x))
            x = self.act(self.dense0(x.flatten(1)))
            return self.dense1(x)
        conv0, conv1 = self.blocks[stage]
        x = self.act(conv0(x))
        if self.fused_scale:  # official conv2d_downscale2d: conv, 2x2 mean, then bias and activation
            x = F.conv2d(x, conv1.weight * conv1.scale, None, padding=conv1.padding)
            return self.act(downscale2d(x) + conv1.bias.reshape(1, -1, 1, 1))
        return downscale2d(self.act(conv1(x)))

    def forward(self, img: Tensor, alpha: float = 1.0) -> Tensor:
        """Critic score; the stage is ``log2(side) - 2``; the new from-RGB faded in by ``alpha``."""
        stage = self.stage_of(img)
        x = self._block(self.act(self.from_rgb[stage](img)), stage)
        if stage > 0:
            if alpha < 1.0:  # fade-in: lerp(old from-RGB of the 2x downscaled image, new path, alpha)
                x = torch.lerp(self.act(self.from_rgb[stage - 1](downscale2d(img))), x, alpha)
            for s in range(stage - 1, -1, -1):
                x = self._block(x, s)
        return x

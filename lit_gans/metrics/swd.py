"""Sliced Wasserstein distance on Laplacian-pyramid patches: the ProGAN paper's metric (Karras et al. 2018,
Sec. 5 and Appendix D), written for this project in torch (on the device, DDP-synced).

Protocol of the official ``metrics/sliced_wasserstein.py`` (tkarras/progressive_growing_of_gans), kept here:

* images as 8-bit values (generated images are rounded to 0..255 like the official uint8 snapshots;
  the per-channel normalization below makes the 0..255 vs 0..1 scale irrelevant);
* a Laplacian pyramid with the 5x5 binomial filter ``[1, 4, 6, 4, 1]^T [1, 4, 6, 4, 1] / 256`` and mirror
  ('reflect') borders, one level per resolution from the image size down to 16 px (the last level is the
  low-pass residual), like OpenCV's ``pyrDown``/``pyrUp``;
* 128 descriptors per image and level: 7x7 neighbourhoods (all channels) at uniformly random centres at
  least 3 px from the border;
* each set of descriptors (real, generated) normalized on its own, per channel, to zero mean and unit
  standard deviation over all its descriptors and pixels;
* 4 repeats x 128 random unit directions (512 projections); the 1-D Wasserstein distance of each
  projection is the mean absolute difference of the sorted projections; averaged, then multiplied by 1e3.

Reported per level (``{res}px``, finest first) and averaged (``avg``), as the paper's Table 1. The paper
used 16384 images (official ``metric-swd-16k``); metric names carry the count actually used, e.g.
``swd360_val_32px`` (360 generated images against the validation split, level 32 px, x1e3).

Deviations: random draws come from a seeded ``torch.Generator`` (reproducible), not numpy's global RNG;
the two sets must hold the same number of descriptors (official asserts it too): ``compute`` uses the
first ``min(n_real, n_fake)`` descriptors of each level when they differ.

Precision: float32 with autocast off (the pyramid's convolutions and the projections), also inside a
bf16-mixed validation step (``tests/test_bf16.py``).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from lit_gans.utils.images import check_finite

PATCH_SIZE = 7  # official nhood_size
PATCHES_PER_IMAGE = 128  # official nhoods_per_image
DIR_REPEATS = 4  # official dir_repeats
DIRS_PER_REPEAT = 128  # official dirs_per_repeat (4 x 128 = 512 projections)
MIN_RESOLUTION = 16  # official: levels while res >= 16

_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])


def _kernel(x: Tensor, gain: float = 1.0) -> Tensor:
    k = torch.outer(_BINOMIAL, _BINOMIAL) / 256.0 * gain
    c = x.shape[1]
    return k.to(x.device, x.dtype).expand(c, 1, 5, 5)


def _fp32(x: Tensor) -> torch.autocast:
    """Autocast off: the metric is computed in float32 even inside a bf16-mixed/fp16 validation step (autocast
    would run the pyramid's convolutions and the projections' matmuls in half precision)."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def pyr_down(x: Tensor) -> Tensor:
    """Blur with the 5x5 binomial filter (reflect borders) and keep every second pixel (OpenCV ``pyrDown``)."""
    with _fp32(x):
        y = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), _kernel(x), groups=x.shape[1])
    return y[:, :, ::2, ::2]


def pyr_up(x: Tensor) -> Tensor:
    """Insert zeros between pixels and blur with 4x the binomial filter (OpenCV ``pyrUp``)."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[:, :, ::2, ::2] = x
    with _fp32(x):
        return F.conv2d(F.pad(up, (2, 2, 2, 2), mode="reflect"), _kernel(x, 4.0), groups=c)


def laplacian_pyramid(x: Tensor, num_levels: int) -> list[Tensor]:
    """``[band 0 (finest), ..., low-pass residual]``: ``sum`` of the upsampled levels gives ``x`` back."""
    pyramid = [x.float()]
    for _ in range(1, num_levels):
        pyramid.append(pyr_down(pyramid[-1]))
        pyramid[-2] = pyramid[-2] - pyr_up(pyramid[-1])
    return pyramid


def reconstruct_laplacian_pyramid(pyramid: list[Tensor]) -> Tensor:
    x = pyramid[-1]
    for level in pyramid[-2::-1]:
        x = pyr_up(x) + level
    return x


def pyramid_resolutions(resolution: int, min_resolution: int = MIN_RESOLUTION) -> list[int]:
    """Levels of the protocol: ``resolution, resolution/2, ... >= min_resolution`` (32 -> [32, 16])."""
    if resolution < min_resolution:
        raise ValueError(f"SWD needs images of at least {min_resolution} px (official protocol), got {resolution}")
    out, r = [], resolution
    while r >= min_resolution:
        out.append(r)
        r //= 2
    return out


def random_patch_centers(num_images: int, per_image: int, height: int, width: int, patch_size: int = PATCH_SIZE, generator: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor]:
    """Centres ``(y, x)`` of shape ``[num_images, per_image]``, uniform in ``[h, size - h)`` with ``h = patch // 2``."""
    h = patch_size // 2
    y = torch.randint(h, height - h, (num_images, per_image), generator=generator)
    x = torch.randint(h, width - h, (num_images, per_image), generator=generator)
    return y, x


def extract_patches(level: Tensor, cy: Tensor, cx: Tensor, patch_size: int = PATCH_SIZE) -> Tensor:
    """Neighbourhoods ``[B * n, C, p, p]`` around centres ``cy, cx`` of shape ``[B, n]`` (image-major order)."""
    b, c, _, _ = level.shape
    h = patch_size // 2
    offsets = torch.arange(-h, h + 1, device=level.device)
    cy, cx = cy.to(level.device), cx.to(level.device)
    rows = (cy[..., None] + offsets)[:, :, :, None]  # [B, n, p, 1]
    cols = (cx[..., None] + offsets)[:, :, None, :]  # [B, n, 1, p]
    bidx = torch.arange(b, device=level.device)[:, None, None, None]
    patches = level[bidx, :, rows, cols]  # [B, n, p, p, C]: advanced indices first, then the channel slice
    return patches.permute(0, 1, 4, 2, 3).reshape(-1, c, patch_size, patch_size)


def normalize_descriptors(desc: Tensor) -> Tensor:
    """Per-channel zero mean, unit (population) std over all descriptors and pixels; flattened ``[N, C*p*p]``."""
    desc = desc.float()
    desc = desc - desc.mean(dim=(0, 2, 3), keepdim=True)
    desc = desc / desc.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
    return desc.reshape(desc.shape[0], -1)


def random_directions(dim: int, repeats: int = DIR_REPEATS, per_repeat: int = DIRS_PER_REPEAT, generator: Optional[torch.Generator] = None) -> Tensor:
    """``[repeats, dim, per_repeat]`` Gaussian directions normalized to unit length."""
    dirs = torch.randn(repeats, dim, per_repeat, generator=generator)
    return dirs / dirs.norm(dim=1, keepdim=True)


def sliced_wasserstein(a: Tensor, b: Tensor, directions: Tensor) -> Tensor:
    """Mean over repeats and directions of the 1-D Wasserstein-1 distance between the projections.

    ``a``, ``b``: ``[N, D]`` descriptors (same N); ``directions``: ``[R, D, K]`` unit vectors.
    """
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs two sets of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    directions = directions.to(a.device, a.dtype)
    with _fp32(a):
        proj_a = torch.sort(torch.einsum("nd,rdk->rnk", a, directions), dim=1).values
        proj_b = torch.sort(torch.einsum("nd,rdk->rnk", b, directions), dim=1).values
    return (proj_a - proj_b).abs().mean(dim=(1, 2)).mean()


def to_uint8_levels(images: Tensor) -> Tensor:
    """[0, 1] floats -> 0..255 rounded, as float32 (the official metric sees uint8 images)."""
    return (images.float().clamp(0.0, 1.0) * 255.0).round()


class SlicedWassersteinDistance(Metric):
    """SWD x1e3 between real and generated images, per pyramid level and averaged (see the module doc).

    Args:
        resolution: side of the images fed (all images of one metric have this size).
        patches_per_image / patch_size / dir_repeats / dirs_per_repeat / min_resolution: the protocol
            (official 128 / 7 / 4 / 128 / 16).
        seed: seed of the patch positions (reset at every ``reset()``, so a fixed real set gives the same
            descriptors at every validation) and of the projection directions.
        reference: name of the real split, for the metric names.

    ``update(images, real)``: float images ``[B, C, H, W]`` in [0, 1]. ``compute()`` returns
    ``{"swd{n}_{reference}_{res}px": value, ..., "swd{n}_{reference}_avg": mean}`` (``n``: generated images).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False

    def __init__(
        self,
        resolution: int,
        patches_per_image: int = PATCHES_PER_IMAGE,
        patch_size: int = PATCH_SIZE,
        dir_repeats: int = DIR_REPEATS,
        dirs_per_repeat: int = DIRS_PER_REPEAT,
        min_resolution: int = MIN_RESOLUTION,
        seed: int = 0,
        reference: str = "val",
        **kwargs,  # noqa: ANN003
    ) -> None:
        super().__init__(**kwargs)
        self.resolutions = pyramid_resolutions(resolution, min_resolution)
        self.resolution, self.patches_per_image, self.patch_size = resolution, patches_per_image, patch_size
        self.dir_repeats, self.dirs_per_repeat, self.seed, self.reference = dir_repeats, dirs_per_repeat, seed, reference
        for i in range(len(self.resolutions)):
            self.add_state(f"real_{i}", default=[], dist_reduce_fx="cat")
            self.add_state(f"fake_{i}", default=[], dist_reduce_fx="cat")
        self.add_state("n_fake", default=torch.tensor(0), dist_reduce_fx="sum")
        self._generator = torch.Generator().manual_seed(seed)

    @torch.inference_mode(False)  # reset runs in validation (inference mode); the states are updated outside it later
    def reset(self) -> None:
        super().reset()
        self._generator = torch.Generator().manual_seed(self.seed)

    def update(self, images: Tensor, real: bool, index: Optional[Tensor] = None) -> None:  # type: ignore[override]
        """``index``: the images' dataset indices. With it, each image's patch centres come from a generator
        seeded by (seed, index, level), so the value does not depend on how the images were split into
        batches or across DDP ranks (2 ranks give the 1-process value); without it, from one stream."""
        if images.dim() != 4 or images.shape[-1] != self.resolution or images.shape[-2] != self.resolution:
            raise ValueError(f"SlicedWassersteinDistance(resolution={self.resolution}) got images of shape {tuple(images.shape)}")
        check_finite(images, name=f"SlicedWassersteinDistance.update({'real' if real else 'generated'})")
        pyramid = laplacian_pyramid(to_uint8_levels(images), len(self.resolutions))
        for i, level in enumerate(pyramid):
            cy, cx = self._centers(level, i, index)
            getattr(self, f"{'real' if real else 'fake'}_{i}").append(extract_patches(level, cy, cx, self.patch_size))
        if not real:
            self.n_fake += images.shape[0]

    def _centers(self, level: Tensor, i: int, index: Optional[Tensor]) -> tuple[Tensor, Tensor]:
        args = (self.patches_per_image, level.shape[2], level.shape[3], self.patch_size)
        if index is None:
            return random_patch_centers(level.shape[0], *args, self._generator)
        if index.numel() != level.shape[0]:
            raise ValueError(f"SlicedWassersteinDistance.update: {index.numel()} indices for {level.shape[0]} images")
        ys, xs = [], []
        for j in index.reshape(-1).tolist():
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + int(j)) * 64 + i)
            y, x = random_patch_centers(1, *args, g)
            ys.append(y)
            xs.append(x)
        return torch.cat(ys), torch.cat(xs)

    def compute(self) -> dict[str, Tensor]:
        def cat(x) -> Tensor:  # noqa: ANN001
            return torch.cat(x) if isinstance(x, list) else x

        n = int(self.n_fake)
        tag = f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)
        g = torch.Generator().manual_seed(self.seed + 1)
        out: dict[str, Tensor] = {}
        for i, res in enumerate(self.resolutions):
            real, fake = getattr(self, f"real_{i}"), getattr(self, f"fake_{i}")
            if not len(real) or not len(fake):
                raise RuntimeError("SlicedWassersteinDistance.compute: feed real and generated images first")
            real, fake = cat(real), cat(fake)
            m = min(len(real), len(fake))
            a, b = normalize_descriptors(real[:m]), normalize_descriptors(fake[:m])
            dirs = random_directions(a.shape[1], self.dir_repeats, self.dirs_per_repeat, g)
            out[f"swd{tag}_{self.reference}_{res}px"] = sliced_wasserstein(a, b, dirs) * 1e3
        out[f"swd{tag}_{self.reference}_avg"] = torch.stack(list(out.values())).mean()
        return out

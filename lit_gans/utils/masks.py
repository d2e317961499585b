"""Inpainting masks made on the device: center, random block and random region holes.

Convention for the whole project: a mask is a float tensor ``[B, 1, H, W]`` with **1 = hole** (unknown
pixel to fill) and 0 = known pixel, on the device of the batch. Every function here is pure torch
(no host round trip, no Python branch on tensor values), so it can run inside
``on_after_batch_transfer`` on a GPU.

Sources (pathak22/context-encoder, the official Lua code):

* ``train.lua``: the hole is the center ``fineSize/2`` square *minus* an ``overlapPred`` border (4 px in
  the README command); that border stays known and is part of the predicted patch.
* ``train_random.lua``: a ``10000 x 10000`` pattern is made once by bicubically upscaling uniform noise
  of ``res * 10000`` cells (``res = 0.06``) and thresholding at ``density = 0.25`` (pixel < 0.25 is a
  hole); a ``fineSize`` window is drawn at random until its hole coverage is in (20 %, 30 %), and that
  one mask is used for the whole batch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

REGION_RES = 0.06  # train_random.lua: `res = 0.06` (noise cells per pixel of the big pattern)
REGION_DENSITY = 0.25  # train_random.lua: `density = 0.25` (threshold on the upscaled noise)
REGION_COVERAGE = (0.20, 0.30)  # train_random.lua: `if area>20 and area<30` (percent of the window)


def center_box(size: int, overlap: int = 0) -> tuple[int, int]:
    """``(start, stop)`` rows/cols of the center hole of a ``size`` image (train.lua).

    The predicted patch is ``[size/4, 3 size/4)``; the hole is that patch minus ``overlap`` pixels on
    each side (``1 + fineSize/4 + overlapPred`` .. ``fineSize/2 + fineSize/4 - overlapPred`` in Lua's
    1-based inclusive indexing).
    """
    if size % 4:
        raise ValueError(f"image size {size} must be divisible by 4 for a center hole of size/2")
    start, stop = size // 4 + overlap, 3 * size // 4 - overlap
    if stop <= start:
        raise ValueError(f"overlap {overlap} leaves no hole in the {size // 2} px center patch of a {size} px image")
    return start, stop


def center_mask(
    batch: int, size: int | tuple[int, int], overlap: int = 0, device: torch.device | str | None = None
) -> Tensor:
    """Center hole: the ``H/2 x W/2`` center square minus an ``overlap`` border (official train.lua)."""
    h, w = (size, size) if isinstance(size, int) else size
    (y0, y1), (x0, x1) = center_box(h, overlap), center_box(w, overlap)
    mask = torch.zeros(batch, 1, h, w, device=device)
    mask[:, :, y0:y1, x0:x1] = 1.0
    return mask


def _boxes_to_mask(top: Tensor, left: Tensor, height: int, width: int, size: tuple[int, int]) -> Tensor:
    h, w = size
    rows = torch.arange(h, device=top.device)
    cols = torch.arange(w, device=top.device)
    in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + height)  # [B, H]
    in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + width)  # [B, W]
    return (in_rows[:, :, None] & in_cols[:, None, :]).unsqueeze(1).float()


def random_block_mask(
    batch: int,
    size: int | tuple[int, int],
    block: int | tuple[int, int] | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One rectangular hole per image at a uniformly random position, fully inside the image.

    ``block`` defaults to half the image side (the area of the official center hole; EL's
    ``context_encoder`` also trains on random 64 px blocks of 128 px images).
    """
    h, w = (size, size) if isinstance(size, int) else size
    if block is None:
        block = (h // 2, w // 2)
    bh, bw = (block, block) if isinstance(block, int) else block
    if not (0 < bh <= h and 0 < bw <= w):
        raise ValueError(f"block {bh}x{bw} does not fit in a {h}x{w} image")
    top = torch.randint(0, h - bh + 1, (batch,), device=device, generator=generator)
    left = torch.randint(0, w - bw + 1, (batch,), device=device, generator=generator)
    return _boxes_to_mask(top, left, bh, bw, (h, w))


def region_pattern(
    side: int,
    res: float = REGION_RES,
    density: float = REGION_DENSITY,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """A ``[side, side]`` random-region pattern (1 = hole), as the big pattern of train_random.lua.

    Uniform noise with ``res`` cells per pixel is upscaled bicubically and thresholded at ``density``.
    The noise gets a 2-cell margin on each side that is cropped away, so the bicubic support never
    reaches a border.
    """
    step = 1.0 / res  # pixels per noise cell
    cells = math.ceil(side * res) + 4
    noise = torch.rand(1, 1, cells, cells, device=device, generator=generator)
    big = F.interpolate(noise, size=(round(cells * step),) * 2, mode="bicubic", align_corners=False)[0, 0]
    margin = round(2 * step)
    return (big[margin : margin + side, margin : margin + side] < density).float()


def random_region_mask(
    batch: int,
    size: int,
    coverage: tuple[float, float] = REGION_COVERAGE,
    res: float = REGION_RES,
    density: float = REGION_DENSITY,
    shared: bool = True,
    pattern_scale: int = 8,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random-region holes whose coverage lies in the open interval ``coverage`` (train_random.lua).

    As the official code, each mask is a ``size`` window of a larger thresholded-noise pattern, drawn
    uniformly among the windows whose hole coverage is inside the range. The official code builds one
    10000 px pattern per run and redraws windows until one fits (a host loop); here a
    ``pattern_scale * size`` pattern is drawn per call on the device, the coverage of *every* window
    is read from a summed-area table, and the window is sampled among the accepted ones with
    ``torch.multinomial``: the same distribution over windows, with no host synchronisation.
    ``shared=True`` uses one mask for the whole batch (official ``repeatTensor``); ``shared=False``
    draws one window per image from the same pattern.
    """
    lo, hi = coverage
    if not 0.0 <= lo < hi <= 1.0:
        raise ValueError(f"coverage must be 0 <= low < high <= 1, got {coverage}")
    side = pattern_scale * size
    pattern = region_pattern(side, res, density, device, generator)
    sat = F.pad(pattern.cumsum(0).cumsum(1), (1, 0, 1, 0))  # summed-area table, [side+1, side+1]
    n_pos = side - size + 1
    window_sum = sat[size:, size:] - sat[:n_pos, size:] - sat[size:, :n_pos] + sat[:n_pos, :n_pos]
    cover = window_sum / (size * size)  # [n_pos, n_pos]: coverage of the window at (top, left)
    accepted = ((cover > lo) & (cover < hi)).flatten().float()
    # if no window qualifies (never seen at 20-30 %), fall back to uniform positions rather than fail
    weights = accepted + 1e-12
    n = 1 if shared else batch
    pos = torch.multinomial(weights, n, replacement=True, generator=generator)  # [n]
    top, left = pos // n_pos, pos % n_pos
    rows = top[:, None] + torch.arange(size, device=pattern.device)[None, :]  # [n, size]
    cols = left[:, None] + torch.arange(size, device=pattern.device)[None, :]
    masks = pattern[rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # [n, 1, size, size]
    return masks.expand(batch, -1, -1, -1).contiguous() if shared else masks


def dilate(mask: Tensor, pixels: int) -> Tensor:
    """Square (Chebyshev) dilation of a ``[B, 1, H, W]`` mask by ``pixels``, without wrap-around."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * pixels + 1, stride=1, padding=pixels)


def fill_hole(image: Tensor, mask: Tensor, fill: Tensor | tuple[float, ...]) -> Tensor:
    """``image`` with the hole replaced by the per-channel ``fill`` value (official: the ImageNet mean)."""
    fill = torch.as_tensor(fill, dtype=image.dtype, device=image.device).view(1, -1, 1, 1)
    return torch.where(mask.bool(), fill, image)


def composite(prediction: Tensor, image: Tensor, mask: Tensor) -> Tensor:
    """Known pixels from ``image`` (bit-exact), hole pixels from ``prediction``."""
    return torch.where(mask.bool(), prediction, image)

"""Crops cut on the device by indexing: per-sample random crops (datamodules) and the shared-offset
local patches of EnlightenGAN's local discriminator.

Plain advanced indexing keeps the offsets on the device. kornia's ``crop_by_indices`` gives the same
pixels (checked in tests) but its eager path reads the box coordinates back to the host, a device
sync per batch that the training loop must not have.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor


def crop_at(
    x: Tensor, top: Tensor, left: Tensor, size: int | tuple[int, int], batch_index: Optional[Tensor] = None
) -> Tensor:
    """Crop ``x`` [B, C, H, W] at offsets ``top``/``left`` (int tensors [N] on x's device) to [N, C, h, w].

    Crop ``k`` comes from image ``batch_index[k]`` (default ``k``, so N = B); gradients flow to ``x``.
    """
    h, w = (size, size) if isinstance(size, int) else size
    n = top.shape[0]
    rows = top.view(n, 1, 1) + torch.arange(h, device=x.device).view(1, h, 1)
    cols = left.view(n, 1, 1) + torch.arange(w, device=x.device).view(1, 1, w)
    batch = (torch.arange(n, device=x.device) if batch_index is None else batch_index).view(n, 1, 1)
    return x[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # advanced indices first: [N, h, w, C]


def random_offsets(limit: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform integer offsets in ``[0, limit]`` (inclusive; ``limit`` an int tensor on the device)."""
    u = torch.rand(limit.shape, device=limit.device, generator=generator)
    return (u * (limit + 1).to(u.dtype)).long().clamp_(max=limit)


def random_crop(x: Tensor, size: int, valid_hw: Optional[Tensor] = None, generator: Optional[torch.Generator] = None) -> Tensor:
    """Independent uniform ``size`` x ``size`` crop of each image of ``x`` [B, C, H, W].

    ``valid_hw`` [B, 2] gives each image's own height/width when the batch was padded to a common size
    (variable-size photos); the crop stays inside the valid region. No host round trip.
    """
    b, _, H, W = x.shape
    if valid_hw is None:
        valid_hw = torch.tensor([H, W], device=x.device).expand(b, 2)
    limits = (valid_hw.to(x.device) - size).clamp_(min=0)
    top = random_offsets(limits[:, 0], generator)
    left = random_offsets(limits[:, 1], generator)
    return crop_at(x, top, left, size)


def shared_patch_offsets(height: int, width: int, size: int, n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """``n`` patch positions shared by the whole batch, as EnlightenGAN's ``SingleModel.forward``:
    ``random.randint(0, max(0, w - patchSize - 1))`` (inclusive, so the last position ``w - size`` is
    never drawn). Returns (tops [n], lefts [n]) on ``device``."""
    if size > height or size > width:
        raise ValueError(f"patch size {size} is larger than the image {height}x{width}; lower patch_size or raise crop_size")
    tops = torch.randint(0, max(1, height - size), (n,), device=device)
    lefts = torch.randint(0, max(1, width - size), (n,), device=device)
    return tops, lefts


def cut_patches(images: Sequence[Tensor], tops: Tensor, lefts: Tensor, size: int) -> list[Tensor]:
    """Cut the same ``n`` patches out of each tensor of ``images`` (all [B, C, H, W], same H, W).

    Patch ``i`` is at (``tops[i]``, ``lefts[i]``) in every image of every tensor, so a fake patch and
    the real/input patch of the same index cover the same position. Returns [n * B, C, size, size]
    tensors, patch-major (rows ``i * B .. (i + 1) * B - 1`` are patch ``i``).
    """
    b, n = images[0].shape[0], tops.shape[0]
    batch_index = torch.arange(b, device=tops.device).repeat(n)
    top, left = tops.repeat_interleave(b), lefts.repeat_interleave(b)
    return [crop_at(x, top, left, size, batch_index) for x in images]

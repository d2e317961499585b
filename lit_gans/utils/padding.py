"""Pad an image to a network's size multiple and crop the result back (predict on any size).

A U-Net with ``n`` stride-2 downsamplings needs sides divisible by ``2**n`` (junyanz issues #186, #1142,
#527: "Sizes of tensors must match" at test time on 700x1100 inputs). The image is
reflect-padded at the bottom and right to the next multiple, the network runs, and the output is cropped
to the input's own size.

Reflect padding in PyTorch needs ``pad < side``. When more is needed (a 100 px image for ``unet_256``,
multiple 256), the padding is applied in several reflect steps, which mirrors the image again and again
(the "symmetric tiling" a photo editor shows), never a constant border.
"""

from __future__ import annotations

from typing import Callable

import torch.nn.functional as F
from torch import Tensor


def pad_amount(size: int, multiple: int) -> int:
    """Pixels to add to ``size`` to reach the next multiple of ``multiple`` (0 when it already is one)."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    return (-size) % multiple


def reflect_pad_to(x: Tensor, height: int, width: int) -> Tensor:
    """Reflect-pad ``x`` [..., H, W] at the bottom/right to ``height`` x ``width`` (>= H, W)."""
    h, w = x.shape[-2:]
    if height < h or width < w:
        raise ValueError(f"target {height}x{width} is smaller than the image {h}x{w}")
    while x.shape[-2] < height or x.shape[-1] < width:
        ch, cw = x.shape[-2:]
        ph, pw = min(height - ch, ch - 1), min(width - cw, cw - 1)
        if ph == 0 and pw == 0:  # a 1-pixel side cannot be reflected: repeat it
            return F.pad(x, (0, width - cw, 0, height - ch), mode="replicate")
        x = F.pad(x, (0, pw, 0, ph), mode="reflect")
    return x


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad ``x`` [B, C, H, W] to sides that are multiples of ``multiple``; returns (padded, (H, W))."""
    h, w = x.shape[-2:]
    return reflect_pad_to(x, h + pad_amount(h, multiple), w + pad_amount(w, multiple)), (h, w)


def crop_to(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Top-left ``size`` crop of ``x`` [..., H, W] (undoes :func:`pad_to_multiple`)."""
    return x[..., : size[0], : size[1]]


def apply_padded(fn: Callable[[Tensor], Tensor], x: Tensor, multiple: int) -> Tensor:
    """``fn(x)`` for any input size: pad to ``multiple``, run, crop back (same-size image-to-image ``fn``)."""
    padded, size = pad_to_multiple(x, multiple)
    return crop_to(fn(padded), size)

"""Tiled inference for images too large for the device: bounded memory, overlapping tiles, feathered seams."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def _ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> Tensor:
    w = torch.ones(length)
    if overlap > 0:
        ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        n = min(overlap, length)
        if ramp_start:
            w[:n] = ramp[:n]
        if ramp_end:
            w[length - n:] = torch.minimum(w[length - n:], ramp[:n].flip(0))
    return w


@torch.no_grad()
def tiled_apply(
    fn: Callable[[Tensor], Tensor],
    image: Tensor,
    tile: int = 512,
    overlap: int = 32,
    scale: int = 1,
    device: torch.device | str | None = None,
) -> Tensor:
    """Apply an image-to-image ``fn`` to ``image`` [B, C, H, W] tile by tile.

    The image stays where it is (CPU for large photos: moving the whole image to the GPU first defeats
    tiling, xinntao/Real-ESRGAN#184); each ``tile`` x ``tile`` window (stride ``tile - overlap``) is moved to
    ``device``, processed, brought back and blended with weights that ramp linearly across the
    overlap, so seams are feathered. Output is [B, C', H*scale, W*scale]. When the image fits in one
    tile, the result equals ``fn(image)`` exactly.
    """
    if tile <= overlap:
        raise ValueError(f"tile ({tile}) must be larger than overlap ({overlap})")
    b, _, h, w = image.shape
    device = torch.device(device) if device is not None else image.device
    if h <= tile and w <= tile:
        return fn(image.to(device)).to(image.device)
    stride = tile - overlap
    ys, xs = _starts(h, tile, stride), _starts(w, tile, stride)
    out = weight = None
    for y in ys:
        for x in xs:
            patch = image[:, :, y : y + tile, x : x + tile].to(device)
            result = fn(patch).to(image.device, torch.float32)
            th, tw = result.shape[-2:]
            if out is None:
                out = torch.zeros(b, result.shape[1], h * scale, w * scale, dtype=torch.float32, device=image.device)
                weight = torch.zeros(1, 1, h * scale, w * scale, dtype=torch.float32, device=image.device)
            wy = _ramp(th, overlap * scale, y > 0, y + tile < h)
            wx = _ramp(tw, overlap * scale, x > 0, x + tile < w)
            wmap = (wy[:, None] * wx[None, :]).to(image.device)
            ys_, xs_ = y * scale, x * scale
            out[:, :, ys_ : ys_ + th, xs_ : xs_ + tw] += result * wmap
            weight[:, :, ys_ : ys_ + th, xs_ : xs_ + tw] += wmap
    return out / weight

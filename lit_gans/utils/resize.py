"""MATLAB-compatible bicubic resizing and 8-bit quantization: pure tensor functions.

:func:`imresize_bicubic` is MATLAB's ``imresize(x, 1/s, 'bicubic')`` (antialiased, cubic a = -0.5,
symmetric borders): the degradation that made DIV2K's ``LR_bicubic`` and the LR images of Set5/Set14/
BSD100/Urban100, and the "Bicubic" baseline of the papers when upscaling. PyTorch's antialiased bicubic
uses the same kernel; padding the input symmetrically by two kernel radii makes the borders match too
(max |difference| 3.6e-7 against BasicSR's NumPy port of MATLAB's ``imresize`` at x2, x3, x4, measured
on scikit-image's astronaut; pinned in ``tests/test_sr_metrics.py`` by hand-made cases).

The degradation of the super-resolution datamodules (``datamodules/super_resolution.py``) and the measurement
of ``lit_gans.metrics.sr`` (which re-exports both functions) use these, so a LR image made in training and the
"Bicubic" baseline of a test table come from one kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def quantize_8bit(x: Tensor) -> Tensor:
    """Clamp to [0, 1] and round to the nearest of the 256 levels an 8-bit PNG can store."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


# ----------------------------------------------------------------------------- MATLAB bicubic resize
def _symmetric_pad(x: Tensor, pad: int) -> Tensor:
    """Mirror padding that repeats the edge pixel (MATLAB imresize / NumPy 'symmetric')."""
    h, w = x.shape[-2:]
    if pad > min(h, w):
        raise ValueError(f"image {h}x{w} is too small for the bicubic resize (needs sides >= {pad})")
    x = torch.cat([x[..., :, :pad].flip(-1), x, x[..., :, w - pad:].flip(-1)], -1)
    return torch.cat([x[..., :pad, :].flip(-2), x, x[..., h - pad:, :].flip(-2)], -2)


def imresize_bicubic(x: Tensor, scale: float) -> Tensor:
    """MATLAB ``imresize(x, scale, 'bicubic')`` for an integer ``scale`` or its inverse ``1/s``.

    ``x``: [B, C, H, W] float. Downscaling by ``s`` (``scale = 1/s``) needs H and W divisible by ``s`` and
    gives exactly [H/s, W/s]; upscaling by ``s`` gives [H*s, W*s]. Values are not clamped.
    """
    x = x.float()
    h, w = x.shape[-2:]
    if scale >= 1:
        s = int(round(scale))
        if abs(scale - s) > 1e-9:
            raise ValueError(f"imresize_bicubic supports integer factors, got {scale}")
        pad = 2  # cubic support (2 px on each side) at the input resolution
        out = F.interpolate(_symmetric_pad(x, pad), scale_factor=s, mode="bicubic", antialias=True, align_corners=False)
        return out[..., pad * s : pad * s + h * s, pad * s : pad * s + w * s]
    s = int(round(1.0 / scale))
    if abs(1.0 / scale - s) > 1e-6:
        raise ValueError(f"imresize_bicubic supports 1/integer factors, got {scale}")
    if h % s or w % s:
        raise ValueError(f"downscaling by {s} needs sides divisible by {s}, got {h}x{w} (mod-crop the HR image first)")
    pad = 2 * s  # the antialiased kernel spans 2*s input pixels on each side
    out = F.interpolate(_symmetric_pad(x, pad), size=(h // s + 4, w // s + 4), mode="bicubic", antialias=True, align_corners=False)
    return out[..., 2 : 2 + h // s, 2 : 2 + w // s]

"""Image range helpers and PNG writing: one de-normalisation and one save path for the project."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from lit_gans.utils.files import atomic_path

from lit_gans.errors import UserError


class NonFiniteImagesError(UserError, ValueError):
    """Images (or their features) hold NaN or inf: the model that made them diverged. Raised by the metrics
    before a linear-algebra routine (FID's matrix square root, NIQE's pseudo-inverse) meets them."""




def to_unit_range(x: Tensor) -> Tensor:
    """Map a network image in [-1, 1] to [0, 1] (clamped), in fp32."""
    return ((x.float() + 1.0) * 0.5).clamp_(0.0, 1.0)


def from_unit_range(x: Tensor) -> Tensor:
    """Map [0, 1] images to the [-1, 1] range the networks use."""
    return x * 2.0 - 1.0


def check_unit_range(x: Tensor, name: str = "images") -> Tensor:
    """Raise if ``x`` is not a float tensor in [0, 1] (metrics' input contract: torchmetrics' FID reads
    [0, 1] floats with ``normalize=True``, torchmetrics issue #1244); NaN or inf raise ``NonFiniteImagesError``.

    This reads two values back to the host: call it in evaluation code, never in a training step.
    """
    if not x.dtype.is_floating_point:
        raise TypeError(f"{name}: expected a float tensor in [0, 1], got dtype {x.dtype}")
    check_finite(x, name)
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(
            f"{name}: expected values in [0, 1], got [{lo:.3f}, {hi:.3f}]; "
            "map generator outputs with lit_gans.utils.images.to_unit_range first"
        )
    return x


def check_finite(x: Tensor, name: str = "images") -> Tensor:
    """Raise :class:`NonFiniteImagesError` if ``x`` holds NaN or inf (one host read; evaluation code only).

    ``check_unit_range`` alone lets NaN through (every comparison with NaN is false), and FID's ``sqrtm`` then
    dies in LAPACK (``DGEBAL`` parameter error, a segfault on some builds) instead of saying what is wrong.
    """
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise NonFiniteImagesError(
            f"{name}: {bad} of {x.numel()} values are NaN or inf: the generator's output is not finite, so the model "
            "diverged (or its checkpoint holds non-finite weights); evaluate an earlier checkpoint, or lower the "
            "learning rate and train again"
        )
    return x


def tensor_to_pil(image: Tensor) -> Image.Image:
    """A [C, H, W] float tensor in [0, 1] (C = 1 or 3) to a PIL image (rounded to 8 bits)."""
    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"expected a [1|3, H, W] image tensor, got shape {tuple(image.shape)}")
    array = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
    array = array.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)


def save_png(image: Tensor, path: str | os.PathLike) -> Path:
    """Write a [C, H, W] image in [0, 1] as PNG atomically (temporary file, then rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tensor_to_pil(image).save(tmp, format="PNG")
    return path


def image_grid(images: Tensor, nrow: int = 8, padding: int = 2) -> Tensor:
    """Tile a [B, C, H, W] batch in [0, 1] into one [C, H', W'] grid."""
    from torchvision.utils import make_grid

    return make_grid(images.detach().float().cpu(), nrow=nrow, padding=padding, pad_value=1.0)


def pil_to_tensor(image: Image.Image) -> Tensor:
    """PIL image -> uint8 tensor [C, H, W] (no scaling; decoding workers return uint8)."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()

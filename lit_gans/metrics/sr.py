"""Super-resolution measurement by the SR community's protocol.

The protocol (SRGAN Sec. 3.1, ESRGAN Sec. 4.1, EDSR, RCAN, BasicSR ``basicsr/metrics/psnr_ssim.py`` with
``test_y_channel=True``):

* images are compared as 8-bit images (an SR output is saved as PNG before it is measured: BasicSR
  ``tensor2img`` rounds to uint8), so the output is clamped to [0, 1] and rounded to 1/255 steps
  (``quantize=True``);
* on the luma channel Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` computes it for [0, 1] input:
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` (on a 0..255 scale; [16, 235]);
* ``crop`` pixels (= the scale) removed from each border;
* PSNR with peak 255 (1 here), per image, then averaged over images (not the PSNR of a pooled MSE);
* SSIM of Wang et al. 2004 as MATLAB's ``ssim_index``: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03,
  the 'valid' part of the map only (torchmetrics' SSIM averages the reflect-padded border too, so it is
  not used here).

Everything runs in fp32 with autocast off. :class:`SRMetrics` keeps per-image values with the sample
index and drops duplicates before averaging, so the padding that ``DistributedSampler`` adds under DDP
(pytorch/pytorch#25162) does not count an image twice.

:func:`imresize_bicubic` (MATLAB's bicubic ``imresize``) and :func:`quantize_8bit` live in
:mod:`lit_gans.utils.resize` (the datamodules degrade with the same kernel) and are re-exported here.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from lit_gans.utils.resize import imresize_bicubic, quantize_8bit  # noqa: F401 - part of this module's API

#: MATLAB rgb2ycbcr, ITU-R BT.601 luma for RGB in [0, 1] giving Y on the 0..255 scale (offset 16).
Y_COEFFS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
_SSIM_K1, _SSIM_K2 = 0.01, 0.03  # Wang et al. 2004, Sec. III-C
_SSIM_SIGMA, _SSIM_SIZE = 1.5, 11  # Wang et al. 2004 / MATLAB ssim_index: fspecial('gaussian', 11, 1.5)


def rgb_to_y(x: Tensor) -> Tensor:
    """[B, 3, H, W] RGB in [0, 1] -> [B, 1, H, W] BT.601 Y in [16/255, 235/255] (MATLAB ``rgb2ycbcr``)."""
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"rgb_to_y expects [B, 3, H, W] RGB images, got shape {tuple(x.shape)}")
    w = torch.tensor(Y_COEFFS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (Y_OFFSET + (x * w).sum(1, keepdim=True)) / 255.0


def shave(x: Tensor, border: int) -> Tensor:
    """Remove ``border`` pixels from each side of the last two dimensions."""
    if border <= 0:
        return x
    if x.shape[-1] <= 2 * border or x.shape[-2] <= 2 * border:
        raise ValueError(f"image of size {tuple(x.shape[-2:])} is too small to crop {border} border pixels")
    return x[..., border:-border, border:-border]


def _prepare(sr: Tensor, hr: Tensor, crop: int, quantize: bool) -> tuple[Tensor, Tensor]:
    if sr.shape != hr.shape:
        raise ValueError(f"output and HR shapes differ: {tuple(sr.shape)} vs {tuple(hr.shape)}")
    sr, hr = sr.float(), hr.float()
    if quantize:
        sr, hr = quantize_8bit(sr), quantize_8bit(hr)
    if sr.shape[1] == 3:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    return shave(sr, crop), shave(hr, crop)


def psnr_y(sr: Tensor, hr: Tensor, crop: int = 0, quantize: bool = True) -> Tensor:
    """Per-image PSNR (dB) on Y with ``crop`` border pixels removed: [B]. Capped at 100 dB (MSE >= 1e-10)."""
    with torch.autocast(device_type=sr.device.type, enabled=False):
        a, b = _prepare(sr, hr, crop, quantize)
        mse = (a - b).pow(2).flatten(1).mean(1)
        return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def _gaussian_window(dtype: torch.dtype, device: torch.device) -> Tensor:
    r = torch.arange(_SSIM_SIZE, dtype=torch.float64) - (_SSIM_SIZE - 1) / 2
    g = torch.exp(-(r**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).to(dtype=dtype, device=device).view(1, 1, _SSIM_SIZE, _SSIM_SIZE)


def ssim_y(sr: Tensor, hr: Tensor, crop: int = 0, quantize: bool = True) -> Tensor:
    """Per-image SSIM on Y (MATLAB ``ssim_index`` settings, 'valid' window positions only): [B].

    For 3-channel input the Y channel is used; a 1-channel input is taken as is.
    """
    with torch.autocast(device_type=sr.device.type, enabled=False):
        a, b = _prepare(sr, hr, crop, quantize)
        if a.shape[-1] < _SSIM_SIZE or a.shape[-2] < _SSIM_SIZE:
            raise ValueError(f"SSIM needs at least {_SSIM_SIZE}x{_SSIM_SIZE} pixels after cropping, got {tuple(a.shape[-2:])}")
        c1, c2 = _SSIM_K1**2, _SSIM_K2**2  # data range 1
        win = _gaussian_window(a.dtype, a.device)
        mu_a, mu_b = F.conv2d(a, win), F.conv2d(b, win)
        var_a = F.conv2d(a * a, win) - mu_a**2
        var_b = F.conv2d(b * b, win) - mu_b**2
        cov = F.conv2d(a * b, win) - mu_a * mu_b
        ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        return ssim_map.flatten(1).mean(1)


# ----------------------------------------------------------------------------- metric with DDP states
class SRMetrics(Metric):
    """Average per-image PSNR-Y and SSIM-Y over a dataset, DDP-correct.

    ``update(sr, hr, index)`` stores one value per image with its dataset index ("cat" states, gathered
    across ranks by torchmetrics); ``compute()`` drops repeated indices (DistributedSampler padding)
    and returns ``{"psnr_y": ..., "ssim_y": ...}``. Without ``index`` nothing is de-duplicated.

    Args:
        crop: border pixels removed before measuring (= the scale, by the protocol).
        quantize: measure 8-bit images (True, the protocol).
        ssim: also compute SSIM (costs a few convolutions per image).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, crop: int = 4, quantize: bool = True, ssim: bool = True, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.crop, self.quantize, self.with_ssim = crop, quantize, ssim
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self.add_state("psnr", default=[], dist_reduce_fx="cat")
        self.add_state("ssim", default=[], dist_reduce_fx="cat")

    def update(self, sr: Tensor, hr: Tensor, index: Optional[Tensor] = None) -> None:  # type: ignore[override]
        p = psnr_y(sr, hr, self.crop, self.quantize)
        s = ssim_y(sr, hr, self.crop, self.quantize) if self.with_ssim else torch.full_like(p, math.nan)
        idx = index.reshape(-1).to(p.device, torch.long) if index is not None else torch.full_like(p, -1, dtype=torch.long)
        self.index.append(idx)
        self.psnr.append(p)
        self.ssim.append(s)

    def compute(self) -> dict[str, Tensor]:
        def cat(x):  # noqa: ANN001, ANN202  (a list before sync on one process, a tensor after)
            return torch.cat(x) if isinstance(x, list) else x

        index, psnr, ssim = cat(self.index), cat(self.psnr), cat(self.ssim)
        if index.numel() == 0:
            nan = torch.tensor(math.nan, device=self.device)
            return {"psnr_y": nan, "ssim_y": nan}
        order = torch.argsort(index, stable=True)
        sorted_idx = index[order]
        keep = torch.ones_like(sorted_idx, dtype=torch.bool)
        keep[1:] = (sorted_idx[1:] != sorted_idx[:-1]) | (sorted_idx[1:] < 0)
        keep = order[keep]
        return {"psnr_y": psnr[keep].mean(), "ssim_y": ssim[keep].mean()}


def build_lpips(net: str = "alex") -> Metric:
    """torchmetrics LPIPS (inputs in [0, 1]); a clear error when its backbone weights cannot be had.

    torchmetrics ships the linear heads but takes the AlexNet/VGG/SqueezeNet backbone from torchvision's
    download cache (torchmetrics' LPIPS loads torchvision's AlexNet in its constructor), so offline it needs that file placed in the cache beforehand.
    """
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity
    except ImportError as err:  # pragma: no cover - torchmetrics without image extras
        raise ImportError("LPIPS needs torchmetrics' image extras: pip install 'torchmetrics[image]'") from err
    try:
        return LearnedPerceptualImagePatchSimilarity(net_type=net, normalize=True)
    except Exception as err:  # URLError offline
        raise RuntimeError(
            f"LPIPS({net}) needs torchvision's ImageNet {net} weights, which are not in the torch hub cache and cannot "
            f"be downloaded here ({err.__class__.__name__}: {err}). On a machine with network access run "
            f"`python -c \"from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity as L; L('{net}')\"` "
            "and copy ~/.cache/torch/hub/checkpoints/ to this machine (or set TORCH_HOME); or set lpips: false."
        ) from err

"""Image-quality metrics over the hole of an inpainting mask only: L1, L2, PSNR, SSIM.

Context Encoders (Pathak et al. 2016, Table 1) report mean L1 loss, mean L2 loss and PSNR on the
hole of held-out Paris StreetView images. Here every metric is computed per image over the hole
pixels (mask = 1, all channels), then averaged over images. Inputs are float images in [0, 1] and
masks ``[B, 1, H, W]`` with 1 = hole (``lit_gans.utils.masks``).

* L1 = mean |x - y| over the hole; L2 = mean (x - y)^2 over the hole (the paper prints both as %).
* PSNR = 10 log10(1 / L2) per image (data range 1).
* SSIM: the usual SSIM map (Wang et al. 2004: 11-tap Gaussian window, sigma 1.5, K1 = 0.01,
  K2 = 0.03; ``kornia.metrics.ssim`` with reflect padding), averaged over the hole pixels. Windows
  near the hole border also see known pixels, as in any region-restricted SSIM.

``MaskedImageMetrics`` accumulates sums as a torchmetrics ``Metric``, so values are reduced across
DDP ranks correctly.
"""

from __future__ import annotations

import kornia
import torch
from torch import Tensor
from torchmetrics import Metric

SSIM_WINDOW = 11  # Wang et al. 2004, Sec. III-C: 11x11 Gaussian, sigma 1.5


def _check(pred: Tensor, target: Tensor, mask: Tensor) -> None:
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must be equal [B, C, H, W]")
    if mask.shape != (pred.shape[0], 1, *pred.shape[-2:]):
        raise ValueError(f"mask {tuple(mask.shape)} must be [B, 1, H, W] for images {tuple(pred.shape)}")


def _hole_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean of ``values`` [B, C, H, W] over the hole, ``[B]`` (0 for an empty hole)."""
    weight = mask.to(values.dtype).expand_as(values)
    return (values * weight).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3)).clamp_min(1.0)


def hole_l1(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean absolute error over the hole, ``[B]``."""
    _check(pred, target, mask)
    return _hole_mean((pred.float() - target.float()).abs(), mask)


def hole_l2(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Per-image mean squared error over the hole, ``[B]``."""
    _check(pred, target, mask)
    return _hole_mean((pred.float() - target.float()).square(), mask)


def hole_psnr(pred: Tensor, target: Tensor, mask: Tensor, eps: float = 1e-10) -> Tensor:
    """Per-image PSNR (dB, data range 1) over the hole, ``[B]``."""
    return -10.0 * torch.log10(hole_l2(pred, target, mask) + eps)


def hole_ssim(pred: Tensor, target: Tensor, mask: Tensor, window_size: int = SSIM_WINDOW) -> Tensor:
    """Per-image mean of the SSIM map over the hole, ``[B]`` (images larger than ``window_size // 2``)."""
    _check(pred, target, mask)
    with torch.autocast(device_type=pred.device.type, enabled=False):  # fp32 inside a bf16-mixed validation step
        ssim_map = kornia.metrics.ssim(pred.float(), target.float(), window_size, max_val=1.0)
    return _hole_mean(ssim_map, mask)


class MaskedImageMetrics(Metric):
    """Running means of hole L1, L2, PSNR and SSIM over images; ``compute()`` returns a dict.

    Every image counts once (per-image metric, then a mean over images), whatever the hole size.
    """

    full_state_update = False
    higher_is_better = None

    def __init__(self, window_size: int = SSIM_WINDOW) -> None:
        super().__init__()
        self.window_size = window_size
        for name in ("l1", "l2", "psnr", "ssim", "count"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, pred: Tensor, target: Tensor, mask: Tensor) -> None:  # type: ignore[override]
        self.l1 += hole_l1(pred, target, mask).double().sum()
        self.l2 += hole_l2(pred, target, mask).double().sum()
        self.psnr += hole_psnr(pred, target, mask).double().sum()
        self.ssim += hole_ssim(pred, target, mask, self.window_size).double().sum()
        self.count += pred.shape[0]

    def compute(self) -> dict[str, Tensor]:  # type: ignore[override]
        n = self.count.clamp_min(1.0)
        return {k: (getattr(self, k) / n).float() for k in ("l1", "l2", "psnr", "ssim")}

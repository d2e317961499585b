"""Paired image-to-image metrics (pix2pix, colorization): PSNR and SSIM on RGB, the L1 on ab.

* PSNR and SSIM come from torchmetrics' functional API (``peak_signal_noise_ratio`` with
  ``data_range=1``, per image over C, H, W; ``structural_similarity_index_measure`` with its defaults:
  Gaussian 11x11 window, sigma 1.5, K = (0.01, 0.03)), on RGB images in [0, 1], averaged over images.
* ``ab_l1``: mean |ab_fake - ab_real| in the normalised ab units (ab/110) of the colorization models, per
  image then averaged; multiply by 110 for a*b* units.
* Everything in fp32 with autocast off.
* DDP: one value per image is kept with its dataset index ("cat" states gathered across ranks);
  ``compute`` drops repeated indices, so the samples that ``DistributedSampler`` pads to even out the
  ranks are not counted twice (pytorch/pytorch#25162, Lightning-AI/pytorch-lightning#4732).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr_per_image(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR (dB) of each image [B] for images in [0, 1] (torchmetrics, ``data_range=1``)."""
    return peak_signal_noise_ratio(pred, target, data_range=1.0, reduction="none", dim=(1, 2, 3))


def ssim_per_image(pred: Tensor, target: Tensor) -> Tensor:
    """SSIM of each image [B] for images in [0, 1] (torchmetrics defaults, ``data_range=1``)."""
    return structural_similarity_index_measure(pred, target, data_range=1.0, reduction="none")


def dedup_mask(index: Tensor) -> Tensor:
    """Positions to keep so that each non-negative index counts once (negative indices are all kept)."""
    order = torch.argsort(index, stable=True)
    sorted_idx = index[order]
    keep = torch.ones_like(sorted_idx, dtype=torch.bool)
    keep[1:] = (sorted_idx[1:] != sorted_idx[:-1]) | (sorted_idx[1:] < 0)
    return order[keep]


class PairedImageMetrics(Metric):
    """Dataset averages of per-image PSNR and SSIM on RGB (and ab L1 for colorization), DDP-correct.

    ``update(pred_rgb, target_rgb, index=None, pred_ab=None, target_ab=None)``; ``compute()`` returns
    ``{"psnr", "ssim"}`` and ``"ab_l1"`` when ab was given.

    Args:
        ssim: also compute SSIM (a few convolutions per image; images must be at least 11x11).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, ssim: bool = True, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self.with_ssim = ssim
        for name in ("index", "psnr", "ssim", "ab_l1"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(  # type: ignore[override]
        self,
        pred: Tensor,
        target: Tensor,
        index: Optional[Tensor] = None,
        pred_ab: Optional[Tensor] = None,
        target_ab: Optional[Tensor] = None,
    ) -> None:
        if pred.shape != target.shape:
            raise ValueError(f"prediction and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        with torch.autocast(device_type=pred.device.type, enabled=False):
            pred, target = pred.float().clamp(0, 1), target.float().clamp(0, 1)
            p = psnr_per_image(pred, target)
            s = ssim_per_image(pred, target) if self.with_ssim else torch.full_like(p, math.nan)
            if pred_ab is not None and target_ab is not None:
                ab = (pred_ab.float() - target_ab.float()).abs().flatten(1).mean(1)
            else:
                ab = torch.full_like(p, math.nan)
        idx = index.reshape(-1).to(p.device, torch.long) if index is not None else torch.full_like(p, -1, dtype=torch.long)
        self.index.append(idx)
        self.psnr.append(p)
        self.ssim.append(s)
        self.ab_l1.append(ab)

    def compute(self) -> dict[str, Tensor]:
        def cat(x):  # noqa: ANN001, ANN202  (a list on one process, a tensor after a sync)
            return torch.cat(x) if isinstance(x, list) else x

        index = cat(self.index)
        if index.numel() == 0:
            nan = torch.tensor(math.nan, device=self.device)
            return {"psnr": nan, "ssim": nan}
        keep = dedup_mask(index)
        out = {"psnr": cat(self.psnr)[keep].mean(), "ssim": cat(self.ssim)[keep].mean()}
        ab = cat(self.ab_l1)[keep]
        if not torch.isnan(ab).all():
            out["ab_l1"] = ab.mean()
        return out

"""Reconstruction losses as pure functions (tensors in, scalar out).

Masks follow ``lit_gans.utils.masks``: ``[B, 1, H, W]``, 1 = hole.
"""

from __future__ import annotations

from torch import Tensor

from lit_gans.utils.masks import dilate

OVERLAP_WEIGHT = 10.0  # pathak22/context-encoder train.lua: `local overlapL2Weight = 10`


def overlap_weights(
    hole: Tensor, overlap: int, overlap_weight: float = OVERLAP_WEIGHT, context_weight: float = 0.0
) -> Tensor:
    """Per-pixel weights of the Context Encoder reconstruction loss, ``[B, 1, H, W]``.

    1 in the hole; ``overlap_weight`` on the known pixels within ``overlap`` px of the hole (square
    dilation); ``context_weight`` on the other known pixels.

    * train.lua (center hole): the predicted 64 px patch is the 56 px hole plus a 4 px known border, and
      ``wtl2Matrix`` is ``10 * wtl2`` there and ``wtl2`` in the hole. On the patch, with ``overlap`` >= 4,
      this function gives exactly that matrix divided by ``wtl2``.
    * train_random.lua (whole image): ``useOverlapPred=1`` puts 10x on *every* known pixel, i.e.
      ``overlap_weight = context_weight = 10``; the README command (``useOverlapPred=0``) weighs all
      pixels 1: ``overlap_weight = context_weight = 1``.
    """
    hole = hole.float()
    band = dilate(hole, overlap) - hole
    context = 1.0 - hole - band
    return hole + overlap_weight * band + context_weight * context


def masked_l2(
    pred: Tensor,
    target: Tensor,
    hole: Tensor,
    overlap: int = 4,
    overlap_weight: float = OVERLAP_WEIGHT,
    context_weight: float = 0.0,
) -> Tensor:
    """Weighted squared error ``sum(W * (pred - target)^2) / pred.numel()``.

    ``W`` is :func:`overlap_weights` broadcast over channels. The normalisation by the number of
    predicted elements is that of the official ``nn.MSECriterion`` (size-averaged), whose gradient
    train.lua multiplies element-wise by ``wtl2Matrix``; so ``wtl2 * masked_l2`` has the official
    gradient. ``overlap = 4``: the README's ``overlapPred=4``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if hole.shape[0] != pred.shape[0] or hole.shape[1] != 1 or hole.shape[-2:] != pred.shape[-2:]:
        raise ValueError(f"hole mask {tuple(hole.shape)} must be [B, 1, H, W] for pred {tuple(pred.shape)}")
    weights = overlap_weights(hole, overlap, overlap_weight, context_weight).to(pred.dtype)
    return (weights * (pred - target).square()).sum() / pred.numel()

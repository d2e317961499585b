"""Exponential moving average of a network's weights (Karras et al. 2018 / 2019 "G_smoothing")."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(module: nn.Module) -> nn.Module:
    """A frozen deep copy of ``module`` in eval mode, to be updated with :func:`ema_update`."""
    ema = copy.deepcopy(module).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def ema_update(ema: nn.Module, module: nn.Module, decay: float) -> None:
    """``ema = decay * ema + (1 - decay) * module`` for floating parameters; buffers are copied.

    One fused ``_foreach_lerp_`` on the device: no host synchronisation.
    """
    ema_params = [p for p in ema.parameters() if p.dtype.is_floating_point]
    params = [p.detach() for p in module.parameters() if p.dtype.is_floating_point]
    if ema_params:
        torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), module.buffers()):
        b_ema.copy_(b)

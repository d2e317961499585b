"""Regularisers of the discriminator/critic."""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    weight: float = 10.0,
    target: float = 1.0,
) -> Tensor:
    """WGAN-GP penalty ``weight * E[(||grad_x D(x_hat)||_2 - target)^2]`` (Gulrajani et al. 2017, Alg. 1).

    ``x_hat`` interpolates real and fake with one alpha ~ U[0, 1] **per sample**, and the norm is taken
    over all of a sample's dimensions (flattened), not over dim 1 only (a known bug of popular repos,
    eriklindernoren/PyTorch-GAN#20). ``create_graph=True`` so the penalty's own gradient reaches the critic; it uses
    ``torch.autograd.grad`` out of place, which is DDP-safe (pytorch #63812). Computed in fp32.
    ``weight`` defaults to lambda = 10 (Gulrajani et al. 2017; ProGAN config.py uses the same).
    ``target`` 1.0 is the paper's; ProGAN's official ``wgan_target`` is 1.0 too.
    """
    real, fake = real.detach().float(), fake.detach().float()
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real + (1.0 - alpha) * fake).requires_grad_(True)
    # Autocast off for the critic AND the gradient: with create_graph=True the backward formulas are recorded as
    # ordinary ops, and under an active autocast their matmuls/convolutions would run in bf16/fp16.
    with torch.autocast(device_type=real.device.type, enabled=False):
        out = critic(x_hat)
        (grad,) = torch.autograd.grad(out.float().sum(), x_hat, create_graph=True)
        norm = grad.flatten(1).norm(2, dim=1)
        return weight * ((norm - target) ** 2).mean()


def drift_penalty(real_out: Tensor, weight: float = 1e-3) -> Tensor:
    """ProGAN's drift term ``epsilon * E[D(x)^2]`` that keeps critic values near 0.

    epsilon = 0.001: Karras et al. 2018, Sec. A.1, official config.py ``iwass_epsilon``. The official
    code applies it to D(real) only (mmagic's 0.5*(D(fake)^2 + D(real)^2) deviates).
    """
    return weight * (real_out.float() ** 2).mean()

"""Adversarial losses as small pure functions.

Conventions (one for the whole project):

* Inputs are raw discriminator outputs (logits / critic values) of any shape; every loss is a mean
  over all elements, so a PatchGAN map and a scalar critic are treated alike.
* ``d_<kind>(real, fake)`` returns the **sum** of the real-sample term and the fake-sample term, the
  textbook value of the discriminator objective. A model multiplies by 0.5 where its official code
  does (pix2pix/CycleGAN, EnlightenGAN, BasicSR's ESRGAN), and says so next to the factor.
* ``g_<kind>(fake[, real])`` is the generator's objective.

References: Goodfellow et al. 2014 (vanilla, non-saturating G loss, Sec. 3); Mao et al. 2017 (LSGAN,
a=0, b=c=1); Arjovsky et al. 2017 (WGAN); Lim & Ye 2017 / Miyato et al. 2018 (hinge);
Jolicoeur-Martineau 2019 (relativistic average GAN, RaGAN and RaLSGAN).
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def _bce(logits: Tensor, target: float) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def _mse(pred: Tensor, target: float) -> Tensor:
    return F.mse_loss(pred, torch.full_like(pred, target))


# --- vanilla GAN on logits (numerically safe BCE-with-logits; never Sigmoid + BCELoss) -------------
def d_vanilla(real: Tensor, fake: Tensor) -> Tensor:
    """-log D(x) - log(1 - D(G(z))), with D = sigmoid(logits)."""
    return _bce(real, 1.0) + _bce(fake, 0.0)


def g_vanilla(fake: Tensor) -> Tensor:
    """Non-saturating generator loss -log D(G(z)) (Goodfellow et al. 2014, Sec. 3)."""
    return _bce(fake, 1.0)


# --- least squares GAN (a=0 for fake, b=1 for real, c=1 for G) -------------------------------------
def d_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    return _mse(real, 1.0) + _mse(fake, 0.0)


def g_lsgan(fake: Tensor) -> Tensor:
    return _mse(fake, 1.0)


# --- Wasserstein (critic values) --------------------------------------------------------------------
def d_wgan(real: Tensor, fake: Tensor) -> Tensor:
    """Critic minimises E[D(G(z))] - E[D(x)], the negative Wasserstein estimate."""
    return fake.mean() - real.mean()


def g_wgan(fake: Tensor) -> Tensor:
    return -fake.mean()


# --- hinge ------------------------------------------------------------------------------------------
def d_hinge(real: Tensor, fake: Tensor) -> Tensor:
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def g_hinge(fake: Tensor) -> Tensor:
    return -fake.mean()


# --- relativistic average (Jolicoeur-Martineau 2019) -----------------------------------------------
def d_relativistic(real: Tensor, fake: Tensor) -> Tensor:
    """RaGAN: BCE(D(x) - E[D(G(z))], 1) + BCE(D(G(z)) - E[D(x)], 0)."""
    return _bce(real - fake.mean(), 1.0) + _bce(fake - real.mean(), 0.0)


def g_relativistic(fake: Tensor, real: Tensor) -> Tensor:
    """RaGAN generator: the symmetric form, BCE(D(x) - E[D(G(z))], 0) + BCE(D(G(z)) - E[D(x)], 1).

    ``real`` must be computed by the discriminator in the generator step too (it carries no gradient
    to G, but the relativistic comparison needs it); pass it detached to save memory.
    """
    return _bce(real - fake.mean(), 0.0) + _bce(fake - real.mean(), 1.0)


def d_relativistic_lsgan(real: Tensor, fake: Tensor) -> Tensor:
    """RaLSGAN: (D(x) - E[D(G(z))] - 1)^2 + (D(G(z)) - E[D(x)])^2, each a mean."""
    return _mse(real - fake.mean(), 1.0) + _mse(fake - real.mean(), 0.0)


def g_relativistic_lsgan(fake: Tensor, real: Tensor) -> Tensor:
    """RaLSGAN generator: (D(x) - E[D(G(z))])^2 + (D(G(z)) - E[D(x)] - 1)^2."""
    return _mse(real - fake.mean(), 0.0) + _mse(fake - real.mean(), 1.0)


GanLoss = Literal["vanilla", "lsgan", "wgan", "hinge", "relativistic", "relativistic_lsgan"]

#: name -> (discriminator loss, generator loss). Relativistic G losses take ``(fake, real)``.
GAN_LOSSES: dict[str, tuple[Callable[..., Tensor], Callable[..., Tensor]]] = {
    "vanilla": (d_vanilla, g_vanilla),
    "lsgan": (d_lsgan, g_lsgan),
    "wgan": (d_wgan, g_wgan),
    "hinge": (d_hinge, g_hinge),
    "relativistic": (d_relativistic, g_relativistic),
    "relativistic_lsgan": (d_relativistic_lsgan, g_relativistic_lsgan),
}

RELATIVISTIC = frozenset({"relativistic", "relativistic_lsgan"})

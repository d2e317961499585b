"""LSGAN: least squares GAN (Mao et al. 2017, "Least Squares Generative Adversarial Networks", ICCV;
arXiv:1611.04076).

The discriminator regresses its raw (linear) output onto target codes instead of classifying with a sigmoid:

    min_D  1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]        min_G  1/2 E[(D(G(z)) - c)^2]

with the 0-1 coding ``a = 0`` (fake), ``b = 1`` (real), ``c = 1`` (G wants fakes called real): the paper's
Eq. (9), the one its experiments use, and the official code's ``loss_l2`` (xudonmao/LSGAN ``vgg.py``:
``tf.nn.l2_loss(D_logits_real - 1)``, ``tf.nn.l2_loss(D_logits_fake - 0)``, G: ``tf.nn.l2_loss(D_logits_fake - 1)``,
on the logits, no sigmoid). This is ``gan_loss="lsgan"`` of :mod:`lit_gans.losses.adversarial`
(``d_lsgan``/``g_lsgan``). Deviations, both scale only: the project's losses are means over the batch without the
1/2 (the official ``tf.nn.l2_loss`` is half a sum over the batch); Adam normalises the gradient scale away up to
its epsilon.

Official optimizer (xudonmao/LSGAN ``train_lsun.py``): Adam lr 1e-3, beta1 0.5 for G and D, batch 64, one D step
then one G step. The paper's networks (112x112 LSUN, 3x3 deconvolutions, z of 1024 uniform in [-1, 1]) are not
reproduced: ``experiments/lsgan_digits.yaml`` trains the project's 32x32 DCGAN networks with z ~ N(0, I), as
``experiments/dcgan_digits.yaml`` does.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lit_gans.losses.adversarial import GanLoss
from lit_gans.models.noise import NoiseGAN


class LSGAN(NoiseGAN):
    """LSGAN (Mao et al. 2017): least squares adversarial loss with a = 0, b = c = 1 (module docstring).

    Args:
        generator, discriminator: as :class:`lit_gans.models.noise.NoiseGAN` (D returns raw outputs, no sigmoid).
        gan_loss: ``"lsgan"`` (the paper); the other values of ``lit_gans.losses.adversarial`` are accepted for
            comparisons on the same networks.
        **kwargs: :class:`~lit_gans.models.noise.NoiseGAN` and ``GANModule`` options (optimizers: the official
            Adam lr 1e-3, beta1 0.5 go in the YAML).
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, gan_loss: GanLoss = "lsgan", **kwargs: Any) -> None:
        super().__init__(generator, discriminator, gan_loss=gan_loss, **kwargs)

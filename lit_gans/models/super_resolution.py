"""Single-image super-resolution: PSNR-oriented pretraining, SRGAN and ESRGAN.

* SRGAN: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
  Network", CVPR 2017, https://arxiv.org/abs/1609.04802 (no official code).
* ESRGAN: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV-W 2018,
  https://arxiv.org/abs/1809.00219; official code xinntao/ESRGAN (test, network interpolation) and
  XPixelGroup/BasicSR (training: ``basicsr/models/esrgan_model.py``, ``options/train/ESRGAN/*.yml``), the
  tie-breaker where paper and code differ.

Modules (each a two-stage recipe's stage; the second starts from the first with ``generator_ckpt``):

* :class:`SRPretrain`: generator only, pixel loss, on the core's ``GeneratorOnly``. SRResNet with MSE (SRGAN
  Sec. 3.2: Adam 1e-4, beta1 0.9, 1e6 iterations) or RRDBNet with L1 (BasicSR
  ``train_RRDBNet_PSNR_x4.yml``: Adam 2e-4 (0.9, 0.99), cosine restarts every 250k iterations to 1e-7,
  1e6 iterations, EMA 0.999).
* :class:`SRGAN`: SRResNet + the paper's discriminator; ``l = l_VGG54 + 1e-3 l_adv`` (Eq. 3), the VGG loss
  being the MSE of VGG19 ``relu5_4`` features rescaled by 1/12.75 (Sec. 3.2 / Sec. 2.2.1); vanilla GAN
  (non-saturating G loss, Eq. 6); Adam 1e-4, beta1 0.9; 1e5 iterations at 1e-4 then 1e5 at 1e-5 (Sec. 3.2).
* :class:`ESRGAN`: RRDBNet + VGGStyleDiscriminator (128 px); ``L_G = L_percep + 5e-3 L_G^Ra + 1e-2 L_1``
  (Eq. 3) with the perceptual loss = L1 of VGG19 ``conv5_4`` features *before* activation (Sec. 3.3);
  relativistic average GAN (Eq. 1-2); Adam 1e-4 (0.9, 0.99) for both; LR halved at 50k, 100k, 200k, 300k of
  400k iterations; generator EMA 0.999 (BasicSR ``train_ESRGAN_x4.yml``). G step before the D step, as
  BasicSR's ``ESRGANModel.optimize_parameters``; both terms of each relativistic loss halved as there.

Paper-to-code names: ``I^LR`` = ``batch["lr"]``, ``I^HR`` = ``batch["hr"]``, ``G_theta(I^LR)`` = ``out["fake"]``,
``phi_{5,4}`` = ``VGGFeatures(layers=["relu5_4"])`` (SRGAN) / ``["conv5_4"]`` (ESRGAN).

Deviations (on purpose):

* ESRGAN D loss: BasicSR back-propagates the real and the fake half separately and detaches the other
  batch's mean in each (their comment: to avoid an in-place BatchNorm error under their DDP); here the
  paper's Eq. (2) is back-propagated as one loss (``d_relativistic``), so gradients also flow through the
  means. Same value; slightly different D gradient.
* SRGAN's VGG is torchvision's VGG19 with its ImageNet normalisation; the paper used the Caffe VGG19 on
  mean-subtracted 0..255 input, so feature magnitudes (and what 1/12.75 balances) differ.
* SRGAN: images in [0, 1] for LR and HR (paper: HR in [-1, 1]); the generator output is linear.

Scale: ``generator.scale`` is the one value. The datamodule, the metrics' border crop and the tiling read it.
"""

from __future__ import annotations

import sys
from functools import partial
from typing import Any, Callable, Iterable, Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_gans.evaluation import EvaluationMixin
from lit_gans.evaluation.super_resolution import SuperResolutionEvaluation, run_generator  # noqa: F401  (public here too)
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.models.base import GANModule, GeneratorOnly, StepLogs
from lit_gans.networks.vgg import VGGFeatures
from lit_gans.errors import ConfigError, MissingFileError
from lit_gans.io.checkpoints import load_weights_into
from lit_gans.run._lightning import attached_trainer

# SRGAN (Ledig et al. 2017)
SRGAN_LR = 1e-4  # Sec. 3.2: "learning rate of 10^-4"; SRResNet and SRGAN alike
SRGAN_BETAS = (0.9, 0.999)  # Sec. 3.2: Adam with beta1 = 0.9 (beta2: Adam's default)
SRGAN_CONTENT_SCALE = 1.0 / 12.75  # Sec. 3.2: VGG losses "rescaled by a factor of 1/12.75"
SRGAN_ADV_WEIGHT = 1e-3  # Eq. (3): l^SR = l_X^SR + 10^-3 l_Gen^SR
# ESRGAN (BasicSR options/train/ESRGAN/train_ESRGAN_x4.yml; the paper's Sec. 4.1 agrees)
ESRGAN_LR = 1e-4  # optim_g / optim_d lr
ESRGAN_BETAS = (0.9, 0.99)  # optim_g / optim_d betas
ESRGAN_PIXEL_WEIGHT = 1e-2  # pixel_opt: L1Loss, loss_weight 1e-2 (eta in Eq. 3)
ESRGAN_PERCEPTUAL_WEIGHT = 1.0  # perceptual_opt: layer_weights conv5_4: 1, perceptual_weight 1.0, criterion l1
ESRGAN_GAN_WEIGHT = 5e-3  # gan_opt: loss_weight 5e-3 (lambda in Eq. 3)
ESRGAN_RELATIVISTIC_FACTOR = 0.5  # esrgan_model.py: l_g_gan = (l_g_real + l_g_fake) / 2; l_d_* * 0.5
# PSNR-oriented pretraining
RRDB_PSNR_LR = 2e-4  # BasicSR train_RRDBNet_PSNR_x4.yml: optim_g lr 2e-4, betas (0.9, 0.99)
RRDB_PSNR_BETAS = (0.9, 0.99)


# ----------------------------------------------------------------------------- shared SR behaviour
class _SuperResolution(EvaluationMixin):
    """The scale, the SR protocol (:class:`lit_gans.evaluation.super_resolution.SuperResolutionEvaluation`:
    validation, ``test``, prediction, sample grids) and the data check shared by the three modules (a mixin in
    front of a LightningModule that has ``generator`` and ``sampling_generator``)."""
    batch_keys = {"fit": ("lr", "hr"), "test": ("lr", "hr", "index"), "predict": ("image",)}  # lit_gans.utils.batches

    generator: nn.Module
    scale: int

    def _init_sr(self, generator: nn.Module, tile: Optional[int], tile_overlap: int, num_sample_images: int, lpips: bool) -> None:
        scale = getattr(generator, "scale", None)
        if scale is None:
            raise ConfigError(f"{type(generator).__name__} has no `scale` attribute; SR models need it")
        self.scale = int(scale)
        self.evaluation = SuperResolutionEvaluation(self, tile, tile_overlap, num_sample_images, lpips)

    @torch.no_grad()
    def super_resolve(self, lr: Tensor, net: Optional[nn.Module] = None) -> Tensor:
        """Upscale ``lr`` [B, 3, h, w] in [0, 1] by ``scale`` (whole images, or in tiles with ``tile``)."""
        return self.evaluation.upscale(lr, net)

    def _check_data(self) -> None:
        trainer = attached_trainer(self)
        dm = trainer.datamodule if trainer is not None else None
        if dm is not None and hasattr(dm, "follow_scale"):
            dm.follow_scale(self.scale)  # the generator's scale is the one value; the datamodule builds its sets at it
        disc = getattr(self, "discriminator", None)
        crop = getattr(dm, "hr_crop", None)
        size = getattr(disc, "input_size", None)
        if crop is not None and size is not None and crop != size:
            raise ConfigError(
                f"the discriminator takes {size} px HR crops but the datamodule makes {crop} px crops; set "
                f"--data.init_args.hr_crop={size} or the discriminator's input_size to {crop}"
            )


def _load_generator(generator: nn.Module, path: Optional[str], ema: bool, param_key: Optional[str] = None) -> None:
    if path:  # a missing stage-1 checkpoint: MissingFileError "run stage 1 first: lit-gans fit --config ..."
        load_weights_into(generator, path, prefix="generator_ema." if ema else "generator.", param_key=param_key)


# ----------------------------------------------------------------------------- PSNR-oriented pretraining
class SRPretrain(_SuperResolution, GeneratorOnly):
    """Generator-only PSNR-oriented training (SRResNet with MSE, RRDBNet with L1), on the core's
    :class:`~lit_gans.models.base.GeneratorOnly` (divergence stop, EMA, exact resume, bf16, DDP as for the GANs).

    Args:
        generator: an SR network with a ``scale`` attribute (``SRResNet``, ``RRDBNet``).
        pixel_loss: 'mse' (SRResNet, SRGAN Sec. 3.2) or 'l1' (RRDBNet, BasicSR ``pixel_opt: L1Loss``).
        optimizer: optimizer (``class_path`` + ``init_args``); None: the paper's for the pixel loss
            (mse: Adam 1e-4, betas (0.9, 0.999), SRGAN Sec. 3.2; l1: Adam 2e-4, betas (0.9, 0.99), BasicSR).
        scheduler: optional LR scheduler (e.g. ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``).
        scheduler_interval: 'step' (every iteration, as BasicSR) or 'epoch'.
        ema_decay: EMA of the generator (0.999 in BasicSR's RRDBNet PSNR options), used for validation,
            samples and prediction, saved as ``generator_ema.*``.
        generator_ckpt: initial generator weights (a lit_gans checkpoint or an official file).
        generator_ckpt_key: for a BasicSR file holding both ``params`` and ``params_ema``, the one to load
            (None: ``params_ema``, see ``lit_gans.utils.weights.BASICSR_PARAM_KEYS``; BasicSR's own default is
            ``params``).
        tile: None (default): the network runs on whole images, as BasicSR evaluates; else the LR tile side for
            validation, test and prediction (bounds device memory; the output changes near the seams).
        tile_overlap: LR pixels of overlap between tiles (blended).
        num_sample_images: rows of the sample grid.
        lpips: also report LPIPS (needs torchvision's AlexNet weights in the cache).
        **kwargs: the core's other options (``grad_clip``, ``ema_start``, ``on_nonfinite``,
            ``divergence_threshold``, ``channels_last``, ``compile``, ...: ``GeneratorOnly``).
    """

    def __init__(
        self,
        generator: nn.Module,
        pixel_loss: Literal["mse", "l1"] = "l1",
        optimizer: Optional[OptimizerCallable] = None,
        scheduler: Optional[LRSchedulerCallable] = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        ema_decay: Optional[float] = None,
        generator_ckpt: Optional[str] = None,
        generator_ckpt_key: Optional[Literal["params", "params_ema"]] = None,
        tile: Optional[int] = None,
        tile_overlap: int = 16,
        num_sample_images: int = 4,
        lpips: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, scheduler_interval=scheduler_interval, ema_decay=ema_decay, **kwargs)
        self.save_config_hyperparameters()
        if pixel_loss not in ("mse", "l1"):
            raise ConfigError(f"pixel_loss must be 'mse' or 'l1', got {pixel_loss!r}")
        self.generator = generator
        _load_generator(generator, generator_ckpt, ema=False, param_key=generator_ckpt_key)
        self._init_sr(generator, tile, tile_overlap, num_sample_images, lpips)
        self.pixel_loss = pixel_loss
        self._ensure_ema()  # generator_ema.* from the start (of the loaded weights), as before the core

    def paper_optimizer(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        if self.pixel_loss == "mse":
            return partial(torch.optim.Adam, lr=SRGAN_LR, betas=SRGAN_BETAS)
        return partial(torch.optim.Adam, lr=RRDB_PSNR_LR, betas=RRDB_PSNR_BETAS)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._check_data()

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self.evaluation.keep_samples(batch)
        return {"sr": self.generator(batch["lr"])}

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        sr, hr = out["sr"], batch["hr"]
        loss = F.mse_loss(sr, hr) if self.pixel_loss == "mse" else F.l1_loss(sr, hr)
        return loss, {self.pixel_loss: loss.detach()}


# ----------------------------------------------------------------------------- adversarial stage
class PerceptualSRGAN(_SuperResolution, GANModule):
    """Generator loss ``pixel_weight * pixel + perceptual_weight * perceptual + gan_weight * adversarial``;
    discriminator loss ``d_factor * d_<gan_loss>(D(HR), D(SR))``. :class:`SRGAN` and :class:`ESRGAN` set the
    papers' defaults.

    Args:
        generator: SR network with a ``scale`` attribute.
        discriminator: HR discriminator (logits) with an ``input_size`` attribute.
        generator_ckpt: initial generator weights: the pretraining checkpoint (``SRPretrain``), a lit_gans
            checkpoint, or an official file (``RRDB_ESRGAN_x4.pth``, ``RRDB_PSNR_x4.pth``, BasicSR ``params``).
        generator_ckpt_ema: take the pretraining checkpoint's EMA weights (``generator_ema.*``) instead of the
            raw ones (BasicSR loads ``params``, the raw weights, by default).
        generator_ckpt_key: for a BasicSR file holding both ``params`` and ``params_ema``, the one to load
            (None: ``params_ema``, see ``lit_gans.utils.weights.BASICSR_PARAM_KEYS``).
        pixel_loss: 'l1' or 'mse'.
        pixel_weight: weight of the pixel loss.
        perceptual_layer: VGG19 layer (``conv5_4`` = before ReLU, ``relu5_4`` = after).
        perceptual_loss: criterion on the features, 'l1' or 'mse'.
        perceptual_weight: weight of the perceptual loss.
        perceptual_scale: features multiplied by this before the criterion (SRGAN: 1/12.75).
        vgg_weights: 'imagenet' (torchvision; a clear error offline), a file path, or 'random' (tests only).
        gan_loss: adversarial loss of ``lit_gans.losses.adversarial``.
        gan_weight: weight of the generator's adversarial loss.
        gan_factor: factor on both adversarial losses (ESRGAN: 0.5, BasicSR halves each relativistic loss).
        tile, tile_overlap, num_sample_images, lpips: as in :class:`SRPretrain`.
        **kwargs: ``GANModule`` options (optimizers, schedulers, EMA, clipping, channels_last, compile).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_ckpt: Optional[str] = None,
        generator_ckpt_ema: bool = False,
        generator_ckpt_key: Optional[Literal["params", "params_ema"]] = None,
        pixel_loss: Literal["l1", "mse"] = "l1",
        pixel_weight: float = 0.0,
        perceptual_layer: str = "conv5_4",
        perceptual_loss: Literal["l1", "mse"] = "l1",
        perceptual_weight: float = 1.0,
        perceptual_scale: float = 1.0,
        vgg_weights: str = "imagenet",
        gan_loss: GanLoss = "vanilla",
        gan_weight: float = 1e-3,
        gan_factor: float = 1.0,
        tile: Optional[int] = None,
        tile_overlap: int = 16,
        num_sample_images: int = 4,
        lpips: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        if gan_loss not in GAN_LOSSES:
            raise ConfigError(f"gan_loss must be one of {sorted(GAN_LOSSES)}, got {gan_loss!r}")
        self.generator, self.discriminator = generator, discriminator
        _load_generator(generator, generator_ckpt, generator_ckpt_ema, generator_ckpt_key)
        self._init_sr(generator, tile, tile_overlap, num_sample_images, lpips)
        self.pixel_fn = F.l1_loss if pixel_loss == "l1" else F.mse_loss
        self.perceptual_fn = F.l1_loss if perceptual_loss == "l1" else F.mse_loss
        self.pixel_weight, self.perceptual_weight, self.perceptual_scale = pixel_weight, perceptual_weight, perceptual_scale
        self.perceptual_layer = perceptual_layer
        self.vgg = VGGFeatures("vgg19", layers=[perceptual_layer], weights=vgg_weights, input_norm="imagenet")
        self.relativistic = gan_loss in RELATIVISTIC
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[gan_loss]
        self.gan_weight, self.gan_factor = gan_weight, gan_factor

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._check_data()

    # -------------------------------------------------------------- GANModule hooks
    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self.evaluation.keep_samples(batch)
        return {"fake": self.generator(batch["lr"])}

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        d_real = self.discriminator(batch["hr"])
        d_fake = self.discriminator(out["fake"].detach())
        loss = self.gan_factor * self.d_loss_fn(d_real, d_fake)
        return loss, {"d_loss": loss.detach(), "d_real_logit": d_real.detach().mean(), "d_fake_logit": d_fake.detach().mean()}

    def perceptual(self, fake: Tensor, hr: Tensor) -> Tensor:
        with torch.no_grad():
            target = self.vgg(hr)[self.perceptual_layer]
        feat = self.vgg(fake)[self.perceptual_layer]
        return self.perceptual_fn(feat * self.perceptual_scale, target * self.perceptual_scale)

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake, hr = out["fake"], batch["hr"]
        d_fake = self.discriminator(fake)
        if self.relativistic:  # the real logits are needed for the comparison; no gradient flows to them
            adv = self.g_loss_fn(d_fake, self.discriminator(hr).detach())
        else:
            adv = self.g_loss_fn(d_fake)
        adv = self.gan_factor * adv
        loss = self.gan_weight * adv
        logs: StepLogs = {"g_adv": adv.detach()}
        if self.perceptual_weight:
            percep = self.perceptual(fake, hr)
            loss = loss + self.perceptual_weight * percep
            logs["g_perceptual"] = percep.detach()
        if self.pixel_weight:
            pixel = self.pixel_fn(fake, hr)
            loss = loss + self.pixel_weight * pixel
            logs["g_pixel"] = pixel.detach()
        logs["g_loss"] = loss.detach()
        return loss, logs


class SRGAN(PerceptualSRGAN):
    """SRGAN (Ledig et al. 2017): SRResNet + the paper's discriminator, ``l_VGG54/12.75^2 + 1e-3 l_adv``.

    Defaults are the paper's SRGAN-VGG54 (Sec. 3.2, Eq. 3-6): no pixel term (the base default; SRGAN-MSE is
    compared separately in Sec. 3.4), MSE of ``relu5_4`` features rescaled by 1/12.75, vanilla GAN with the
    non-saturating G loss, weight 1e-3, Adam 1e-4 (beta1 0.9). Other arguments as in :class:`PerceptualSRGAN`.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        pixel_loss: Literal["l1", "mse"] = "mse",
        perceptual_layer: str = "relu5_4",  # phi_{5,4}: "after activation", Sec. 2.2.1
        perceptual_loss: Literal["l1", "mse"] = "mse",  # Eq. (5): squared Euclidean distance of features
        perceptual_scale: float = SRGAN_CONTENT_SCALE,
        gan_loss: GanLoss = "vanilla",
        gan_weight: float = SRGAN_ADV_WEIGHT,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            generator, discriminator, pixel_loss=pixel_loss, perceptual_layer=perceptual_layer,
            perceptual_loss=perceptual_loss, perceptual_scale=perceptual_scale, gan_loss=gan_loss,
            gan_weight=gan_weight, **kwargs,
        )

    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=SRGAN_LR, betas=SRGAN_BETAS)

    def paper_optimizer_d(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=SRGAN_LR, betas=SRGAN_BETAS)


class ESRGAN(PerceptualSRGAN):
    """ESRGAN (Wang et al. 2018; BasicSR ``ESRGANModel``): RRDBNet + VGGStyleDiscriminator,
    ``1 * L1(conv5_4) + 5e-3 * L_G^Ra + 1e-2 * L1(pixels)``, relativistic average GAN with each loss halved,
    Adam 1e-4 (0.9, 0.99), G step then D step. Other arguments as in :class:`PerceptualSRGAN`.
    """

    step_order = ("g", "d")  # BasicSR esrgan_model.py: optimize net_g, then net_d

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        pixel_loss: Literal["l1", "mse"] = "l1",
        pixel_weight: float = ESRGAN_PIXEL_WEIGHT,
        perceptual_layer: str = "conv5_4",  # Sec. 3.3: features before activation
        perceptual_loss: Literal["l1", "mse"] = "l1",
        perceptual_weight: float = ESRGAN_PERCEPTUAL_WEIGHT,
        gan_loss: GanLoss = "relativistic",
        gan_weight: float = ESRGAN_GAN_WEIGHT,
        gan_factor: float = ESRGAN_RELATIVISTIC_FACTOR,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            generator, discriminator, pixel_loss=pixel_loss, pixel_weight=pixel_weight,
            perceptual_layer=perceptual_layer, perceptual_loss=perceptual_loss, perceptual_weight=perceptual_weight,
            gan_loss=gan_loss, gan_weight=gan_weight, gan_factor=gan_factor, **kwargs,
        )

    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=ESRGAN_LR, betas=ESRGAN_BETAS)

    def paper_optimizer_d(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=ESRGAN_LR, betas=ESRGAN_BETAS)


# ----------------------------------------------------------------------------- network interpolation: lit-gans interpolate
if __name__ == "__main__":
    sys.exit("network interpolation moved: lit-gans interpolate --psnr A --gan B --alpha 0.8 --out C (lit_gans.interpolate)")

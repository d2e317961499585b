"""Single-image super-resolution: PSNR-oriented pretraining, SRGAN and ESRGAN.

* SRGAN: Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial
  Network", CVPR 2017, https://arxiv.org/abs/1609.04802 (no official code).
* ESRGAN: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCV-W 2018,
  https://arxiv.org/abs/1809.00219; official code xinntao/ESRGAN (test, network interpolation) and
  XPixelGroup/BasicSR (training: ``basicsr/models/esrgan_model.py``, ``options/train/ESRGAN/*.yml``), the
  tie-breaker where paper and code differ.

Modules (each a two-stage recipe's stage; the second starts from the first with ``generator_ckpt``):

* :class:`SRPretrain`: generator only, pixel loss, automatic optimisation. SRResNet with MSE (SRGAN
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

import argparse
import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn

from lit_gans.evaluation import EvaluationMixin
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.metrics.sr import SRMetrics, build_lpips, imresize_bicubic
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.networks.vgg import VGGFeatures
from lit_gans.utils.ema import ema_update, make_ema
from lit_gans.utils.images import image_grid
from lit_gans.utils.tiling import tiled_apply
from lit_gans.errors import ConfigError, MissingFileError
from lit_gans.utils.weights import load_weights_into, save_atomic

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
def run_generator(net: nn.Module, lr: Tensor, scale: int) -> Tensor:
    """``net(lr)`` with the input padded to the network's ``input_multiple`` and the output cropped back."""
    multiple = int(getattr(net, "input_multiple", 1))
    h, w = lr.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        lr = F.pad(lr, (0, pw, 0, ph), mode=mode)
    return net(lr)[..., : h * scale, : w * scale]


class _SuperResolution(EvaluationMixin):
    """Validation, test, prediction and sample grids shared by the three modules (a mixin in front of a
    LightningModule that has ``generator``, ``scale`` and ``sampling_generator``).

    ``test``: the SR papers' per-set table (SRGAN Table 2): one row per test set
    (``--data.init_args.test_roots``) with PSNR-Y / SSIM-Y of the model and of bicubic upsampling (and LPIPS with
    ``lpips: true``), by the protocol of :mod:`lit_gans.metrics.sr` (the validation metric code)."""
    batch_keys = {"fit": ("lr", "hr"), "test": ("lr", "hr", "index"), "predict": ("image",)}  # lit_gans.utils.batches

    generator: nn.Module
    scale: int

    def _init_sr(self, generator: nn.Module, tile: int, tile_overlap: int, num_sample_images: int, lpips: bool) -> None:
        scale = getattr(generator, "scale", None)
        if scale is None:
            raise ConfigError(f"{type(generator).__name__} has no `scale` attribute; SR models need it")
        self.scale = int(scale)
        self.tile, self.tile_overlap = tile, tile_overlap
        self.num_sample_images = num_sample_images
        self._samples: Optional[dict[str, Tensor]] = None
        self.val_metrics = SRMetrics(crop=self.scale)  # protocol: `scale` border pixels cropped (BasicSR crop_border)
        self.val_bicubic = SRMetrics(crop=self.scale)  # the "Bicubic" row of the papers, for reference
        # LPIPS lives outside the module tree so that its network never enters checkpoints.
        self.__dict__["_lpips"] = build_lpips() if lpips else None

    # -------------------------------------------------------------- inference
    @torch.no_grad()
    def super_resolve(self, lr: Tensor, net: Optional[nn.Module] = None) -> Tensor:
        """Upscale ``lr`` [B, 3, h, w] in [0, 1] by ``scale``: in tiles of ``tile`` LR pixels with ``tile_overlap``
        pixels of feathered overlap when larger than one tile (``lit_gans.utils.tiling.tiled_apply``). The input
        may stay on the CPU; tiles go to the model's device and come back. Output: [B, 3, h*s, w*s]."""
        net = net or self.sampling_generator  # type: ignore[attr-defined]
        fn = partial(run_generator, net, scale=self.scale)
        return tiled_apply(fn, lr, tile=self.tile, overlap=self.tile_overlap, scale=self.scale, device=self.device)  # type: ignore[attr-defined]

    def _keep_samples(self, batch: dict[str, Tensor]) -> None:
        n = self.num_sample_images
        self._samples = {"lr": batch["lr"][:n].detach().clone(), "hr": batch["hr"][:n].detach().clone()}

    @torch.no_grad()
    def sample_images(self) -> dict[str, Tensor]:
        """One row per fixed training crop: bicubic | output | HR (W&B ``samples/sr``)."""
        if self._samples is None:
            return {}
        lr, hr = self._samples["lr"], self._samples["hr"]
        sr = run_generator(self.sampling_generator, lr, self.scale)  # type: ignore[attr-defined]
        bicubic = imresize_bicubic(lr, self.scale)
        rows = torch.stack([bicubic, sr.float(), hr], 1).flatten(0, 1).clamp(0.0, 1.0)
        return {"sr": image_grid(rows, nrow=3)}

    # -------------------------------------------------------------- validation / test
    def _eval_step(self, batch: dict[str, Any]) -> None:
        lr, hr, index = batch["lr"], batch["hr"], batch.get("index")
        sr = self.super_resolve(lr)
        self.val_metrics.update(sr, hr, index)
        self.val_bicubic.update(imresize_bicubic(lr, self.scale), hr, index)
        if self._lpips is not None:
            self._lpips.to(sr.device).update(sr.clamp(0, 1), hr)

    def _eval_epoch_end(self, prefix: str) -> None:
        values = {f"{prefix}/{k}": v for k, v in self.val_metrics.compute().items()}
        values.update({f"{prefix}/{k}_bicubic": v for k, v in self.val_bicubic.compute().items()})
        if self._lpips is not None:
            values[f"{prefix}/lpips"] = self._lpips.compute()
            self._lpips.reset()
        self.log_dict(values, sync_dist=False)  # type: ignore[attr-defined]  (torchmetrics states are already synced)
        self.val_metrics.reset()
        self.val_bicubic.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def _test_metrics(self, dataloader_idx: int) -> dict[str, Any]:
        state = self._test_state()
        per_set = state.setdefault("sr", {})
        if dataloader_idx not in per_set:
            m = {"model": SRMetrics(crop=self.scale), "bicubic": SRMetrics(crop=self.scale)}
            if self._lpips is not None:
                m["lpips"] = build_lpips()
            per_set[dataloader_idx] = {k: v.to(self.device) for k, v in m.items()}  # type: ignore[attr-defined]
        return per_set[dataloader_idx]

    def test_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> None:
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        lr, hr, index = batch["lr"][keep], batch["hr"][keep], batch["index"][keep]
        sr = self.super_resolve(lr)
        bicubic = imresize_bicubic(lr, self.scale)
        m = self._test_metrics(dataloader_idx)
        m["model"].update(sr, hr, index)
        m["bicubic"].update(bicubic, hr, index)
        if "lpips" in m:
            m["lpips"].update(sr.clamp(0, 1), hr)
        names = [n for n, k in zip(batch.get("name") or [""] * len(keep), keep.tolist()) if k]
        self.add_test_examples(dataloader_idx, index, {"input (LR)": lr, "output": sr, "bicubic": bicubic, "target (HR)": hr}, names)

    def on_test_epoch_end(self) -> None:
        rows = []
        for d, name in enumerate(self.test_set_names()):
            m = self._test_metrics(d)
            model, bicubic = m["model"].compute(), m["bicubic"].compute()  # synced across ranks
            row: dict[str, Any] = {"set": name, "psnr_y": model["psnr_y"], "ssim_y": model["ssim_y"]}
            if "lpips" in m:
                row["lpips"] = m["lpips"].compute()
            row.update(psnr_y_bicubic=bicubic["psnr_y"], ssim_y_bicubic=bicubic["ssim_y"])
            rows.append(row)
        self.publish_test_results(rows)

    @torch.no_grad()
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """``batch["image"]``: LR [1, 3, h, w] in [0, 1] (left on the CPU by the datamodule) -> [1, 3, h*s, w*s]."""
        sr = self.super_resolve(batch["image"]).clamp(0.0, 1.0)
        names = batch.get("name") or [f"image_{i:05d}" for i in range(batch_idx * len(sr), (batch_idx + 1) * len(sr))]
        return {"images": sr, "names": list(names)}

    # -------------------------------------------------------------- checks
    def _check_data(self) -> None:
        trainer = getattr(self, "_trainer", None)
        dm = trainer.datamodule if trainer is not None else None
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
class SRPretrain(_SuperResolution, L.LightningModule):
    """Generator-only PSNR-oriented training (SRResNet with MSE, RRDBNet with L1).

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
        tile: LR tile side for validation/prediction of large images (bounds device memory).
        tile_overlap: LR pixels of overlap between tiles (blended).
        num_sample_images: rows of the sample grid.
        lpips: also report LPIPS (needs torchvision's AlexNet weights in the cache).
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
        tile: int = 256,
        tile_overlap: int = 16,
        num_sample_images: int = 4,
        lpips: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["generator"])
        if pixel_loss not in ("mse", "l1"):
            raise ConfigError(f"pixel_loss must be 'mse' or 'l1', got {pixel_loss!r}")
        self.generator = generator
        _load_generator(generator, generator_ckpt, ema=False, param_key=generator_ckpt_key)
        self._init_sr(generator, tile, tile_overlap, num_sample_images, lpips)
        self.pixel_loss = pixel_loss
        self.optimizer, self.scheduler, self.scheduler_interval = optimizer, scheduler, scheduler_interval
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {ema_decay}")
        self.ema_decay = ema_decay
        if ema_decay is not None:
            self.generator_ema = make_ema(generator)

    @property
    def sampling_generator(self) -> nn.Module:
        return getattr(self, "generator_ema", None) or self.generator

    def paper_optimizer(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        if self.pixel_loss == "mse":
            return partial(torch.optim.Adam, lr=SRGAN_LR, betas=SRGAN_BETAS)
        return partial(torch.optim.Adam, lr=RRDB_PSNR_LR, betas=RRDB_PSNR_BETAS)

    def configure_optimizers(self):  # noqa: ANN201
        opt = (self.optimizer or self.paper_optimizer())(self.generator.parameters())
        if self.scheduler is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler(opt), "interval": self.scheduler_interval}}

    def setup(self, stage: str) -> None:
        self._check_data()

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self._samples is None:
            self._keep_samples(batch)
        sr = self.generator(batch["lr"])
        loss = F.mse_loss(sr, batch["hr"]) if self.pixel_loss == "mse" else F.l1_loss(sr, batch["hr"])
        self.log(f"train/{self.pixel_loss}", loss.detach(), on_step=True, on_epoch=False)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.ema_decay is not None:
            ema_update(self.generator_ema, self.generator, self.ema_decay)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("state_dict", {})
        has_ema = any(k.startswith("generator_ema.") for k in state)
        if has_ema and not hasattr(self, "generator_ema"):  # trained with EMA: keep it for prediction
            self.generator_ema = make_ema(self.generator)
        elif not has_ema and hasattr(self, "generator_ema"):  # EMA switched on now: it starts from the weights
            state.update({"generator_ema." + k[len("generator."):]: v for k, v in list(state.items()) if k.startswith("generator.")})


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
        tile: int = 256,
        tile_overlap: int = 16,
        num_sample_images: int = 4,
        lpips: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters(ignore=["generator", "discriminator"])
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
        if self._samples is None:
            self._keep_samples(batch)
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


# ----------------------------------------------------------------------------- network interpolation
def generator_state_dict(path: str, ema: bool = False) -> dict[str, Tensor]:
    """A generator's weights in this project's layout from a lit_gans checkpoint (``generator.*`` or, with
    ``ema``, ``generator_ema.*``), a plain state dict, or an official RRDBNet file (converted)."""
    from lit_gans.networks.rrdb import convert_official_state_dict

    file = Path(path).expanduser()
    if not file.is_file():
        raise MissingFileError(f"{file} does not exist; pass the path of an existing checkpoint or weights file")
    obj = torch.load(file, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and "state_dict" in obj:
        prefix = "generator_ema." if ema else "generator."
        sd = {k[len(prefix):]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not sd:
            raise KeyError(f"{file}: no '{prefix}*' weights in this checkpoint" + (" (trained without EMA?)" if ema else ""))
        return sd
    if not isinstance(obj, dict):
        raise TypeError(f"{file}: expected a checkpoint or a state dict, got {type(obj).__name__}")
    try:
        return convert_official_state_dict(obj)
    except KeyError:
        return dict(obj)


def interpolate_weights(psnr: dict[str, Tensor], gan: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """ESRGAN network interpolation (Sec. 3.4, xinntao/ESRGAN ``net_interp.py``):
    ``theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN`` for every floating tensor; integer buffers
    (BatchNorm's ``num_batches_tracked``) are taken from the GAN model."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    if set(psnr) != set(gan):
        diff = sorted(set(psnr) ^ set(gan))
        raise KeyError(f"the two generators have different layers (e.g. {diff[:5]}); they must be the same network")
    out = {}
    for key, theta_gan in gan.items():
        theta_psnr = psnr[key]
        if theta_psnr.shape != theta_gan.shape:
            raise ConfigError(f"{key}: shapes differ, {tuple(theta_psnr.shape)} vs {tuple(theta_gan.shape)}")
        out[key] = (1 - alpha) * theta_psnr + alpha * theta_gan if theta_gan.is_floating_point() else theta_gan.clone()
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m lit_gans.models.super_resolution interpolate --psnr A --gan B --alpha 0.8 --out C``."""
    parser = argparse.ArgumentParser(prog="python -m lit_gans.models.super_resolution", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "interpolate",
        help="ESRGAN network interpolation: (1 - alpha) * PSNR + alpha * GAN weights",
        description="Blend a PSNR-oriented and a GAN generator (ESRGAN Sec. 3.4). Inputs: lit_gans checkpoints, "
        "plain state dicts, or official RRDBNet files. Output: a state dict for --model.init_args.generator_ckpt.",
    )
    p.add_argument("--psnr", required=True, help="PSNR-oriented generator (e.g. the SRPretrain checkpoint, RRDB_PSNR_x4.pth)")
    p.add_argument("--gan", required=True, help="GAN generator (e.g. the ESRGAN checkpoint, RRDB_ESRGAN_x4.pth)")
    p.add_argument("--alpha", type=float, default=0.8, help="weight of the GAN model (0.8 in the ESRGAN README)")
    p.add_argument("--out", required=True, help="output .pth (a plain state dict in this project's layout)")
    p.add_argument("--ema", action="store_true", help="take generator_ema.* from lit_gans checkpoints")
    args = parser.parse_args(argv)
    blended = interpolate_weights(generator_state_dict(args.psnr, args.ema), generator_state_dict(args.gan, args.ema), args.alpha)
    out = Path(args.out)
    save_atomic(blended, out)
    print(f"lit_gans: wrote {out} = {1 - args.alpha:g} * {args.psnr} + {args.alpha:g} * {args.gan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Context Encoder (Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR 2016,
https://arxiv.org/abs/1604.07379), trained with the joint loss of Sec. 3.2 as the official Lua code
does (pathak22/context-encoder ``train.lua`` for the center hole, ``train_random.lua`` for arbitrary
masks).

Loss (Eq. 1-3; official weights):

* reconstruction: weighted L2 between the prediction and the original over the predicted region
  (``lit_gans.losses.reconstruction.masked_l2``). Center model: the predicted region is the
  ``S/2`` center patch; the known 4 px border of that patch (``overlapPred=4``) weighs 10x
  (``overlapL2Weight = 10``), the hole 1x. Whole-image model: 1x in the hole, ``overlap_weight`` within
  ``overlap`` px of it and ``context_weight`` on the other known pixels;
* adversarial: DCGAN-style D on the predicted region (the center patch, or the whole image for
  random masks), BCE on logits (official: Sigmoid + ``nn.BCECriterion``, the same value);
* ``L = lambda_rec * L_rec + lambda_adv * L_adv`` with ``lambda_rec = 0.999``, ``lambda_adv = 0.001``
  (README ``wtl2=0.999``; train.lua uses ``(1 - wtl2)`` for the adversarial term).

Optimisation: Adam, beta1 0.5 (train.lua ``beta1``), D lr 2e-4 (``lr``) and G lr 10x that, 2e-3
("LR of Gen is 10 times Adv" when 0 < wtl2 < 1, train.lua ``optimStateG``). Step order D then G.

Deviations from the official code, on purpose:

* the G step runs D again on the prediction (after D's update), the project's canonical order
  (reusing a stale D output fails with "modified by an inplace operation", leftthomas/SRGAN#84); train.lua reuses ``netD.output`` of the fake pass computed before D's update;
* the official code logs the plain MSE as ``Err_G_L2`` but back-propagates the weighted one; here the
  logged ``g_rec`` is the weighted loss that is optimised.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.evaluation import EvaluationMixin
from lit_gans.evaluation.inpainting import InpaintingEvaluation
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.losses.reconstruction import OVERLAP_WEIGHT, masked_l2
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.utils.masks import composite
from lit_gans.run._lightning import attached_trainer

LAMBDA_REC = 0.999  # README train command: wtl2=0.999
LAMBDA_ADV = 0.001  # train.lua: errG_total = (1 - wtl2) * errG + wtl2 * errG_l2
LR_D = 2e-4  # train.lua: lr = 0.0002
LR_G = 10 * LR_D  # train.lua: optimStateG learningRate = opt.lr * 10 when 0 < wtl2 < 1
BETAS = (0.5, 0.999)  # train.lua: beta1 = 0.5 (optim.adam's default beta2 = 0.999)


class ContextEncoder(EvaluationMixin, GANModule):
    """Inpainting with a Context Encoder generator and a DCGAN-style discriminator.

    Args:
        generator: ``masked image [B, C, S, S] -> prediction``, with attributes ``image_size`` and
            ``output`` ('center': the ``S/2`` center patch; 'image': the whole image), e.g.
            ``lit_gans.networks.context_encoder.ContextEncoderGenerator``.
        discriminator: ``region -> [B]`` logits, with ``image_size`` = the predicted region's side.
        lambda_rec: weight of the reconstruction loss (0.999, README ``wtl2``).
        lambda_adv: weight of the adversarial loss (0.001 = 1 - wtl2).
        overlap: whole-image model only: width in px of the band around the hole that gets
            ``overlap_weight`` (4, README ``overlapPred``). The center model always weighs the whole known
            border of its patch with ``overlap_weight``, as train.lua does.
        overlap_weight: weight of the known pixels next to the hole (10, train.lua ``overlapL2Weight``).
        context_weight: whole-image model only: weight of the other known pixels (0; train_random.lua
            weighs every pixel: 1 with ``useOverlapPred=0``, 10 with ``useOverlapPred=1``).
        gan_loss: adversarial loss (vanilla: BCE, as the official code).
        num_sample_images: rows of the sample grid (masked input | prediction | composite | original).
        **kwargs: ``GANModule`` options (optimizers, schedulers, EMA, clipping, channels_last, compile).
    """
    batch_keys = {"fit": ("image", "mask", "masked"), "test": ("image", "mask", "masked", "index"), "predict": ("image", "mask", "masked")}  # lit_gans.utils.batches

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        lambda_rec: float = LAMBDA_REC,
        lambda_adv: float = LAMBDA_ADV,
        overlap: int = 4,
        overlap_weight: float = OVERLAP_WEIGHT,
        context_weight: float = 0.0,
        gan_loss: GanLoss = "vanilla",
        num_sample_images: int = 8,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        for attr in ("image_size", "output"):
            if not hasattr(generator, attr):
                raise ConfigError(f"{type(generator).__name__} has no `{attr}` attribute; ContextEncoder needs it")
        if gan_loss not in GAN_LOSSES or gan_loss in RELATIVISTIC:
            raise ConfigError(f"gan_loss must be one of {sorted(set(GAN_LOSSES) - RELATIVISTIC)}, got {gan_loss!r}")
        self.generator, self.discriminator = generator, discriminator
        self.image_size, self.output = generator.image_size, generator.output
        self.region = self.image_size // 2 if self.output == "center" else self.image_size
        d_size = getattr(discriminator, "image_size", self.region)
        if d_size != self.region:
            raise ConfigError(
                f"the discriminator judges {d_size} px regions but the generator predicts {self.region} px "
                f"({'the center patch' if self.output == 'center' else 'the whole image'}); set the discriminator's "
                f"image_size to {self.region}"
            )
        self.lambda_rec, self.lambda_adv = lambda_rec, lambda_adv
        self.overlap, self.overlap_weight, self.context_weight = overlap, overlap_weight, context_weight
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[gan_loss]
        self.evaluation = InpaintingEvaluation(self, num_sample_images)

    # ------------------------------------------------------------------ paper optimizers
    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=LR_G, betas=BETAS)

    def paper_optimizer_d(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=LR_D, betas=BETAS)

    # ------------------------------------------------------------------ regions
    def crop_region(self, x: Tensor) -> Tensor:
        """The predicted region of a full-size tensor: the center ``S/2`` patch, or all of it."""
        if self.output != "center":
            return x
        a, b = self.image_size // 4, 3 * self.image_size // 4  # train.lua: 1 + fineSize/4 .. fineSize/2 + fineSize/4
        return x[..., a:b, a:b]

    def paste(self, prediction: Tensor, canvas: Tensor) -> Tensor:
        """A full-size prediction: the center patch pasted into ``canvas`` (or the prediction itself)."""
        if self.output != "center":
            return prediction
        a, b = self.image_size // 4, 3 * self.image_size // 4
        out = canvas.clone()
        out[..., a:b, a:b] = prediction
        return out

    def reconstruction_loss(self, pred: Tensor, target: Tensor, hole: Tensor) -> Tensor:
        # center: every known pixel of the patch is "overlap" (train.lua wtl2Matrix), hence overlap = region
        overlap = self.region if self.output == "center" else self.overlap
        return masked_l2(pred, target, hole, overlap, self.overlap_weight, self.context_weight)

    # ------------------------------------------------------------------ GANModule hooks
    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self.evaluation.keep_samples(batch)  # fixed training inputs until a validation batch replaces them
        return {"fake": self.generator(batch["masked"])}

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        # official: errD = errD_real + errD_fake, two separate D passes (BatchNorm statistics per pass)
        d_real = self.discriminator(self.crop_region(batch["image"]))
        d_fake = self.discriminator(out["fake"].detach())
        loss = self.d_loss_fn(d_real, d_fake)
        return loss, {"d_loss": loss.detach(), "d_real_logit": d_real.detach().mean(), "d_fake_logit": d_fake.detach().mean()}

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake = out["fake"]
        adv = self.g_loss_fn(self.discriminator(fake))
        rec = self.reconstruction_loss(fake, self.crop_region(batch["image"]), self.crop_region(batch["mask"]))
        loss = self.lambda_rec * rec + self.lambda_adv * adv  # Eq. (3)
        return loss, {"g_loss": loss.detach(), "g_rec": rec.detach(), "g_adv": adv.detach()}

    # ------------------------------------------------------------------ checks at setup
    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = self.trainer.datamodule if attached_trainer(self) is not None else None
        if dm is None:
            return
        size = getattr(dm, "image_size", self.image_size)
        if size != self.image_size:
            raise ConfigError(
                f"the generator takes {self.image_size} px inputs but the datamodule makes {size} px crops; set "
                f"--data.init_args.image_size={self.image_size} or the networks' image_size"
            )
        if self.output == "center":
            if getattr(dm, "mask", "center") != "center":
                raise ConfigError(
                    f"mask '{dm.mask}' needs a whole-image generator: the center model only predicts the center patch. "
                    "Set the generator's output: image and the discriminator's image_size to the image size "
                    "(experiments/context_encoder_embedded_random_region.yaml), or use --data.init_args.mask=center"
                )
            other = [k for k in getattr(dm, "test_masks", []) if k != "center"]
            if stage == "test" and other:
                raise ValueError(
                    f"test masks {other} need a whole-image generator (output: image); this model only fills the center "
                    "hole: set --data.init_args.test_masks=[center]"
                )
            if stage == "predict" and getattr(dm, "predict_mask_root", None):
                raise ConfigError(
                    "mask files (--data.init_args.predict_mask_root) need a model trained with output: image; this "
                    "model only fills the center hole (leave predict_mask_root unset)"
                )

    # ------------------------------------------------------------------ inference (lit_gans.evaluation.inpainting)
    def inpaint(self, masked: Tensor, image: Tensor, mask: Tensor, net: Optional[nn.Module] = None) -> tuple[Tensor, Tensor]:
        """(prediction, composite) at network size, in [-1, 1]; the composite keeps known pixels exactly."""
        net = net or self.sampling_generator
        prediction = self.paste(net(masked), masked)
        return prediction, composite(prediction, image, mask)

"""Pix2Pix and the Lab colorization GAN: conditional GANs on paired images.

* Pix2Pix: Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial Networks",
  CVPR 2017, https://arxiv.org/abs/1611.07004; official code junyanz/pytorch-CycleGAN-and-pix2pix
  (``models/pix2pix_model.py``, ``models/networks.py``, ``options/``), the tie-breaker.
* Lab colorization (seed 002; its tutorial moein-shariatnia/Deep-Learning "Image Colorization Tutorial"):
  the same conditional GAN with input L and output ab (Lab, ``L/50 - 1``, ``ab/110``), a PatchGAN on
  concat(L, ab) (3 channels), lambda_L1 = 100, Adam 2e-4 (0.5, 0.999), batch 16, and for the improved model a
  generator pretrained with L1 alone (:class:`GeneratorPretraining`, Adam 1e-4, 20 epochs) before the GAN stage.
  It is a configuration of :class:`Pix2Pix` (``color_space: lab``), not another class.

Objective (paper Eq. 4, junyanz ``backward_D`` / ``backward_G``), with x the input and y the target:

* D: ``0.5 * [BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]`` on logits (``gan_mode='vanilla'``:
  ``BCEWithLogitsLoss``); the 0.5 is junyanz's ``(loss_D_fake + loss_D_real) * 0.5`` (paper Sec. 3.3: "we
  divide the objective by 2 while optimizing D"). The tutorial does the same.
* G: ``BCE(D(x, G(x)), 1) + lambda * |y - G(x)|_1`` (non-saturating, Sec. 3.3), lambda = 100 (Sec. 4 /
  junyanz ``--lambda_L1 100``).
* D sees the concatenation (input, output) (Sec. 2.1, conditional D); junyanz concatenates (A, B) on
  channels; the tutorial (L, ab).
* Update order: D then G on the same G(x) (junyanz ``optimize_parameters``), the GANModule default. Inside
  the D step the fake pair goes through D before the real one (junyanz ``backward_D``, the tutorial's
  ``backward_D``), so D's BatchNorm running statistics match the official ones.
* Adam 2e-4, betas (0.5, 0.999) for both (Sec. 3.3); init N(0, 0.02) (junyanz ``init_type normal``); LR
  constant for 100 epochs then linear decay to 0 over 100 (junyanz ``--n_epochs 100 --n_epochs_decay 100``,
  ``LinearDecay`` in the YAML); batch 1 (Sec. 3.3 / junyanz).
* No image pool (junyanz pix2pix: ``pool_size 0``).

Inference (``inference_mode``), for validation, samples and prediction:

* 'paper': the generator runs as in training, dropout on and BatchNorm with the statistics of the test batch
  (paper Sec. 3.3 "At inference time, we run the generator net in exactly the same manner as during the
  training phase"; junyanz ``test.py`` without ``--eval``). Here the running statistics are left untouched
  (junyanz updates them at test time, which only matters to a later ``--eval`` run).
* 'eval': ``generator.eval()`` (deterministic; junyanz ``--eval``; the tutorial's ``visualize`` and the
  colorization YAMLs).

Prediction: Pix2Pix pads the input to the generator's ``input_multiple`` (reflect) and crops back, so any
size works (``lit_gans.utils.padding``). Colorization predicts ab at ``predict_size`` (the training size) from
the resized image's L, resizes ab bilinearly to the input's size and recombines it with the input's own
full-resolution L (seed 002's recipe; the tutorial's ``infer.py`` fed the R channel, ``ToTensor(img)[:1] * 2 - 1``, instead
of L).

Metrics (validation/test; ``lit_gans.metrics.paired``): PSNR and SSIM on RGB in [0, 1] (torchmetrics), and
``ab_l1`` for colorization (with ``ab_l1_gray``, the same for ab = 0, the gray baseline); fp32; per image
with the sample index so DDP padding is not counted twice.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Literal, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from lit_gans.errors import ConfigError
from lit_gans.evaluation import EvaluationMixin
from lit_gans.evaluation.paired import PairedEvaluation
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.models.base import GANModule, GeneratorOnly, StepLogs
from lit_gans.networks.init import init_weights
from lit_gans.io.checkpoints import load_weights_into
from lit_gans.run._lightning import attached_trainer

LAMBDA_L1 = 100.0  # pix2pix Sec. 4 / junyanz --lambda_L1; the tutorial's lambda_L1=100.
D_LOSS_WEIGHT = 0.5  # pix2pix Sec. 3.3 "divide the objective by 2 while optimizing D"; junyanz backward_D
PIX2PIX_LR, PIX2PIX_BETAS = 2e-4, (0.5, 0.999)  # pix2pix Sec. 3.3 / junyanz --lr --beta1; tutorial the same
PRETRAIN_LR = 1e-4  # tutorial section 2.2: optim.Adam(net_G.parameters(), lr=1e-4) (betas: Adam's default)
INIT_STD = 0.02  # pix2pix Sec. 3.3 / junyanz init_gain; tutorial init_weights(gain=0.02)

ColorSpace = Literal["rgb", "lab"]
InferenceMode = Literal["paper", "eval"]


@contextlib.contextmanager
def generator_mode(net: nn.Module, mode: InferenceMode) -> Iterator[nn.Module]:
    """Run ``net`` in the inference mode and restore its modes afterwards.

    'eval': ``net.eval()``. 'paper': dropout active and BatchNorm normalising with the batch's statistics,
    without updating the running statistics (``track_running_stats`` off for the duration).
    """
    modes = {m: m.training for m in net.modules()}
    tracked = {m: m.track_running_stats for m in net.modules() if isinstance(m, _BatchNorm)}
    try:
        if mode == "eval":
            net.eval()
        else:
            net.train()
            for m in tracked:
                m.track_running_stats = False
        yield net
    finally:
        for m, training in modes.items():
            m.training = training
        for m, value in tracked.items():
            m.track_running_stats = value


class PairedTranslationMixin(EvaluationMixin):
    """What :class:`Pix2Pix` and :class:`GeneratorPretraining` share: the colour space, the inference mode and the
    paired protocol (:class:`lit_gans.evaluation.paired.PairedEvaluation`: metrics, samples, test, prediction).

    Batches: ``{"A": input, "B": target, "index", "name"}`` from ``datamodules.paired.PairedDataModule``
    (RGB in [-1, 1]) or ``datamodules.lab_colorization.LabColorizationDataModule`` (A = L, B = ab).
    """
    batch_keys = {"fit": ("A", "B"), "test": ("A", "B", "index"), "predict": ("A|rgb",)}  # lit_gans.utils.batches

    color_space: ColorSpace
    inference_mode: InferenceMode

    def _init_paired(self, color_space: ColorSpace, inference_mode: InferenceMode, predict_size: int, num_sample_images: int, metrics: bool) -> None:
        if color_space not in ("rgb", "lab"):
            raise ConfigError(f"color_space must be 'rgb' or 'lab', got {color_space!r}")
        if inference_mode not in ("paper", "eval"):
            raise ConfigError(f"inference_mode must be 'paper' or 'eval', got {inference_mode!r}")
        self.color_space, self.inference_mode = color_space, inference_mode
        self.evaluation = PairedEvaluation(self, predict_size, num_sample_images, metrics)

    @torch.no_grad()
    def translate(self, a: Tensor) -> Tensor:
        """G(a) in the inference mode (``sampling_generator``: the EMA generator when enabled)."""
        net = self.sampling_generator  # type: ignore[attr-defined]
        with generator_mode(net, self.inference_mode):
            return net(a)

    def _check_datamodule(self) -> None:
        trainer = attached_trainer(self)
        dm = getattr(trainer, "datamodule", None) if trainer is not None else None
        expected = getattr(dm, "color_space", None)
        if expected is not None and expected != self.color_space:
            raise ConfigError(
                f"the datamodule {type(dm).__name__} makes {expected!r} batches but the model has color_space="
                f"{self.color_space!r}; set --model.init_args.color_space={expected}"
            )


class Pix2Pix(PairedTranslationMixin, GANModule):
    """Pix2Pix (and, with ``color_space: lab``, the Lab colorization GAN). See the module docstring.

    Args:
        generator: G (``UnetGenerator`` 'unet_256' for pix2pix; ``UnetGenerator(1, 2)``, ``ResUNet`` or
            ``DynamicUnet`` for colorization).
        discriminator: D on concat(input, output) (``PatchDiscriminator``, 6 channels for RGB pairs, 3 for Lab).
        lambda_l1: weight of the L1 term (100).
        gan_loss: adversarial loss ('vanilla' = BCE on logits, junyanz ``--gan_mode vanilla``; 'lsgan', ...).
        d_loss_weight: factor of the discriminator loss (0.5).
        color_space: 'rgb' (pix2pix pairs in [-1, 1]) or 'lab' (input L, output ab).
        inference_mode: 'paper' (dropout and batch statistics, the paper's test protocol) or 'eval'.
        init_std: N(0, std) init of the discriminator (0.02); the generators initialise themselves
            (``UnetGenerator``: the same N(0, 0.02); ``DynamicUnet``: ImageNet encoder + fastai init), None: keep.
        generator_ckpt: initial generator weights, loaded at setup unless the run is given ``--ckpt_path``
            (a resume, or validate/predict from a checkpoint, restores its own weights): a lit_gans checkpoint
            (e.g. the :class:`GeneratorPretraining` stage), a state_dict, or an official file (junyanz
            ``latest_net_G.pth``, a fastai DynamicUnet state_dict), mapped by the network's converter. So
            ``lit-gans predict --config pix2pix_facades.yaml --model.init_args.generator_ckpt=latest_net_G.pth``
            predicts with the published weights.
        predict_size: colorization: side at which ab is predicted (the training size, 256).
        num_sample_images: rows of the sample grid.
        metrics: PSNR/SSIM (and ab L1) at validation.
        **kwargs: ``GANModule`` options (``optimizer_g``, ``optimizer_d``, ``scheduler_g``, ``scheduler_d``,
            ``scheduler_interval``, ``ema_decay``, ``grad_clip_*``, ``channels_last``, ``compile``, ...).
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        lambda_l1: float = LAMBDA_L1,
        gan_loss: GanLoss = "vanilla",
        d_loss_weight: float = D_LOSS_WEIGHT,
        color_space: ColorSpace = "rgb",
        inference_mode: InferenceMode = "paper",
        init_std: Optional[float] = INIT_STD,
        generator_ckpt: Optional[str] = None,
        predict_size: int = 256,
        num_sample_images: int = 4,
        metrics: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        if gan_loss not in GAN_LOSSES or gan_loss in RELATIVISTIC:
            raise ConfigError(f"Pix2Pix gan_loss must be one of {sorted(set(GAN_LOSSES) - RELATIVISTIC)}, got {gan_loss!r}")
        self.generator, self.discriminator = generator, discriminator
        d_in = getattr(discriminator, "in_channels", None)
        g_io = (getattr(generator, "in_channels", None), getattr(generator, "out_channels", None))
        if d_in is None:
            first = next((m for m in discriminator.modules() if isinstance(m, nn.Conv2d)), None)
            d_in = first.in_channels if first is not None else None
        if d_in is not None and None not in g_io and d_in != sum(g_io):
            raise ConfigError(
                f"the discriminator sees concat(input, output) = {g_io[0]} + {g_io[1]} = {sum(g_io)} channels but "
                f"takes {d_in}; set the discriminator's in_channels to {sum(g_io)}"
            )
        if init_std is not None:
            init_weights(self.discriminator, init_std)
        self.lambda_l1, self.d_loss_weight = lambda_l1, d_loss_weight
        self.gan_loss = gan_loss
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[gan_loss]
        self.generator_ckpt = generator_ckpt
        self._init_paired(color_space, inference_mode, predict_size, num_sample_images, metrics)

    # ------------------------------------------------------------------ GANModule hooks
    def paper_optimizer_g(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return partial(torch.optim.Adam, lr=PIX2PIX_LR, betas=PIX2PIX_BETAS)  # pix2pix Sec. 3.3

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"fake": self.generator(batch["A"])}

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        a, b, fake = batch["A"], batch["B"], out["fake"].detach()
        # Fake pair first, then the real one (junyanz ``backward_D``; the tutorial's ``backward_D`` likewise): in
        # train mode each forward moves D's BatchNorm running statistics, so the order decides their values.
        fake_logits = self.discriminator(torch.cat([a, fake], dim=1))
        real_logits = self.discriminator(torch.cat([a, b], dim=1))
        loss = self.d_loss_weight * self.d_loss_fn(real_logits, fake_logits)
        return loss, {"d_loss": loss.detach(), "d_real_logit": real_logits.detach().mean(), "d_fake_logit": fake_logits.detach().mean()}

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        a, b, fake = batch["A"], batch["B"], out["fake"]
        adv = self.g_loss_fn(self.discriminator(torch.cat([a, fake], dim=1)))
        l1 = F.l1_loss(fake, b)
        loss = adv + self.lambda_l1 * l1
        return loss, {"g_loss": loss.detach(), "g_adv": adv.detach(), "g_l1": l1.detach()}

    # ------------------------------------------------------------------ Lightning hooks
    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._check_datamodule()
        if self.generator_ckpt and not getattr(self, "_generator_loaded", False):
            # A run given --ckpt_path (resume, or validate/predict from a checkpoint) restores everything from it;
            # without one, the generator starts from generator_ckpt (also to predict with official weights).
            from_checkpoint = attached_trainer(self) is not None and self.trainer.ckpt_path is not None
            if not from_checkpoint:
                load_weights_into(self.generator, self.generator_ckpt, prefix="generator.")
                rank_zero_info(f"lit_gans: generator initialised from {self.generator_ckpt}")
            self._generator_loaded = True

    def on_train_start(self) -> None:
        self.evaluation.fetch_samples()


class GeneratorPretraining(PairedTranslationMixin, GeneratorOnly):
    """Generator-only training with a pixel loss (seed 002's stage 1: L1, Adam 1e-4, 20 epochs), on the core's
    :class:`~lit_gans.models.base.GeneratorOnly` (divergence stop, EMA, exact resume, bf16, DDP as for the GANs).
    Its checkpoint stores the network under ``generator.``, so a GAN stage starts from it with
    ``generator_ckpt: <this run's ckpt>`` (``lit_gans.io.checkpoints.load_weights_into(prefix="generator.")``).

    Works for any paired batch ``{"A": input, "B": target}`` (RGB pairs, or L -> ab with ``color_space: lab``)
    and has the same validation metrics, samples and prediction as :class:`Pix2Pix`.

    Args:
        generator: the network (``DynamicUnet`` with an ImageNet ResNet18 in seed 002).
        loss: 'l1' (seed 002) or 'mse'.
        color_space: 'rgb' or 'lab'.
        inference_mode: 'eval' (the tutorial) or 'paper'.
        optimizer: default Adam 1e-4 (tutorial section 2.2; betas Adam's default).
        scheduler: optional LR scheduler, stepped every ``scheduler_interval``.
        scheduler_interval: 'epoch' or 'step'.
        predict_size: colorization: side at which ab is predicted.
        num_sample_images: rows of the sample grid.
        metrics: PSNR/SSIM (and ab L1) at validation.
        **kwargs: the core's other options (``ema_decay``, ``grad_clip``, ``on_nonfinite``,
            ``divergence_threshold``, ``channels_last``, ``compile``, ...: ``GeneratorOnly``).
    """

    def __init__(
        self,
        generator: nn.Module,
        loss: Literal["l1", "mse"] = "l1",
        color_space: ColorSpace = "lab",
        inference_mode: InferenceMode = "eval",
        optimizer: Optional[OptimizerCallable] = None,
        scheduler: Optional[LRSchedulerCallable] = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        predict_size: int = 256,
        num_sample_images: int = 4,
        metrics: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(optimizer=optimizer, scheduler=scheduler, scheduler_interval=scheduler_interval, **kwargs)
        self.save_config_hyperparameters()
        if loss not in ("l1", "mse"):
            raise ConfigError(f"loss must be 'l1' or 'mse', got {loss!r}")
        self.generator = generator
        self.loss = loss
        self._init_paired(color_space, inference_mode, predict_size, num_sample_images, metrics)

    def paper_optimizer(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return partial(torch.optim.Adam, lr=PRETRAIN_LR)  # tutorial section 2.2 (betas: Adam's default)

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self._check_datamodule()

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        return {"fake": self.generator(batch["A"])}

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake, target = out["fake"], batch["B"]
        loss = F.l1_loss(fake, target) if self.loss == "l1" else F.mse_loss(fake, target)
        return loss, {self.loss: loss.detach()}

    def on_train_start(self) -> None:
        self.evaluation.fetch_samples()

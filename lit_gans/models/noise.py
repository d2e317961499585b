"""Noise-to-image GANs: vanilla GAN, DCGAN, WGAN, WGAN-GP and the conditional GAN.

They differ only in networks, loss, optimizer, critic schedule and regulariser, so they share one
``NoiseGAN``; each paper is a thin subclass whose defaults cite their source.

Sources: Goodfellow et al. 2014 (GAN); Radford et al. 2016 (DCGAN, pytorch/examples dcgan/main.py);
Arjovsky et al. 2017 (WGAN, martinarjovsky/WassersteinGAN main.py); Gulrajani et al. 2017 (WGAN-GP,
igul222/improved_wgan_training); Mirza & Osindero 2014 (conditional GAN).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Literal, Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.evaluation import EvaluationMixin, GenerationEvaluation, seeded_noise  # noqa: F401  (seeded_noise: public here too)
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.losses.penalties import gradient_penalty
from lit_gans.run._lightning import attached_trainer
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.utils.images import to_unit_range


class NoiseGAN(EvaluationMixin, GANModule):
    """z -> image GAN with an optional class condition.

    Args:
        generator: ``z [B, latent_dim] (, labels) -> [B, C, H, W]`` in [-1, 1]; needs ``latent_dim``.
        discriminator: ``image (, labels) -> [B]`` logits / critic values.
        gan_loss: adversarial loss, see ``lit_gans.losses.adversarial``.
        gp_weight: WGAN-GP gradient penalty weight (0 = off).
        weight_clip: clamp critic weights to [-c, c] before every critic update (WGAN; None = off).
        num_classes: > 0 for a conditional model (labels go into G and D).
        num_sample_images: fixed-noise samples in the logged grid (a multiple of ``num_classes`` when
            conditional: one column per class).
        sample_seed: seed of the fixed sample noise (a persistent buffer: identical across runs and resumes).
        metrics: validation metrics: None, 'digits' / 'mnist' (FID/KID on the features of the project's
            digit classifier trained on that data, plus class accuracy when conditional; see docs/metrics.md)
            or 'inception' (standard InceptionV3 FID/KID).
        metrics_weights: path of the digit classifier / Inception weights (None: the default cache).
        test_samples: generated samples that ``test`` measures (None: as many as the real test images; the
            papers use 50,000: ``--model.init_args.test_samples=50000``). ``test`` uses ``metrics`` (default:
            the digit classifier of the datamodule: 'mnist' for MNIST, else 'digits').
        fid_protocol: the FID/KID protocol with InceptionV3 features (``lit_gans.metrics.fid_protocols``):
            'torch-fidelity' (default), 'pytorch-fid' or 'clean-fid'; the results table names it and its weights.
        **kwargs: ``GANModule`` options (optimizers, schedulers, n_critic, EMA, clipping, ...).
    """
    batch_keys = {"fit": ("image",), "test": ("image", "index"), "validate": ("image", "index"), "predict": ("index",)}  # lit_gans.utils.batches

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: GanLoss = "vanilla",
        gp_weight: float = 0.0,
        weight_clip: Optional[float] = None,
        num_classes: int = 0,
        num_sample_images: int = 64,
        sample_seed: int = 0,
        metrics: Optional[Literal["digits", "mnist", "inception"]] = None,
        metrics_weights: Optional[str] = None,
        test_samples: Optional[int] = None,
        fid_protocol: str = "torch-fidelity",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        if test_samples is not None and test_samples < 2:
            raise ConfigError(f"--model.init_args.test_samples={test_samples}: must be >= 2 (FID needs two samples)")
        self.evaluation = GenerationEvaluation(
            self, metrics, metrics_weights, test_samples, test_fallback="digits", fid_protocol=fid_protocol
        )
        if gan_loss not in GAN_LOSSES:
            raise ConfigError(f"gan_loss must be one of {sorted(GAN_LOSSES)}, got {gan_loss!r}")
        if not hasattr(generator, "latent_dim"):
            raise ConfigError(f"{type(generator).__name__} has no `latent_dim` attribute; NoiseGAN needs it to draw z")
        self.generator, self.discriminator = generator, discriminator
        self.gan_loss, self.gp_weight, self.weight_clip = gan_loss, gp_weight, weight_clip
        self.num_classes = num_classes
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[gan_loss]
        self.sample_seed = sample_seed
        z = torch.randn(num_sample_images, generator.latent_dim, generator=torch.Generator().manual_seed(sample_seed))
        self.register_buffer("sample_z", z)
        self.register_buffer("sample_labels", torch.arange(num_sample_images) % max(num_classes, 1))

    # ------------------------------------------------------------------ networks with optional labels
    def G(self, z: Tensor, labels: Optional[Tensor], net: Optional[nn.Module] = None) -> Tensor:
        net = net or self.generator
        return net(z, labels) if self.num_classes else net(z)

    def D(self, x: Tensor, labels: Optional[Tensor]) -> Tensor:
        return self.discriminator(x, labels) if self.num_classes else self.discriminator(x)

    # ------------------------------------------------------------------ GANModule hooks
    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        real = batch["image"]
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        labels = batch["label"] if self.num_classes else None
        return {"fake": self.G(z, labels), "labels": labels}

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        real, fake, labels = batch["image"], out["fake"].detach(), out["labels"]
        d_real, d_fake = self.D(real, labels), self.D(fake, labels)
        loss = self.d_loss_fn(d_real, d_fake)
        kind = "critic" if self.gan_loss == "wgan" else "logit"  # what D outputs: a critic value or a logit
        logs = {"d_loss": loss.detach(), f"d_real_{kind}": d_real.detach().mean(), f"d_fake_{kind}": d_fake.detach().mean()}
        if self.gan_loss == "wgan":
            logs["wasserstein"] = (d_real.detach().mean() - d_fake.detach().mean())
        if self.gp_weight:
            gp = gradient_penalty(lambda x: self.D(x, labels), real, fake, self.gp_weight)
            loss = loss + gp
            logs["gp"] = gp.detach()
        return loss, logs

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        d_fake = self.D(out["fake"], out["labels"])
        if self.gan_loss in RELATIVISTIC:
            loss = self.g_loss_fn(d_fake, self.D(batch["image"], out["labels"]).detach())
        else:
            loss = self.g_loss_fn(d_fake)
        return loss, {"g_loss": loss.detach()}

    def _clip_weights(self) -> None:
        if self.weight_clip is not None:
            with torch.no_grad():
                for p in self.discriminator.parameters():
                    p.clamp_(-self.weight_clip, self.weight_clip)

    def on_train_start(self) -> None:
        self._clip_weights()  # official WGAN clamps before every critic update, the first included

    def after_discriminator_step(self) -> None:
        self._clip_weights()

    # ------------------------------------------------------------------ checks at setup
    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = self.trainer.datamodule if attached_trainer(self) is not None else None
        g = self.generator
        for attr, data_attr, option in (
            ("out_channels", "channels", "channels"),
            ("image_size", "image_size", "image_size"),
        ):
            want, have = getattr(g, attr, None), getattr(dm, data_attr, None)
            if want is None and hasattr(g, "shape"):
                want = g.shape[0] if attr == "out_channels" else g.shape[1]
            if want is not None and have is not None and want != have:
                raise ConfigError(
                    f"the generator makes {option}={want} but the datamodule gives {option}={have}; set "
                    f"--data.init_args.{data_attr}={want} or the generator's {attr}={have} (and the discriminator's)"
                )
        if self.num_classes and dm is not None and getattr(dm, "num_classes", self.num_classes) != self.num_classes:
            raise ConfigError(f"model num_classes={self.num_classes} but the datamodule has {dm.num_classes} classes")
        self.evaluation.setup(stage)

    # ------------------------------------------------------------------ inference (lit_gans.evaluation.generation)
    def sample(self, z: Tensor, labels: Optional[Tensor] = None, full_resolution: bool = True) -> Tensor:
        """Images in [0, 1] from the sampling (EMA) generator; ``labels`` only for a conditional model."""
        return to_unit_range(self.G(z, labels if self.num_classes else None, self.sampling_generator))


class GAN(NoiseGAN):
    """Vanilla GAN (Goodfellow et al. 2014): ``NoiseGAN``'s defaults, non-saturating G loss on logits, n_critic 1.

    Defaults: Adam 2e-4, betas (0.5, 0.999), batch 64 (eriklindernoren/PyTorch-GAN gan.py; the
    paper used SGD with momentum). ``experiments/gan_*.yaml`` give it MLP networks.
    """


class DCGAN(GAN):
    """DCGAN (Radford et al. 2016): the training of :class:`GAN` (Adam lr 2e-4, beta1 0.5: Sec. 4; vanilla loss,
    n_critic 1); the convolutional networks (``lit_gans.networks.dcgan``, ``experiments/dcgan_*.yaml``) make the
    difference. A name of its own so that YAMLs and checkpoints naming ``lit_gans.models.noise.DCGAN`` keep
    their class."""


class WGAN(NoiseGAN):
    """WGAN with weight clipping (Arjovsky et al. 2017, Alg. 1; official main.py).

    Defaults: clip c = 0.01, n_critic = 5, RMSprop lr 5e-5 for both networks, no sigmoid, and the
    official warm-up: 100 critic iterations while fewer than 25 generator iterations were done and on
    every 500th generator iteration.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: GanLoss = "wgan",
        weight_clip: Optional[float] = 0.01,  # Alg. 1, c = 0.01
        n_critic: int = 5,  # Alg. 1, n_critic = 5
        critic_warmup_steps: Optional[int] = 100,  # main.py: Diters = 100 if gen_iterations < 25 or % 500 == 0
        **kwargs: Any,
    ) -> None:
        super().__init__(generator, discriminator, gan_loss=gan_loss, weight_clip=weight_clip, n_critic=n_critic, critic_warmup_steps=critic_warmup_steps, **kwargs)

    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.RMSprop, lr=5e-5)  # Alg. 1, alpha = 0.00005


class WGANGP(NoiseGAN):
    """WGAN-GP (Gulrajani et al. 2017, Alg. 1): lambda = 10, n_critic = 5, Adam 1e-4 betas (0, 0.9);
    no batch norm in the critic (use ``norm: layer`` or ``none`` in the discriminator).
    ``compile`` leaves the critic alone: torch.compile has no double backward.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: GanLoss = "wgan",
        gp_weight: float = 10.0,  # Alg. 1, lambda = 10
        n_critic: int = 5,  # Alg. 1, n_critic = 5
        **kwargs: Any,
    ) -> None:
        super().__init__(generator, discriminator, gan_loss=gan_loss, gp_weight=gp_weight, n_critic=n_critic, **kwargs)
        for m in discriminator.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                raise ConfigError(
                    "WGAN-GP critic must not use batch norm (the penalty is per sample; Gulrajani et al. 2017 Sec. 4): "
                    "set the discriminator's norm to 'layer' or 'none'"
                )

    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=1e-4, betas=(0.0, 0.9))  # Alg. 1: alpha 1e-4, beta1 0, beta2 0.9

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator",)


class ConditionalGAN(NoiseGAN):
    """Conditional GAN (Mirza & Osindero 2014): the class label enters G and D; sampling by class.

    Defaults: vanilla loss (the paper's Eq. 2; PyTorch-GAN cgan.py uses MSE/LSGAN instead, selectable
    with ``gan_loss: lsgan``), Adam 2e-4 (0.5, 0.999) (PyTorch-GAN cgan.py).
    """
    batch_keys = {"fit": ("image", "label"), "test": ("image", "label", "index"), "validate": ("image", "label", "index"), "predict": ("index",)}  # lit_gans.utils.batches

    def __init__(self, generator: nn.Module, discriminator: nn.Module, num_classes: int = 10, gan_loss: GanLoss = "vanilla", num_sample_images: int = 100, **kwargs: Any) -> None:
        if num_classes < 2:
            raise ConfigError(f"ConditionalGAN needs num_classes >= 2, got {num_classes}")
        super().__init__(generator, discriminator, gan_loss=gan_loss, num_classes=num_classes, num_sample_images=num_sample_images, **kwargs)

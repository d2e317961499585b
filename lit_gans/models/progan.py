"""Progressive GAN (Karras et al. 2018, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", arXiv:1710.10196; official code tkarras/progressive_growing_of_gans, TensorFlow release).

What is reproduced (official ``config.py``, ``train.py``, ``loss.py``):

* WGAN-GP with lambda = 10 and target 1, plus the drift term ``0.001 * D(real)^2`` (``D_wgangp_acgan``:
  ``wgan_lambda=10``, ``wgan_epsilon=0.001``); generator loss ``-D(G(z))``; one D step per G step.
* Adam lr 1e-3, betas (0, 0.99), eps 1e-8 for both networks (``G_opt``/``D_opt``, ``G_lrate_base``), the
  optimizer state reset whenever a new level of detail starts fading in or becomes stable
  (``reset_opt_for_new_lod=True``).
* Generator EMA 0.999 (``G_smoothing``) used for samples, metrics and prediction.
* The schedule in images shown to D (kimg): ``training_kimg`` of stable training at a resolution, then
  ``transition_kimg`` of fade-in of the next one (600 / 600, ``lod_training_kimg``/``lod_transition_kimg``),
  per-resolution batch sizes and learning rates, optional ``total_kimg`` (see :class:`ProGANSchedule`).
* Real images are faded between resolutions exactly as the generator is (``process_reals``): done on the
  device by ``datamodules.progan.ProGANDataModule``.

State: ``images_seen`` (a Python int, saved in checkpoints) defines everything else: the stage, the fade-in
``alpha``, the batch size, the learning rate and the optimizer-reset phase are functions of it. The data
stream is a function of it too (``ProgressiveBatchSampler``), so a resume at any point, mid-fade included,
continues exactly as an uninterrupted run (tested).

Name map (code vs. official): ``images_seen`` = ``cur_nimg``; ``stage`` = ``log2(res) - 2`` where ``res`` is
the resolution being trained (``2**(resolution_log2 - floor(lod))``); ``alpha`` = ``1 - (lod - floor(lod))``.

Deviations (deliberate):
    - The schedule is re-evaluated at every batch (official: every ``minibatch_repeats = 4`` batches).
    - One latent batch per iteration feeds both the D and the G step (the project's ``generate`` contract);
      the official code draws separate latents for the two losses.
    - The EMA is updated after the G step (official: together with the D step, i.e. before the G step).
    - ``batch_size`` is per device (Lightning convention); ``images_seen`` counts all devices, as the
      official ``minibatch`` counts all GPUs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.evaluation import EvaluationMixin, GenerationEvaluation
from lit_gans.evaluation.generation import slerp  # noqa: F401  (public here too)
from lit_gans.losses.adversarial import d_wgan, g_wgan
from lit_gans.losses.penalties import drift_penalty, gradient_penalty
from lit_gans.run._lightning import attached_trainer
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.utils.images import to_unit_range


class ScheduleState(NamedTuple):
    """Training parameters at a given ``images_seen`` (all Python numbers: no device sync)."""

    stage: int  # log2(resolution) - 2
    alpha: float  # fade-in of the newest stage, 1.0 when stable
    resolution: int  # side of the images trained at this point
    batch_size: int  # per device
    lr: Optional[float]  # None: leave the optimizers' learning rate alone
    lod: float  # official level of detail (0 = final resolution)
    phase: tuple[int, int]  # (floor(lod), ceil(lod)): a change resets the optimizers' state


@dataclass
class ProGANSchedule:
    """The progressive schedule, as data (``model.init_args.schedule`` in YAML).

    Args:
        training_kimg: thousands of real images shown at a resolution before fading in the next one
            (600, official ``lod_training_kimg``; 800 for CelebA-HQ 1024 in the paper's v1 preset).
        transition_kimg: thousands of real images of each fade-in (600, ``lod_transition_kimg``).
        start_resolution: first resolution trained (4, ``lod_initial_resolution``).
        batch_size: per-device batch size, one int for every resolution or ``{resolution: size}`` covering
            every resolution from ``start_resolution`` to the final one (a missing one is an error at setup).
            Official ``minibatch_base = 16`` with ``minibatch_dict = {256: 14, 512: 6, 1024: 3}`` (paper,
            preset v1) or, in the released config.py (preset v2, 1 GPU), ``{4: 128, 8: 128, 16: 128,
            32: 64, 64: 32, 128: 16, 256: 8, 512: 4}``.
        lr: learning rate of both networks, one float or ``{resolution: lr}`` covering every resolution
            (1e-3, ``G_lrate_base``/``D_lrate_base``); ``None`` leaves the optimizers' own learning rate.
        total_kimg: stop training after this many thousand images (official 12000-15000); ``None``: the
            Trainer's limits decide.
    """

    training_kimg: float = 600.0
    transition_kimg: float = 600.0
    start_resolution: int = 4
    batch_size: Union[int, dict[int, int]] = 16
    lr: Union[None, float, dict[int, float]] = 1e-3
    total_kimg: Optional[float] = None

    def resolutions(self, resolution: int) -> list[int]:
        return [2**i for i in range(int(math.log2(self.start_resolution)), int(math.log2(resolution)) + 1)]

    def validate(self, resolution: int, option: str = "--model.init_args.schedule") -> None:
        """Clear errors for a schedule that cannot drive a ``resolution`` px run."""
        s = self.start_resolution
        if s < 4 or s & (s - 1) or s > resolution:
            raise ConfigError(f"{option}.start_resolution={s} must be a power of two in [4, {resolution}] (the final resolution)")
        if self.training_kimg < 0 or self.transition_kimg < 0:
            raise ConfigError(f"{option}: training_kimg and transition_kimg must be >= 0, got {self.training_kimg}, {self.transition_kimg}")
        for name in ("batch_size", "lr"):
            value = getattr(self, name)
            if isinstance(value, dict):
                missing = [r for r in self.resolutions(resolution) if r not in value]
                if missing:
                    raise ConfigError(
                        f"{option}.{name} has no entry for resolution(s) {missing}; the run trains "
                        f"{self.resolutions(resolution)}: add them (e.g. {name}: {{{', '.join(f'{r}: ...' for r in missing)}}}) "
                        f"or give one value for all resolutions"
                    )
        sizes = self.batch_size.values() if isinstance(self.batch_size, dict) else [self.batch_size]
        if any(int(b) < 1 for b in sizes):
            raise ConfigError(f"{option}.batch_size must be >= 1 everywhere, got {self.batch_size}")

    def at(self, nimg: int, resolution: int) -> ScheduleState:
        """Official ``TrainingSchedule`` at ``nimg`` images, computed in whole images (no float drift)."""
        train_img, trans_img = round(self.training_kimg * 1000), round(self.transition_kimg * 1000)
        phase_dur = train_img + trans_img
        phase_idx = nimg // phase_dur if phase_dur > 0 else 0
        phase_img = nimg - phase_idx * phase_dur
        lod = math.log2(resolution) - math.log2(self.start_resolution) - phase_idx
        if trans_img > 0:
            lod -= max(phase_img - train_img, 0) / trans_img
        lod = max(lod, 0.0)
        res = 2 ** (int(math.log2(resolution)) - math.floor(lod))
        pick = lambda v: v[res] if isinstance(v, dict) else v  # noqa: E731
        lr = pick(self.lr)
        return ScheduleState(
            stage=int(math.log2(res)) - 2,
            alpha=1.0 - (lod - math.floor(lod)),
            resolution=res,
            batch_size=int(pick(self.batch_size)),
            lr=None if lr is None else float(lr),
            lod=lod,
            phase=(math.floor(lod), math.ceil(lod)),
        )


class ProGAN(EvaluationMixin, GANModule):
    """Progressive GAN training: WGAN-GP + drift, growing G and D, schedule in kimg.

    Args:
        generator: :class:`lit_gans.networks.progan.ProGANGenerator` (or any net with ``resolution``,
            ``num_stages``, ``latent_dim``, ``channels`` and ``forward(z, stage, alpha)``).
        discriminator: :class:`lit_gans.networks.progan.ProGANDiscriminator` (``forward(x, alpha)``, the
            stage read from the image size).
        schedule: :class:`ProGANSchedule` (kimg per phase, per-resolution batch sizes and learning rates).
        gp_weight: WGAN-GP lambda (10, official ``wgan_lambda``).
        drift_weight: epsilon of the drift term on D(real)^2 (0.001, official ``wgan_epsilon``).
        reset_optimizer_on_phase: reset Adam's state when a fade-in starts or ends (official True).
        ema_decay: generator EMA (0.999, official ``G_smoothing``).
        num_sample_images: fixed latents of the logged sample grid.
        sample_seed: seed of the fixed sample latents, of the validation latents and of ``predict``.
        metrics: validation FID/KID features: None, 'digits' / 'mnist' (the project's digit CNN) or
            'inception' (see ``lit_gans.metrics.generation``).
        metrics_weights: weights of that feature network (None: the default cache).
        swd: also compute the sliced Wasserstein distance (the paper's metric) at validation and test.
        test_samples: generated samples that ``test`` measures (None: as many as the real test images; the paper's
            SWD uses 16,384 and its FID 50,000). ``test`` uses ``metrics`` or, when None, the digit classifier
            for digits/MNIST and InceptionV3 (when installed) for folders.
        fid_protocol: the FID/KID protocol with InceptionV3 features (``lit_gans.metrics.fid_protocols``):
            'torch-fidelity' (default), 'pytorch-fid' or 'clean-fid'; the results table names it and its weights.
        **kwargs: ``GANModule`` options (``optimizer_g``/``optimizer_d`` override the paper's Adam, ...).
    """
    batch_keys = {"fit": ("image",), "test": ("image", "index"), "validate": ("image", "index"), "predict": ("index|interpolation",)}  # lit_gans.utils.batches

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        schedule: Optional[ProGANSchedule] = None,
        gp_weight: float = 10.0,  # official loss.py wgan_lambda
        drift_weight: float = 1e-3,  # official loss.py wgan_epsilon (paper Sec. A.1 epsilon_drift)
        reset_optimizer_on_phase: bool = True,  # official train.py reset_opt_for_new_lod
        ema_decay: Optional[float] = 0.999,  # official train.py G_smoothing
        num_sample_images: int = 64,
        sample_seed: int = 0,
        metrics: Optional[Literal["digits", "mnist", "inception"]] = None,
        metrics_weights: Optional[str] = None,
        swd: bool = True,
        test_samples: Optional[int] = None,
        fid_protocol: str = "torch-fidelity",
        **kwargs: Any,
    ) -> None:
        super().__init__(ema_decay=ema_decay, **kwargs)
        if isinstance(schedule, dict):  # from hparams / load_from_checkpoint
            schedule = ProGANSchedule(**schedule)
        schedule = schedule or ProGANSchedule()
        self.save_config_hyperparameters()  # the schedule as a dict (checkpoints stay loadable with weights_only)
        for attr in ("resolution", "num_stages", "latent_dim", "channels"):
            if not hasattr(generator, attr):
                raise ConfigError(f"ProGAN needs a growing generator with `{attr}` (lit_gans.networks.progan.ProGANGenerator), got {type(generator).__name__}")
        if getattr(discriminator, "resolution", generator.resolution) != generator.resolution or getattr(discriminator, "channels", generator.channels) != generator.channels:
            raise ConfigError(
                f"generator (resolution {generator.resolution}, channels {generator.channels}) and discriminator "
                f"(resolution {discriminator.resolution}, channels {discriminator.channels}) must match: set both "
                "networks' `resolution` and `channels` to the same values"
            )
        if self.n_critic != 1:
            raise ConfigError(f"ProGAN trains D and G once per batch (official D_repeats=1); got n_critic={self.n_critic}")
        schedule.validate(generator.resolution)
        self.generator, self.discriminator, self.schedule = generator, discriminator, schedule
        self.resolution = generator.resolution
        self.gp_weight, self.drift_weight = gp_weight, drift_weight
        self.reset_optimizer_on_phase = reset_optimizer_on_phase
        if test_samples is not None and test_samples < 2:
            raise ConfigError(f"--model.init_args.test_samples={test_samples}: must be >= 2 (FID needs two samples)")
        self.evaluation = GenerationEvaluation(
            self, metrics, metrics_weights, test_samples, test_fallback="inception", swd=swd, progressive=True,
            fid_protocol=fid_protocol,
        )
        self.sample_seed = sample_seed
        # Progress state (Python ints: no device sync; saved in checkpoints).
        self.images_seen = 0
        self._opt_phase: Optional[tuple[int, int]] = None
        z = torch.randn(num_sample_images, generator.latent_dim, generator=torch.Generator().manual_seed(sample_seed))
        self.register_buffer("sample_z", z)

    # ------------------------------------------------------------------ schedule
    def paper_optimizer_g(self):  # noqa: ANN201
        return partial(torch.optim.Adam, lr=1e-3, betas=(0.0, 0.99), eps=1e-8)  # official config.py G_opt/D_opt, G_lrate_base

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator",)  # the critic needs double backward (gradient penalty), which torch.compile lacks

    def schedule_at(self, nimg: Optional[int] = None) -> ScheduleState:
        return self.schedule.at(self.images_seen if nimg is None else nimg, self.resolution)

    def batch_size_at(self, nimg: int) -> int:
        """Per-device batch size at ``nimg`` images (read by ``ProgressiveBatchSampler``)."""
        return self.schedule_at(nimg).batch_size

    def progress(self) -> tuple[int, float]:
        """``(stage, alpha)`` of the current point of the schedule (read by the datamodule to fade reals)."""
        state = self.schedule_at()
        return state.stage, state.alpha

    @property
    def stage(self) -> int:
        return self.schedule_at().stage

    @property
    def alpha(self) -> float:
        return self.schedule_at().alpha

    def _world_size(self) -> int:
        return self.trainer.world_size if attached_trainer(self) is not None else 1

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        state = self.schedule_at()
        if self.reset_optimizer_on_phase and self._opt_phase is not None and state.phase != self._opt_phase:
            for which in self.optimizer_names:  # official reset_optimizer_state(): Adam moments and step count start over
                self.reset_optimizer_state(which)
        self._opt_phase = state.phase
        if state.lr is not None:
            for which in self.optimizer_names:
                self.set_learning_rate(which, state.lr)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        state = self.schedule_at()
        n = batch["image"].shape[0]
        if n != state.batch_size or batch["image"].shape[-1] != state.resolution:
            raise RuntimeError(
                f"ProGAN at {self.images_seen / 1000:.1f} kimg expects batches of {state.batch_size} images at "
                f"{state.resolution} px, got {n} at {batch['image'].shape[-1]} px: use datamodules.progan.ProGANDataModule "
                "(its batch sampler and device-side resizing follow the model's schedule)"
            )
        super().training_step(batch, batch_idx)
        self.images_seen += n * self._world_size()
        self.log_dict(
            {
                "progress/kimg": self.images_seen / 1000.0,
                "progress/stage": float(state.stage),
                "progress/alpha": state.alpha,
                "progress/resolution": float(state.resolution),
                "progress/batch_size": float(n),
                "progress/lod": state.lod,
            },
            on_step=True, on_epoch=False,
        )
        total = self.schedule.total_kimg
        if total is not None and self.images_seen >= total * 1000:
            self.trainer.should_stop = True

    # ------------------------------------------------------------------ GANModule hooks
    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        stage, alpha = self.progress()
        real = batch["image"]
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)  # official: N(0, 1) latents
        return {"fake": self.generator(z, stage, alpha)}

    def _critic(self, alpha: float):  # noqa: ANN202
        return lambda x: self.discriminator(x, alpha)

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        _, alpha = self.progress()
        real, fake = batch["image"], out["fake"].detach()
        d_real, d_fake = self.discriminator(real, alpha), self.discriminator(fake, alpha)
        wasserstein = d_wgan(d_real, d_fake)  # E[D(fake)] - E[D(real)]
        gp = gradient_penalty(self._critic(alpha), real, fake, self.gp_weight)  # lambda 10, target 1
        drift = drift_penalty(d_real, self.drift_weight)  # 0.001 * E[D(real)^2]
        loss = wasserstein + gp + drift
        logs = {
            "d_loss": loss.detach(), "d_real_critic": d_real.detach().mean(), "d_fake_critic": d_fake.detach().mean(),
            "wasserstein": -wasserstein.detach(), "gp": gp.detach(), "drift": drift.detach(),
        }
        return loss, logs

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        _, alpha = self.progress()
        loss = g_wgan(self.discriminator(out["fake"], alpha))  # official G_wgan_acgan: -D(G(z))
        return loss, {"g_loss": loss.detach()}

    # ------------------------------------------------------------------ setup checks
    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = self.trainer.datamodule if attached_trainer(self) is not None else None
        if dm is not None and stage == "fit" and not getattr(dm, "follows_progan_schedule", False):
            raise ConfigError(
                f"ProGAN trains with a batch size and an image resolution that follow its schedule; "
                f"{type(dm).__name__} does not: use --data=datamodules.progan.ProGANDataModule "
                "(source: folder | digits | mnist)"
            )
        if dm is not None and getattr(dm, "follows_progan_schedule", False):
            dm.follow_schedule(self.batch_size_at, lambda: self.images_seen, self.progress)  # what the batches follow
        if dm is not None:
            for attr in ("resolution", "channels"):
                have = getattr(dm, attr, None)
                want = getattr(self.generator, attr)
                if have is not None and have != want:
                    raise ConfigError(
                        f"the networks work at {attr}={want} but the datamodule gives {attr}={have}; set "
                        f"--data.init_args.{attr}={want} or the generator's and discriminator's {attr}={have}"
                    )
        self.evaluation.setup(stage)

    # ------------------------------------------------------------------ checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["progan"] = {"images_seen": self.images_seen, "opt_phase": list(self._opt_phase) if self._opt_phase else None}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("progan")
        if state:
            self.images_seen = int(state["images_seen"])
            self._opt_phase = tuple(state["opt_phase"]) if state["opt_phase"] else None

    # ------------------------------------------------------------------ samples, metrics, prediction
    def generate_images(self, z: Tensor, full_resolution: bool = True, ema: bool = True) -> Tensor:
        """EMA generator (``ema=False``: the trained one) at the current stage/alpha, in [0, 1];
        nearest-upscaled to the final resolution when ``full_resolution`` (official ``Gs`` always outputs the
        final size)."""
        stage, alpha = self.progress()
        x = (self.sampling_generator if ema else self.generator)(z, stage, alpha)
        if full_resolution and x.shape[-1] != self.resolution:
            x = F.interpolate(x, scale_factor=self.resolution // x.shape[-1], mode="nearest")
        return to_unit_range(x)

    def sample(self, z: Tensor, labels: Optional[Tensor] = None, full_resolution: bool = True) -> Tensor:
        """The inference forward of :mod:`lit_gans.evaluation.generation`: EMA samples in [0, 1]."""
        return self.generate_images(z, full_resolution)

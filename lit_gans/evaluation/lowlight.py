"""Low-light enhancement (EnlightenGAN): Table 1 of Jiang et al. 2021: NIQE of the enhanced images, one row per test
folder, PSNR/SSIM where the folder has references (LOL ``low/`` + ``high/``), mean brightness of input and output;
sample grids (input | output | attention (| target)); prediction, tiled for large photos.

What the model supplies: ``enhance(x, net=None)`` (the enhanced image in [-1, 1]), ``attention(x)`` (the
generator's attention map, for the sample grid), ``sampling_generator``, ``predict_tile`` / ``predict_tile_overlap``.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lit_gans.evaluation.unpaired import ImageToImageProtocol, interleave
from lit_gans.utils.images import image_grid, to_unit_range


class LowLightEvaluation(ImageToImageProtocol):
    """Args:
        module: the model (see the module docstring).
        niqe: NIQE of the outputs: None (default) when its parameters are installed (``pip install --no-deps
            basicsr==1.4.2``), True to require it, False to skip it.
        niqe_params: path of ``niqe_pris_params.npz`` (None: the installed BasicSR file).
    """

    section = (
        "Low-light enhancement: NIQE of the enhanced images (BasicSR's NIQE), one row per test folder; PSNR/SSIM "
        "(RGB, per image) where the folder has references; mean brightness of the input and the output."
    )

    def __init__(self, module: Any, niqe: Optional[bool] = None, niqe_params: Optional[str] = None) -> None:
        super().__init__(module)
        self.niqe, self.niqe_params = niqe, niqe_params
        self.niqe_on = False
        self._val: dict[str, Any] = {}
        self._niqe_small_warned = False

    def setup(self, stage: str) -> None:
        if stage in ("fit", "validate", "test"):
            self.fetch_samples()
            self._setup_metrics()

    def _setup_metrics(self) -> None:
        if self._val:
            return
        from torchmetrics import MeanMetric
        from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

        if self.niqe is not False:
            try:
                from lit_gans.metrics.niqe import load_niqe_params  # needs scipy (the `niqe` extra)

                load_niqe_params(self.niqe_params)  # FileNotFoundError that says how to get the parameters
                self.niqe_on = True
            except (ImportError, FileNotFoundError, ValueError) as err:
                if self.niqe:
                    raise
                rank_zero_info(f"lit_gans: NIQE off ({err})")
        self._val = {
            "niqe": MeanMetric(),
            "psnr": PeakSignalNoiseRatio(data_range=1.0),
            "ssim": StructuralSimilarityIndexMeasure(data_range=1.0),
            "ssim_input": StructuralSimilarityIndexMeasure(data_range=1.0),
            "brightness": MeanMetric(),
            "brightness_input": MeanMetric(),
            "brightness_target": MeanMetric(),
        }

    def niqe_values(self, out: Tensor, reasons: Optional[list[str]] = None) -> Optional[Tensor]:
        """NIQE of each image [B] in [0, 1] (None when NIQE is off or the images are smaller than two 96 px blocks).
        Images where NIQE is undefined are left out of the result; their reasons are appended to ``reasons``."""
        if not self.niqe_on:
            return None
        from lit_gans.metrics.niqe import BLOCK_SIZE, niqe_result

        h, w = out.shape[-2:]
        if (h // BLOCK_SIZE) * (w // BLOCK_SIZE) >= 2:
            results = [niqe_result(img, self.niqe_params) for img in out]
            if reasons is not None:
                reasons.extend(r.reason for r in results if r.reason is not None)
            return torch.tensor([r.value for r in results if r.reason is None], dtype=torch.float32, device=self.device)
        why = f"{w}x{h} images: NIQE needs two 96x96 blocks"
        if reasons is not None:
            reasons.extend([why] * out.shape[0])
        if not self._niqe_small_warned:
            self._niqe_small_warned = True
            rank_zero_info(f"lit_gans: NIQE skipped for {why}")
        return None

    # -------------------------------------------------------------- samples
    def sample_images(self) -> dict[str, Tensor]:
        if self.samples is None:
            return {}
        m = self.module
        a = self.sample("A")
        att = m.attention(a)
        cols = [a, m.enhance(a, m.sampling_generator), att.expand(-1, 3, -1, -1) * 2.0 - 1.0]  # input | output | attention
        if "target" in self.samples:
            cols.append(self.sample("target"))  # | target (paired evaluation set)
        return {"enhance": image_grid(to_unit_range(interleave(cols)), nrow=len(cols))}

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._setup_metrics()
        low = batch["A"]
        out = to_unit_range(self.module.enhance(low))
        low01 = to_unit_range(low)
        m = {k: v.to(self.device) for k, v in self._val.items()}
        m["brightness"].update(out.mean(dim=(1, 2, 3)))
        m["brightness_input"].update(low01.mean(dim=(1, 2, 3)))
        if "target" in batch:
            target = to_unit_range(batch["target"])
            m["psnr"].update(out, target)
            m["ssim"].update(out, target)
            m["ssim_input"].update(low01, target)
            m["brightness_target"].update(target.mean(dim=(1, 2, 3)))
        values = self.niqe_values(out)
        if values is not None and values.numel():
            m["niqe"].update(values)
        self._val = m

    def validation_epoch_end(self) -> None:
        if not self._val:
            return
        values = {}
        for name, metric in self._val.items():
            if metric.update_count:  # torchmetrics syncs across ranks in compute()
                values[f"val/{name}"] = metric.compute()
            metric.reset()
        if values:
            self.module.log_dict(values, sync_dist=False)

    # -------------------------------------------------------------- test
    def _test_metrics(self, dataloader_idx: int) -> dict[str, Any]:
        per_set = self.test_state.metrics
        if dataloader_idx not in per_set:
            from torchmetrics import MeanMetric

            from lit_gans.metrics.paired import PairedImageMetrics

            m = {"niqe": MeanMetric(), "paired": PairedImageMetrics(), "brightness": MeanMetric(), "brightness_input": MeanMetric()}
            per_set[dataloader_idx] = {k: v.to(self.device) for k, v in m.items()}
            per_set[dataloader_idx]["niqe_undefined"] = []  # reasons of the images where NIQE is undefined (this rank)
            if not self.niqe_on:
                why = "the NIQE parameters are not installed (pip install --no-deps basicsr==1.4.2)" if self.niqe is None else "niqe: false"
                self.add_note("NIQE off: " + why)
        return per_set[dataloader_idx]

    def test_step(self, batch: dict[str, Tensor], dataloader_idx: int) -> None:
        """EnlightenGAN Table 1: NIQE of the enhanced images, one row per test folder (MEF, LIME, NPE, VV, DICM);
        PSNR/SSIM (per image, RGB, then averaged) where the folder has references (LOL ``low/`` + ``high/``);
        mean brightness of the input and the output."""
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        low, index = batch["A"][keep], batch["index"][keep]
        out, low01 = to_unit_range(self.module.enhance(low)), to_unit_range(low)
        m = self._test_metrics(dataloader_idx)
        m["brightness"].update(out.mean(dim=(1, 2, 3)))
        m["brightness_input"].update(low01.mean(dim=(1, 2, 3)))
        target = to_unit_range(batch["target"][keep]) if "target" in batch else None
        if target is not None:
            m["paired"].update(out, target, index)
        values = self.niqe_values(out, m["niqe_undefined"])
        if values is not None and values.numel():
            m["niqe"].update(values)
        cols = {"input": low01, "output": out, "target": target}
        self.add_examples(dataloader_idx, index, cols, self.names_kept(batch.get("A_name"), keep))

    def test_rows(self) -> list[dict[str, Any]]:
        rows = []
        for d, name in enumerate(self.test_set_names()):
            m = self._test_metrics(d)
            row: dict[str, Any] = {"set": name}
            row["niqe"] = self._niqe_cell(m, name)
            paired = m["paired"].compute()  # nan when the folder has no references; synced across ranks
            row.update(psnr=paired["psnr"], ssim=paired["ssim"])
            row.update(brightness=m["brightness"].compute(), brightness_input=m["brightness_input"].compute())
            rows.append(row)
        return rows

    def _niqe_cell(self, m: dict[str, Any], name: str) -> Any:
        """The mean NIQE of the images where it is defined, or ``n/a (<reason>)`` (NIQE off, or undefined on every
        image); a note counts the images left out. Counts and reasons are this process's (DDP: rank zero's)."""
        if not self.niqe_on:
            return "n/a (NIQE parameters not installed)" if self.niqe is None else "n/a (niqe: false)"
        undefined: list[str] = m["niqe_undefined"]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*compute.*called before.*update.*")
            value = m["niqe"].compute()  # every rank calls it (a collective under DDP); NaN when no image counted
        if bool(torch.isnan(value)):
            return f"n/a ({undefined[0]})" if undefined else "n/a (no images)"
        if undefined:
            self.add_note(f"{name}: NIQE undefined on {len(undefined)} image(s) ({undefined[0]}), left out of the mean")
        return value

    # -------------------------------------------------------------- prediction
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        net = self.module.sampling_generator
        out = self.apply_maybe_tiled(lambda x: self.module.enhance(x, net), batch["A"])
        return {"images": to_unit_range(out), "names": list(batch["A_name"])}

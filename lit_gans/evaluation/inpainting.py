"""Inpainting (Context Encoder): Table 1 of Pathak et al. 2016: mean L1, mean L2 and PSNR over the hole of the
composite (known pixels kept), images in [0, 1], one row per mask kind, the mean-filled input as a baseline;
sample grids; prediction at the file's size.

What the model supplies: ``inpaint(masked, image, mask)`` -> (prediction, composite) at network size in [-1, 1];
``crop_region(x)`` (the predicted region) and ``reconstruction_loss(pred, target, hole)`` for the validation loss.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_gans.evaluation.protocol import Protocol
from lit_gans.metrics.epoch_means import EpochMeans
from lit_gans.metrics.masked import MaskedImageMetrics
from lit_gans.utils.images import image_grid, to_unit_range
from lit_gans.utils.masks import composite

SAMPLE_KEYS = ("image", "mask", "masked")


class InpaintingEvaluation(Protocol):
    """Args:
        module: the model (see the module docstring).
        num_sample_images: rows of the sample grid (masked input | prediction | composite | original).
    """

    section = (
        "Inpainting: L1, L2 and PSNR (and SSIM) over the hole of the composite (known pixels kept), images in [0, 1], "
        "one row per mask kind; meanfill_* = the mean-filled input."
    )

    def __init__(self, module: Any, num_sample_images: int = 8) -> None:
        super().__init__(module)
        self.num_sample_images = num_sample_images
        self.samples: Optional[dict[str, Tensor]] = None  # fixed grid inputs: first train batch, then first val batch
        self.val_model = MaskedImageMetrics()
        self.val_meanfill = MaskedImageMetrics()  # the mean-filled input, for reference
        self.val_means = EpochMeans()  # exact item-weighted means under DDP

    # -------------------------------------------------------------- samples
    def keep_samples(self, batch: dict[str, Tensor], replace: bool = False) -> None:
        """Keep the batch's first items as the sample-grid inputs (training: once; validation: ``replace``)."""
        if self.samples is None or replace:
            n = self.num_sample_images
            self.samples = {k: batch[k][:n].detach().clone() for k in SAMPLE_KEYS}

    def sample_images(self) -> dict[str, Tensor]:
        if self.samples is None:
            return {}
        s = self.samples
        prediction, comp = self.module.inpaint(s["masked"], s["image"], s["mask"])
        rows = torch.stack([s["masked"], prediction, comp, s["image"]], 1).flatten(0, 1)  # per sample: 4 columns
        return {"inpainting": image_grid(to_unit_range(rows), nrow=4)}

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        if batch_idx == 0:
            self.keep_samples(batch, replace=True)
        m = self.module
        prediction, comp = m.inpaint(batch["masked"], batch["image"], batch["mask"])
        rec = m.reconstruction_loss(m.crop_region(prediction), m.crop_region(batch["image"]), m.crop_region(batch["mask"]))
        self.val_means.update({"val/rec": rec}, batch["image"].shape[0])
        target = to_unit_range(batch["image"])
        self.val_model.to(target.device).update(to_unit_range(comp), target, batch["mask"])
        self.val_meanfill.to(target.device).update(to_unit_range(batch["masked"]), target, batch["mask"])

    def validation_epoch_end(self) -> None:
        values = self.val_means.compute_and_reset()  # reduced across ranks
        values.update({f"val/hole_{k}": v for k, v in self.val_model.compute().items()})
        values.update({f"val/meanfill_{k}": v for k, v in self.val_meanfill.compute().items()})
        self.module.log_dict(values, sync_dist=False)  # torchmetrics already reduced across ranks
        self.val_model.reset()
        self.val_meanfill.reset()

    # -------------------------------------------------------------- test
    def _test_metrics(self, dataloader_idx: int) -> dict[str, MaskedImageMetrics]:
        per_set = self.test_state.metrics
        if dataloader_idx not in per_set:
            per_set[dataloader_idx] = {"model": MaskedImageMetrics().to(self.device), "meanfill": MaskedImageMetrics().to(self.device)}
        return per_set[dataloader_idx]

    def test_step(self, batch: dict[str, Tensor], dataloader_idx: int) -> None:
        """Context Encoder Table 1: mean L1, mean L2 and PSNR over the hole of the composite (known pixels kept),
        images in [0, 1]; one row per mask kind (``--data.init_args.test_masks``). The validation metric code
        (``MaskedImageMetrics``); the mean-filled input as a baseline."""
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        image, mask, masked, index = batch["image"][keep], batch["mask"][keep], batch["masked"][keep], batch["index"][keep]
        _, comp = self.module.inpaint(masked, image, mask)
        target, out = to_unit_range(image), to_unit_range(comp)
        m = self._test_metrics(dataloader_idx)
        m["model"].update(out, target, mask)
        m["meanfill"].update(to_unit_range(masked), target, mask)
        self.add_examples(dataloader_idx, index, {"input": to_unit_range(masked), "output": out, "target": target})

    def test_rows(self) -> list[dict[str, Any]]:
        rows = []
        for d, name in enumerate(self.test_set_names()):
            m = self._test_metrics(d)
            model, base = m["model"].compute(), m["meanfill"].compute()  # synced across ranks
            row: dict[str, Any] = {"set": name}
            row.update({f"hole_{k}": model[k] for k in ("l1", "l2", "psnr", "ssim")})
            row.update({f"meanfill_{k}": base[k] for k in ("l1", "l2", "psnr")})
            rows.append(row)
        return rows

    # -------------------------------------------------------------- prediction
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Fill the hole at network size, upsample the prediction to the file's size and keep every known
        pixel of the file (``full_image`` / ``full_mask`` from ``InpaintingDataModule``)."""
        prediction, _ = self.module.inpaint(batch["masked"], batch["image"], batch["mask"])
        full, full_mask = batch.get("full_image", batch["image"]), batch.get("full_mask", batch["mask"])
        if prediction.shape[-2:] != full.shape[-2:]:
            prediction = F.interpolate(prediction, size=full.shape[-2:], mode="bilinear", align_corners=False)
        images = to_unit_range(composite(prediction, full, full_mask))
        names = batch.get("name") or [f"image_{int(i):05d}" for i in batch["index"].tolist()]
        return {"images": images, "names": list(names)}

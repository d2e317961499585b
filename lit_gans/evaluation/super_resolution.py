"""Single-image super-resolution (SRPretrain, SRGAN, ESRGAN): the SR papers' per-set table (SRGAN Table 2): PSNR-Y /
SSIM-Y of the model and of bicubic upsampling (and LPIPS), by the protocol of :mod:`lit_gans.metrics.sr`; sample
grids of fixed training crops; prediction.

Whole images by default, as BasicSR evaluates (``basicsr/models/sr_model.py`` ``test``: the network on the whole
LR image): ``tile`` (LR pixels) runs the network tile by tile with feathered overlap instead, which bounds device
memory but changes the output near the seams. An image that does not fit in device memory falls back to tiles of
``FALLBACK_TILE`` pixels, with a note in the table.

What the model supplies: ``sampling_generator`` (with ``input_multiple`` when its input size must be a multiple of
it) and ``scale``.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional

import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from lit_gans.evaluation.protocol import Protocol
from lit_gans.metrics.sr import SRMetrics, build_lpips, imresize_bicubic
from lit_gans.utils.images import image_grid
from lit_gans.utils.tiling import tiled_apply

FALLBACK_TILE = 256  # LR pixels per tile when a whole image does not fit in device memory (the old default)


def run_generator(net: nn.Module, lr: Tensor, scale: int) -> Tensor:
    """``net(lr)`` with the input padded to the network's ``input_multiple`` and the output cropped back."""
    multiple = int(getattr(net, "input_multiple", 1))
    h, w = lr.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        lr = F.pad(lr, (0, pw, 0, ph), mode=mode)
    return net(lr)[..., : h * scale, : w * scale]


class SuperResolutionEvaluation(Protocol):
    """Args:
        module: the model (see the module docstring).
        tile: None (default): whole images, as BasicSR; else the LR tile side for validation, test and prediction.
        tile_overlap: LR pixels of overlap between tiles (blended).
        num_sample_images: rows of the sample grid.
        lpips: also report LPIPS (needs torchvision's AlexNet weights in the cache).
    """

    section = (
        "Super-resolution: PSNR-Y and SSIM-Y (BasicSR's calculate_psnr / calculate_ssim on the Y channel, `scale` "
        "border pixels cropped) of the model and of bicubic upsampling, one row per test set."
    )

    def __init__(self, module: Any, tile: Optional[int] = None, tile_overlap: int = 16, num_sample_images: int = 4, lpips: bool = False) -> None:
        super().__init__(module)
        if tile is not None and tile <= tile_overlap:
            raise ValueError(f"tile ({tile}) must be larger than tile_overlap ({tile_overlap}), or None for whole images")
        self.tile, self.tile_overlap, self.num_sample_images = tile, tile_overlap, num_sample_images
        scale = module.scale
        self.val_metrics = SRMetrics(crop=scale)  # protocol: `scale` border pixels cropped (BasicSR crop_border)
        self.val_bicubic = SRMetrics(crop=scale)  # the "Bicubic" row of the papers, for reference
        self.lpips = lpips
        self._val_lpips = build_lpips() if lpips else None
        self.samples: Optional[dict[str, Tensor]] = None

    @property
    def scale(self) -> int:
        return self.module.scale

    def paper_model(self) -> Optional[str]:
        """``SRGAN`` / ``ESRGAN``; a PSNR-oriented ``SRPretrain`` by its generator (``SRPretrain/RRDBNet`` is
        ESRGAN's RRDB_PSNR model, ``SRPretrain/SRResNet`` SRGAN's SRResNet)."""
        name = type(self.module).__name__
        if name == "SRPretrain":
            return f"{name}/{type(getattr(self.module, 'generator', None)).__name__}"
        return name

    # -------------------------------------------------------------- inference
    def upscale(self, lr: Tensor, net: Optional[nn.Module] = None) -> Tensor:
        """Upscale ``lr`` [B, 3, h, w] in [0, 1] by ``scale``: the whole image at once, or in ``tile``-pixel tiles
        (``lit_gans.utils.tiling.tiled_apply``). The input may stay on the CPU; the output comes back to its device."""
        net = net or self.module.sampling_generator
        fn = partial(run_generator, net, scale=self.scale)
        tile = self.tile
        if tile is None:
            try:
                return fn(lr.to(self.device)).to(lr.device)
            except torch.OutOfMemoryError:
                if self.device.type == "cpu":
                    raise
                torch.cuda.empty_cache()
                tile = FALLBACK_TILE
                note = f"an image of {lr.shape[-1]}x{lr.shape[-2]} LR pixels did not fit in device memory: run in {tile}-pixel tiles"
                rank_zero_warn(f"lit_gans: {note}")
                self.add_note(note)
        return tiled_apply(fn, lr, tile=tile, overlap=min(self.tile_overlap, tile - 1), scale=self.scale, device=self.device)

    # -------------------------------------------------------------- samples
    def keep_samples(self, batch: dict[str, Tensor]) -> None:
        """Keep the first training crops as the fixed sample-grid inputs (once)."""
        if self.samples is None:
            n = self.num_sample_images
            self.samples = {"lr": batch["lr"][:n].detach().clone(), "hr": batch["hr"][:n].detach().clone()}

    def sample_images(self) -> dict[str, Tensor]:
        """One row per fixed training crop: bicubic | output | HR (W&B ``samples/sr``)."""
        if self.samples is None:
            return {}
        lr, hr = self.samples["lr"], self.samples["hr"]
        sr = run_generator(self.module.sampling_generator, lr, self.scale)
        bicubic = imresize_bicubic(lr, self.scale)
        rows = torch.stack([bicubic, sr.float(), hr], 1).flatten(0, 1).clamp(0.0, 1.0)
        return {"sr": image_grid(rows, nrow=3)}

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        lr, hr, index = batch["lr"], batch["hr"], batch.get("index")
        sr = self.upscale(lr)
        self.val_metrics.to(sr.device).update(sr, hr, index)
        self.val_bicubic.to(sr.device).update(imresize_bicubic(lr, self.scale), hr, index)
        if self._val_lpips is not None:
            self._val_lpips.to(sr.device).update(sr.clamp(0, 1), hr)

    def validation_epoch_end(self) -> None:
        values = {f"val/{k}": v for k, v in self.val_metrics.compute().items()}
        values.update({f"val/{k}_bicubic": v for k, v in self.val_bicubic.compute().items()})
        if self._val_lpips is not None:
            values["val/lpips"] = self._val_lpips.compute()
            self._val_lpips.reset()
        self.module.log_dict(values, sync_dist=False)  # torchmetrics states are already synced
        self.val_metrics.reset()
        self.val_bicubic.reset()

    # -------------------------------------------------------------- test
    def _test_metrics(self, dataloader_idx: int) -> dict[str, Any]:
        per_set = self.test_state.metrics
        if dataloader_idx not in per_set:
            m = {"model": SRMetrics(crop=self.scale), "bicubic": SRMetrics(crop=self.scale)}
            if self.lpips:
                m["lpips"] = build_lpips()
            per_set[dataloader_idx] = {k: v.to(self.device) for k, v in m.items()}
        return per_set[dataloader_idx]

    def test_step(self, batch: dict[str, Any], dataloader_idx: int) -> None:
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        lr, hr, index = batch["lr"][keep], batch["hr"][keep], batch["index"][keep]
        sr = self.upscale(lr)
        bicubic = imresize_bicubic(lr, self.scale)
        m = self._test_metrics(dataloader_idx)
        m["model"].update(sr, hr, index)
        m["bicubic"].update(bicubic, hr, index)
        if "lpips" in m:
            m["lpips"].update(sr.clamp(0, 1), hr)
        cols = {"input (LR)": lr, "output": sr, "bicubic": bicubic, "target (HR)": hr}
        self.add_examples(dataloader_idx, index, cols, self.names_kept(batch.get("name"), keep))

    def test_rows(self) -> list[dict[str, Any]]:
        if self.tile is not None:
            self.add_protocol_line(f"network run in {self.tile}-pixel LR tiles ({self.tile_overlap} px overlap), not on whole images")
        else:
            self.add_protocol_line("network run on whole images (as BasicSR's test)")
        crop = getattr(self.datamodule, "evaluation_crop", None)
        if callable(crop):
            self.add_protocol_line(crop())
        self.add_protocol_line(f"PSNR/SSIM on Y (BasicSR calculate_psnr / calculate_ssim, test_y_channel), {self.scale} border pixels cropped")
        rows = []
        for d, name in enumerate(self.test_set_names()):
            m = self._test_metrics(d)
            model, bicubic = m["model"].compute(), m["bicubic"].compute()  # synced across ranks
            row: dict[str, Any] = {"set": name, "psnr_y": model["psnr_y"], "ssim_y": model["ssim_y"]}
            if "lpips" in m:
                row["lpips"] = m["lpips"].compute()
            row.update(psnr_y_bicubic=bicubic["psnr_y"], ssim_y_bicubic=bicubic["ssim_y"])
            rows.append(row)
        return rows

    # -------------------------------------------------------------- prediction
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """``batch["image"]``: LR [1, 3, h, w] in [0, 1] (left on the CPU by the datamodule) -> [1, 3, h*s, w*s]."""
        sr = self.upscale(batch["image"]).clamp(0.0, 1.0)
        names = batch.get("name") or [f"image_{i:05d}" for i in range(batch_idx * len(sr), (batch_idx + 1) * len(sr))]
        return {"images": sr, "names": list(names)}

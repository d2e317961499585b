"""Paired translation (Pix2Pix, the Lab colorization GAN, generator-only pretraining): PSNR/SSIM on RGB, L1 in the
network's units, and for colorization ab L1 (with the gray baseline) and colourfulness; sample grids of fixed
validation pairs; prediction at any size.

What the model supplies: ``translate(a)`` (G in its inference mode, the EMA generator when enabled),
``sampling_generator`` (its ``input_multiple``), ``color_space`` ('rgb' or 'lab').
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_gans.evaluation.protocol import INCEPTION_NOTE, Protocol, inception_available
from lit_gans.metrics.epoch_means import EpochMeans
from lit_gans.metrics.paired import PairedImageMetrics
from lit_gans.utils.images import image_grid, to_unit_range
from lit_gans.utils.lab import gray_to_rgb, lab_normalized_to_rgb, rgb_to_lab_normalized
from lit_gans.utils.padding import apply_padded


def colourfulness(rgb: Tensor) -> Tensor:
    """Colourfulness M of Hasler & Suesstrunk 2003 ("Measuring colourfulness in natural images", Eq. 2 / Sec. 4):
    ``rg = R - G``, ``yb = (R + G) / 2 - B`` on the 0..255 scale, ``M = sqrt(std_rg^2 + std_yb^2) +
    0.3 sqrt(mean_rg^2 + mean_yb^2)``, per image. ``rgb``: [B, 3, H, W] in [0, 1]. Returns [B] (0 for gray)."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"colourfulness expects [B, 3, H, W] RGB images, got {tuple(rgb.shape)}")
    x = rgb.float().clamp(0, 1) * 255.0
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return std + 0.3 * mean


class PairedEvaluation(Protocol):
    """Batches ``{"A": input, "B": target, "index", "name"}`` from ``datamodules.paired.PairedDataModule`` (RGB in
    [-1, 1]) or ``datamodules.lab_colorization.LabColorizationDataModule`` (A = L, B = ab).

    Args:
        module: the model (see the module docstring).
        predict_size: colorization: side at which ab is predicted (the training size).
        num_sample_images: rows of the sample grid.
        metrics: PSNR/SSIM (and ab L1) at validation.
    """

    section = (
        "Paired translation: PSNR and SSIM on RGB in [0, 1] per image, L1 in the network's units; colorization: "
        "ab L1 (ab/110 units; ab_l1_gray = the gray baseline) and the colourfulness of Hasler & Suesstrunk 2003."
    )

    def __init__(self, module: Any, predict_size: int = 256, num_sample_images: int = 4, metrics: bool = True) -> None:
        super().__init__(module)
        self.predict_size, self.num_sample_images = predict_size, num_sample_images
        self.val_metrics = PairedImageMetrics() if metrics else None
        self.val_means = EpochMeans()  # exact item-weighted means under DDP (lit_gans/metrics/epoch_means.py)
        self.samples: Optional[dict[str, Tensor]] = None

    @property
    def lab(self) -> bool:
        return self.module.color_space == "lab"

    # -------------------------------------------------------------- colour handling
    def to_rgb(self, a: Tensor, b: Tensor) -> Tensor:
        """The image (input a, output/target b) in RGB [0, 1]: ``to_unit_range(b)``, or Lab(L=a, ab=b) -> RGB."""
        return lab_normalized_to_rgb(a, b) if self.lab else to_unit_range(b)

    def input_rgb(self, a: Tensor) -> Tensor:
        """The input as shown in previews: the L channel as a gray RGB image, or the RGB input."""
        return gray_to_rgb(a) if self.lab else to_unit_range(a)

    # -------------------------------------------------------------- samples
    def fetch_samples(self) -> None:
        """Take the fixed sample-grid pairs from the datamodule (once)."""
        batch = None if self.samples is not None else self.sample_batch()
        if batch is not None:
            self.samples = {k: v[: self.num_sample_images].to(self.device) for k, v in batch.items()}

    def sample_images(self) -> dict[str, Tensor]:
        """One row per fixed validation pair: input | output | target (RGB, W&B ``samples/translation``)."""
        if not self.samples:
            return {}
        a, b = self.samples["A"], self.samples["B"]
        fake = self.module.translate(a)
        rows = torch.stack([self.input_rgb(a), self.to_rgb(a, fake), self.to_rgb(a, b)], dim=1).flatten(0, 1)
        return {"translation": image_grid(rows, nrow=3)}

    # -------------------------------------------------------------- validation
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        a, b = batch["A"], batch["B"]
        fake = self.module.translate(a)
        with torch.autocast(device_type=a.device.type, enabled=False):
            logs = {"val/l1": F.l1_loss(fake.float(), b.float())}
            if self.lab:
                logs["val/ab_l1_gray"] = b.float().abs().mean()  # the gray baseline, ab = 0
        self.val_means.update(logs, a.shape[0])
        if self.val_metrics is not None:
            self.val_metrics.to(self.device)
            self.val_metrics.update(
                self.to_rgb(a, fake), self.to_rgb(a, b), batch.get("index"), fake if self.lab else None, b if self.lab else None
            )

    def validation_epoch_end(self) -> None:
        values = self.val_means.compute_and_reset()  # reduced across ranks
        if self.val_metrics is not None:
            values.update({f"val/{k}": v for k, v in self.val_metrics.compute().items()})
            self.val_metrics.reset()
        self.module.log_dict(values, sync_dist=False)

    # -------------------------------------------------------------- test
    def _test_metrics(self) -> dict[str, Any]:
        state = self.test_state.metrics
        if not state:
            from torchmetrics import MeanMetric

            m: dict[str, Any] = {"paired": PairedImageMetrics(), "l1": MeanMetric()}
            if self.lab:
                m.update(ab_l1_gray=MeanMetric(), colourfulness=MeanMetric(), colourfulness_target=MeanMetric())
            m = {k: v.to(self.device) for k, v in m.items()}
            if inception_available():
                from lit_gans.metrics.generation import GenerationMetrics

                m["fid"] = GenerationMetrics(feature="inception", reference="test").to(self.device)
            else:
                self.add_note(INCEPTION_NOTE)
            state.update(m)
        return state

    def test_step(self, batch: dict[str, Any], dataloader_idx: int) -> None:
        """Pix2Pix: PSNR, SSIM (RGB), L1 (network units, per image) and FID (InceptionV3, when installed) on the test
        split. Colorization adds ab L1 (and the gray baseline) and the colourfulness of Hasler & Suesstrunk 2003
        (of the output and of the ground truth). Validation's metric code (``PairedImageMetrics``)."""
        keep = self.test_keep(batch["index"], dataloader_idx)
        if not bool(keep.any()):
            return
        a, b, index = batch["A"][keep], batch["B"][keep], batch["index"][keep]
        if getattr(self.module, "inference_mode", "eval") == "paper":
            # junyanz test.py runs with batch_size 1: BatchNorm's batch statistics are those of one image, whatever
            # the test batch size here (and dropout draws its masks image by image, as there)
            fake = torch.cat([self.module.translate(a[i : i + 1]) for i in range(a.shape[0])]).float()
            self.add_protocol_line(
                "paper mode: generator as in training (dropout on, BatchNorm batch statistics), one image at a time as "
                "junyanz's test.py (batch 1); outputs depend on the seed (--seed_everything, or --seeds for several)"
            )
        else:
            fake = self.module.translate(a).float()
            self.add_protocol_line("eval mode: generator.eval() (running BatchNorm statistics, no dropout; junyanz --eval)")
        m = self._test_metrics()
        out_rgb, target_rgb = self.to_rgb(a, fake), self.to_rgb(a, b)
        m["paired"].update(out_rgb, target_rgb, index, fake if self.lab else None, b if self.lab else None)
        m["l1"].update((fake - b.float()).abs().flatten(1).mean(1))
        if self.lab:
            m["ab_l1_gray"].update(b.float().abs().flatten(1).mean(1))
            m["colourfulness"].update(colourfulness(out_rgb))
            m["colourfulness_target"].update(colourfulness(target_rgb))
        if "fid" in m:
            m["fid"].update_real(target_rgb.clamp(0, 1))
            m["fid"].update_fake(out_rgb.clamp(0, 1))
        cols = {"input": self.input_rgb(a), "output": out_rgb, "target": target_rgb}
        self.add_examples(dataloader_idx, index, cols, self.names_kept(batch.get("name"), keep))

    def test_rows(self) -> list[dict[str, Any]]:
        m = self._test_metrics()
        paired = m["paired"].compute()  # synced across ranks
        row: dict[str, Any] = {"set": self.test_set_names()[0], "psnr": paired["psnr"], "ssim": paired["ssim"]}
        if self.lab:  # the L1 of the output is the ab L1 (ab/110 units)
            row.update(ab_l1=paired["ab_l1"], ab_l1_gray=m["ab_l1_gray"].compute())
            row.update(colourfulness=m["colourfulness"].compute(), colourfulness_target=m["colourfulness_target"].compute())
        else:
            row["l1"] = m["l1"].compute()  # |G(x) - y| in the network's [-1, 1] units, per image then averaged
        if "fid" in m:
            row.update({k: v for k, v in m["fid"].compute().items() if k.startswith("fid")})
        return [row]

    # -------------------------------------------------------------- prediction
    def colorize(self, rgb: Tensor) -> Tensor:
        """Colorize RGB (or gray-as-RGB) images [B, 3, H, W] in [0, 1] at their own size: ab is predicted at
        ``predict_size`` from the resized image's L, resized (bilinear) to H x W and recombined with the
        full-resolution L. Returns RGB [B, 3, H, W] in [0, 1]."""
        from kornia.geometry.transform import resize

        light_full, _ = rgb_to_lab_normalized(rgb)
        s = self.predict_size
        small = resize(rgb.float(), (s, s), interpolation="bicubic", antialias=True).clamp(0, 1)
        light_small, _ = rgb_to_lab_normalized(small)
        ab_small = self.module.translate(light_small).float()
        ab = F.interpolate(ab_small, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        return lab_normalized_to_rgb(light_full, ab)

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Pix2Pix: ``batch["A"]`` [1, C, H, W] in [-1, 1], any size (padded to the network's multiple and
        cropped back). Colorization: ``batch["rgb"]`` [1, 3, H, W] in [0, 1]. Returns RGB at the input's size."""
        if self.lab:
            out = self.colorize(batch["rgb"])
        else:
            multiple = int(getattr(self.module.sampling_generator, "input_multiple", 1))
            out = to_unit_range(apply_padded(self.module.translate, batch["A"], multiple))
        names = batch.get("name") or [f"image_{batch_idx:05d}_{i}" for i in range(out.shape[0])]
        return {"images": out.clamp(0, 1), "names": list(names)}

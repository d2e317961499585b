"""Lab colorization data (seed 002 / its tutorial): any folder of photos, e.g. COCO 2017 ``train2017/``.

* Files: every image under ``root`` (sorted), optionally a seeded random subset of ``subset`` files (the
  tutorial takes 10,000 random COCO images, 8,000 for training and 2,000 for validation, numpy seed 123).
  Validation: ``val_root`` if given, else a seeded ``val_fraction`` of the listed files (0.2 = 2,000 of
  10,000, as the tutorial), disjoint from training.
* CPU workers only decode and resize to ``image_size`` x ``image_size`` (bicubic, the tutorial's
  ``transforms.Resize((256, 256), Image.BICUBIC)``) so the batch can be stacked.
* On the device (``on_after_batch_transfer``): random horizontal flip (training; the tutorial's
  ``RandomHorizontalFlip``), RGB -> Lab with kornia in fp32, normalised ``L/50 - 1`` and ``ab/110``
  (``lit_gans.utils.lab``). Batches are ``{"A": L [B, 1, H, W], "B": ab [B, 2, H, W], "index", "name"}``.
* Grayscale files carry no colour (ab = 0 targets teach the model to leave images gray): they are dropped
  at setup and counted (``skip_grayscale``, default on), or kept (converted to RGB). RGBA / palette /
  CMYK files are converted (alpha composited on white; ``datamodules.images.to_mode``) and counted. Nothing
  of this is decided in a worker: a worker never meets a file that setup did not check.
* ``predict``: ``{"rgb": [1, 3, H, W] in [0, 1], "name"}`` at the image's own size, batch 1 (the model
  predicts ab at its size and recombines with the full-resolution L).

Offline default (``root: null``): the embedded photos (``datamodules.embedded``, train/held-out split fixed
there) downscaled so that the short side is 256 px, with ``preprocess: crop``: random ``crop_size`` crops in
training and fixed crops (``val_crops`` per held-out photo) in validation (reduced data for CPU; stated in
the docs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import lightning as L
import numpy as np
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from datamodules.images import GRAY_MODES, DataError, FolderLoaders, check_batch_size, check_min_size, image_modes, list_images, open_image, to_mode
from lit_gans.errors import ConfigError
from datamodules.paired import (
    EMBEDDED_SHORT_SIDE,
    InputFolder,
    collate_images,
    downscale_short_side,
    fixed_crop_offsets,
    image_size,
    shared_random_crop,
    shared_random_flip,
    to_float,
)
from lit_gans.utils.images import pil_to_tensor
from lit_gans.utils.lab import rgb_to_lab_normalized
from lit_gans.utils.checks import check_sizes

SEED = 123  # the tutorial's np.random.seed(123) for the subset and the split
LAYOUT = "a folder of photos (jpg/png/...), e.g. COCO 2017 train2017/"


class ColorFiles(Dataset):
    """Items ``{"image": uint8 [3, s, s] (resized) or [3, H, W] (own size) or a fixed crop, "index", "name"}``."""

    def __init__(
        self,
        files: Sequence[Path],
        resize: Optional[int] = None,
        repeats: int = 1,
        crops: Optional[Sequence[tuple[int, int, int]]] = None,
        crop_size: int = 0,
    ) -> None:
        self.files, self.resize, self.repeats = list(files), resize, repeats
        self.crops, self.crop_size = (list(crops) if crops is not None else None), crop_size

    def __len__(self) -> int:
        return len(self.crops) if self.crops is not None else len(self.files) * self.repeats

    def _decode(self, path: Path) -> Tensor:
        image = to_mode(open_image(path), 3)
        if self.resize is not None:
            image = image.resize((self.resize, self.resize), Image.BICUBIC)
        return pil_to_tensor(image)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.crops is not None:
            j, top, left = self.crops[i]
            x = self._decode(self.files[j])[:, top : top + self.crop_size, left : left + self.crop_size]
            return {"image": x.contiguous(), "index": i, "name": f"{self.files[j].stem}_{i:04d}"}
        j = i % len(self.files)
        return {"image": self._decode(self.files[j]), "index": i, "name": self.files[j].stem}


def embedded_photos_root(short_side: int = EMBEDDED_SHORT_SIDE, root: Optional[str | Path] = None) -> Path:
    """The embedded photos downscaled to ``short_side``, written once as ``<cache>/.../{train,val}/<name>.png``."""
    import os
    import shutil
    import tempfile

    from lit_gans.datasets.embedded import cache_dir, load_photos

    target = Path(root or cache_dir() / f"embedded_color_{short_side}")
    if (target / "train").is_dir() and (target / "val").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".color-", dir=target.parent))
    try:
        for split, source in (("train", "train"), ("val", "heldout")):
            (tmp / split).mkdir()
            for name, array in load_photos(source).items():
                downscale_short_side(Image.fromarray(array), short_side).save(tmp / split / f"{name}.png")
        try:
            os.replace(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


class LabColorizationDataModule(FolderLoaders, L.LightningDataModule):
    """Photos -> (L, ab) batches for the colorization models (module docstring for the details).

    Args:
        root: folder of photos (searched recursively). None: the embedded photos (offline).
        val_root: folder of validation photos; None: a seeded ``val_fraction`` of ``root``.
        subset: use a seeded random subset of this many files of ``root`` (10,000 in the tutorial; None: all).
        val_fraction: share of the (subset of) files held out for validation when ``val_root`` is None (0.2).
        val_max_images: cap on validation images (None: all).
        seed: seed of the subset and of the split (123, the tutorial's).
        preprocess: 'resize' (to ``image_size`` square on the CPU, the tutorial) or 'crop' (random
            ``crop_size`` crops on the device from full-size images; the embedded default).
        image_size: side of the 'resize' preprocess (256).
        crop_size: crop side of the 'crop' preprocess.
        val_crops: fixed crops per validation image with 'crop' (1 = the centre).
        flip: random horizontal flips in training (tutorial: on).
        skip_grayscale: drop grayscale files at setup (counted; default) instead of training on ab = 0.
        batch_size: per-device batch (16, the tutorial / seed 002).
        num_workers: decoding workers.
        epoch_repeats: passes over the training files per epoch.
        predict_root: folder colorized by ``predict`` (any size; one PNG per file, same base name). None:
            the validation files.
        num_sample_images: fixed validation images of the sample grid.
        embedded_short_side: short side of the embedded photos (``root`` None).
        dataset: the registry name of ``root``'s data set (``python -m lit_gans.datasets list``); None: inferred
            from the folder name (``datasets/facades`` -> ``facades``).
        download: fetch the data set into ``root`` in ``prepare_data`` (once per node) when it is not there
            (``lit_gans.datasets``; offline: an error naming the URL, the folder and the layout).
    """

    #: What the model's ``color_space`` must be for these batches.
    color_space = "lab"

    collate_fn = staticmethod(collate_images)
    train_items = "image(s)"

    def __init__(
        self,
        root: Optional[str] = None,
        val_root: Optional[str] = None,
        subset: Optional[int] = None,
        val_fraction: float = 0.2,
        val_max_images: Optional[int] = None,
        seed: int = SEED,
        preprocess: Literal["resize", "crop"] = "resize",
        image_size: int = 256,
        crop_size: int = 256,
        val_crops: int = 1,
        flip: bool = True,
        skip_grayscale: bool = True,
        batch_size: int = 16,
        num_workers: int = 4,
        epoch_repeats: int = 1,
        predict_root: Optional[str] = None,
        num_sample_images: int = 4,
        embedded_short_side: int = EMBEDDED_SHORT_SIDE,
        dataset: Optional[str] = None,
        download: bool = False,
    ) -> None:
        check_sizes(LabColorizationDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        if preprocess not in ("resize", "crop"):
            raise ConfigError(f"preprocess must be 'resize' or 'crop', got {preprocess!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.root, self.val_root, self.subset, self.val_fraction = root, val_root, subset, val_fraction
        self.val_max_images, self.seed = val_max_images, seed
        self.preprocess, self.image_size, self.crop_size, self.val_crops = preprocess, image_size, crop_size, val_crops
        self.flip, self.skip_grayscale = flip, skip_grayscale
        self.batch_size, self.num_workers, self.epoch_repeats = batch_size, num_workers, epoch_repeats
        self.predict_root, self.num_sample_images = predict_root, num_sample_images
        self.embedded_short_side = embedded_short_side
        self.dataset, self.download = dataset, download
        self.counts: dict[str, int] = {}
        self._files: Optional[tuple[list[Path], list[Path]]] = None
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.predict_set: Optional[Dataset] = None

    # ------------------------------------------------------------------ files
    def prepare_data(self) -> None:
        """Download ``root``'s data set when ``download`` is set and it is missing (Lightning: once per node)."""
        from lit_gans.datasets import prepare

        prepare(self.root, self.dataset, self.download)
        prepare(self.val_root, None, self.download, option="--data.init_args.val_root")

    def _filter(self, files: list[Path], what: str) -> list[Path]:
        """Drop (or keep) grayscale files, count conversions; the counts land in ``self.counts``."""
        modes_of = {}
        for p in files:
            modes_of[p] = next(iter(image_modes([p])))
        gray = [p for p in files if modes_of[p] in GRAY_MODES]
        converted = sum(1 for p in files if modes_of[p] not in GRAY_MODES and modes_of[p] != "RGB")
        self.counts[f"{what}_files"] = len(files)
        self.counts[f"{what}_grayscale"] = len(gray)
        self.counts[f"{what}_converted"] = converted
        kept = [p for p in files if not (self.skip_grayscale and modes_of[p] in GRAY_MODES)]
        if gray or converted:
            action = "dropped" if self.skip_grayscale else "kept (ab = 0 targets)"
            rank_zero_info(
                f"lit_gans: {what}: {len(gray)} grayscale file(s) {action}; {converted} RGBA/palette/CMYK file(s) "
                "converted to RGB (alpha composited on white)"
            )
        if not kept:
            raise DataError(
                f"no colour images left for {what} ({len(gray)} grayscale files dropped); add colour photos or set "
                "--data.init_args.skip_grayscale=false"
            )
        return kept

    def test_set_names(self) -> list[str]:
        """``test`` measures the validation images (the tutorial's held-out 20 %, or ``val_root``)."""
        if self.val_root is not None:
            return [Path(self.val_root).expanduser().name]
        return ["embedded photos/val" if self.root is None else f"{Path(self.root).expanduser().name} (held-out {self.val_fraction:.0%})"]

    def _lists(self) -> tuple[list[Path], list[Path]]:
        if self._files is not None:
            return self._files
        if self.root is None:
            base = embedded_photos_root(self.embedded_short_side)
            train = list_images(base / "train", option="embedded photos")
            val = list_images(base / "val", option="embedded photos")
        else:
            files = list_images(self.root, option="--data.init_args.root", recursive=True, layout=LAYOUT)
            rng = np.random.default_rng(self.seed)
            if self.subset is not None and self.subset < len(files):
                files = [files[i] for i in sorted(rng.choice(len(files), self.subset, replace=False))]
            if self.val_root is not None:
                train = files
                val = list_images(self.val_root, option="--data.init_args.val_root", recursive=True, layout=LAYOUT)
            else:
                if len(files) < 2:
                    raise DataError(f"--data.init_args.root: {self.root} has {len(files)} image; at least 2 are needed to hold one out for validation (or set val_root)")
                order = rng.permutation(len(files))
                n_val = max(1, int(round(self.val_fraction * len(files))))
                val = [files[i] for i in sorted(order[:n_val])]
                train = [files[i] for i in sorted(order[n_val:])]
        if self.val_max_images:
            val = val[: self.val_max_images]
        self._files = (train, val)
        return self._files

    def setup(self, stage: str) -> None:
        train, val = self._lists()
        if stage == "fit" and self.train_set is None:
            train = self._filter(train, "train")
            if self.preprocess == "crop":
                check_min_size(train, self.crop_size, option="crop_size (--data.init_args.crop_size)")
                self.train_set = ColorFiles(train, None, self.epoch_repeats)
            else:
                self.train_set = ColorFiles(train, self.image_size, self.epoch_repeats)
        if stage in ("fit", "validate", "test") and self.val_set is None:
            self.val_set = self._val_dataset(self._filter(val, "val"))
        if stage == "predict" and self.predict_set is None:
            files = list_images(self.predict_root, option="--data.init_args.predict_root") if self.predict_root else val
            self.predict_set = InputFolder(files)

    def _val_dataset(self, files: list[Path]) -> Dataset:
        if self.preprocess == "resize":
            return ColorFiles(files, self.image_size)
        check_min_size(files, self.crop_size, option="crop_size (--data.init_args.crop_size)")
        crops = []
        for j, p in enumerate(files):
            w, h = image_size(p)
            crops += [(j, t, l) for t, l in fixed_crop_offsets(j, h, w, self.crop_size, self.val_crops)]
        return ColorFiles(files, None, crops=crops, crop_size=self.crop_size)


    # ------------------------------------------------------------------ device side
    def to_lab(self, image: Tensor, batch: dict[str, Any], training: bool) -> tuple[Tensor, Tensor]:
        """uint8 RGB -> (L, ab) normalised, after the training jitter (crop, flip) on the device."""
        x = to_float(image)
        if training and self.preprocess == "crop":
            (x,) = shared_random_crop([x], self.crop_size, batch["hw"])
        if training and self.flip:
            (x,) = shared_random_flip([x])
        return rgb_to_lab_normalized(x)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.predicting:
            batch["rgb"] = to_float(batch.pop("image"))
            return batch
        training = self.trainer is not None and self.trainer.training
        batch["A"], batch["B"] = self.to_lab(batch.pop("image"), batch, training)
        return batch

    def sample_batch(self) -> dict[str, Tensor]:
        """Fixed validation images for the sample grid: ``{"A": L, "B": ab}``."""
        if self.val_set is None:
            self.setup("validate")
        n = min(self.num_sample_images, len(self.val_set))
        picks = sorted({round(i * (len(self.val_set) - 1) / max(n - 1, 1)) for i in range(n)})  # spread over the set
        batch = collate_images([self.val_set[i] for i in picks])
        light, ab = self.to_lab(batch["image"], batch, training=False)
        return {"A": light, "B": ab}

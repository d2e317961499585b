"""Image files: listing with clear errors, and decoding with a documented channel policy.

Shared by every folder datamodule so that "empty folder", "unmatched pair", "grayscale/RGBA file"
and "image too small" read the same everywhere and name the file and the fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


class DataError(ValueError):
    """A problem with the user's data, raised at setup with the file and the fix in its message."""


def list_images(root: str | Path, option: str = "--data.root", recursive: bool = False, layout: str = "") -> list[Path]:
    """Sorted image files under ``root``; a clear error if the folder is missing or has none.

    ``option`` is the config key the user sets (named in the error); ``layout`` describes the expected
    folder layout for the message.
    """
    root = Path(root).expanduser()
    hint = f" Expected layout: {layout}." if layout else ""
    if not root.exists():
        raise DataError(f"{option}: folder {root} does not exist; set {option} to your image folder.{hint}")
    if not root.is_dir():
        raise DataError(f"{option}: {root} is not a folder.{hint}")
    pattern = "**/*" if recursive else "*"
    files = sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(
            f"{option}: folder {root} has no images (extensions {', '.join(IMAGE_EXTENSIONS)}); "
            f"put images there or point {option} elsewhere.{hint}"
        )
    return files


def match_by_stem(a: Sequence[Path], b: Sequence[Path], what: str = "A/ and B/") -> list[tuple[Path, Path]]:
    """Pairs of files with the same base name, or an error listing the unmatched ones."""
    sa, sb = {p.stem: p for p in a}, {p.stem: p for p in b}
    only_a, only_b = sorted(set(sa) - set(sb)), sorted(set(sb) - set(sa))
    if only_a or only_b:
        raise DataError(
            f"unmatched files in {what}: {len(only_a)} only in the first (e.g. {[str(sa[s]) for s in only_a[:3]]}), "
            f"{len(only_b)} only in the second (e.g. {[str(sb[s]) for s in only_b[:3]]}); "
            "paired folders must hold the same base names"
        )
    return [(sa[s], sb[s]) for s in sorted(sa)]


def open_image(path: str | Path) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise DataError(f"{path}: cannot decode this image ({err}); remove or replace the file") from err
    return image


def to_mode(image: Image.Image, channels: int = 3) -> Image.Image:
    """The project's channel policy, applied to every decoded file:

    * grayscale (L, I, I;16, 1, F) -> replicated to RGB when 3 channels are wanted;
    * palette (P) -> RGB(A) first;
    * RGBA / LA -> composited over a white background (what an image viewer shows), then converted;
    * CMYK / YCbCr -> RGB.
    """
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode in ("I;16", "I"):
        array = np.asarray(image, dtype=np.float32)
        image = Image.fromarray((array / max(array.max(), 1.0) * 255.0).astype(np.uint8))
    return image.convert("RGB" if channels == 3 else "L")


def load_image(path: str | Path, channels: int = 3) -> Tensor:
    """Decode ``path`` to a uint8 tensor [channels, H, W] following :func:`to_mode`."""
    image = to_mode(open_image(path), channels)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def image_modes(paths: Iterable[Path]) -> Counter:
    """Count files by PIL mode (header only; cheap) so a datamodule can report conversions at setup."""
    counts: Counter = Counter()
    for p in paths:
        try:
            with Image.open(p) as im:
                counts[im.mode] += 1
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{p}: cannot decode this image ({err}); remove or replace the file") from err
    return counts


def report_modes(files: Iterable[Path], option: str | None = None) -> dict[str, int]:
    """Count files by PIL mode and say once (rank 0) how many are converted to RGB on decode (``to_mode``)."""
    modes = image_modes(files)
    converted = {m: n for m, n in modes.items() if m != "RGB"}
    if converted:
        where = f"{option}: " if option else ""
        rank_zero_info(
            f"lit_gans: {where}{sum(converted.values())} file(s) converted to RGB on decode (modes {converted}: "
            "grayscale replicated, alpha composited over white)"
        )
    return dict(modes)


def check_min_size(paths: Iterable[Path], min_size: int, option: str = "crop size") -> None:
    """Raise naming the first file smaller than ``min_size`` on either side (header only)."""
    for p in paths:
        with Image.open(p) as im:
            w, h = im.size
        if min(w, h) < min_size:
            raise DataError(
                f"{p} is {w}x{h}, smaller than the {option} {min_size}; remove it, upscale it, or lower the {option}"
            )


def eval_sampler(datamodule: Any, dataset: Dataset) -> Optional[Sampler]:
    """The sampler of a validation/test loader: under DDP, rank r takes items r, r + W, r + 2W, ... (W ranks),
    so every item is evaluated exactly once across the ranks; None on one process (sequential order).

    Lightning's default for evaluation under DDP is a ``DistributedSampler`` that pads the last ranks with
    repeated items, so a dataset whose size is not a multiple of W has items counted twice in every
    ``self.log(..., sync_dist=True)`` mean and every summed metric (Lightning warns about it for
    ``trainer.validate``). Lightning keeps a ``DistributedSampler`` that a loader already has, and its
    ``UnrepeatedDistributedSampler`` (the one it uses for ``predict``) does not pad: ranks may run one batch
    fewer, which is safe because nothing in a validation step synchronises across ranks (``sync_dist``
    values and torchmetrics states are reduced once, at the epoch end; DDP syncs buffers before the first
    batch only). With fewer items than ranks a rank would have none, so Lightning's padding is kept.
    """
    trainer = getattr(datamodule, "trainer", None)
    world = int(getattr(trainer, "world_size", 1) or 1)  # no trainer (or a stand-in without one): one process
    if world < 2 or len(dataset) < world:  # type: ignore[arg-type]
        return None
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(dataset, num_replicas=world, rank=trainer.global_rank, shuffle=False)


class FolderLoaders:
    """The DataLoaders of the folder datamodules (a mixin in front of ``LightningDataModule``): shuffled training
    batches with ``drop_last``, validation/test in order, prediction one image per batch (each at its own size).
    The datamodule sets ``train_set``, ``val_set``, ``predict_set``, ``batch_size`` and ``num_workers`` in
    ``setup``, and ``collate_fn`` / ``train_items`` (the word for one training item in the error) as class attributes."""

    collate_fn: Optional[Callable[[Sequence[Any]], Any]] = None
    train_items = "item(s)"
    train_set: Dataset
    val_set: Dataset
    predict_set: Dataset
    batch_size: int
    num_workers: int

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool, sampler: Optional[Sampler] = None) -> DataLoader:
        return DataLoader(
            dataset, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, collate_fn=self.collate_fn, sampler=sampler,
        )

    def train_dataloader(self) -> DataLoader:
        if len(self.train_set) < self.batch_size:  # type: ignore[arg-type]
            raise DataError(
                f"the training set has {len(self.train_set)} {self.train_items}, fewer than "  # type: ignore[arg-type]
                f"batch_size={self.batch_size}; lower --data.init_args.batch_size or raise --data.init_args.epoch_repeats"
            )
        return self._loader(self.train_set, self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.batch_size, shuffle=False, sampler=eval_sampler(self, self.val_set))

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, 1, shuffle=False)  # own size: one image per batch

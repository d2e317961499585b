"""Image files: listing with clear errors, and decoding with a documented channel policy.

Shared by every folder datamodule so that "empty folder", "unmatched pair", "grayscale/RGBA file"
and "image too small" read the same everywhere and name the file and the fix.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from lit_gans.errors import ConfigError, DataError
from lit_gans.utils.resumable import ResumableLoader

__all__ = ["DataError", "ConfigError"]  # DataError: raised at setup with the file and the fix in its message

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")  # PIL's modes of 16-bit gray files (``I``: see to_8bit)
#: PIL modes of single-channel files (replicated to RGB on decode).
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", *SIXTEEN_BIT_MODES})
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk every complete PNG ends with
_JPEG_END = b"\xff\xd9"  # EOI marker
_TAIL_CHECKED = ("PNG", "JPEG", "MPO")  # MPO: a camera's multi-picture JPEG, ending with its last image's EOI


def check_batch_size(batch_size: int, option: str = "--data.init_args.batch_size") -> int:
    """Raise a ``ConfigError`` naming ``option`` unless ``batch_size`` is a positive int."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"{option}={batch_size!r}: the batch size must be an integer >= 1, e.g. {option}=16")
    return batch_size


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


def by_stem(files: Iterable[Path], what: str, key: Callable[[Path], str] = lambda p: p.stem) -> dict[str, Path]:
    """``{key(file): file}`` for files paired or looked up by base name; a ``DataError`` naming both files when two
    share a key (``photo.png`` and ``photo.jpg``), since one of them would be dropped without a word."""
    found: dict[str, Path] = {}
    for p in files:
        k = key(p)
        if k in found:
            raise DataError(
                f"{found[k]} and {p} in {what} have the same base name {k!r}: files are paired by base name, so one "
                "of them would be left out; rename or remove one of them"
            )
        found[k] = p
    return found


def match_by_stem(a: Sequence[Path], b: Sequence[Path], what: str = "A/ and B/") -> list[tuple[Path, Path]]:
    """Pairs of files with the same base name, or an error listing the unmatched ones (or naming two files of one
    folder with the same base name)."""
    sa, sb = by_stem(a, what), by_stem(b, what)
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


def _integer_bits(image: Image.Image) -> Optional[int]:
    """Bits per sample of an unsigned-integer gray file that PIL holds as mode ``I`` (32-bit int), when the file
    says so: 16 for a 16-bit PNG or PGM/PPM (Pillow's ``I`` for them) and an unsigned 16-bit TIFF; None otherwise
    (a 32-bit or signed integer file: its format does not say which value is white)."""
    if image.format in ("PNG", "PPM"):  # PNG: 16-bit gray (older Pillow); PPM: maxval > 255, scaled to 0..65535
        return 16
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        bits, sample_format = tags.get(258, (None,)), tags.get(339, (1,))  # BitsPerSample, SampleFormat (1 = uint)
        bits = bits[0] if isinstance(bits, tuple) else bits
        sample_format = sample_format[0] if isinstance(sample_format, tuple) else sample_format
        if bits == 16 and sample_format == 1:
            return 16
    return None


def to_8bit(image: Image.Image) -> Image.Image:
    """Gray files of more than 8 bits -> 8-bit ``L``, by the scale of their type (the same rule for every file,
    no per-image stretch: a dark file stays dark); other modes are returned as they are.

    * 16-bit (``I;16*``, and ``I`` read from a 16-bit PNG / PGM / unsigned TIFF): ``round(v / 257)``
      (65535 -> 255);
    * 32-bit float (``F``): values in [0, 1] (scikit-image's range for float images, "Image data types and what
      they mean", https://scikit-image.org/docs/stable/user_guide/data_types.html): ``round(v * 255)``;
      values outside [0, 1], NaN or inf: a ``DataError`` naming the file and the range found;
    * 32-bit or signed integer (``I`` otherwise): a ``DataError``: its format does not say which value is white.
    """
    mode = image.mode
    if mode not in SIXTEEN_BIT_MODES and mode not in ("I", "F"):
        return image
    name = getattr(image, "filename", "") or "an image"
    array = np.asarray(image, dtype=np.float64)
    if mode == "F":
        finite = np.isfinite(array)
        if not finite.all() or array.min() < 0.0 or array.max() > 1.0:
            found = f"values {array[finite].min():.6g}..{array[finite].max():.6g}" if finite.any() else "no finite value"
            nan = "" if finite.all() else f", {int((~finite).sum())} NaN/inf pixel(s)"
            raise DataError(
                f"{name}: a 32-bit float image (mode F) with {found}{nan}; float images are read as 0..1 (0 = black, "
                "1 = white). Scale it to 0..1, or save it as an 8-bit or 16-bit PNG"
            )
        return Image.fromarray(np.round(array * 255.0).astype(np.uint8))
    if mode == "I" and _integer_bits(image) != 16:
        raise DataError(
            f"{name}: a 32-bit integer image (mode I, values {array.min():.0f}..{array.max():.0f}, format "
            f"{image.format}); its format does not say which value is white, so it is not guessed. Save it as an "
            "8-bit PNG (0..255) or a 16-bit PNG (0..65535)"
        )
    return Image.fromarray(np.clip(np.round(array / 257.0), 0, 255).astype(np.uint8))


#: Modes with an alpha band; ``La`` / ``RGBa`` hold it premultiplied (PIL unpremultiplies on conversion).
ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def to_mode(image: Image.Image, channels: int = 3) -> Image.Image:
    """The project's channel policy, applied to every decoded file (checked pixel by pixel for every PIL mode by
    ``tests/test_reliability_data.py::test_every_pil_mode_decodes_to_its_colour``):

    * more than 8 bits per sample (``I;16*``, ``I``, ``F``): :func:`to_8bit` (by the scale of the type);
    * grayscale (``1``, ``L`` and the above) -> replicated to RGB when 3 channels are wanted;
    * alpha (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa`` / ``La``, and a palette or ``L`` / ``RGB`` file
      with a transparent colour) -> composited over a white background (what an image viewer shows);
    * palette (``P``), ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX`` -> RGB by PIL's conversion;
    * one channel wanted: the RGB result -> ``L`` (ITU-R 601-2 luma, PIL's ``convert("L")``).
    """
    image = to_8bit(image)
    if image.mode == "La":
        image = image.convert("LA")  # PIL converts La only to LA (unpremultiplied)
    if image.mode in ALPHA_MODES or (image.mode in ("P", "L", "RGB") and "transparency" in image.info):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if channels == 3 or image.mode not in ("1", "L"):
        image = image.convert("RGB")  # LAB converts only to RGB, so one channel goes through RGB too
    return image if channels == 3 else image.convert("L")


def load_image(path: str | Path, channels: int = 3) -> Tensor:
    """Decode ``path`` to a uint8 tensor [channels, H, W] following :func:`to_mode`."""
    image = to_mode(open_image(path), channels)
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _looks_complete(path: Path, image_format: Optional[str]) -> bool:
    """Whether a PNG / JPEG file ends as a complete one does (reads its last bytes only); other formats: True."""
    if image_format not in _TAIL_CHECKED:
        return True
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 4096))
        tail = f.read()
    if image_format == "PNG":
        return tail.endswith(_PNG_END)
    return _JPEG_END in tail  # EOI, possibly followed by padding or a camera's trailer


def _check_decodable(path: Path, image_format: Optional[str]) -> None:
    """Raise a ``DataError`` naming ``path`` if it is truncated or does not decode.

    Cost: PNG and JPEG files whose last bytes end as a complete file does (the usual case) are not decoded;
    the others (a missing end marker, or another format) are decoded once here, which is what the error is
    decided on, so a JPEG with a trailer after its end marker is not refused.
    """
    if image_format in _TAIL_CHECKED and _looks_complete(path, image_format):
        return
    open_image(path)  # full decode: DataError "cannot decode this image (image file is truncated ...)"


def image_modes(paths: Iterable[Path], check_complete: bool = True) -> Counter:
    """Count files by PIL mode (header, plus the last bytes of PNG/JPEG files; cheap) so a datamodule can report
    conversions at setup. With ``check_complete`` a truncated or undecodable file raises a ``DataError`` naming
    it here, at setup, rather than mid-epoch after batches have trained; so does a 32-bit file (mode ``I`` / ``F``)
    that :func:`to_8bit` refuses."""
    counts: Counter = Counter()
    for p in paths:
        try:
            with Image.open(p) as im:
                mode, image_format = im.mode, im.format
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{p}: cannot decode this image ({err}); remove or replace the file") from err
        if check_complete:
            _check_decodable(Path(p), image_format)
        if mode in ("I", "F"):  # rare files whose range decides whether they decode: decoded once, at setup
            to_8bit(open_image(p))
        counts[mode] += 1
    return counts


def describe_conversions(converted: dict[str, int], target: str = "RGB") -> str:
    """One line on what ``to_mode`` does to files of these modes, e.g. for ``{"I;16": 2, "RGBA": 1}``."""
    what = []
    if any(m in SIXTEEN_BIT_MODES or m == "I" for m in converted):
        what.append("16-bit scaled to 8 bits as round(v / 257)")
    if "F" in converted:
        what.append("32-bit float 0..1 scaled to 8 bits as round(v * 255)")
    if target == "RGB" and any(m in GRAY_MODES for m in converted):
        what.append("grayscale replicated")
    if target == "L" and any(m not in GRAY_MODES for m in converted):
        what.append("colour converted to gray")
    if any(m in ALPHA_MODES or m == "P" for m in converted):
        what.append("alpha composited over white")
    if any(m in ("CMYK", "YCbCr", "LAB", "HSV") for m in converted):
        what.append("CMYK/YCbCr/LAB converted")
    return (
        f"{sum(converted.values())} file(s) converted to {target} on decode (modes {dict(converted)}"
        + (f": {', '.join(what)})" if what else ")")
    )


def report_modes(files: Iterable[Path], option: str | None = None) -> dict[str, int]:
    """Count files by PIL mode, find truncated files (``image_modes``), and say once (rank 0) how many are
    converted to RGB on decode (``to_mode``)."""
    modes = image_modes(files)
    converted = {m: n for m, n in modes.items() if m != "RGB"}
    if converted:
        where = f"{option}: " if option else ""
        rank_zero_info(f"lit_gans: {where}{describe_conversions(converted)}")
    return dict(modes)


def check_min_size(paths: Iterable[Path], min_size: int, option: str = "crop size", fix: Optional[str] = None) -> None:
    """Raise naming the first file smaller than ``min_size`` on either side (header only). ``option`` names
    the setting that sets the minimum; ``fix`` replaces the default advice (remove, upscale, or lower ``option``)
    where the minimum is not an option."""
    for p in paths:
        with Image.open(p) as im:
            w, h = im.size
        if min(w, h) < min_size:
            advice = fix or f"remove it, upscale it, or lower the {option}"
            raise DataError(f"{p} is {w}x{h}, smaller than the {option} {min_size}; {advice}")


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
        # training: an order that depends on (seed, epoch) only, resumable mid-epoch; evaluation: unpadded under DDP
        return (ResumableLoader if shuffle else DataLoader)(
            dataset, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, collate_fn=self.collate_fn, sampler=sampler,
        )

    def train_dataloader(self) -> DataLoader:
        check_batch_size(self.batch_size)
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

"""Paired image-to-image data (pix2pix): A|B images side by side, or two folders matched by file name.

Layouts (``--data.init_args.root <dir>``):

* **aligned** (junyanz ``data/aligned_dataset.py``, the released pix2pix data sets such as facades)::

      <root>/train/*.jpg|png    each file = A | B side by side (left half A, right half B)
      <root>/val/ or <root>/test/   the same, for validation (``val`` first, else ``test``)

* **folders**::

      <root>/A/*, <root>/B/*                  training pairs, same base name in both (a.png <-> a.jpg)
      or <root>/train/A/, <root>/train/B/ (+ <root>/val/A/, <root>/val/B/ or <root>/test/A/, ...)

  Without a validation split, the first ``val_max_images`` training pairs are used for validation (said once).

``direction`` 'AtoB' (input A, target B) or 'BtoA'. Batches are ``{"A": input, "B": target}`` in [-1, 1]
whatever the direction, plus ``"index"`` and ``"name"``.

CPU workers only decode (and cut A|B in halves) when training on a GPU. Everything geometric runs on the device
in ``on_after_batch_transfer`` (junyanz ``get_params``/``get_transform``, with one set of parameters shared by A
and B): ``resize_and_crop`` resizes to ``load_size`` (bicubic, antialiased: what PIL's bicubic does when
junyanz resizes) and takes a random ``crop_size`` crop; ``crop`` takes the random crop from the full-size
image; ``none`` keeps the image. Then a random horizontal flip (``--no_flip`` off). Validation is
deterministic: ``resize_and_crop`` resizes to ``crop_size`` (junyanz tests with ``load_size = crop_size``),
``crop`` takes ``val_crops`` crops per image at positions fixed by the image's index, ``none`` keeps the
image. The crops use index arithmetic on the device (``lit_gans.utils.patches``) rather than kornia's
``RandomCrop``, whose box handling reads the coordinates back to the host (a sync per batch); the resize
is kornia's. When the trainer's device is the CPU (and ``num_workers > 0``), the training geometry runs in the
DataLoader workers instead (``train_geometry='auto'``, :class:`GeometryInWorkers`): the "device side" would
otherwise run serially in the training process while the workers idle (15.3 ms per 256 px pair, measured for
issue 17). Same function, same result.

Checked at ``setup`` with an error that names the file and the fix: missing/empty folders, an A|B image
with an odd width, names unmatched between A/ and B/, pairs of different sizes (``crop``/``none``), images
smaller than the crop (``crop``), unreadable files. Grayscale/RGBA/palette files are converted to RGB
(``datamodules.images.to_mode``) and counted once.

Offline default (``root: null``): an edges -> photo task built from the embedded photos
(``datamodules.embedded``; scikit-image and scikit-learn sample photos, train/held-out split fixed there):
each photo is downscaled so that its short side is 256 px and A is its edge map (kornia Canny on the
luminance, black edges on white, as the edges2* data sets), B the photo. Written once to
``$LIT_GANS_CACHE/embedded_paired/{train,val}/<name>.png`` in the aligned layout and then read like a user's
folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional, Sequence

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from datamodules.images import DataError, FolderLoaders, check_batch_size, list_images, match_by_stem, open_image, report_modes, to_mode
from lit_gans.errors import ConfigError
from lit_gans.utils.images import pil_to_tensor
from lit_gans.utils.patches import crop_at, random_offsets
from lit_gans.utils.checks import check_sizes

Preprocess = Literal["resize_and_crop", "crop", "none"]
Direction = Literal["AtoB", "BtoA"]
LAYOUT = "<root>/train/ of A|B images side by side (and val/ or test/), or <root>/A/ and <root>/B/ with the same file names"
EMBEDDED_SHORT_SIDE = 256  # embedded photos are downscaled to this short side (CPU-friendly; deviation: reduced size)


# ----------------------------------------------------------------------------- device-side geometry
def collate_images(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack dict items. Image entries (uint8 [C, H, W]) of different sizes are zero-padded to the largest;
    their own sizes go to ``"hw"`` ([B, 2] tensor, for device-side crops) and ``"sizes"`` (a list of
    (h, w) Python ints, for per-image resizes without reading the device). All image keys of an item must
    have the same size (A and B of a pair)."""
    out: dict[str, Any] = {}
    image_keys = [k for k, v in items[0].items() if isinstance(v, Tensor) and v.dim() == 3]
    sizes = [tuple(int(s) for s in it[image_keys[0]].shape[1:]) for it in items] if image_keys else []
    for key in items[0]:
        values = [it[key] for it in items]
        if key in image_keys:
            h, w = max(v.shape[1] for v in values), max(v.shape[2] for v in values)
            batch = values[0].new_zeros((len(values), values[0].shape[0], h, w))
            for i, v in enumerate(values):
                batch[i, :, : v.shape[1], : v.shape[2]] = v
            out[key] = batch
        elif isinstance(values[0], Tensor):
            out[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            out[key] = torch.tensor(values)
        else:
            out[key] = values
    if image_keys:
        out["hw"] = torch.tensor(sizes, dtype=torch.long)
        out["sizes"] = sizes
    return out


def to_float(x: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [0, 1] (float input is returned as float32)."""
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def resize_each(x: Tensor, sizes: Sequence[tuple[int, int]], size: tuple[int, int]) -> Tensor:
    """Resize each image's own region (``sizes``, host ints) of a padded batch to ``size``: bicubic with
    antialiasing (kornia), as PIL's bicubic resize of junyanz's transforms. One call when all sizes agree."""
    from kornia.geometry.transform import resize

    x = x.float()
    h, w = x.shape[-2:]
    if all(s == (h, w) for s in sizes):
        return resize(x, size, interpolation="bicubic", antialias=True) if (h, w) != size else x
    return torch.cat([resize(x[i : i + 1, :, :sh, :sw], size, interpolation="bicubic", antialias=True) for i, (sh, sw) in enumerate(sizes)])


def shared_random_crop(tensors: Sequence[Tensor], size: int, hw: Tensor) -> list[Tensor]:
    """One uniform ``size`` x ``size`` crop position per image, applied to every tensor of ``tensors`` (A and
    B get the same crop), inside each image's own region ``hw`` [B, 2]. No host round trip."""
    limits = (hw.to(tensors[0].device) - size).clamp_(min=0)
    top, left = random_offsets(limits[:, 0]), random_offsets(limits[:, 1])
    return [crop_at(t, top, left, size) for t in tensors]


def shared_random_flip(tensors: Sequence[Tensor], p: float = 0.5) -> list[Tensor]:
    """Horizontal flip of each image with probability ``p``, the same decision for every tensor."""
    mask = (torch.rand(tensors[0].shape[0], device=tensors[0].device) < p).view(-1, 1, 1, 1)
    return [torch.where(mask, t.flip(-1), t) for t in tensors]


def apply_geometry(
    tensors: list[Tensor], hw: Optional[Tensor], sizes: Optional[Sequence[tuple[int, int]]], training: bool,
    preprocess: Preprocess, load_size: int, crop_size: int, flip: bool,
) -> list[Tensor]:
    """The shared jitter (train) or the deterministic resize (validation) of a batch of A and B, float [0, 1]:
    :meth:`PairedDataModule.geometry`, as a function of the options (picklable into DataLoader workers)."""
    tensors = [to_float(t) for t in tensors]
    if preprocess == "resize_and_crop":
        side = load_size if training else crop_size
        tensors = [resize_each(t, sizes, (side, side)) for t in tensors]
        hw = torch.full_like(hw, side)
    if training and preprocess != "none":
        tensors = shared_random_crop(tensors, crop_size, hw)
    if training and flip:
        tensors = shared_random_flip(tensors)
    return tensors


class GeometryInWorkers(Dataset):
    """Training pairs with the training geometry already applied, in [-1, 1]: the DataLoader worker that decodes
    a pair also resizes, crops and flips it (per image: the same function and the same random draws, in the
    same order, as :func:`apply_geometry` on a batch of one). For a trainer on the CPU, where the "device side"
    would run serially in the training process while the workers wait (``train_geometry``)."""

    def __init__(self, base: Dataset, preprocess: Preprocess, load_size: int, crop_size: int, flip: bool) -> None:
        self.base, self.options = base, (preprocess, load_size, crop_size, flip)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.base[i]
        h, w = item["A"].shape[-2:]
        a, b = apply_geometry([item["A"][None], item["B"][None]], torch.tensor([[h, w]]), [(h, w)], True, *self.options)
        item["A"], item["B"] = a[0] * 2.0 - 1.0, b[0] * 2.0 - 1.0
        item["geometry_done"] = True
        return item


def fixed_crop_offsets(index: int, h: int, w: int, size: int, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """``n`` crop positions for validation, fixed by the item's index (a seeded generator): the first is the
    centre, the others uniform. Raises if the image is smaller than ``size``."""
    if h < size or w < size:
        raise DataError(f"validation image {h}x{w} is smaller than the crop {size}")
    offsets = [((h - size) // 2, (w - size) // 2)]
    g = torch.Generator().manual_seed(seed * 1_000_003 + index)
    for _ in range(n - 1):
        offsets.append((int(torch.randint(0, h - size + 1, (), generator=g)), int(torch.randint(0, w - size + 1, (), generator=g))))
    return offsets


# ----------------------------------------------------------------------------- files and datasets
def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as err:
        raise DataError(f"{path}: cannot decode this image ({err}); remove or replace the file") from err


def decode_rgb(path: Path) -> Tensor:
    """uint8 [3, H, W] with the project's channel policy (gray replicated, alpha composited on white)."""
    return pil_to_tensor(to_mode(open_image(path), 3))


class PairedFiles(Dataset):
    """Items ``{"A", "B": uint8 [3, H, W], "index", "name"}``, the input always under "A".

    ``pairs``: (file, None) for an A|B file, or (file_a, file_b). ``crops``: per item (index, top, left) when
    validation takes fixed crops (``crop_size``); then an item is one crop.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Optional[Path]]],
        direction: Direction = "AtoB",
        repeats: int = 1,
        crops: Optional[Sequence[tuple[int, int, int]]] = None,
        crop_size: int = 0,
    ) -> None:
        self.pairs, self.direction, self.repeats = list(pairs), direction, repeats
        self.crops, self.crop_size = (list(crops) if crops is not None else None), crop_size

    def __len__(self) -> int:
        return len(self.crops) if self.crops is not None else len(self.pairs) * self.repeats

    def load_pair(self, i: int) -> tuple[Tensor, Tensor]:
        first, second = self.pairs[i]
        if second is None:
            ab = decode_rgb(first)
            half = ab.shape[-1] // 2
            a, b = ab[..., :half], ab[..., half : 2 * half]
        else:
            a, b = decode_rgb(first), decode_rgb(second)
        return (a, b) if self.direction == "AtoB" else (b, a)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.crops is not None:
            j, top, left = self.crops[i]
            a, b = self.load_pair(j)
            s = self.crop_size
            a, b = a[:, top : top + s, left : left + s], b[:, top : top + s, left : left + s]
            return {"A": a.contiguous(), "B": b.contiguous(), "index": i, "name": f"{self.pairs[j][0].stem}_{i:04d}"}
        j = i % len(self.pairs)
        a, b = self.load_pair(j)
        return {"A": a, "B": b, "index": i, "name": self.pairs[j][0].stem}


class InputFolder(Dataset):
    """Prediction inputs: ``{"image": uint8 [3, H, W], "name": stem}`` (or the input half of A|B files)."""

    def __init__(self, files: Sequence[Path], split_half: Optional[Literal["left", "right"]] = None) -> None:
        self.files, self.split_half = list(files), split_half

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        x = decode_rgb(self.files[i])
        if self.split_half is not None:
            half = x.shape[-1] // 2
            x = x[..., :half] if self.split_half == "left" else x[..., half : 2 * half]
        return {"image": x.contiguous(), "name": self.files[i].stem}


def _pairs_in(folder: Path, option: str) -> tuple[list[tuple[Path, Optional[Path]]], str]:
    """The pairs of one split folder: A|B files, or A/ and B/ sub-folders. Returns (pairs, layout)."""
    if (folder / "A").is_dir() or (folder / "B").is_dir():
        a = list_images(folder / "A", option=f"{option} (A/)", layout=LAYOUT)
        b = list_images(folder / "B", option=f"{option} (B/)", layout=LAYOUT)
        return [(pa, pb) for pa, pb in match_by_stem(a, b, what=f"{folder / 'A'} and {folder / 'B'}")], "folders"
    return [(p, None) for p in list_images(folder, option=option, layout=LAYOUT)], "aligned"


def check_pairs(pairs: Sequence[tuple[Path, Optional[Path]]], min_size: Optional[int], same_size: bool) -> None:
    """Header-only checks with errors naming the file: even A|B widths, equal pair sizes, minimum size."""
    for first, second in pairs:
        w, h = image_size(first)
        if second is None:
            if w % 2:
                raise DataError(
                    f"{first} is {w} px wide: an A|B image holds two halves of equal width, so its width must be even; "
                    "crop it to an even width, or put the halves in A/ and B/ folders with the same file names"
                )
            w //= 2
        elif same_size:
            wb, hb = image_size(second)
            if (wb, hb) != (w, h):
                raise DataError(
                    f"paired images differ in size: {first} is {w}x{h}, {second} is {wb}x{hb}; with preprocess "
                    "'crop' or 'none' A and B must be the same size (resize them, or use preprocess 'resize_and_crop')"
                )
        if min_size is not None and min(w, h) < min_size:
            raise DataError(
                f"{first} is {w}x{h} (per half), smaller than the crop {min_size}; remove it, upscale it, lower "
                "--data.init_args.crop_size, or use preprocess 'resize_and_crop'"
            )


# ----------------------------------------------------------------------------- embedded data
def embedded_paired_root(root: Optional[str | Path] = None, short_side: int = EMBEDDED_SHORT_SIDE) -> Path:
    """Build (once) the edges -> photo pairs from the embedded photos; returns the aligned-layout root."""
    import os
    import shutil
    import tempfile

    from lit_gans.datasets.embedded import cache_dir, load_photos

    target = Path(root or cache_dir() / f"embedded_paired_{short_side}")
    if (target / "train").is_dir() and (target / "val").is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".paired-", dir=target.parent))
    try:
        for split, source in (("train", "train"), ("val", "heldout")):
            (tmp / split).mkdir()
            for name, array in load_photos(source).items():
                photo = downscale_short_side(Image.fromarray(array), short_side)
                edges = edge_map(photo)
                pair = Image.new("RGB", (photo.width * 2, photo.height))
                pair.paste(edges, (0, 0))
                pair.paste(photo, (photo.width, 0))
                pair.save(tmp / split / f"{name}.png")
        try:
            os.replace(tmp, target)
        except OSError:  # another process built it first
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def downscale_short_side(image: Image.Image, short_side: int) -> Image.Image:
    """Bicubic downscale so that the short side is ``short_side`` (never upscales; even width kept)."""
    w, h = image.size
    f = short_side / min(w, h)
    if f < 1:
        w, h = max(short_side, round(w * f)), max(short_side, round(h * f))
        image = image.resize((w, h), Image.BICUBIC)
    return image


def edge_map(photo: Image.Image, low: float = 0.1, high: float = 0.2) -> Image.Image:
    """Canny edges of the photo's luminance (kornia), black edges on white, as RGB."""
    import kornia
    import numpy as np

    x = pil_to_tensor(photo.convert("RGB")).float().unsqueeze(0) / 255.0
    gray = kornia.color.rgb_to_grayscale(x)
    _, edges = kornia.filters.canny(gray, low_threshold=low, high_threshold=high)
    white = (1.0 - edges[0, 0]).clamp(0, 1)
    array = (white * 255).round().to(torch.uint8).numpy()
    return Image.fromarray(np.stack([array] * 3, axis=-1))


# ----------------------------------------------------------------------------- datamodule
class PairedDataModule(FolderLoaders, L.LightningDataModule):
    """Paired image folders for pix2pix (layouts in the module docstring).

    Args:
        root: dataset folder (aligned A|B or A/ + B/ layout). None: the embedded edges -> photo pairs.
        direction: 'AtoB' (input A, target B) or 'BtoA' (junyanz ``--direction``).
        preprocess: 'resize_and_crop' (junyanz default), 'crop' (random crop of the full image) or 'none'.
        load_size: resize side of 'resize_and_crop' (286, junyanz ``--load_size``).
        crop_size: training crop side (256, junyanz ``--crop_size``).
        flip: random horizontal flips (junyanz default; ``--no_flip`` off).
        batch_size: per-device batch (1: pix2pix paper Sec. 3.3 / junyanz ``--batch_size 1``).
        num_workers: decoding workers.
        epoch_repeats: passes over the training pairs per epoch (1; more for tiny data sets).
        val_max_images: cap on validation pairs (None: all).
        val_crops: fixed crops per validation image with preprocess 'crop' (1 = the centre).
        predict_root: folder of input images for ``predict`` (any size; one PNG per file). None: the input
            halves of the validation split.
        num_sample_images: fixed validation pairs of the sample grid.
        embedded_short_side: short side of the embedded photos (256; used when ``root`` is None).
        dataset: the registry name of ``root``'s data set (``python -m lit_gans.datasets list``); None: inferred
            from the folder name (``datasets/facades`` -> ``facades``).
        download: fetch the data set into ``root`` in ``prepare_data`` (once per node) when it is not there
            (``lit_gans.datasets``; offline: an error naming the URL, the folder and the layout).
        train_geometry: where the training resize/crop/flip runs. 'device' (``on_after_batch_transfer``, fast on
            a GPU); 'workers' (in the DataLoader workers, per pair, as junyanz's transforms); 'auto' (default):
            'workers' when the trainer's device is the CPU and ``num_workers > 0``, else 'device'. Same
            function either way; validation always runs on the device side.
    """

    #: What the model's ``color_space`` must be for these batches.
    color_space = "rgb"

    collate_fn = staticmethod(collate_images)
    train_items = "pair(s)"

    def __init__(
        self,
        root: Optional[str] = None,
        direction: Direction = "AtoB",
        preprocess: Preprocess = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        flip: bool = True,
        batch_size: int = 1,
        num_workers: int = 4,
        epoch_repeats: int = 1,
        val_max_images: Optional[int] = None,
        val_crops: int = 1,
        predict_root: Optional[str] = None,
        num_sample_images: int = 4,
        embedded_short_side: int = EMBEDDED_SHORT_SIDE,
        dataset: Optional[str] = None,
        download: bool = False,
        train_geometry: Literal["auto", "device", "workers"] = "auto",
    ) -> None:
        check_sizes(PairedDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        if train_geometry not in ("auto", "device", "workers"):
            raise ConfigError(f"--data.init_args.train_geometry must be 'auto', 'device' or 'workers', got {train_geometry!r}")
        self.train_geometry = train_geometry
        if preprocess == "resize_and_crop" and load_size < crop_size:
            raise ConfigError(
                f"--data.init_args.load_size={load_size} is smaller than --data.init_args.crop_size={crop_size}: with "
                f"preprocess resize_and_crop the image is resized to load_size, then cropped to crop_size; set "
                f"--data.init_args.load_size={max(crop_size, round(crop_size * 286 / 256))} (junyanz: 286 for 256) "
                f"or lower --data.init_args.crop_size"
            )
        if direction not in ("AtoB", "BtoA"):
            raise ConfigError(f"direction must be 'AtoB' or 'BtoA', got {direction!r}")
        if val_crops < 1:
            raise ConfigError(f"val_crops must be >= 1, got {val_crops}")
        self.root, self.direction, self.preprocess = root, direction, preprocess
        self.load_size, self.crop_size, self.flip = load_size, crop_size, flip
        self.batch_size, self.num_workers, self.epoch_repeats = batch_size, num_workers, epoch_repeats
        self.val_max_images, self.val_crops = val_max_images, val_crops
        self.predict_root, self.num_sample_images = predict_root, num_sample_images
        self.embedded_short_side = embedded_short_side
        self.dataset, self.download = dataset, download
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.test_set: Optional[Dataset] = None
        self._eval_split_names: dict[str, str] = {}
        self.predict_set: Optional[Dataset] = None

    # ------------------------------------------------------------------ folders
    def prepare_data(self) -> None:
        """Download ``root``'s data set when ``download`` is set and it is missing (Lightning: once per node)."""
        from lit_gans.datasets import prepare

        prepare(self.root, self.dataset, self.download)

    def resolved_root(self) -> Path:
        if self.root is None:
            return embedded_paired_root(short_side=self.embedded_short_side)
        return Path(self.root).expanduser()

    def _split(self, split: str) -> Optional[list[tuple[Path, Optional[Path]]]]:
        root = self.resolved_root()
        if not root.is_dir():
            raise DataError(f"--data.init_args.root: folder {root} does not exist; set it to your paired data set. Expected layout: {LAYOUT}.")
        if split == "train":
            if (root / "train").is_dir():
                return _pairs_in(root / "train", "--data.init_args.root (train/)")[0]
            if (root / "A").is_dir() or (root / "B").is_dir():
                return _pairs_in(root, "--data.init_args.root")[0]
            raise DataError(f"--data.init_args.root: {root} has neither train/ nor A/ and B/. Expected layout: {LAYOUT}.")
        for name in ("test", "val") if split == "test" else ("val", "test"):
            if (root / name).is_dir():
                self._eval_split_names[split] = name
                return _pairs_in(root / name, f"--data.init_args.root ({name}/)")[0]
        return None

    @property
    def _min_size(self) -> Optional[int]:
        return self.crop_size if self.preprocess == "crop" else None

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.train_set is None:
            pairs = self._split("train")
            check_pairs(pairs, self._min_size, same_size=self.preprocess != "resize_and_crop")
            report_modes([p for pair in pairs for p in pair if p is not None])
            self.train_set = PairedFiles(pairs, self.direction, self.epoch_repeats)
            if self._geometry_in_workers():
                self.train_set = GeometryInWorkers(self.train_set, self.preprocess, self.load_size, self.crop_size, self.flip)
        if stage in ("fit", "validate") and self.val_set is None:
            self.val_set = self._val_dataset()
        if stage == "test" and self.test_set is None:
            self.test_set = self._val_dataset("test")  # the paper's table: test/ first (val/ otherwise)
        if stage == "predict" and self.predict_set is None:
            self.predict_set = self._predict_dataset()

    def _val_pairs(self, split: str = "val") -> list[tuple[Path, Optional[Path]]]:
        pairs = self._split(split)
        if pairs is None:
            self._eval_split_names[split] = "train"
            rank_zero_info("lit_gans: no val/ or test/ split under the data root: validation uses training pairs")
            pairs = self._split("train")
        return pairs[: self.val_max_images] if self.val_max_images else pairs

    def test_set_names(self) -> list[str]:
        """The one test set: ``<data folder>/<split>`` (``test``, else ``val``, else ``train``)."""
        return [f"{self.resolved_root().name}/{self._eval_split_names.get('test', 'test')}"]

    def test_dataloader(self) -> Any:
        return self._loader(self.test_set, self.batch_size, shuffle=False)

    def _val_dataset(self, split: str = "val") -> Dataset:
        pairs = self._val_pairs(split)
        check_pairs(pairs, self._min_size, same_size=self.preprocess != "resize_and_crop")
        if self.preprocess != "crop":
            return PairedFiles(pairs, self.direction)
        crops = []
        for j, (first, second) in enumerate(pairs):
            w, h = image_size(first)
            w = w // 2 if second is None else w
            crops += [(j, top, left) for top, left in fixed_crop_offsets(j, h, w, self.crop_size, self.val_crops)]
        return PairedFiles(pairs, self.direction, crops=crops, crop_size=self.crop_size)

    def _predict_dataset(self) -> Dataset:
        if self.predict_root is not None:
            return InputFolder(list_images(self.predict_root, option="--data.init_args.predict_root"))
        pairs = self._val_pairs()
        if pairs[0][1] is None:
            return InputFolder([p for p, _ in pairs], "left" if self.direction == "AtoB" else "right")
        return InputFolder([pa if self.direction == "AtoB" else pb for pa, pb in pairs])


    # ------------------------------------------------------------------ device side
    def geometry(self, tensors: list[Tensor], batch: dict[str, Any], training: bool) -> list[Tensor]:
        """The shared jitter (train) or the deterministic resize (validation) of A and B, in float [0, 1]."""
        return apply_geometry(tensors, batch.get("hw"), batch.get("sizes"), training, self.preprocess, self.load_size, self.crop_size, self.flip)

    def _geometry_in_workers(self) -> bool:
        if self.train_geometry != "auto":
            return self.train_geometry == "workers"
        trainer = self.trainer
        return self.num_workers > 0 and trainer is not None and trainer.strategy.root_device.type == "cpu"

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if "image" in batch:  # predict: the input at its own size, [-1, 1]
            batch["A"] = to_float(batch.pop("image")) * 2.0 - 1.0
            return batch
        if batch.pop("geometry_done", None) is not None:  # done in the workers (GeometryInWorkers)
            return batch
        training = self.trainer is not None and self.trainer.training
        a, b = self.geometry([batch["A"], batch["B"]], batch, training)
        batch["A"], batch["B"] = a * 2.0 - 1.0, b * 2.0 - 1.0
        return batch

    def sample_batch(self) -> dict[str, Tensor]:
        """Fixed validation pairs for the sample grid: ``{"A", "B"}`` in [-1, 1] (validation geometry)."""
        if self.val_set is None:
            self.val_set = self._val_dataset()
        n = min(self.num_sample_images, len(self.val_set))
        picks = sorted({round(i * (len(self.val_set) - 1) / max(n - 1, 1)) for i in range(n)})  # spread over the set
        batch = collate_images([self.val_set[i] for i in picks])
        a, b = self.geometry([batch["A"], batch["B"]], batch, training=False)
        return {"A": a * 2.0 - 1.0, "B": b * 2.0 - 1.0}

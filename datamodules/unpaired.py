"""Unpaired image folders (CycleGAN's layout): two domains sampled independently.

Layout (junyanz/pytorch-CycleGAN-and-pix2pix ``data/unaligned_dataset.py``)::

    <root>/trainA/*.png|jpg   domain A (e.g. horses)
    <root>/trainB/*           domain B (e.g. zebras)
    <root>/testA/, testB/     optional: validation samples/metrics and the default ``predict`` input

CPU workers only decode (with the project's channel policy: grayscale replicated to RGB, RGBA composited
on white, ``datamodules.images.to_mode``) and, in the ``resize_and_crop`` protocol, resize to
``load_size`` x ``load_size`` (bicubic) so the batch can be stacked. Everything random runs on the
device in ``on_after_batch_transfer``: the ``crop_size`` crop (per image, inside each image's own
region when a batch of differently sized photos is padded), horizontal and optional vertical flips,
and the uint8 -> [-1, 1] conversion. Validation and ``predict`` are deterministic.

Pairing (junyanz): ``random`` draws B uniformly for each A (``serial_batches`` off), ``serial`` takes
``B[i % |B|]``. An epoch has ``max(|A|, |B|) * epoch_repeats`` items.

Checked at setup (never in a worker): missing/empty folders, unreadable files, files smaller than the
crop (an error naming the file, or an upscale when ``upscale_small``), ``load_size < crop_size``; mode
conversions (gray, RGBA, palette) are reported once.
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

from datamodules.images import DataError, FolderLoaders, check_batch_size, check_min_size, describe_conversions, image_modes, list_images, open_image, to_mode
from lit_gans.errors import ConfigError
from lit_gans.utils.images import pil_to_tensor
from lit_gans.utils.patches import random_crop
from lit_gans.utils.checks import check_sizes

Preprocess = Literal["resize_and_crop", "crop", "none"]
LAYOUT = "<root>/trainA/ and <root>/trainB/ (images of the two domains), optional testA/ and testB/"


def decode(path: Path, channels: int = 3, resize: Optional[int] = None, min_side: Optional[int] = None) -> Tensor:
    """Decode ``path`` to uint8 [C, H, W]; ``resize``: to ``resize`` x ``resize`` (bicubic, junyanz
    ``transforms.Resize([load_size, load_size], BICUBIC)``); ``min_side``: upscale (bicubic, keeping the
    aspect ratio) so that the short side is at least ``min_side``."""
    image = to_mode(open_image(path), channels)
    if resize is not None:
        image = image.resize((resize, resize), Image.BICUBIC)
    elif min_side is not None and min(image.size) < min_side:
        w, h = image.size
        f = min_side / min(w, h)
        image = image.resize((max(min_side, round(w * f)), max(min_side, round(h * f))), Image.BICUBIC)
    return pil_to_tensor(image)


def pad_collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack dict items; image entries of different sizes are zero-padded to the largest, and their
    own sizes go to ``<key>_hw`` [B, 2] so device-side crops stay inside each image."""
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], Tensor) and values[0].dim() == 3:
            h = max(v.shape[1] for v in values)
            w = max(v.shape[2] for v in values)
            batch = values[0].new_zeros((len(values), values[0].shape[0], h, w))
            for i, v in enumerate(values):
                batch[i, :, : v.shape[1], : v.shape[2]] = v
            out[key] = batch
            out[f"{key}_hw"] = torch.tensor([[v.shape[1], v.shape[2]] for v in values])
        elif isinstance(values[0], Tensor):
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out


class UnpairedFolders(Dataset):
    """Items ``{"A": uint8 [C, H, W], "B": ..., "A_name": str, "B_name": str}`` from two file lists."""

    def __init__(
        self,
        a_files: Sequence[Path],
        b_files: Sequence[Path],
        pairing: Literal["random", "serial"] = "random",
        channels: int = 3,
        resize: Optional[int] = None,
        min_side: Optional[int] = None,
        repeats: int = 1,
    ) -> None:
        self.a, self.b = list(a_files), list(b_files)
        self.pairing, self.channels, self.resize, self.min_side, self.repeats = pairing, channels, resize, min_side, repeats

    def __len__(self) -> int:
        return max(len(self.a), len(self.b)) * self.repeats

    def __getitem__(self, i: int) -> dict[str, Any]:
        pa = self.a[i % len(self.a)]
        # junyanz unaligned_dataset: serial_batches -> B[i % |B|], else a uniformly random B
        pb = self.b[i % len(self.b)] if self.pairing == "serial" else self.b[int(torch.randint(len(self.b), ()))]
        return {
            "A": decode(pa, self.channels, self.resize, self.min_side),
            "B": decode(pb, self.channels, self.resize, self.min_side),
            "A_name": pa.stem,
            "B_name": pb.stem,
        }


class SingleFolder(Dataset):
    """``{"A": uint8 [C, H, W], "A_name": str}`` (and ``"target"`` when paired files are given)."""

    def __init__(self, files: Sequence[Path], channels: int = 3, resize: Optional[int] = None, targets: Optional[Sequence[Path]] = None) -> None:
        self.files, self.channels, self.resize = list(files), channels, resize
        self.targets = list(targets) if targets is not None else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = {"A": decode(self.files[i], self.channels, self.resize), "A_name": self.files[i].stem, "index": torch.tensor(i)}
        if self.targets is not None:
            item["target"] = decode(self.targets[i], self.channels, self.resize)
            if item["target"].shape != item["A"].shape:
                raise DataError(
                    f"paired images differ in size: {self.files[i]} is {tuple(item['A'].shape[1:])}, "
                    f"{self.targets[i]} is {tuple(item['target'].shape[1:])}; paired evaluation images must match"
                )
        return item


def to_signed(x: Tensor) -> Tensor:
    """uint8 [0, 255] (or float [0, 1]) -> float [-1, 1] on the device."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x * 2.0 - 1.0


def random_flip(x: Tensor, dim: int, p: float = 0.5) -> Tensor:
    """Flip each image of the batch along ``dim`` with probability ``p`` (mask drawn on the device)."""
    mask = torch.rand(x.shape[0], device=x.device) < p
    return torch.where(mask.view(-1, *([1] * (x.dim() - 1))), x.flip(dim), x)


class UnpairedDataModule(FolderLoaders, L.LightningDataModule):
    """Two unpaired image folders (CycleGAN).

    Args:
        root: dataset folder with ``trainA/`` and ``trainB/`` (and optionally ``testA/``, ``testB/``).
            None: the embedded photos (offline; ``lit_gans.datasets.embedded.embedded_lowlight_root``, domain A
            the synthetically darkened halves, B the normal halves).
        preprocess: ``resize_and_crop`` (junyanz default: resize to ``load_size`` square on the CPU,
            random ``crop_size`` crop on the device), ``crop`` (random crop of the full image, EnlightenGAN)
            or ``none`` (no crop: every image must already have the same size).
        load_size: resize side of ``resize_and_crop`` (286, junyanz ``--load_size``).
        crop_size: training crop (256, junyanz ``--crop_size``).
        hflip: random horizontal flips (junyanz default, ``--no_flip`` off).
        vflip: random vertical flips (off for CycleGAN; EnlightenGAN flips both ways).
        pairing: 'random' (junyanz default) or 'serial' (``--serial_batches``).
        batch_size: per-device batch (1: CycleGAN paper Sec. 4 / junyanz ``--batch_size 1``).
        num_workers: decoding workers.
        epoch_repeats: passes over the larger folder per epoch (1; more for tiny data sets).
        upscale_small: images smaller than the crop are upscaled (bicubic, aspect kept) instead of raising.
        channels: 3 (RGB) or 1; files are converted to it (``datamodules.images.to_mode``).
        val_size: validation images are resized to this square (None: ``crop_size``; junyanz tests at
            ``load_size = crop_size``).
        val_max_images: cap on validation items (None: all of ``testA``/``testB``).
        predict_root: folder translated by ``predict`` (None: ``<root>/testA``, or ``testB`` for BtoA);
            images keep their own size, batch 1, PNG names = file stems.
        predict_direction: 'AtoB' or 'BtoA': which folder ``predict`` reads by default.
        num_sample_images: fixed validation inputs of the W&B/PNG sample grid.
        dataset: the registry name of ``root``'s data set (``python -m lit_gans.datasets list``); None: inferred
            from the folder name (``datasets/facades`` -> ``facades``).
        download: fetch the data set into ``root`` in ``prepare_data`` (once per node) when it is not there
            (``lit_gans.datasets``; offline: an error naming the URL, the folder and the layout).
    """

    train_dirs = ("trainA", "trainB")
    test_dirs = ("testA", "testB")

    collate_fn = staticmethod(pad_collate)
    train_items = "item(s)"

    def __init__(
        self,
        root: Optional[str] = None,
        preprocess: Preprocess = "resize_and_crop",
        load_size: int = 286,
        crop_size: int = 256,
        hflip: bool = True,
        vflip: bool = False,
        pairing: Literal["random", "serial"] = "random",
        batch_size: int = 1,
        num_workers: int = 4,
        epoch_repeats: int = 1,
        upscale_small: bool = False,
        channels: int = 3,
        val_size: Optional[int] = None,
        val_max_images: Optional[int] = 50,
        predict_root: Optional[str] = None,
        predict_direction: Literal["AtoB", "BtoA"] = "AtoB",
        num_sample_images: int = 4,
        dataset: Optional[str] = None,
        download: bool = False,
    ) -> None:
        check_sizes(UnpairedDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        if preprocess == "resize_and_crop" and load_size < crop_size:
            raise ConfigError(
                f"--data.init_args.load_size={load_size} is smaller than --data.init_args.crop_size={crop_size}: with "
                f"preprocess resize_and_crop the image is resized to load_size, then cropped to crop_size; set "
                f"--data.init_args.load_size={max(crop_size, round(crop_size * 286 / 256))} (junyanz: 286 for 256) "
                f"or lower --data.init_args.crop_size"
            )
        if channels not in (1, 3):
            raise ConfigError(f"channels must be 1 or 3, got {channels}")
        self.root = root
        self.preprocess, self.load_size, self.crop_size = preprocess, load_size, crop_size
        self.hflip, self.vflip, self.pairing = hflip, vflip, pairing
        self.batch_size, self.num_workers, self.epoch_repeats = batch_size, num_workers, epoch_repeats
        self.upscale_small, self.channels = upscale_small, channels
        self.val_size, self.val_max_images = val_size, val_max_images
        self.predict_root, self.predict_direction = predict_root, predict_direction
        self.num_sample_images = num_sample_images
        self.dataset, self.download = dataset, download
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.predict_set: Optional[Dataset] = None
        self.test_sets: Optional[list[tuple[str, Dataset, int]]] = None

    # ------------------------------------------------------------------ folders
    def prepare_data(self) -> None:
        """Download ``root``'s data set when ``download`` is set and it is missing (Lightning: once per node)."""
        from lit_gans.datasets import prepare

        prepare(self.root, self.dataset, self.download)

    def resolved_root(self) -> Path:
        if self.root is None:
            from lit_gans.datasets.embedded import embedded_lowlight_root

            return embedded_lowlight_root()
        return Path(self.root).expanduser()

    def _list(self, sub: str, required: bool = True) -> list[Path]:
        folder = self.resolved_root() / sub
        if not required and not folder.is_dir():
            return []
        return list_images(folder, option=f"--data.root ({sub}/)", layout=LAYOUT)

    def _check_train_files(self, files: Sequence[Path]) -> None:
        modes = image_modes(files)  # also finds truncated files, at setup (datamodules.images)
        target = "RGB" if self.channels == 3 else "L"
        converted = {m: n for m, n in modes.items() if m != target}
        if converted:
            rank_zero_info(f"lit_gans: {describe_conversions(converted, target)}")
        if self.preprocess == "crop" and not self.upscale_small:
            try:
                check_min_size(files, self.crop_size, option="crop_size")
            except DataError as err:
                raise DataError(f"{err} (--data.init_args.crop_size; or --data.init_args.upscale_small=true)") from None

    @property
    def _train_resize(self) -> Optional[int]:
        return self.load_size if self.preprocess == "resize_and_crop" else None

    @property
    def _min_side(self) -> Optional[int]:
        return self.crop_size if (self.preprocess == "crop" and self.upscale_small) else None

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.train_set is None:
            a, b = self._list(self.train_dirs[0]), self._list(self.train_dirs[1])
            self._check_train_files(a + b)
            self.train_set = UnpairedFolders(
                a, b, self.pairing, self.channels, self._train_resize, self._min_side, self.epoch_repeats
            )
        if stage in ("fit", "validate", "test") and self.val_set is None:
            self.val_set = self._val_dataset()
        if stage == "test" and self.test_sets is None:
            self.test_sets = self._test_datasets()
        if stage == "predict" and self.predict_set is None:
            if self.predict_root is not None:
                files = list_images(self.predict_root, option="--data.predict_root")
            else:
                files = self._list(self.test_dirs[0 if self.predict_direction == "AtoB" else 1])
            image_modes(files)  # truncated files: named at setup
            self.predict_set = SingleFolder(files, self.channels)

    # ------------------------------------------------------------------ test sets
    def _test_datasets(self) -> list[tuple[str, Dataset, int]]:
        """(name, dataset, batch size) of each test set: all of ``testA/`` and of ``testB/`` (the CycleGAN protocol
        translates each test split into the other domain), resized like the validation images."""
        out = []
        for sub in self.test_dirs:
            files = self._list(sub, required=False)
            if not files:
                raise DataError(
                    f"lit-gans test needs the test split {self.resolved_root() / sub}/ (and {self.test_dirs}); "
                    f"expected layout: {LAYOUT}"
                )
            image_modes(files)  # truncated files: named at setup
            out.append((sub, SingleFolder(files, self.channels, self.val_size or self.crop_size), self.batch_size))
        return out

    def test_set_names(self) -> list[str]:
        if self.test_sets is None:
            self.test_sets = self._test_datasets()
        return [name for name, _, _ in self.test_sets]

    def test_dataloader(self):  # noqa: ANN201
        if self.test_sets is None:
            self.test_sets = self._test_datasets()
        return [self._loader(ds, bs, shuffle=False) for _, ds, bs in self.test_sets]

    def _val_dataset(self) -> Optional[Dataset]:
        a, b = self._list(self.test_dirs[0], required=False), self._list(self.test_dirs[1], required=False)
        if not a or not b:
            rank_zero_info("lit_gans: no testA/ and testB/ under the data root: validation (samples, metrics) uses trainA/trainB")
            a, b = a or self._list(self.train_dirs[0]), b or self._list(self.train_dirs[1])
        if self.val_max_images:
            a, b = a[: self.val_max_images], b[: self.val_max_images]
        image_modes(a + b)  # truncated files: an error naming the file now, not mid-validation
        return UnpairedFolders(a, b, "serial", self.channels, self.val_size or self.crop_size)


    # ------------------------------------------------------------------ device side
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        training = self.trainer is not None and self.trainer.training
        for key in ("A", "B", "target"):
            if key not in batch:
                continue
            x = batch[key]
            if training and self.preprocess != "none":
                x = random_crop(x, self.crop_size, batch.get(f"{key}_hw"))
            x = to_signed(x)
            if training and self.hflip:
                x = random_flip(x, -1)
            if training and self.vflip:
                x = random_flip(x, -2)
            batch[key] = x
        return batch

    def sample_batch(self) -> dict[str, Tensor]:
        """Fixed validation inputs for sample grids: ``{"A", "B"}`` [n, C, s, s] in [-1, 1] (s = val size)."""
        if self.val_set is None:
            self.val_set = self._val_dataset()
        n = min(self.num_sample_images, len(self.val_set))
        batch = pad_collate([self.val_set[i] for i in range(n)])
        return {k: to_signed(batch[k]) for k in ("A", "B")}

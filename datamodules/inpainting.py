"""Masked-inpainting data: images decoded on CPU workers; crops, flips, masks and hole filling on the device.

Batches after ``on_after_batch_transfer`` (all on the device, images in [-1, 1], masks 1 = hole):

* ``image``  ``[B, 3, S, S]``: the original crop (target);
* ``mask``   ``[B, 1, S, S]``: the hole;
* ``masked`` ``[B, 3, S, S]``: the network input, the hole filled with ``fill`` (official: the ImageNet
  mean (117, 104, 123)/255, pathak22/context-encoder train.lua);
* ``index``; for ``predict`` also ``full_image`` / ``full_mask`` at the file's own size and ``name``.

Pipeline, following the official data loader (``data/donkey_folder.lua``) where it can:

* CPU worker: decode, resize the short side to ``load_size`` (README: ``loadSize=350``), then a square
  of ``load_size`` px at a random position (training; centered for validation). Deviation from
  donkey_folder.lua, which crops ``fineSize`` anywhere in the resized image: the worker keeps a fixed
  ``load_size`` square so that batches stack and the ``image_size`` crop itself runs on the device;
  every part of the image can still be drawn.
* Device (training): a random ``image_size`` crop (``fineSize=128``) and a horizontal flip with
  p = 0.5 (donkey_folder.lua ``trainHook``) with kornia, then the mask (``center``, ``random_block``,
  ``random_region``; ``lit_gans.utils.masks``) or a mask file, then the fill.
* Validation is deterministic: fixed crops of the held-out images, masks drawn from a generator seeded
  by the first sample index of the batch.

Folder layouts (any of Paris StreetView, ImageNet, CelebA): ``root`` holds the training images at any
depth (``paris_train/*.JPG``, ``imagenet/train/<class>/*.JPEG``, ``celeba/img_align_celeba/*.jpg``);
``val_root`` the held-out ones. With ``root`` unset the embedded photos of scikit-image/scikit-learn are
used (``datamodules.embedded``: 8 training photos, 2 held-out).

Mask files (white = hole, black = known; single-channel ``L`` or ``1`` PNG): ``predict_mask_root`` holds
one per image of ``predict_root`` with the same base name and the same size; ``train_mask_root`` (with
``mask: files``) is a pool of masks drawn at random for training (resized to ``image_size``, nearest).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal, Optional

import kornia.augmentation as K
import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules.images import DataError, by_stem, check_batch_size, check_min_size, eval_sampler, list_images, load_image, open_image, report_modes, to_mode
from lit_gans.errors import ConfigError
from lit_gans.utils.resumable import ResumableLoader
from lit_gans.utils.masks import REGION_COVERAGE, center_mask, fill_hole, random_block_mask, random_region_mask
from lit_gans.utils.checks import check_sizes

IMAGENET_MEAN = (117.0 / 255.0, 104.0 / 255.0, 123.0 / 255.0)  # train.lua: 2*117/255-1, 2*104/255-1, 2*123/255-1
MASK_MODES = ("1", "L")
MAX_ASPECT = 4.0  # long / short side above which a training/validation image is centre-cropped before resizing
PREDICT_MIN_SIDE = 8  # smallest side `predict` takes (the centre hole is scaled to the image)
_CROPPED: set = set()  # files already reported as cropped (once per file and process)
LAYOUT = "a folder of RGB images at any depth (e.g. paris_train/*.JPG or imagenet/train/<class>/*.JPEG)"


def _resize_short(image: Image.Image, load_size: int, path: Optional[Path] = None) -> Image.Image:
    """Resize so the short side is ``load_size`` (train.lua ``loadSize``). An image longer than ``MAX_ASPECT``
    times its short side is first centre-cropped to that ratio: resizing a 1x5000 strip to a short side of 350
    would make a 350x1,750,000 image (1.8 GB; peak memory 1.0 -> 8.6 GB in issue 12). Said once per file."""
    w, h = image.size
    if max(w, h) > MAX_ASPECT * min(w, h):
        cw, ch = (min(w, int(MAX_ASPECT * h)), h) if w > h else (w, min(h, int(MAX_ASPECT * w)))
        left, top = (w - cw) // 2, (h - ch) // 2
        image = image.crop((left, top, left + cw, top + ch))
        if path is not None and path not in _CROPPED:
            _CROPPED.add(path)
            warnings.warn(
                f"{path} is {w}x{h}, more than {MAX_ASPECT:g}:1: its centre {cw}x{ch} is used (resizing it whole to a "
                f"short side of {load_size} would take {3 * load_size * load_size * max(w, h) // min(w, h) / 1e9:.1f} GB)",
                stacklevel=2,
            )
        w, h = image.size
    if min(w, h) == load_size:
        return image
    scale = load_size / min(w, h)
    return image.resize((max(load_size, round(w * scale)), max(load_size, round(h * scale))), Image.BILINEAR)


def _to_tensor(image: Image.Image) -> Tensor:
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _pil_rgb(path: Path) -> Image.Image:
    return to_mode(open_image(path), 3)


def check_mask_file(path: Path, size: Optional[tuple[int, int]] = None, image: Optional[Path] = None) -> bool:
    """Raise a ``DataError`` naming ``path`` if it is not a usable mask (mode, size, empty or full hole).
    Returns whether the mask is not binary (values other than 0 and 255), i.e. thresholded at 128 on load."""
    with Image.open(path) as im:
        mode, msize = im.mode, im.size
    if mode not in MASK_MODES:
        raise DataError(
            f"mask {path} has mode {mode} ({len(Image.new(mode, (1, 1)).getbands())} channels); masks must be "
            f"single-channel (white = hole): convert it, e.g. PIL.Image.open(p).convert('L').save(p)"
        )
    if size is not None and msize != size:
        raise DataError(
            f"mask {path} is {msize[0]}x{msize[1]} but its image {image} is {size[0]}x{size[1]}; "
            "a mask must have the size of its image"
        )
    array = np.asarray(open_image(path).convert("L"))
    if not (array > 127).any():
        raise DataError(f"mask {path} has no hole (no white pixel): nothing to fill; remove it or paint the hole white")
    if (array > 127).all():
        raise DataError(f"mask {path} is all hole (every pixel white): nothing to inpaint from; black = known pixels")
    return bool(((array > 0) & (array < 255)).any())


def report_thresholded(masks: list[Path], flags: list[bool], option: str) -> int:
    """Say once (rank 0) how many mask files are not binary and so are thresholded (>= 128 = hole)."""
    grey = [m for m, f in zip(masks, flags) if f]
    if grey:
        rank_zero_info(
            f"lit_gans: {option}: {len(grey)} of {len(masks)} mask file(s) are not binary (grey values, e.g. {grey[0]}): "
            "thresholded at 128 (>= 128 = hole, below = known); save binary masks to choose the hole yourself"
        )
    return len(grey)


def load_mask(path: Path, size: Optional[int] = None) -> Tensor:
    """Mask file -> uint8 ``[1, H, W]`` in {0, 1} (white > 127 = hole), optionally resized (nearest)."""
    image = open_image(path).convert("L")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.NEAREST)
    return torch.from_numpy((np.asarray(image) > 127).astype(np.uint8)).unsqueeze(0)


class TrainImages(Dataset):
    """Random ``load_size`` squares of the resized images (uint8), ``length`` items per epoch."""

    def __init__(self, files: list[Path], load_size: int, length: int, masks: Optional[list[Path]] = None, image_size: int = 0, cache: bool = False) -> None:
        self.files, self.load_size, self.length = files, load_size, length
        self.masks, self.image_size = masks, image_size
        self.cache: Optional[dict[int, Tensor]] = {} if cache else None

    def __len__(self) -> int:
        return self.length

    def _resized(self, i: int) -> Tensor:
        if self.cache is not None and i in self.cache:
            return self.cache[i]
        tensor = _to_tensor(_resize_short(_pil_rgb(self.files[i]), self.load_size, self.files[i]))
        if self.cache is not None:
            self.cache[i] = tensor
        return tensor

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = index % len(self.files)
        full = self._resized(i)
        _, h, w = full.shape
        s = self.load_size
        # torch's RNG: DataLoader seeds it per worker (numpy's would repeat across workers)
        top, left = int(torch.randint(h - s + 1, ())), int(torch.randint(w - s + 1, ()))
        item: dict[str, Any] = {"image": full[:, top : top + s, left : left + s].contiguous(), "index": torch.tensor(index)}
        if self.masks:
            item["mask"] = load_mask(self.masks[int(torch.randint(len(self.masks), ()))], self.image_size)
        return item


class ValImages(Dataset):
    """``crops`` fixed ``image_size`` crops per held-out image (positions from a seeded generator)."""

    def __init__(self, files: list[Path], load_size: int, image_size: int, crops: int, seed: int = 0, masks: Optional[list[Path]] = None) -> None:
        self.files, self.load_size, self.image_size, self.crops, self.seed = files, load_size, image_size, crops, seed
        self.masks = masks
        self._last: tuple[int, Optional[Tensor]] = (-1, None)  # the crops of an image are consecutive: decode once

    def __len__(self) -> int:
        return len(self.files) * self.crops

    def __getitem__(self, index: int) -> dict[str, Any]:
        i, k = divmod(index, self.crops)
        if self._last[0] != i:
            self._last = (i, _to_tensor(_resize_short(_pil_rgb(self.files[i]), self.load_size, self.files[i])))
        full = self._last[1]
        _, h, w = full.shape
        s = self.image_size
        if k == 0:  # the first crop of each image is its center
            top, left = (h - s) // 2, (w - s) // 2
        else:
            g = np.random.default_rng([self.seed, i, k])
            top, left = int(g.integers(0, h - s + 1)), int(g.integers(0, w - s + 1))
        item: dict[str, Any] = {"image": full[:, top : top + s, left : left + s].contiguous(), "index": torch.tensor(index)}
        if self.masks:
            item["mask"] = load_mask(self.masks[index % len(self.masks)], s)
        return item


class PredictImages(Dataset):
    """Whole images at their own size, with their mask file when given (batch size 1)."""

    def __init__(self, files: list[Path], masks: Optional[list[Path]] = None) -> None:
        self.files, self.masks = files, masks

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"image": load_image(self.files[index], 3), "name": self.files[index].stem, "index": torch.tensor(index)}
        if self.masks:
            item["mask"] = load_mask(self.masks[index])
        return item


class InpaintingDataModule(L.LightningDataModule):
    """Images + holes for inpainting (Context Encoder).

    Args:
        root: training images (searched recursively). None: the embedded photos (offline).
        val_root: held-out images for validation. None: the embedded held-out photos when ``root`` is
            None, else no validation.
        predict_root: images to fill with ``lit-gans predict``. None: the embedded held-out photos when
            ``root`` is None.
        predict_mask_root: one mask per predict image (same base name, same size, white = hole). None:
            the center hole.
        train_mask_root: pool of mask files for ``mask: files`` (training and validation).
        image_size: network input side (128: train.lua ``fineSize``).
        load_size: short side after resizing on the CPU (350: README ``loadSize=350``); >= image_size.
        mask: 'center' (train.lua), 'random_block' (one random rectangle per image), 'random_region'
            (train_random.lua noise regions) or 'files' (``train_mask_root``).
        overlap: pixels of the center patch border that stay known (4: README ``overlapPred=4``).
        block_size: side of the random block (None: image_size / 2, the area of the center hole).
        region_coverage: accepted hole coverage of random regions (train_random.lua: 20-30 %).
        shared_region_mask: one random region per batch, as train_random.lua (False: one per image).
        fill: hole colour in [0, 1] (ImageNet mean (117, 104, 123)/255, train.lua).
        hflip: random horizontal flips in training (donkey_folder.lua: p = 0.5).
        batch_size: per-device batch size (64: train.lua ``batchSize``).
        num_workers: decoding workers (4: train.lua ``nThreads``).
        samples_per_epoch: at least this many training items per epoch (images are repeated; useful
            for small folders such as the 8 embedded photos). 0: one pass over the files.
        val_crops: fixed crops per held-out image.
        cache_images: keep the resized images in memory in each worker (small datasets only).
        seed: seed of the validation crops and masks.
        dataset: the registry name of ``root``'s data set (None: inferred from the folder name).
        download: fetch missing data sets in ``prepare_data`` (``lit_gans.datasets``; Paris StreetView cannot be
            downloaded: the error names the page and the layout).
        test_masks: mask kinds that ``test`` measures, one table row each (each image gets its own seeded mask,
            so the table does not depend on the batch size or the number of processes). None: the center hole
            (Context Encoder Table 1), plus the training ``mask`` when it is another kind.
    """

    def __init__(
        self,
        root: Optional[str] = None,
        val_root: Optional[str] = None,
        predict_root: Optional[str] = None,
        predict_mask_root: Optional[str] = None,
        train_mask_root: Optional[str] = None,
        image_size: int = 128,
        load_size: int = 350,
        mask: Literal["center", "random_block", "random_region", "files"] = "center",
        overlap: int = 4,
        block_size: Optional[int] = None,
        region_coverage: tuple[float, float] = REGION_COVERAGE,
        shared_region_mask: bool = True,
        fill: tuple[float, float, float] = IMAGENET_MEAN,
        hflip: bool = True,
        batch_size: int = 64,
        num_workers: int = 4,
        samples_per_epoch: int = 0,
        val_crops: int = 4,
        cache_images: bool = False,
        seed: int = 0,
        dataset: Optional[str] = None,
        download: bool = False,
        test_masks: Optional[list[Literal["center", "random_block", "random_region", "files"]]] = None,
    ) -> None:
        check_sizes(InpaintingDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        if mask not in ("center", "random_block", "random_region", "files"):
            raise ConfigError(f"--data.init_args.mask must be center, random_block, random_region or files, got {mask!r}")
        if load_size < image_size:
            raise ConfigError(f"--data.init_args.load_size ({load_size}) must be >= image_size ({image_size})")
        if mask == "files" and not train_mask_root:
            raise ConfigError("mask: files needs --data.init_args.train_mask_root (a folder of masks, white = hole)")
        self.root, self.val_root, self.predict_root = root, val_root, predict_root
        self.predict_mask_root, self.train_mask_root = predict_mask_root, train_mask_root
        self.image_size, self.load_size, self.mask = image_size, load_size, mask
        self.overlap, self.block_size = overlap, block_size
        self.region_coverage, self.shared_region_mask = tuple(region_coverage), shared_region_mask
        self.fill, self.hflip = tuple(fill), hflip
        self.batch_size, self.num_workers = batch_size, num_workers
        self.samples_per_epoch, self.val_crops, self.cache_images, self.seed = samples_per_epoch, val_crops, cache_images, seed
        self.channels = 3
        self.dataset, self.download = dataset, download
        default_masks = ["center"] + ([mask] if mask != "center" else [])
        self.test_masks: list[str] = list(test_masks) if test_masks else default_masks
        for kind in self.test_masks:
            if kind not in ("center", "random_block", "random_region", "files") or (kind == "files" and not train_mask_root):
                raise ConfigError(
                    f"--data.init_args.test_masks: {kind!r} is not center, random_block, random_region (or files with "
                    "train_mask_root)"
                )
        self.train_set = self.val_set = self.predict_set = None
        if mask == "center":
            self._check_center()
        self._crop = K.RandomCrop((image_size, image_size))
        self._flip = K.RandomHorizontalFlip(p=0.5)

    def _check_center(self) -> None:
        try:  # validate image_size / overlap now, not in a worker
            center_mask(1, self.image_size, self.overlap)
        except ValueError as err:
            raise ConfigError(f"--data.init_args.image_size={self.image_size} / overlap={self.overlap}: {err}") from err

    # ------------------------------------------------------------------ setup: every check happens here
    def _embedded(self, split: str) -> Path:
        from lit_gans.datasets.embedded import photos_folder

        return photos_folder(split)

    def _mask_pool(self) -> Optional[list[Path]]:
        if self.mask != "files":
            return None
        masks = list_images(self.train_mask_root, "--data.init_args.train_mask_root", recursive=True, layout="mask images, white = hole")
        report_thresholded(masks, [check_mask_file(m) for m in masks], "--data.init_args.train_mask_root")
        return masks

    def prepare_data(self) -> None:
        """With ``download``: fetch ``root``/``val_root`` when missing (Paris StreetView is shared by its authors on
        request: a missing one is an error naming the page and the layout)."""
        from lit_gans.datasets import prepare

        prepare(self.root, self.dataset, self.download)
        prepare(self.val_root, None, self.download, option="--data.init_args.val_root")

    def setup(self, stage: str) -> None:
        if stage == "fit" and self.train_set is None:
            root = Path(self.root) if self.root else self._embedded("train")
            files = list_images(root, "--data.init_args.root", recursive=True, layout=LAYOUT)
            report_modes(files, "--data.init_args.root")  # truncated files: named at setup, not mid-epoch
            length = max(len(files), self.samples_per_epoch)
            self.train_set = TrainImages(files, self.load_size, length, self._mask_pool(), self.image_size, self.cache_images)
        if stage in ("fit", "validate", "test") and self.val_set is None:
            val_root = self.val_root or (None if self.root else self._embedded("heldout"))
            if val_root:
                files = list_images(val_root, "--data.init_args.val_root", recursive=True, layout=LAYOUT)
                report_modes(files, "--data.init_args.val_root")
                self.val_set = ValImages(files, self.load_size, self.image_size, self.val_crops, self.seed, self._mask_pool())
        if stage == "predict" and self.predict_set is None:
            root = self.predict_root or (None if self.root else self._embedded("heldout"))
            if not root:
                raise DataError("lit-gans predict needs --data.init_args.predict_root: the folder of images to fill")
            files = list_images(root, "--data.init_args.predict_root", recursive=False, layout="images to fill")
            report_modes(files, "--data.init_args.predict_root")
            check_min_size(
                files, PREDICT_MIN_SIDE, "minimum image side for prediction",
                fix="remove it or upscale it (a fixed minimum, not an option: the hole is scaled to the image)",
            )
            masks = None
            if not self.predict_mask_root:
                self._check_center()  # the center hole is used
            else:
                found = list_images(self.predict_mask_root, "--data.init_args.predict_mask_root", layout="one mask per image, same base name, white = hole")
                masks_of = by_stem(found, f"--data.init_args.predict_mask_root ({self.predict_mask_root})")
                by_stem(files, "--data.init_args.predict_root (each image is matched to its mask by base name)")
                missing = [f for f in files if f.stem not in masks_of]
                if missing:
                    raise DataError(
                        f"no mask for {missing[0]} (and {len(missing) - 1} more) in {self.predict_mask_root}: every image needs "
                        f"a mask with the same base name, e.g. {Path(self.predict_mask_root) / (missing[0].stem + '.png')}"
                    )
                masks = [masks_of[f.stem] for f in files]
                flags = []
                for image, m in zip(files, masks):
                    with Image.open(image) as im:
                        size = im.size
                    flags.append(check_mask_file(m, size, image))
                report_thresholded(masks, flags, "--data.init_args.predict_mask_root")
            self.predict_set = PredictImages(files, masks)

    # ------------------------------------------------------------------ loaders
    def _loader(self, dataset: Dataset, shuffle: bool, batch_size: int, sampler=None) -> DataLoader:  # noqa: ANN001
        # training: an order that depends on (seed, epoch) only, resumable mid-epoch; evaluation: unpadded under DDP
        return (ResumableLoader if shuffle else DataLoader)(
            dataset, batch_size=batch_size, shuffle=shuffle, drop_last=shuffle, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(), sampler=sampler,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.batch_size)

    def val_dataloader(self):  # noqa: ANN201
        return self._loader(self.val_set, False, self.batch_size, eval_sampler(self, self.val_set)) if self.val_set is not None else []

    def test_dataloader(self):  # noqa: ANN201
        """One loader per mask kind of ``test_masks`` (all over the held-out crops)."""
        if self.val_set is None:
            raise DataError("lit-gans test needs held-out images: set --data.init_args.val_root")
        return [self._loader(self.val_set, False, self.batch_size, eval_sampler(self, self.val_set)) for _ in self.test_masks]

    def test_set_names(self) -> list[str]:
        where = Path(self.val_root).expanduser().name if self.val_root else "embedded_heldout"
        return [f"{where}/{kind}" for kind in self.test_masks]

    def test_mask(self, kind: str, index: Tensor, device: torch.device) -> Tensor:
        """Per-image test masks: image ``i`` gets the mask its own seeded generator draws (``seed``, ``i``)."""
        if kind == "center":
            return center_mask(index.numel(), self.image_size, self.overlap, device)
        masks = []
        for i in index.tolist():
            g = torch.Generator(device=device).manual_seed(self.seed * 1_000_003 + 7_919 + int(i))
            if kind == "random_block":
                masks.append(random_block_mask(1, self.image_size, self.block_size, device, g))
            else:
                masks.append(random_region_mask(1, self.image_size, self.region_coverage, shared=True, device=device, generator=g))
        return torch.cat(masks)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_set, False, 1)  # own-size images

    # ------------------------------------------------------------------ device side
    def make_mask(self, batch: int, device: torch.device, generator: Optional[torch.Generator] = None) -> Tensor:
        """Holes for a batch of ``image_size`` crops, made on ``device``."""
        s = self.image_size
        if self.mask == "center":
            return center_mask(batch, s, self.overlap, device)
        if self.mask == "random_block":
            return random_block_mask(batch, s, self.block_size, device, generator)
        if self.mask == "random_region":
            return random_region_mask(batch, s, self.region_coverage, shared=self.shared_region_mask, device=device, generator=generator)
        raise ValueError("mask files travel with the batch")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        trainer = self.trainer
        if trainer is not None and trainer.predicting:
            return self._predict_batch(batch)
        image = batch["image"].float() / 127.5 - 1.0  # uint8 -> [-1, 1]
        training = trainer is not None and trainer.training
        mask = batch.get("mask")
        mask = mask.float() if mask is not None else None
        if training:
            if image.shape[-2:] != (self.image_size, self.image_size):
                image = self._crop(image)  # mask files of the pool are already at image_size
            if self.hflip:
                image = self._flip(image)
            if mask is None:
                mask = self.make_mask(image.shape[0], image.device)
        elif getattr(trainer, "testing", False) and self.test_masks[dataloader_idx] != "files":
            mask = self.test_mask(self.test_masks[dataloader_idx], batch["index"], image.device)
        elif mask is None:
            g = None
            if self.mask != "center":
                g = torch.Generator(device=image.device).manual_seed(self.seed * 1_000_003 + int(batch["index"][0]))
            mask = self.make_mask(image.shape[0], image.device, g)
        batch["image"], batch["mask"] = image, mask
        batch["masked"] = fill_hole(image, mask, self._fill(image))
        return batch

    def _fill(self, image: Tensor) -> Tensor:
        return torch.tensor(self.fill, dtype=image.dtype, device=image.device) * 2.0 - 1.0

    def _predict_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Full-size image/mask kept for the composite; the network input resized to ``image_size``."""
        full = batch["image"].float() / 127.5 - 1.0  # [1, 3, H, W]
        h, w = full.shape[-2:]
        s = self.image_size
        if "mask" in batch:
            full_mask = batch["mask"].float()
            small = F.interpolate(full, size=(s, s), mode="bilinear", align_corners=False, antialias=True) if (h, w) != (s, s) else full
            mask = (F.interpolate(full_mask, size=(s, s), mode="area") > 0).float() if (h, w) != (s, s) else full_mask
        else:
            mask = center_mask(full.shape[0], s, self.overlap, full.device)
            small = F.interpolate(full, size=(s, s), mode="bilinear", align_corners=False, antialias=True) if (h, w) != (s, s) else full
            full_mask = F.interpolate(mask, size=(h, w), mode="nearest") if (h, w) != (s, s) else mask
        batch.update(full_image=full, full_mask=full_mask, image=small, mask=mask, masked=fill_hole(small, mask, self._fill(small)))
        return batch

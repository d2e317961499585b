"""Unpaired low-light enhancement data (EnlightenGAN), with an optional paired evaluation set.

Layout (VITA-Group/EnlightenGAN ``data/unaligned_dataset.py``, ``scripts/script.py``)::

    <root>/trainA/   low-light images            <root>/trainB/   normal-light images (unpaired)
    <root>/testA/    low-light images to enhance (validation NIQE and the default ``predict`` input)
    <paired_root>/low/, <paired_root>/high/      optional paired set matched by file name (e.g. LOL's
                                                 eval15/), for PSNR/SSIM

Training protocol of the official code (``--fineSize 320``, ``--resize_or_crop crop``, flips, ``vary 1``):
random 320x320 crops of the full images, horizontal and vertical flips, and with probability 1/2 the
low-light input is darkened further by a factor 1/t, t uniform in {2.00, 2.01, ..., 4.00}
(``low_times 200``/``high_times 400``). The darkened copy is what the generator (and its attention map)
sees, ``batch["A_input"]``; the self feature preserving loss still compares with the undarkened
``batch["A"]``, as officially. All of it runs on the device.

Offline default (``root: null``): the embedded photos (``lit_gans.datasets.embedded``), written once as folders
by :func:`lit_gans.datasets.embedded.embedded_lowlight_root` (the recipe lives there, next to the photos):

* every training photo is downscaled to at most 512 px on its long side and cut into two halves across
  its long side; the **darkened set (trainA) takes the first half, the normal set (trainB) the second**,
  so no pixel of a normal image has a darkened twin in training (``hubble_deep_field``, a night-sky
  photo with mean 0.08, is left out: it is no "normal light" example);
* the held-out photos (coffee, flower; never trained on) give ``testA``/``low`` (darkened) and
  ``testB``/``high`` (originals) for the benchmark;
* the synthetic darkening is ``dark = 0.5 * x ** 2`` on sRGB values in [0, 1] (a gamma 2 curve, then half
  the exposure), rounded to 8 bits: mean brightness of the held-out photos drops from 0.39/0.24 to
  0.12/0.06 and their SSIM to the originals to 0.36/0.37.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import Dataset

from datamodules.images import eval_sampler, image_modes, list_images, match_by_stem
from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes
from datamodules.unpaired import SingleFolder, UnpairedDataModule, pad_collate, to_signed
from lit_gans.datasets.embedded import DARKEN_GAIN, DARKEN_GAMMA, darken, embedded_lowlight_root  # noqa: F401 - re-exported


class LowLightDataModule(UnpairedDataModule):
    """EnlightenGAN's data: unpaired low-light (``trainA``) and normal-light (``trainB``) images.

    Args (besides those of :class:`~datamodules.unpaired.UnpairedDataModule`):
        root: data folder; None: the embedded photos (:func:`embedded_lowlight_root`, offline).
        crop_size: random training crop (320: official ``--fineSize 320``).
        batch_size: per-device batch (32: official ``--batchSize 32``, which was the global batch over
            3 GPUs with DataParallel; on N devices use 32 / N to keep it).
        random_darken: the official ``vary`` augmentation (p 1/2, darken the input by 1/t, t in [2, 4]).
        darken_range: the range of t (official ``low_times 200``, ``high_times 400``, in hundredths).
        paired_root: folder with ``low/`` and ``high/`` images matched by name (LOL layout); when given it
            is the validation set (PSNR/SSIM/NIQE), else ``testA/`` (NIQE only).
        val_size: None (default): validation images keep their own size (batch 1); an int resizes them.
        dataset, download: as :class:`~datamodules.unpaired.UnpairedDataModule` (the EnlightenGAN and LOL data
            are behind drives: ``download`` names the page and the layout).
        test_roots: folders that ``test`` measures, one table row each: a folder of low-light images (NIQE only:
            the paper's MEF, LIME, NPE, VV, DICM) or a folder with ``low/`` and ``high/`` (paired, e.g. LOL: also
            PSNR/SSIM). None: the validation set.
    """

    test_dirs = ("testA", "testB")

    def __init__(
        self,
        root: Optional[str] = None,
        preprocess: Literal["resize_and_crop", "crop", "none"] = "crop",
        load_size: int = 320,
        crop_size: int = 320,
        hflip: bool = True,
        vflip: bool = True,
        pairing: Literal["random", "serial"] = "serial",
        batch_size: int = 32,
        num_workers: int = 4,
        epoch_repeats: int = 1,
        upscale_small: bool = False,
        channels: int = 3,
        random_darken: bool = True,
        darken_range: tuple[float, float] = (2.0, 4.0),
        paired_root: Optional[str] = None,
        val_size: Optional[int] = None,
        val_max_images: Optional[int] = 50,
        predict_root: Optional[str] = None,
        num_sample_images: int = 4,
        dataset: Optional[str] = None,
        download: bool = False,
        test_roots: Optional[list[str]] = None,
    ) -> None:
        check_sizes(LowLightDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__(
            root=root, preprocess=preprocess, load_size=load_size, crop_size=crop_size, hflip=hflip, vflip=vflip,
            pairing=pairing, batch_size=batch_size, num_workers=num_workers, epoch_repeats=epoch_repeats,
            upscale_small=upscale_small, channels=channels, val_size=val_size, val_max_images=val_max_images,
            predict_root=predict_root, predict_direction="AtoB", num_sample_images=num_sample_images,
            dataset=dataset, download=download,
        )
        if not 1.0 <= darken_range[0] <= darken_range[1]:
            raise ConfigError(f"darken_range must satisfy 1 <= low <= high, got {darken_range}")
        self.random_darken, self.darken_range = random_darken, darken_range
        self.paired_root = paired_root
        self.test_roots = list(test_roots) if test_roots else None

    def prepare_data(self) -> None:
        """``root`` (EnlightenGAN's unpaired set) and ``paired_root`` (LOL) are behind drives: with ``download``
        a missing one is an error naming the page and the layout."""
        from lit_gans.datasets import prepare

        prepare(self.root, self.dataset, self.download)
        prepare(self.paired_root, None, self.download, option="--data.init_args.paired_root")

    @property
    def paired(self) -> bool:
        return self.paired_root is not None or self.root is None

    def _paired_dir(self) -> Path:
        return Path(self.paired_root).expanduser() if self.paired_root is not None else self.resolved_root()

    def _val_dataset(self) -> Optional[Dataset]:
        if self.paired:
            base = self._paired_dir()
            low = list_images(base / "low", option="--data.paired_root (low/)", layout="<paired_root>/low/ and <paired_root>/high/, same file names")
            high = list_images(base / "high", option="--data.paired_root (high/)", layout="<paired_root>/low/ and <paired_root>/high/, same file names")
            pairs = match_by_stem(low, high, what=f"{base}/low and {base}/high")
            image_modes(low + high)  # truncated files: named at setup
            if self.val_max_images:
                pairs = pairs[: self.val_max_images]
            return SingleFolder([a for a, _ in pairs], self.channels, self.val_size, targets=[b for _, b in pairs])
        files = self._list(self.test_dirs[0], required=False)
        if not files:
            rank_zero_info("lit_gans: no testA/ (and no paired_root): validation uses the first trainA images")
            files = self._list(self.train_dirs[0])
        if self.val_max_images:
            files = files[: self.val_max_images]
        image_modes(files)  # truncated files: named at setup
        return SingleFolder(files, self.channels, self.val_size)

    def _test_datasets(self) -> list[tuple[str, Dataset, int]]:
        bs = self.batch_size if self.val_size else 1  # own-size images: one per batch
        if not self.test_roots:
            name = self._paired_dir().name if self.paired else self.test_dirs[0]
            return [(name, self._val_dataset(), bs)]
        out = []
        for i, root in enumerate(self.test_roots):
            base = Path(root).expanduser()
            option = f"--data.init_args.test_roots[{i}] ({root})"
            if (base / "low").is_dir() and (base / "high").is_dir():
                low = list_images(base / "low", option=option, layout="<folder>/low/ and <folder>/high/, same file names")
                high = list_images(base / "high", option=option, layout="<folder>/low/ and <folder>/high/, same file names")
                pairs = match_by_stem(low, high, what=f"{base}/low and {base}/high")
                image_modes(low + high)  # truncated files: named at setup
                out.append((base.name, SingleFolder([a for a, _ in pairs], self.channels, self.val_size, targets=[b for _, b in pairs]), bs))
            else:
                files = list_images(base, option=option, layout="low-light images, or low/ and high/ subfolders")
                image_modes(files)
                out.append((base.name, SingleFolder(files, self.channels, self.val_size), bs))
        return out

    def val_dataloader(self):  # noqa: ANN201
        # own-size images cannot be stacked: one per batch unless val_size resizes them
        return self._loader(self.val_set, self.batch_size if self.val_size else 1, shuffle=False, sampler=eval_sampler(self, self.val_set))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        if "A" not in batch:
            return batch
        training = self.trainer is not None and self.trainer.training
        a = batch["A"]
        if training and self.random_darken:
            # official vary: with p 1/2, input = A / t, t = randint(200, 400) / 100, on [0, 1] values
            lo, hi = round(self.darken_range[0] * 100), round(self.darken_range[1] * 100)
            t = torch.randint(lo, hi + 1, (a.shape[0],), device=a.device).to(a.dtype) / 100.0
            apply = torch.rand(a.shape[0], device=a.device) < 0.5
            factor = torch.where(apply, 1.0 / t, torch.ones_like(t)).view(-1, 1, 1, 1)
            batch["A_input"] = ((a + 1.0) * 0.5 * factor) * 2.0 - 1.0
        else:
            batch["A_input"] = a
        return batch

    def sample_batch(self) -> dict[str, Tensor]:
        """Fixed validation inputs for the sample grid: ``A`` (and ``target``), resized to ``crop_size``."""
        if self.val_set is None:
            self.val_set = self._val_dataset()
        n = min(self.num_sample_images, len(self.val_set))
        size = self.val_size or self.crop_size
        items = []
        for i in range(n):
            item = self.val_set[i]
            for key in ("A", "target"):
                if key in item:
                    item[key] = torch.nn.functional.interpolate(
                        item[key][None].float(), size=(size, size), mode="bilinear", align_corners=False, antialias=True
                    )[0].round().clamp(0, 255).to(torch.uint8)
            items.append(item)
        batch = pad_collate(items)
        return {k: to_signed(batch[k]) for k in ("A", "target") if k in batch}

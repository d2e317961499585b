"""Super-resolution data: images decoded on CPU workers; crops, flips, rotations and the bicubic degradation
on the device.

Batches after ``on_after_batch_transfer`` (on the device, RGB float in [0, 1]):

* training: ``lr`` ``[B, 3, c/s, c/s]``, ``hr`` ``[B, 3, c, c]`` (``c`` = ``hr_crop``, ``s`` = ``scale``), ``index``;
* validation / test: ``lr`` ``[1, 3, h, w]``, ``hr`` ``[1, 3, h*s, w*s]``, ``index``, ``name`` (own sizes);
* predict: ``image`` ``[1, 3, h, w]`` **left on the CPU** (the model moves tiles to the device, so a large
  photo and its x4 output never have to fit in device memory), ``name``.

Pipeline (BasicSR ``PairedImageDataset`` + ``paired_random_crop`` + ``augment`` semantics, moved to the device):

* CPU worker: decode (uint8), then cut a ``window`` x ``window`` square at a random position (aligned to
  the LR grid for paired data). Deviation from BasicSR, which crops ``gt_size`` directly in the worker:
  the worker only cuts a batchable square (default ``2 * hr_crop``); the ``hr_crop`` crop itself is drawn
  on the device, and every part of an image can still be drawn.
* Device (training): for HR-only data the LR window is made by the degradation named in ``degradation``:
  ``"bicubic"`` = MATLAB ``imresize(hr, 1/s)`` (antialiased cubic, a = -0.5, symmetric borders;
  :func:`lit_gans.utils.resize.imresize_bicubic`), the kernel that made DIV2K ``LR_bicubic`` and the
  standard test sets, rounded to 8 bits like a saved LR file (``quantize_lr``). Then one random
  ``hr_crop`` crop aligned on the LR grid, so LR is exactly HR / scale; a horizontal flip, a vertical flip
  and a transpose (BasicSR ``augment(hflip=True, rotation=True)``: the 8 dihedral transforms), each with
  p = 0.5, drawn per sample, identical for LR and HR. No host synchronisation.
* Validation / test are deterministic: whole images (or a center ``val_crop``), HR mod-cropped to a multiple of
  the scale (BasicSR ``mod_crop``), LR read from the paired folder or made by the same bicubic degradation.

``scale`` is one config value: the model's generator's ``scale`` (``--model.init_args.generator.init_args.scale``).
The datamodule reads it from the model at setup; setting ``scale`` here too is allowed only if it agrees.

Folder layouts:

* training: ``root`` = HR images (e.g. ``DIV2K/DIV2K_train_HR``); optionally ``lr_root`` = the paired LR
  folder (``DIV2K/DIV2K_train_LR_bicubic/X4``, files ``0001x4.png`` for ``0001.png``), matched by name
  (an ``x{s}`` suffix on the LR name is ignored);
* validation / test (``val_root``), any of:
  - BasicSR's ``Set5/GTmod12`` + ``Set5/LRbicx4``;
  - EDSR's benchmark ``Set5/HR`` + ``Set5/LR_bicubic/X4`` (``babyx4.png``);
  - jbhuang0604/SelfExSR's ``Set5/image_SRF_4/img_001_SRF_4_HR.png`` + ``..._LR.png`` (Set5, Set14, BSD100,
    Urban100 as distributed there);
  - a plain folder of HR images (LR made by the bicubic degradation); or ``val_lr_root`` given explicitly;
* predict: ``predict_root`` = LR images of any size, upscaled at their own size.

LR/HR pairs must satisfy LR = HR // scale per side (the HR image is then cropped to LR * scale, as BasicSR's
validation does); anything else is an error naming both files. Training images smaller than the crop are an
error naming the file. Grayscale files are replicated to RGB and RGBA files composited over white
(``datamodules.images.to_mode``), and the conversion is reported at setup.

With ``root`` unset the embedded photos are used (``datamodules.embedded``: 8 training photos; ``val_root``
unset: the 2 held-out photos, coffee and flower).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional

import lightning as L
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules.images import DataError, by_stem, check_batch_size, eval_sampler, list_images, load_image, report_modes
from lit_gans.errors import ConfigError
from lit_gans.utils.resumable import ResumableLoader
from lit_gans.utils.resize import imresize_bicubic, quantize_8bit
from lit_gans.utils.checks import check_sizes

HR_LAYOUT = "a folder of HR images (e.g. DIV2K/DIV2K_train_HR/0001.png)"
TEST_LAYOUTS = (
    "Set5/GTmod12 + Set5/LRbicx4 (BasicSR), Set5/HR + Set5/LR_bicubic/X4 (EDSR benchmark), "
    "Set5/image_SRF_4/*_HR.png + *_LR.png (SelfExSR), or a plain folder of HR images"
)


# ----------------------------------------------------------------------------- files, pairs, sizes
def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header."""
    with Image.open(path) as im:
        return im.size


def _norm_stem(path: Path, scale: int, side: str) -> str:
    """Base name shared by an HR file and its LR file across the known layouts."""
    stem = path.stem
    stem = re.sub(rf"_SRF_{scale}_(HR|LR)$", "", stem)  # SelfExSR: img_001_SRF_4_HR
    stem = re.sub(r"_(HR|LR)$", "", stem)
    if side == "lr":
        stem = re.sub(rf"[xX]{scale}$", "", stem)  # DIV2K / EDSR: 0001x4
    return stem


def pair_files(hr: list[Path], lr: list[Path], scale: int, what: str) -> list[tuple[Path, Path]]:
    """HR/LR pairs by normalised base name; a clear error listing unmatched files."""
    hmap = by_stem(hr, what, key=lambda p: _norm_stem(p, scale, "hr"))  # two files of one base name: an error
    lmap = by_stem(lr, what, key=lambda p: _norm_stem(p, scale, "lr"))
    only_h, only_l = sorted(set(hmap) - set(lmap)), sorted(set(lmap) - set(hmap))
    if only_h or only_l:
        raise DataError(
            f"unmatched files in {what}: {len(only_h)} HR without LR (e.g. {[str(hmap[s]) for s in only_h[:3]]}), "
            f"{len(only_l)} LR without HR (e.g. {[str(lmap[s]) for s in only_l[:3]]}); paired folders must hold the "
            f"same base names (an LR name may end in x{scale}, as DIV2K's 0001x{scale}.png)"
        )
    return [(hmap[k], lmap[k]) for k in sorted(hmap)]


def check_pair_sizes(pairs: list[tuple[Path, Path]], scale: int) -> list[tuple[int, int]]:
    """LR sizes (h, w) of each pair after checking LR = HR // scale per side (header reads only)."""
    sizes = []
    for hr, lr in pairs:
        (hw, hh), (lw, lh) = _image_size(hr), _image_size(lr)
        if lw != hw // scale or lh != hh // scale:
            raise DataError(
                f"{lr} is {lw}x{lh} but its HR image {hr} is {hw}x{hh}: at scale {scale} the LR image must be "
                f"{hw // scale}x{hh // scale} (HR // scale). Check the scale (--model.init_args.generator.init_args.scale), "
                "the LR folder (X2/X3/X4), or regenerate the LR images from these HR images"
            )
        sizes.append((lh, lw))
    return sizes


def find_test_layout(root: Path, scale: int, option: str = "--data.init_args.val_root") -> tuple[list[Path], Optional[list[Path]]]:
    """(HR files, LR files or None) of a test-set folder in one of the known layouts; errors name ``option``, the
    setting that gave ``root`` (``--data.init_args.val_root`` or ``--data.init_args.test_roots[i]``)."""
    candidates = [
        (root / "GTmod12", root / f"LRbicx{scale}"),
        (root / "HR", root / "LR_bicubic" / f"X{scale}"),
    ]
    for hr_dir, lr_dir in candidates:
        if hr_dir.is_dir() and lr_dir.is_dir():
            return list_images(hr_dir, option), list_images(lr_dir, option)
    srf = root / f"image_SRF_{scale}"
    if srf.is_dir():
        files = list_images(srf, option)
        hr = [p for p in files if p.stem.endswith("_HR")]
        lr = [p for p in files if p.stem.endswith("_LR")]
        if hr and lr:
            return hr, lr
    for hr_dir in (root / "GTmod12", root / "HR"):
        if hr_dir.is_dir():  # HR part of a known layout without the LR of this scale: LR made on the fly
            return list_images(hr_dir, option), None
    other_scales = sorted(p.name for p in root.glob("image_SRF_*")) + sorted(p.name for p in root.glob("LRbicx*"))
    if other_scales and not any(p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp") for p in root.iterdir()):
        raise DataError(f"{option}: {root} has LR folders {other_scales} but none for scale {scale}; layouts: {TEST_LAYOUTS}")
    return list_images(root, option, layout=TEST_LAYOUTS), None


# ----------------------------------------------------------------------------- datasets (CPU workers)
class _ImageCache:
    def __init__(self, enabled: bool) -> None:
        self.enabled, self.images = enabled, {}

    def load(self, path: Path) -> Tensor:
        if not self.enabled:
            return load_image(path)
        if path not in self.images:
            self.images[path] = load_image(path)
        return self.images[path]


class TrainWindows(Dataset):
    """Random ``window`` squares of the training images (uint8), aligned on the LR grid when paired.

    Items: ``{"hr": [3, W, W], "lr": [3, W/s, W/s] (paired only), "index"}``.
    """

    def __init__(self, pairs: list[tuple[Path, Optional[Path]]], scale: int, window: int, repeat: int = 1, cache: bool = False) -> None:
        self.pairs, self.scale, self.window, self.repeat = pairs, scale, window, repeat
        self.cache = _ImageCache(cache)

    def __len__(self) -> int:
        return len(self.pairs) * self.repeat

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        hr_path, lr_path = self.pairs[i % len(self.pairs)]
        s, wl = self.scale, self.window // self.scale
        hr = self.cache.load(hr_path)
        lr = self.cache.load(lr_path) if lr_path is not None else None
        h_lr, w_lr = (lr.shape[-2:] if lr is not None else (hr.shape[-2] // s, hr.shape[-1] // s))
        y = int(torch.randint(0, h_lr - wl + 1, (1,)))
        x = int(torch.randint(0, w_lr - wl + 1, (1,)))
        item = {"hr": hr[:, y * s : (y + wl) * s, x * s : (x + wl) * s].contiguous(), "index": torch.tensor(i % len(self.pairs))}
        if lr is not None:
            item["lr"] = lr[:, y : y + wl, x : x + wl].contiguous()
        return item


def _set_name(root: str) -> str:
    """A test set's name: its folder's, or the parent's for a layout sub-folder (``Set5/GTmod12`` -> ``Set5``)."""
    path = Path(root).expanduser()
    if path.name.lower() in ("gtmod12", "hr", "original", "gt") and path.parent.name:
        return path.parent.name
    return path.name or str(root)


class EvalImages(Dataset):
    """Whole images (or a center crop) for validation/test: ``{"hr", "lr" (paired), "index", "name"}`` uint8."""

    def __init__(self, pairs: list[tuple[Path, Optional[Path]]], scale: int, crop: Optional[int] = None, mod: Optional[int] = None) -> None:
        self.pairs, self.scale, self.crop = pairs, scale, crop
        self.mod_lr = (mod or scale) // scale  # LR sizes are a multiple of this (HR of mod: BasicSR mod_crop)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        hr_path, lr_path = self.pairs[i]
        s = self.scale
        hr = load_image(hr_path)
        lr = load_image(lr_path) if lr_path is not None else None
        h_lr, w_lr = (lr.shape[-2:] if lr is not None else (hr.shape[-2] // s, hr.shape[-1] // s))
        h_lr, w_lr = h_lr - h_lr % self.mod_lr, w_lr - w_lr % self.mod_lr
        y0 = x0 = 0
        if self.crop is not None:  # center crop on the LR grid
            c = self.crop // s
            y0, x0 = max(0, (h_lr - c) // 2), max(0, (w_lr - c) // 2)
            h_lr, w_lr = min(h_lr, c), min(w_lr, c)
        item: dict[str, Any] = {
            "hr": hr[:, y0 * s : (y0 + h_lr) * s, x0 * s : (x0 + w_lr) * s].contiguous(),  # mod-crop to LR * s
            "index": torch.tensor(i),
            "name": hr_path.stem,
        }
        if lr is not None:
            item["lr"] = lr[:, y0 : y0 + h_lr, x0 : x0 + w_lr].contiguous()
        return item


class PredictImages(Dataset):
    """LR images at their own size: ``{"image": uint8 [3, h, w], "name"}``."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": load_image(self.files[i]), "name": self.files[i].stem, "index": torch.tensor(i)}


# ----------------------------------------------------------------------------- device-side ops
def crop_batch(x: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    """Per-sample crops ``x[b, :, top[b]:top[b]+size, left[b]:left[b]+size]`` by indexing (exact, no sync)."""
    ar = torch.arange(size, device=x.device)
    rows = (top[:, None] + ar)[:, :, None]  # [B, size, 1]
    cols = (left[:, None] + ar)[:, None, :]  # [B, 1, size]
    b = torch.arange(x.shape[0], device=x.device)[:, None, None]
    return x[b, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # advanced indices first: [B, size, size, C]


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(mask[:, None, None, None], a, b)


def dihedral(xs: list[Tensor], hflip: Tensor, vflip: Tensor, transpose: Tensor) -> list[Tensor]:
    """Apply per-sample flips and a transpose (BasicSR ``augment``'s rot90 = transpose) to each tensor."""
    out = []
    for x in xs:
        x = _where(hflip, x.flip(-1), x)
        x = _where(vflip, x.flip(-2), x)
        out.append(_where(transpose, x.transpose(-1, -2), x))
    return out


def degrade(hr: Tensor, scale: int, degradation: str = "bicubic", quantize: bool = True) -> Tensor:
    """LR of exactly HR / scale by the named degradation (``"bicubic"``: MATLAB ``imresize``)."""
    if degradation != "bicubic":
        raise ValueError(f"unknown degradation {degradation!r}; available: 'bicubic'")
    lr = imresize_bicubic(hr, 1.0 / scale)
    return quantize_8bit(lr) if quantize else lr.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------- the datamodule
class SuperResolutionDataModule(L.LightningDataModule):
    """HR (or paired LR/HR) folders for single-image super-resolution; see the module docstring.

    Args:
        root: HR training folder; unset: the embedded photos (training split).
        lr_root: LR training folder paired with ``root`` (e.g. ``DIV2K_train_LR_bicubic/X4``); unset: LR made
            on the device by ``degradation``.
        val_root: validation/test folder (a test-set layout or HR images); unset: the embedded held-out photos
            when ``root`` is unset too, else no validation.
        val_lr_root: LR folder paired with ``val_root`` (overrides the layout detection).
        predict_root: folder of LR images that ``predict`` upscales.
        scale: None (default): the model's generator's ``scale``. If set, it must agree with it.
        hr_crop: HR training crop (SRGAN: 96, Ledig et al. Sec. 3.2; ESRGAN: 128, BasicSR ``gt_size``).
        window: side of the square a worker cuts (a multiple of ``scale``); default ``2 * hr_crop``, lowered to
            the smallest training image when needed (never below ``hr_crop``).
        degradation: how LR is made from HR when no LR folder is given: ``"bicubic"`` (MATLAB ``imresize``).
        quantize_lr: round the made LR to 8 bits, like saved LR files.
        flips: random horizontal and vertical flips (BasicSR ``use_hflip`` / ``augment``).
        rotations: random transposes (BasicSR ``use_rot``); with ``flips`` the 8 dihedral transforms.
        batch_size: per-device training batch size (16: SRGAN Sec. 3.2, ESRGAN/BasicSR ``batch_size_per_gpu``).
        num_workers: DataLoader workers (decoding).
        repeat: passes over the file list per epoch (BasicSR ``dataset_enlarge_ratio``).
        cache_images: keep decoded training images in each worker's memory (small datasets only).
        val_crop: center-crop validation HR images to this side (None: whole images).
        val_batch_size: validation batch size (1: images keep their own sizes; larger needs ``val_crop``).
        dataset: registry name of ``root``'s data set (``python -m lit_gans.datasets list``, e.g. ``div2k_train_hr``);
            None: inferred from the folder name (``data/DIV2K/DIV2K_train_HR``).
        val_dataset: the same for ``val_root`` (e.g. ``set5``); ``lr_root`` / ``val_lr_root`` are inferred
            (``DIV2K/DIV2K_train_LR_bicubic/X4`` -> ``div2k_train_lr_bicubic_x4``).
        download: fetch every missing folder in ``prepare_data`` (once per node; ``lit_gans.datasets``).
        test_roots: test-set folders that ``test`` measures, one table row each (e.g. ``[data/Set5, data/Set14,
            data/BSD100, data/Urban100, data/Manga109]``, any layout of ``val_root``); unset: the validation set.
        mod_crop: validation / test HR images are cropped (bottom and right) to a multiple of this before the LR
            image is made from them (BasicSR ``mod_crop``); None: a multiple of the scale. 12 reproduces BasicSR's
            prepared ``GTmod12`` sets from the original photos (``scripts/matlab_scripts/generate_bicubic_img.m``
            crops to a multiple of 12), which differs from the scale's multiple on images whose side is not one.
            Must be a multiple of the scale. With a paired LR folder the LR image is cropped to ``mod_crop / scale``.
    """

    def __init__(
        self,
        root: Optional[str] = None,
        lr_root: Optional[str] = None,
        val_root: Optional[str] = None,
        val_lr_root: Optional[str] = None,
        predict_root: Optional[str] = None,
        scale: Optional[int] = None,
        hr_crop: int = 128,
        window: Optional[int] = None,
        degradation: Literal["bicubic"] = "bicubic",
        quantize_lr: bool = True,
        flips: bool = True,
        rotations: bool = True,
        batch_size: int = 16,
        num_workers: int = 4,
        repeat: int = 1,
        cache_images: bool = False,
        val_crop: Optional[int] = None,
        val_batch_size: int = 1,
        dataset: Optional[str] = None,
        val_dataset: Optional[str] = None,
        download: bool = False,
        test_roots: Optional[list[str]] = None,
        mod_crop: Optional[int] = None,
    ) -> None:
        check_sizes(SuperResolutionDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        check_batch_size(val_batch_size, "--data.init_args.val_batch_size")
        if degradation != "bicubic":
            raise ConfigError(f"degradation must be 'bicubic', got {degradation!r}")
        if val_batch_size > 1 and val_crop is None:
            raise ConfigError("val_batch_size > 1 needs val_crop (validation images have their own sizes otherwise)")
        self.root, self.lr_root, self.val_root, self.val_lr_root = root, lr_root, val_root, val_lr_root
        self.predict_root = predict_root
        self.scale: Optional[int] = scale
        self._pending_stages: list[str] = []  # setup() stages waiting for the model's scale (follow_scale)
        self.hr_crop, self.window = hr_crop, window
        self.degradation, self.quantize_lr = degradation, quantize_lr
        self.flips, self.rotations = flips, rotations
        self.batch_size, self.num_workers, self.repeat = batch_size, num_workers, repeat
        self.cache_images = cache_images
        self.val_crop, self.val_batch_size = val_crop, val_batch_size
        self.dataset, self.val_dataset, self.download = dataset, val_dataset, download
        self.test_roots = list(test_roots) if test_roots else None
        if mod_crop is not None and mod_crop < 1:
            raise ConfigError(f"--data.init_args.mod_crop={mod_crop}: must be a positive multiple of the scale, or null")
        self.mod_crop = mod_crop
        self.test_sets: Optional[list[Dataset]] = None
        self.train_set: Optional[Dataset] = None
        self.val_set: Optional[Dataset] = None
        self.predict_set: Optional[Dataset] = None

    # ------------------------------------------------------------------ setup
    def follow_scale(self, scale: int) -> None:
        """The generator's scale, given by the model (its ``setup``, which Lightning runs after this datamodule's):
        checked against ``scale`` when both are set; the stages that ``setup`` deferred for want of a scale are
        built now."""
        if self.scale is not None and int(scale) != int(self.scale):
            raise ConfigError(
                f"--data.init_args.scale={self.scale} disagrees with the model's scale {scale}; leave the data's "
                "scale unset (it follows the generator's --model.init_args.generator.init_args.scale)"
            )
        self.scale = self._check_scale(scale)
        pending, self._pending_stages = self._pending_stages, []
        for stage in pending:
            self.setup(stage)

    @staticmethod
    def _check_scale(scale: Optional[int]) -> int:
        if scale is None:
            raise ConfigError("scale is unknown: pass scale= to the datamodule when it is used without an SR model")
        if int(scale) not in (1, 2, 3, 4):
            raise ConfigError(f"unsupported scale {scale}")
        return int(scale)

    def _train_pairs(self, s: int) -> list[tuple[Path, Optional[Path]]]:
        if self.root is None:
            from lit_gans.datasets.embedded import photos_folder

            hr = list_images(photos_folder("train"), "embedded photos")
        else:
            hr = list_images(self.root, "--data.init_args.root", layout=HR_LAYOUT)
        report_modes(hr, "--data.init_args.root")  # counts conversions and finds truncated files, at setup
        if self.lr_root is None:
            return [(p, None) for p in hr]
        lr = list_images(self.lr_root, "--data.init_args.lr_root", layout="LR images named like the HR ones (0001x4.png)")
        report_modes(lr, "--data.init_args.lr_root")  # also finds truncated files now, not mid-epoch
        pairs = pair_files(hr, lr, s, f"--data.init_args.root ({self.root}) and --data.init_args.lr_root ({self.lr_root})")
        check_pair_sizes(pairs, s)
        return pairs  # type: ignore[return-value]

    def _train_window(self, pairs: list[tuple[Path, Optional[Path]]], s: int) -> int:
        if self.hr_crop % s:
            raise ConfigError(f"hr_crop {self.hr_crop} must be a multiple of the scale {s}")
        smallest, small_file = None, None
        for hr, _ in pairs:
            w, h = _image_size(hr)
            side = (min(w, h) // s) * s
            if smallest is None or side < smallest:
                smallest, small_file = side, hr
        if smallest < self.hr_crop:
            raise DataError(
                f"{small_file} is smaller than the HR crop {self.hr_crop} px (at scale {s}); remove it, or lower "
                "--data.init_args.hr_crop (and the discriminator's input_size)"
            )
        window = self.window if self.window is not None else 2 * self.hr_crop
        window = (min(window, smallest) // s) * s
        if window < self.hr_crop:
            raise ConfigError(f"window {self.window} must be at least hr_crop {self.hr_crop}")
        return window

    def _folder_pairs(self, root: str, option: str, s: int) -> list[tuple[Path, Optional[Path]]]:
        hr, lr = find_test_layout(Path(root).expanduser(), s, option)
        report_modes(hr, option)
        if lr is None:
            return [(p, None) for p in hr]
        pairs = pair_files(hr, lr, s, f"test folder {root}")
        check_pair_sizes(pairs, s)
        return pairs  # type: ignore[return-value]

    @staticmethod
    def _check_eval_sizes(pairs: list[tuple[Path, Optional[Path]]], s: int) -> None:
        min_side = 16 * s  # room for the border crop and SSIM's 11x11 window
        for hr, _ in pairs:
            w, h = _image_size(hr)
            if min(w, h) < min_side:
                raise DataError(f"{hr} is {w}x{h}; validation/test images must be at least {min_side} px at scale {s}")

    def _mod_crop(self, s: int) -> Optional[int]:
        if self.mod_crop is not None and self.mod_crop % s:
            raise ConfigError(f"--data.init_args.mod_crop={self.mod_crop} is not a multiple of the scale {s} (e.g. 12 for x4)")
        return self.mod_crop

    def evaluation_crop(self) -> str:
        """The validation/test crop in words, for the results table's protocol line."""
        s = self.scale
        if self.mod_crop is None:
            return f"HR cropped to a multiple of the scale ({s})"
        return f"HR cropped to a multiple of {self.mod_crop} (mod_crop; BasicSR's GTmod{self.mod_crop} sets), LR made from it"

    def test_set_names(self) -> list[str]:
        """One name per test dataloader (the folder names; the validation set when ``test_roots`` is unset)."""
        if self.test_roots:
            return [_set_name(r) for r in self.test_roots]
        return [_set_name(self.val_root) if self.val_root else "embedded held-out photos"]

    def _eval_pairs(self, s: int) -> Optional[list[tuple[Path, Optional[Path]]]]:
        if self.val_root is None:
            if self.root is not None:
                return None
            from lit_gans.datasets.embedded import photos_folder

            return [(p, None) for p in list_images(photos_folder("heldout"), "embedded photos")]
        if self.val_lr_root is not None:
            hr = list_images(self.val_root, "--data.init_args.val_root", layout=HR_LAYOUT)
            lr: Optional[list[Path]] = list_images(self.val_lr_root, "--data.init_args.val_lr_root")
        else:
            hr, lr = find_test_layout(Path(self.val_root).expanduser(), s)
        report_modes(hr, "--data.init_args.val_root")
        if lr is not None:
            report_modes(lr, "--data.init_args.val_lr_root")
        if lr is None:
            return [(p, None) for p in hr]
        pairs = pair_files(hr, lr, s, f"validation folder {self.val_root}")
        check_pair_sizes(pairs, s)
        return pairs  # type: ignore[return-value]

    def prepare_data(self) -> None:
        """With ``download``: fetch the folders this run reads that are missing (once per node): training, LR
        and validation folders, or for ``test`` the ``test_roots`` (names inferred from the folder, e.g. Set5)."""
        from lit_gans.datasets import prepare

        testing = str(getattr(getattr(self.trainer, "state", None), "fn", "")).endswith("test") if self.trainer else False
        if testing and self.test_roots:
            for i, root in enumerate(self.test_roots):
                prepare(root, None, self.download, option=f"--data.init_args.test_roots[{i}]")
            return
        if not testing:
            prepare(self.root, self.dataset, self.download)
            prepare(self.lr_root, None, self.download, option="--data.init_args.lr_root")
        prepare(self.val_root, self.val_dataset, self.download, option="--data.init_args.val_root",
                dataset_option="--data.init_args.val_dataset")
        prepare(self.val_lr_root, None, self.download, option="--data.init_args.val_lr_root")

    def setup(self, stage: str) -> None:
        if self.scale is None:  # follows the model's generator: built when the model gives it (follow_scale)
            self._pending_stages.append(stage)
            return
        s = self.scale = self._check_scale(self.scale)
        if stage == "fit" and self.train_set is None:
            pairs = self._train_pairs(s)
            self.window_size = self._train_window(pairs, s)
            self.train_set = TrainWindows(pairs, s, self.window_size, self.repeat, self.cache_images)
        if stage == "test" and self.test_roots and self.test_sets is None:
            self.test_sets = []
            for i, root in enumerate(self.test_roots):
                pairs = self._folder_pairs(root, f"--data.init_args.test_roots[{i}]", s)
                self._check_eval_sizes(pairs, s)
                self.test_sets.append(EvalImages(pairs, s, self.val_crop, self._mod_crop(s)))
        elif stage in ("fit", "validate", "test") and self.val_set is None:
            pairs = self._eval_pairs(s)
            if pairs is not None:
                self._check_eval_sizes(pairs, s)
                self.val_set = EvalImages(pairs, s, self.val_crop, self._mod_crop(s))
            elif stage in ("validate", "test"):
                raise ConfigError(f"`{stage}` needs --data.init_args.val_root (a test-set folder: {TEST_LAYOUTS})")
        if stage == "predict" and self.predict_set is None:
            if self.predict_root is None:
                raise ConfigError("`predict` needs --data.init_args.predict_root, a folder of LR images to upscale")
            files = list_images(self.predict_root, "--data.init_args.predict_root")
            report_modes(files, "--data.init_args.predict_root")
            self.predict_set = PredictImages(files)

    # ------------------------------------------------------------------ loaders
    def train_dataloader(self) -> DataLoader:
        self._check_scale(self.scale)
        return ResumableLoader(  # an order that depends on (seed, epoch) only, resumable mid-epoch
            self.train_set, batch_size=self.batch_size, shuffle=True, drop_last=True, num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0, pin_memory=torch.cuda.is_available(),
        )

    def _eval_loader(self, dataset: Optional[Dataset] = None) -> DataLoader:
        dataset = dataset if dataset is not None else self.val_set
        return DataLoader(
            dataset, batch_size=self.val_batch_size, shuffle=False, num_workers=self.num_workers,
            sampler=eval_sampler(self, dataset),
        )

    def val_dataloader(self) -> DataLoader:
        self._check_scale(self.scale)
        return self._eval_loader() if self.val_set is not None else []  # type: ignore[return-value]

    def test_dataloader(self) -> Any:
        self._check_scale(self.scale)
        """One loader per test set (``test_roots``), else the validation set's."""
        if self.test_sets:
            return [self._eval_loader(d) for d in self.test_sets]
        return self._eval_loader()

    def predict_dataloader(self) -> DataLoader:
        self._check_scale(self.scale)
        return DataLoader(self.predict_set, batch_size=1, shuffle=False, num_workers=self.num_workers)

    # ------------------------------------------------------------------ device side
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if self.trainer is not None and self.trainer.predicting:
            return batch  # predict: the image stays on the CPU, the model moves tiles (bounded device memory)
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not isinstance(batch, dict):
            return batch
        if "image" in batch:  # predict
            batch["image"] = batch["image"].float() / 255.0
            return batch
        if self.trainer is not None and self.trainer.training:
            return self.augment(batch)
        return self.prepare_eval(batch)

    def augment(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Training batch of uint8 windows -> random aligned crops, dihedral transforms, LR by degradation."""
        s, c = self.scale, self.hr_crop
        hr = batch["hr"].float() / 255.0
        lr = batch["lr"].float() / 255.0 if "lr" in batch else degrade(hr, s, self.degradation, self.quantize_lr)
        b, cl = hr.shape[0], c // s
        span = lr.shape[-1] - cl + 1
        top = torch.randint(0, lr.shape[-2] - cl + 1, (b,), device=hr.device)
        left = torch.randint(0, span, (b,), device=hr.device)
        lr, hr = crop_batch(lr, top, left, cl), crop_batch(hr, top * s, left * s, c)
        off = torch.zeros(b, dtype=torch.bool, device=hr.device)
        hflip = torch.rand(b, device=hr.device) < 0.5 if self.flips else off
        vflip = torch.rand(b, device=hr.device) < 0.5 if self.flips else off
        transpose = torch.rand(b, device=hr.device) < 0.5 if self.rotations else off
        lr, hr = dihedral([lr, hr], hflip, vflip, transpose)
        return {"lr": lr, "hr": hr, "index": batch["index"]}

    def prepare_eval(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Validation/test batch: floats; LR by the degradation when the folder has none."""
        hr = batch["hr"].float() / 255.0
        lr = batch["lr"].float() / 255.0 if "lr" in batch else degrade(hr, self.scale, self.degradation, self.quantize_lr)
        out = dict(batch)
        out.update(lr=lr, hr=hr)
        return out

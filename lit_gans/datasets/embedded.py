"""Real data shipped inside registry packages, for runs with no network (extra ``lit-gans[embedded]``).

* scikit-learn's handwritten digits: 1797 images of 8x8 in 0..16, 10 classes (UCI optdigits test set).
* scikit-image's and scikit-learn's sample photos (RGB), split once and for all into a training set and
  a held-out set, so benchmarks measure on photos the model never saw.
* the embedded low-light set (:func:`embedded_lowlight_root`): the photos darkened by a documented curve
  (the recipe is described in ``datamodules/lowlight.py``, which trains on it).

Plain loaders (numpy/torch, no Lightning): the datamodules (``datamodules.*``) and the project's digit classifier
(``lit_gans.metrics.digit_classifier``) both read them from here. ``datamodules.embedded`` re-exports this module
for code written before it moved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

#: Photos used for training and for held-out evaluation (disjoint). Names are the loaders' names.
TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "motorcycle", "china")
HELDOUT_PHOTOS = ("coffee", "flower")


def _need(module: str):  # noqa: ANN202
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(
            f"the embedded data needs {module}: pip install 'lit-gans[embedded]' (scikit-learn and scikit-image)"
        ) from err


def load_digits() -> tuple[Tensor, Tensor]:
    """sklearn digits as float images [1797, 1, 8, 8] in [0, 1] (value / 16) and int64 labels."""
    _need("sklearn")
    from sklearn.datasets import load_digits as _load

    bunch = _load()
    images = torch.from_numpy(bunch.images.astype(np.float32) / 16.0).unsqueeze(1)
    return images, torch.from_numpy(bunch.target.astype(np.int64))


def _photo(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        datasets = __import__("sklearn.datasets", fromlist=["load_sample_image"])
        return datasets.load_sample_image(f"{name}.jpg")
    data = __import__("skimage.data", fromlist=["astronaut"])
    if name == "motorcycle":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def load_photos(split: str = "train") -> dict[str, np.ndarray]:
    """``{name: uint8 array [H, W, 3]}`` for split 'train', 'heldout' or 'all'."""
    _need("skimage")
    _need("sklearn")
    names = {"train": TRAIN_PHOTOS, "heldout": HELDOUT_PHOTOS, "all": TRAIN_PHOTOS + HELDOUT_PHOTOS}[split]
    photos = {}
    for name in names:
        array = np.asarray(_photo(name))
        if array.ndim != 3 or array.shape[2] != 3:
            raise RuntimeError(f"embedded photo {name} is not RGB: shape {array.shape}")
        photos[name] = array.astype(np.uint8)
    return photos


def cache_dir() -> Path:
    return Path(os.environ.get("LIT_GANS_CACHE", Path.home() / ".cache" / "lit_gans")).expanduser()


def photos_folder(split: str = "train", root: str | Path | None = None) -> Path:
    """Write the embedded photos of ``split`` as PNG files into a folder (once) and return it.

    Folder datamodules then read them exactly like a user's folder. The folder is written to a
    temporary directory and renamed into place, so no half-written folder is ever left behind.
    """
    from PIL import Image

    target = Path(root or cache_dir() / "embedded_photos") / split
    if target.is_dir() and any(target.glob("*.png")):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{split}-", dir=target.parent))
    try:
        for name, array in load_photos(split).items():
            Image.fromarray(array).save(tmp / f"{name}.png", compress_level=1)
        try:
            tmp.rename(target)
        except OSError:  # another process won the race: theirs is complete too
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ------------------------------------------------------------------ low-light (EnlightenGAN), see datamodules/lowlight.py
DARKEN_GAMMA, DARKEN_GAIN = 2.0, 0.5  # embedded synthetic low light: 0.5 * x ** 2 (documented in datamodules/lowlight.py)
EMBEDDED_MAX_SIDE = 512
EMBEDDED_VERSION = "v1"  # bump when the recipe changes, so stale caches are not reused
EXCLUDED_PHOTOS = ("hubble_deep_field",)


def darken(image: np.ndarray, gamma: float = DARKEN_GAMMA, gain: float = DARKEN_GAIN) -> np.ndarray:
    """The documented synthetic darkening of uint8 RGB: ``round(255 * gain * (x / 255) ** gamma)``."""
    x = image.astype(np.float64) / 255.0
    return np.clip(np.round(255.0 * gain * x**gamma), 0, 255).astype(np.uint8)


def _downscale(image: np.ndarray, max_side: int = EMBEDDED_MAX_SIDE) -> np.ndarray:
    from PIL import Image

    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    f = max_side / max(h, w)
    return np.asarray(Image.fromarray(image).resize((round(w * f), round(h * f)), Image.BICUBIC))


def _halves(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    return (image[:, : w // 2], image[:, w // 2 :]) if w >= h else (image[: h // 2], image[h // 2 :])


def embedded_lowlight_root(root: str | Path | None = None) -> Path:
    """Write (once) and return the embedded low-light data set: ``trainA`` (darkened halves), ``trainB``
    (normal other halves), ``testA``/``low`` (darkened held-out photos), ``testB``/``high`` (originals)."""
    from PIL import Image

    target = Path(root or cache_dir()) / f"embedded_lowlight_{EMBEDDED_VERSION}"
    if (target / "high").is_dir() and any((target / "high").glob("*.png")):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".lowlight-", dir=target.parent))
    try:
        for sub in ("trainA", "trainB", "testA", "testB", "low", "high"):
            (tmp / sub).mkdir()
        for name, photo in load_photos("train").items():
            if name in EXCLUDED_PHOTOS:
                continue
            first, second = _halves(_downscale(photo))
            Image.fromarray(darken(first)).save(tmp / "trainA" / f"{name}.png")
            Image.fromarray(np.ascontiguousarray(second)).save(tmp / "trainB" / f"{name}.png")
        for name, photo in load_photos("heldout").items():
            photo = _downscale(photo)
            for sub, image in (("testA", darken(photo)), ("low", darken(photo)), ("testB", photo), ("high", photo)):
                Image.fromarray(image).save(tmp / sub / f"{name}.png")
        try:
            tmp.rename(target)
        except OSError:  # another process wrote it first; theirs is complete
            shutil.rmtree(tmp, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target

"""Real data shipped inside registry packages, for runs with no network (extra ``lit-gans[embedded]``).

* scikit-learn's handwritten digits: 1797 images of 8x8 in 0..16, 10 classes (UCI optdigits test set).
* scikit-image's and scikit-learn's sample photos (RGB), split once and for all into a training set and
  a held-out set, so benchmarks measure on photos the model never saw.
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

"""The digit data sets as plain tensors: scikit-learn's embedded 8x8 digits (a seeded, stratified held-out
split) and MNIST (torchvision files), and their resize to a network's side.

One definition, read by both the GAN datamodules (``datamodules/digits.py``) and the project's digit classifier
(``lit_gans.metrics.digit_classifier``, which trains on the same split, so with the same seed it never sees the
images that serve as the FID reference). No Lightning here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_gans.errors import DataError

NUM_CLASSES = 10

Split = tuple[Tensor, Tensor, Tensor, Tensor]  # train images, train labels, held-out images, held-out labels


def digits_split(seed: int = 0, val_fraction: float = 0.2) -> Split:
    """scikit-learn's digits as float images [N, 1, 8, 8] in [0, 1]: ``val_fraction`` of each class held out,
    drawn with ``seed`` (fixed, so metrics compare across runs)."""
    from lit_gans.datasets.embedded import load_digits

    images, labels = load_digits()
    g = torch.Generator().manual_seed(seed)
    val_idx = []
    for c in range(NUM_CLASSES):
        idx = (labels == c).nonzero().view(-1)
        idx = idx[torch.randperm(len(idx), generator=g)]
        val_idx.append(idx[: round(len(idx) * val_fraction)])
    val = torch.cat(val_idx).sort().values
    train_mask = torch.ones(len(labels), dtype=torch.bool)
    train_mask[val] = False
    return images[train_mask], labels[train_mask], images[val], labels[val]


def mnist_dataset(root: str, train: bool, download: bool = False, option: str = "--data.root"):  # noqa: ANN201
    """torchvision's MNIST under ``root`` (``MNIST/raw``); a ``DataError`` naming the files when absent."""
    from torchvision.datasets import MNIST

    try:
        return MNIST(root, train=train, download=download)
    except Exception as err:
        raw = Path(root).expanduser() / "MNIST" / "raw"
        raise DataError(
            f"MNIST is not available under {option}={root} ({type(err).__name__}: {err}). Expected the files "
            f"{raw}/train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
            "(or their .gz). Download them on a machine with network access (lit-gans fit ... --data.download=true), "
            "copy the MNIST folder there, or use the embedded digits (datamodules.digits.DigitsDataModule)."
        ) from err


def mnist_split(root: str, val_size: Optional[int] = None, option: str = "--data.root") -> Split:
    """MNIST's 60k training images and its 10k test images (the first ``val_size`` of them) as float
    [N, 1, 28, 28] in [0, 1]."""
    tr, te = mnist_dataset(root, True, option=option), mnist_dataset(root, False, option=option)
    xva, yva = te.data, te.targets
    if val_size:
        xva, yva = xva[:val_size], yva[:val_size]
    to01 = lambda x: x.unsqueeze(1).float().div_(255.0)  # noqa: E731
    return to01(tr.data), tr.targets.long(), to01(xva), yva.long()


def resize_digits(x: Tensor, size: int) -> Tensor:
    """Images in [0, 1] to ``size`` x ``size`` (bilinear, ``align_corners=False``), clamped to [0, 1]."""
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0.0, 1.0)

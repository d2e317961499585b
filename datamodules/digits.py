"""Digit images for the noise-to-image GANs: the embedded sklearn digits and MNIST.

Both hold the whole (small) dataset as tensors; workers are not needed. Images are resized to the
network's size **on the device** in ``on_after_batch_transfer`` (bilinear) and mapped to [-1, 1].
Validation is a fixed held-out split; ``predict`` yields sample indices from which the model derives
reproducible noise (and, for a conditional model, labels).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from datamodules.images import check_batch_size, eval_sampler
from lit_gans.datasets.digits import digits_split, mnist_dataset, mnist_split, resize_digits
from lit_gans.utils.resumable import ResumableLoader
from lit_gans.utils.checks import check_sizes


class TensorImages(Dataset):
    """``{"image": [C, H, W] float in [0, 1], "label": int64, "index": int64}`` items from tensors."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"image": self.images[i], "label": self.labels[i], "index": torch.tensor(i)}


class SampleIndices(Dataset):
    """Indices 0..n-1 for prediction of noise-to-image models."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"index": torch.tensor(i)}


class DigitImagesDataModule(L.LightningDataModule):
    """Base of the digit datamodules: subclasses implement ``load() -> (train images, train labels,
    val images, val labels)`` with images float [N, 1, h, w] in [0, 1].

    Args:
        image_size: side the network expects (e.g. 32 for the DCGAN digits variant, 28 for MNIST's own size).
        batch_size: per-device batch size (64: Radford et al. 2016 / WGAN / PyTorch-GAN).
        num_workers: DataLoader workers (0 is fine: the data is in memory).
        predict_samples: how many samples ``predict`` writes.
    """

    channels = 1
    num_classes = 10

    def __init__(self, image_size: int = 32, batch_size: int = 64, num_workers: int = 0, predict_samples: int = 100) -> None:
        check_sizes(DigitImagesDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(batch_size, "--data.init_args.batch_size")
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.predict_samples = predict_samples
        self.train_set: Optional[TensorImages] = None

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def setup(self, stage: str) -> None:
        if self.train_set is None:
            xtr, ytr, xva, yva = self.load()
            self.train_set, self.val_set = TensorImages(xtr, ytr), TensorImages(xva, yva)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        # training: an order that depends on (seed, epoch) only, resumable mid-epoch
        return (ResumableLoader if shuffle else DataLoader)(
            dataset, batch_size=self.batch_size, shuffle=shuffle, drop_last=shuffle,
            num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            sampler=None if shuffle else eval_sampler(self, dataset),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    #: Name of the held-out split that validation and ``test`` measure (a row of the results table).
    test_name = "heldout"

    def test_set_names(self) -> list[str]:
        return [self.test_name]

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(SampleIndices(self.predict_samples), batch_size=self.batch_size)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, dict) and "image" in batch:
            batch["image"] = resize_digits(batch["image"].float(), self.image_size) * 2.0 - 1.0  # networks: [-1, 1] (Tanh)
        return batch


class DigitsDataModule(DigitImagesDataModule):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), the embedded default.

    Real data that ships with a registry package (no network). 8x8 in 0..16 is scaled to [0, 1] and
    upsampled bilinearly to ``image_size`` on the device. A stratified, seeded ``val_fraction`` is held
    out for validation/metrics.

    Args:
        val_fraction: share of each class held out (0.2).
        seed: seed of the split (fixed so metrics compare across runs).
    """

    test_name = "digits/heldout"
    metric_features = "digits"  # the generation metrics' feature network for this data (lit_gans.evaluation.generation)

    def __init__(self, image_size: int = 32, batch_size: int = 64, num_workers: int = 0, predict_samples: int = 100, val_fraction: float = 0.2, seed: int = 0) -> None:
        check_sizes(DigitsDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__(image_size, batch_size, num_workers, predict_samples)
        self.val_fraction, self.seed = val_fraction, seed

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return digits_split(self.seed, self.val_fraction)


class MNISTDataModule(DigitImagesDataModule):
    """MNIST (LeCun et al. 1998) through torchvision: 60k training, 10k test images used for validation.

    Downloads into ``root`` when online and ``download`` is true. Offline and absent, setup fails with
    the files it expects. The uint8 tensors are used directly (no per-item PIL decode).

    Args:
        root: folder holding ``MNIST/raw/*-ubyte`` (torchvision layout).
        download: download when missing (default on, as before: ``lit_gans.datasets`` fetches torchvision's files).
        val_size: use only the first ``val_size`` test images for validation (None: all 10k).
    """

    test_name = "mnist/test"
    metric_features = "mnist"  # the generation metrics' feature network for this data (lit_gans.evaluation.generation)

    def __init__(self, root: str = "data", image_size: int = 32, batch_size: int = 64, num_workers: int = 0, predict_samples: int = 100, download: bool = True, val_size: Optional[int] = None) -> None:
        check_sizes(MNISTDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__(image_size, batch_size, num_workers, predict_samples)
        self.root, self.download, self.val_size = root, download, val_size

    def _dataset(self, train: bool, download: bool):  # noqa: ANN202
        return mnist_dataset(self.root, train, download)

    def prepare_data(self) -> None:
        """With ``download``: fetch the four files into ``<root>/MNIST/raw`` (``lit_gans.datasets``: torchvision's
        mirrors and md5s, resumable, ``LIT_GANS_DATA_MIRROR``; nothing is fetched when they are there). Then
        check that torchvision can read them."""
        if self.download:
            from lit_gans.datasets import fetch

            fetch("mnist", folder=Path(self.root).expanduser() / "MNIST" / "raw")
        for train in (True, False):
            self._dataset(train, False)

    def load(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        return mnist_split(self.root, self.val_size)

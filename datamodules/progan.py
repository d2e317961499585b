"""Data for the progressive GAN: images decoded once at the target resolution, brought to the stage's
resolution on the device, with the real images faded between resolutions as the generator is.

Sources (``source=``):

* ``folder``: every image under ``root`` (``--data.init_args.root``), optionally cropped by a fixed box
  (``crop``: CelebA's official 128x128 box at centre (89, 121) is ``[25, 57, 128, 128]``, official
  ``dataset_tool.py create_celeba``), centre-cropped to a square, resized to ``resolution`` (Lanczos,
  antialiased) and decoded **once** into a uint8 cache file (``<cache_dir>/progan_<key>.npy``, memory-mapped
  by the workers; ``key`` hashes the file list, sizes, dates and options, so changed data makes a new one).
  An image smaller than ``resolution`` after the crop is an error at setup naming the file.
* ``digits``: scikit-learn's embedded 8x8 digits (``datamodules.embedded``), the same train/validation split
  as ``datamodules.digits.DigitsDataModule``, bilinearly upsampled once to ``resolution`` (32 by default).
* ``mnist``: MNIST through ``datamodules.digits.MNISTDataModule``, 28x28 padded with zeros to 32x32 as the
  official ``dataset_tool.py create_mnist`` does (then resized if ``resolution`` is not 32).

On the device (``on_after_batch_transfer``, training batches): uint8 -> [-1, 1] (official ``drange_net``),
optional horizontal flip (kornia, p = 0.5; official ``mirror_augment``, on for CelebA), 2^k x 2^k average
pooling to the stage's resolution (official box-filtered levels of detail), and the fade
``lerp(upscale(avgpool2(x)), x, alpha)`` while a stage fades in (official ``process_reals`` "FadeLOD").
Validation batches stay at the final resolution.

The batch size follows the model's schedule through :class:`ProgressiveBatchSampler`: the training data is
an endless stream of seeded permutations of the dataset, and the batch at ``images_seen`` is a pure
function of ``images_seen`` (the model's state, saved in checkpoints): stream positions
``[images_seen + rank * b, images_seen + (rank + 1) * b)`` with ``b`` the schedule's batch size there. So
batch sizes change exactly at the schedule's boundaries, even mid-epoch, and a resume (mid-epoch,
mid-fade) replays the very same batches. An "epoch" is ``epoch_images`` images (default: one pass).

Deviation: the official TFRecords store every level of detail rounded to uint8; here the levels are
exact float averages of the uint8 full-resolution image.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler, SequentialSampler

from datamodules.digits import SampleIndices
from datamodules.images import DataError, check_batch_size, eval_sampler, list_images, load_image
from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

FOLDER_LAYOUT = "<root>/*.png|jpg|... (any size >= the target resolution; sub-folders are searched too)"


# ------------------------------------------------------------------------------------------ datasets
class UInt8Images(Dataset):
    """``{"image": uint8 [C, R, R], "index": int64}`` from an in-memory array or a ``.npy`` file (memory-mapped
    lazily in each worker, never pickled)."""

    def __init__(self, data: np.ndarray | str | os.PathLike, indices: Optional[np.ndarray] = None) -> None:
        self._array = data if isinstance(data, np.ndarray) else None
        self._path = None if isinstance(data, np.ndarray) else str(data)
        self.indices = indices
        self._len = len(indices) if indices is not None else len(self._get())

    def _get(self) -> np.ndarray:
        if self._array is None:
            self._array = np.load(self._path, mmap_mode="r")
        return self._array

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if self._path is not None:
            state["_array"] = None  # reopen the memory map in the worker
        return state

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        j = int(self.indices[i]) if self.indices is not None else int(i)
        return {"image": torch.from_numpy(np.array(self._get()[j])), "index": torch.tensor(i)}


class ProgressiveBatchSampler(BatchSampler):
    """Per-rank batches of a seeded endless stream whose batch size follows a schedule.

    Args:
        sampler: ignored except for its rank / world size when Lightning injects a ``DistributedSampler``
            under DDP (so the rank split is always right).
        num_samples: dataset size.
        batch_size_at: ``nimg -> per-device batch size`` (the model's schedule).
        position: ``() -> images_seen`` (the model's progress), read when an epoch starts.
        seed: seed of the stream (pass ``k`` of the data is ``randperm(n)`` seeded by ``(seed, k)``).
        epoch_images: images per epoch, all ranks together (default: ``num_samples``, one pass).
        rank / world_size: this process's place (when no ``DistributedSampler`` is injected).
    """

    def __init__(
        self,
        sampler: Any,
        num_samples: int,
        batch_size_at: Callable[[int], int],
        position: Callable[[], int],
        seed: int = 0,
        epoch_images: Optional[int] = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if isinstance(sampler, DistributedSampler):
            rank, world_size = sampler.rank, sampler.num_replicas
        self.sampler, self.num_samples = sampler, num_samples
        self.batch_size_at, self.position, self.seed = batch_size_at, position, seed
        self.epoch_images = epoch_images or num_samples
        self.rank, self.world_size = rank, world_size
        self.drop_last = True
        self._perm_key: Optional[int] = None
        self._perm: Optional[Tensor] = None

    @property
    def batch_size(self) -> int:  # the current one (Lightning reads it for logging only)
        return self.batch_size_at(self.position())

    def _steps(self, start: int) -> list[tuple[int, int]]:
        """``[(position, per-device batch size), ...]`` of one epoch from ``start``."""
        out, pos = [], start
        while pos - start < self.epoch_images:
            b = self.batch_size_at(pos)
            out.append((pos, b))
            pos += b * self.world_size
        return out

    def __len__(self) -> int:
        return len(self._steps(self.position()))

    def _index(self, q: int) -> int:
        k = q // self.num_samples
        if k != self._perm_key:
            self._perm = torch.randperm(self.num_samples, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + k))
            self._perm_key = k
        return int(self._perm[q % self.num_samples])

    def __iter__(self) -> Iterator[list[int]]:
        for pos, b in self._steps(self.position()):
            first = pos + self.rank * b
            yield [self._index(q) for q in range(first, first + b)]


# ------------------------------------------------------------------------------------------ decoding
def _decode(args: tuple[str, int, int, Optional[tuple[int, int, int, int]]]) -> np.ndarray:
    path, resolution, channels, crop = args
    image = load_image(path, channels)  # uint8 [C, H, W], the project's channel policy
    _, h, w = image.shape
    if crop is not None:
        left, top, cw, ch = crop
        if left < 0 or top < 0 or left + cw > w or top + ch > h:
            raise DataError(f"{path} is {w}x{h}: the crop box {list(crop)} (left, top, width, height) does not fit; fix --data.init_args.crop")
        image = image[:, top : top + ch, left : left + cw]
        _, h, w = image.shape
    side = min(h, w)
    if side < resolution:
        raise DataError(
            f"{path} is {w}x{h}{' after the crop' if crop else ''}, smaller than the target resolution {resolution}; "
            "remove it, or lower --data.init_args.resolution (and the networks' resolution)"
        )
    top, left = (h - side) // 2, (w - side) // 2
    image = image[:, top : top + side, left : left + side]
    if side != resolution:
        pil = Image.fromarray(image.permute(1, 2, 0).numpy().squeeze(-1) if channels == 1 else image.permute(1, 2, 0).numpy())
        pil = pil.resize((resolution, resolution), Image.Resampling.LANCZOS)
        array = np.asarray(pil)
        return (array[None] if array.ndim == 2 else array.transpose(2, 0, 1)).copy()
    return image.numpy()


class ProGANDataModule(L.LightningDataModule):
    """Image data for :class:`lit_gans.models.progan.ProGAN` (see the module docstring).

    Args:
        root: image folder (``source='folder'``) or the MNIST folder (``source='mnist'``).
        source: 'folder', 'digits' (embedded, offline) or 'mnist'.
        resolution: final resolution (power of two >= 4), the networks' ``resolution``.
        channels: 3 (RGB) or 1; digits/MNIST are grey and replicated when 3 are asked.
        crop: optional fixed box ``[left, top, width, height]`` cut from every folder image first.
        mirror_augment: random horizontal flips on the device (official CelebA config: on).
        cache_dir: folder of the decoded cache (default ``$LIT_GANS_CACHE/progan``).
        val_images: real images used by validation metrics for 'folder' (a seeded subset of the training
            images; metric reference 'train'); digits/MNIST use their validation split (reference 'val').
        val_batch_size: batch size of validation.
        epoch_images: images per training epoch, all devices together (default: the dataset size).
        num_workers: DataLoader workers (and decoding processes for the cache).
        predict_samples / predict_batch_size: images written by ``predict``.
        predict_interpolation: ``[rows, steps]`` of the latent interpolation grid that ``predict`` also writes
            (``interpolation.png``; ``None``: none).
        seed: seed of the data stream and of the validation subset.
        download: download a missing data set in ``prepare_data`` (``lit_gans.datasets``): MNIST into ``root``; for
            ``source='folder'`` the data set ``dataset`` names (CelebA is behind a drive: the error names the page).
        dataset: registry name of ``root``'s data set for ``source='folder'`` (None: inferred from the folder name,
            ``celeba/img_align_celeba`` -> ``celeba``).
    """

    #: read by ProGAN.setup: batches follow the model's schedule (ProgressiveBatchSampler, fade on the device)
    follows_progan_schedule = True

    def __init__(
        self,
        root: Optional[str] = None,
        source: Literal["folder", "digits", "mnist"] = "folder",
        resolution: int = 128,
        channels: int = 3,
        crop: Optional[list[int]] = None,
        mirror_augment: bool = False,
        cache_dir: Optional[str] = None,
        val_images: int = 1000,
        val_batch_size: int = 64,
        epoch_images: Optional[int] = None,
        num_workers: int = 2,
        predict_samples: int = 100,
        predict_batch_size: int = 16,
        predict_interpolation: Optional[list[int]] = None,
        seed: int = 0,
        download: bool = False,
        dataset: Optional[str] = None,
    ) -> None:
        check_sizes(ProGANDataModule, "--data", locals())  # sizes, widths, counts >= 1 (lit_gans.utils.checks)
        super().__init__()
        check_batch_size(val_batch_size, "--data.init_args.val_batch_size")
        check_batch_size(predict_batch_size, "--data.init_args.predict_batch_size")
        if resolution < 4 or resolution & (resolution - 1):
            raise ConfigError(
                f"--data.init_args.resolution={resolution} is not a power of two >= 4; ProGAN doubles the resolution "
                "from 4x4 stage by stage (use 32, 64, 128, ..., 1024, the same as the networks')"
            )
        if channels not in (1, 3):
            raise ConfigError(f"--data.init_args.channels must be 1 or 3, got {channels}")
        if source in ("folder",) and not root:
            raise ConfigError("ProGANDataModule(source='folder') needs --data.init_args.root=<image folder>")
        if crop is not None and (len(crop) != 4 or min(crop[2:]) < 1):
            raise ConfigError(f"--data.init_args.crop must be [left, top, width, height], got {crop}")
        self.root, self.source, self.resolution, self.channels = root, source, resolution, channels
        self.crop = tuple(int(c) for c in crop) if crop is not None else None
        self.mirror_augment, self.cache_dir = mirror_augment, cache_dir
        self.val_images, self.val_batch_size, self.epoch_images = val_images, val_batch_size, epoch_images
        self.num_workers, self.seed, self.download, self.dataset = num_workers, seed, download, dataset
        self.predict_samples, self.predict_batch_size = predict_samples, predict_batch_size
        if predict_interpolation is not None and (len(predict_interpolation) != 2 or min(predict_interpolation) < 1):
            raise ConfigError(f"--data.init_args.predict_interpolation must be [rows, steps], got {predict_interpolation}")
        self.predict_interpolation = predict_interpolation
        # under DDP the one-item interpolation loader is empty on every rank but 0 (FirstRankOnlySampler), which
        # Lightning refuses unless told (its public LightningDataModule flag); the other loaders are never empty
        self.allow_zero_length_dataloader_with_multiple_devices = predict_interpolation is not None
        self.metric_reference = "train" if source == "folder" else "val"
        # the generation metrics' feature network for this data (lit_gans.evaluation.generation); folders: none named
        self.metric_features = source if source in ("digits", "mnist") else None
        self.train_set: Optional[UInt8Images] = None
        self.val_set: Optional[UInt8Images] = None
        self._flip = None
        self._schedule: Optional[tuple[Callable[[int], int], Callable[[], int], Callable[[], tuple[int, float]]]] = None

    # ------------------------------------------------------------------ folder cache
    def _files(self) -> list[Path]:
        return list_images(self.root, "--data.init_args.root", recursive=True, layout=FOLDER_LAYOUT)

    def cache_path(self, files: Optional[list[Path]] = None) -> Path:
        files = files if files is not None else self._files()
        h = hashlib.sha1(f"v1|{self.resolution}|{self.channels}|{self.crop}".encode())
        for p in files:
            st = p.stat()
            h.update(f"|{p}|{st.st_size}|{st.st_mtime_ns}".encode())
        from lit_gans.datasets.embedded import cache_dir as default_cache

        folder = Path(self.cache_dir).expanduser() if self.cache_dir else default_cache() / "progan"
        return folder / f"progan_{h.hexdigest()[:16]}_{self.resolution}px_{self.channels}ch.npy"

    def _build_cache(self, files: list[Path], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(files), self.channels, self.resolution, self.resolution))
        jobs = [(str(p), self.resolution, self.channels, self.crop) for p in files]
        rank_zero_info(f"ProGANDataModule: decoding {len(files)} images of {self.root} at {self.resolution} px into {path} (once)")
        try:
            if self.num_workers > 0 and len(files) > 64:
                with ProcessPoolExecutor(self.num_workers) as pool:
                    for i, array in enumerate(pool.map(_decode, jobs, chunksize=64)):
                        out[i] = array
            else:
                for i, job in enumerate(jobs):
                    out[i] = _decode(job)
            out.flush()
            del out
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def prepare_data(self) -> None:
        if self.source == "folder":
            from lit_gans.datasets import prepare

            prepare(self.root, self.dataset, self.download)
            files = self._files()
            path = self.cache_path(files)
            if not path.exists():
                self._build_cache(files, path)
        elif self.source == "mnist":
            self._mnist().prepare_data()

    # ------------------------------------------------------------------ digits / MNIST
    def _mnist(self):  # noqa: ANN202
        from datamodules.digits import MNISTDataModule

        return MNISTDataModule(root=self.root or "data", download=self.download)

    def _to_uint8(self, x: Tensor, pad: int = 0) -> np.ndarray:
        """[N, 1, h, w] floats in [0, 1] -> uint8 [N, C, R, R] (zero padding, then bilinear resize if needed)."""
        if pad:
            x = F.pad(x, (pad, pad, pad, pad))
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        x = (x.clamp(0, 1) * 255.0).round().to(torch.uint8)
        if self.channels == 3:
            x = x.expand(-1, 3, -1, -1)
        return x.contiguous().numpy()

    def setup(self, stage: str) -> None:
        if self.train_set is not None:
            return
        if self.source == "folder":
            files = self._files()
            path = self.cache_path(files)
            if not path.exists():  # prepare_data not run (e.g. setup called by hand): build it here
                self._build_cache(files, path)
            self.train_set = UInt8Images(path)
            n = len(self.train_set)
            subset = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed))[: min(self.val_images, n)]
            self.val_set = UInt8Images(path, indices=subset.sort().values.numpy())
        else:
            if self.source == "digits":
                from datamodules.digits import DigitsDataModule

                xtr, _, xva, _ = DigitsDataModule(seed=self.seed).load()
                pad = 0
            else:
                xtr, _, xva, _ = self._mnist().load()
                pad = 2  # official create_mnist: 28x28 padded to 32x32 with zeros
            self.train_set, self.val_set = UInt8Images(self._to_uint8(xtr, pad)), UInt8Images(self._to_uint8(xva, pad))

    # ------------------------------------------------------------------ loaders
    def follow_schedule(self, batch_size_at: Callable[[int], int], images_seen: Callable[[], int],
                        progress: Callable[[], tuple[int, float]]) -> None:
        """The training schedule these batches follow, given by the model (``ProGAN.setup``): the batch size at
        a number of images seen, the images seen so far, and the (stage, fade-in alpha) to blend the reals with."""
        self._schedule = (batch_size_at, images_seen, progress)

    def _followed(self) -> tuple[Callable[[int], int], Callable[[], int], Callable[[], tuple[int, float]]]:
        if self._schedule is None:
            raise TypeError(
                "ProGANDataModule follows the model's schedule: use it with lit_gans.models.progan.ProGAN "
                "(its setup gives the schedule: follow_schedule)"
            )
        return self._schedule

    def train_dataloader(self) -> DataLoader:
        batch_size_at, images_seen, _ = self._followed()
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        sampler = ProgressiveBatchSampler(
            SequentialSampler(self.train_set), len(self.train_set), batch_size_at, images_seen,
            seed=self.seed, epoch_images=self.epoch_images, rank=rank, world_size=world,
        )
        # own generator: a DataLoader iterator draws its workers' base seed from it, not from the global RNG
        # (a resume creates one iterator more than an uninterrupted run; the global stream must not see it)
        return DataLoader(
            self.train_set, batch_sampler=sampler, num_workers=self.num_workers, persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(
            self.val_set, batch_size=self.val_batch_size, shuffle=False, num_workers=self.num_workers,
            generator=torch.Generator().manual_seed(self.seed), sampler=eval_sampler(self, self.val_set),
        )

    def test_dataloader(self) -> DataLoader:
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        samples = DataLoader(SampleIndices(self.predict_samples), batch_size=self.predict_batch_size)
        if self.predict_interpolation is None:
            return samples
        grid_set = [{"interpolation": torch.tensor(self.predict_interpolation)}]
        world = int(getattr(self.trainer, "world_size", 1) or 1)
        sampler = FirstRankOnlySampler(grid_set, world, self.trainer.global_rank) if world > 1 else None
        return [samples, DataLoader(grid_set, batch_size=1, sampler=sampler)]

    # ------------------------------------------------------------------ on the device
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if not (isinstance(batch, dict) and "image" in batch):
            return batch
        x = batch["image"].float() / 127.5 - 1.0  # official adjust_dynamic_range([0, 255] -> [-1, 1])
        if self.trainer is not None and self.trainer.training:
            if self.mirror_augment:
                if self._flip is None:
                    from kornia.augmentation import RandomHorizontalFlip

                    self._flip = RandomHorizontalFlip(p=0.5)  # official mirror_augment: per image, p = 0.5
                x = self._flip(x)
            stage, alpha = self._followed()[2]()
            x = fade_reals(x, 4 * 2**stage, alpha)
        batch["image"] = x
        return batch


class FirstRankOnlySampler(DistributedSampler):
    """Every item on global rank 0 and none on the others: for a ``predict`` output that must be written once
    (the interpolation grid, one item). Lightning keeps a ``DistributedSampler`` that a loader already has; its
    own predict sampler (``UnrepeatedDistributedSampler``) requires at least one item per rank and would stop
    a 2-process ``predict`` on the one-item grid."""

    def __init__(self, dataset: Any, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.total_size = len(dataset)
        self.num_samples = self.total_size if rank == 0 else 0

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.num_samples))

    def __len__(self) -> int:
        return self.num_samples


def fade_reals(x: Tensor, resolution: int, alpha: float) -> Tensor:
    """Box-downsample ``x`` to ``resolution`` and, while fading in (``alpha < 1``), blend it with its 2x
    coarser version upscaled back: ``lerp(upscale(avgpool2(x)), x, alpha)`` (official ``process_reals``)."""
    if x.shape[-1] % resolution or x.shape[-1] < resolution:
        raise ValueError(f"cannot bring {x.shape[-1]} px images to {resolution} px by box downsampling")
    factor = x.shape[-1] // resolution
    if factor > 1:
        x = F.avg_pool2d(x, factor)
    if alpha < 1.0 and resolution > 4:
        coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        x = torch.lerp(coarse, x, alpha)
    return x


__all__ = ["FirstRankOnlySampler", "ProGANDataModule", "ProgressiveBatchSampler", "UInt8Images", "fade_reals"]

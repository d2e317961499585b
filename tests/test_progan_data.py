"""ProGAN data: the fade of the real images, the schedule-driven batch sampler (ranks, replay), the folder
cache (decoded once; clear errors) and the embedded digits."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DistributedSampler, SequentialSampler

from datamodules.images import DataError
from datamodules.progan import ProGANDataModule, ProgressiveBatchSampler, UInt8Images, fade_reals


def test_fade_reals_values():
    x = torch.arange(64, dtype=torch.float32).reshape(1, 1, 8, 8)
    pooled = F.avg_pool2d(x, 2)
    assert torch.equal(fade_reals(x, 8, 1.0), x)  # stable: the images as they are
    assert torch.equal(fade_reals(x, 4, 1.0), pooled)  # lower stage: box filter (official levels of detail)
    coarse = pooled.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.equal(fade_reals(x, 8, 0.0), coarse)  # alpha 0: exactly the previous level, upscaled
    # alpha 0.25 at pixel (0, 0): 0.75 * mean(0, 1, 8, 9) + 0.25 * 0 = 3.375
    assert fade_reals(x, 8, 0.25)[0, 0, 0, 0].item() == pytest.approx(3.375)
    assert torch.equal(fade_reals(torch.ones(1, 1, 4, 4), 4, 0.0), torch.ones(1, 1, 4, 4))  # nothing to fade at 4x4
    with pytest.raises(ValueError, match="box downsampling"):
        fade_reals(x, 16, 1.0)


def _sampler(bs_at, world=1, rank=0, start=0, n=10, epoch=None):  # noqa: ANN001, ANN202
    pos = {"p": start}
    s = ProgressiveBatchSampler(SequentialSampler(range(n)), n, bs_at, lambda: pos["p"], seed=3, epoch_images=epoch, rank=rank, world_size=world)
    return s, pos


def test_batch_sampler_stream_ranks_and_replay():
    bs_at = lambda nimg: 4 if nimg < 12 else 2  # noqa: E731
    single, _ = _sampler(lambda nimg: 2 * bs_at(nimg), epoch=40)
    r0, _ = _sampler(bs_at, world=2, rank=0, epoch=40)
    r1, _ = _sampler(bs_at, world=2, rank=1, epoch=40)
    b_single, b0, b1 = list(single), list(r0), list(r1)
    # batches of 4 per rank up to 12 images, then of 2: positions 0, 8, 16, 20, ... (global = 2 ranks)
    assert [len(b) for b in b0] == [4, 4] + [2] * 6 and len(r0) == len(b0)
    assert all(a + b == s for a, b, s in zip(b0, b1, b_single))  # the two ranks split the global batch
    stream = [i for b in b_single for i in b]
    for k in range(4):  # every pass over the data is a permutation, each seeded by its pass number
        assert sorted(stream[10 * k : 10 * k + 10]) == list(range(10))
    assert stream[:10] != stream[10:20]
    # replay: started at a position (a resume), the sampler yields the tail of the uninterrupted stream
    late, _ = _sampler(lambda nimg: 2 * bs_at(nimg), start=16, epoch=8)
    assert [i for b in late for i in b] == stream[16:24]
    # the start is read when an epoch starts (the model's images_seen)
    s, pos = _sampler(lambda nimg: 5, epoch=10)
    pos["p"] = 20
    assert next(iter(s)) == stream_of(s, 20, 5)


def stream_of(s, start, b):  # noqa: ANN001, ANN201
    return [s._index(q) for q in range(start, start + b)]


def test_batch_sampler_reads_rank_from_injected_distributed_sampler():
    ds = list(range(10))
    s = ProgressiveBatchSampler(DistributedSampler(ds, num_replicas=2, rank=1, shuffle=False), 10, lambda n: 3, lambda: 0)
    assert (s.rank, s.world_size) == (1, 2)
    assert next(iter(s)) == stream_of(s, 3, 3)


def _folder(tmp_path, sizes):  # noqa: ANN001, ANN202
    root = tmp_path / "imgs"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h, mode) in enumerate(sizes):
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(root / f"{i:02d}.png")
    return root


def test_folder_decoded_once_with_crop(tmp_path):
    root = _folder(tmp_path, [(40, 30, "RGB"), (16, 16, "L"), (33, 64, "RGB")])
    dm = ProGANDataModule(root=str(root), resolution=16, channels=3, cache_dir=str(tmp_path / "cache"), num_workers=0, val_images=2)
    dm.prepare_data()
    path = dm.cache_path()
    assert path.exists() and dm.metric_reference == "train"
    mtime = path.stat().st_mtime_ns
    dm.setup("fit")
    assert len(dm.train_set) == 3 and len(dm.val_set) == 2
    item = dm.train_set[1]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 16, 16)
    src = np.array(Image.open(root / "01.png"))  # 16x16 grey: replicated, no resize
    assert torch.equal(item["image"][0], torch.from_numpy(src)) and torch.equal(item["image"][2], torch.from_numpy(src))
    ProGANDataModule(root=str(root), resolution=16, cache_dir=str(tmp_path / "cache"), num_workers=0).prepare_data()
    assert path.stat().st_mtime_ns == mtime  # decoded once
    # a fixed crop box (CelebA's official one, scaled down): cut first, then resized
    cropped = ProGANDataModule(root=str(root), resolution=8, crop=[0, 0, 16, 16], cache_dir=str(tmp_path / "cache"), num_workers=0)
    cropped.setup("fit")
    assert cropped.train_set[0]["image"].shape == (3, 8, 8) and cropped.cache_path() != path
    # workers reopen the memory map instead of pickling the array
    import pickle

    clone = pickle.loads(pickle.dumps(dm.train_set))
    assert clone._array is None and torch.equal(clone[2]["image"], dm.train_set[2]["image"])


def test_folder_errors_are_clear(tmp_path):
    root = _folder(tmp_path, [(40, 40, "RGB"), (20, 12, "RGB")])
    with pytest.raises(DataError, match=r"01.png is 20x12, smaller than the target resolution 16"):
        ProGANDataModule(root=str(root), resolution=16, cache_dir=str(tmp_path / "c"), num_workers=0).prepare_data()
    with pytest.raises(DataError, match="crop box"):
        ProGANDataModule(root=str(root), resolution=4, crop=[30, 0, 16, 16], cache_dir=str(tmp_path / "c"), num_workers=0).prepare_data()
    with pytest.raises(ValueError, match="not a power of two"):
        ProGANDataModule(root=str(root), resolution=48)
    with pytest.raises(ValueError, match="needs --data.init_args.root"):
        ProGANDataModule(source="folder")
    with pytest.raises(DataError, match="does not exist"):
        ProGANDataModule(root=str(tmp_path / "missing"), resolution=16).prepare_data()


def test_digits_and_mnist_padding():
    dm = ProGANDataModule(source="digits", resolution=32, channels=1)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), dm.metric_reference) == (1438, 359, "val")  # the datamodules.digits split
    assert dm.train_set[0]["image"].shape == (1, 32, 32)
    x = torch.ones(2, 1, 28, 28)
    padded = ProGANDataModule(source="mnist", resolution=32, channels=3)._to_uint8(x, pad=2)
    assert padded.shape == (2, 3, 32, 32) and padded[:, :, 2:30, 2:30].min() == 255 and padded[:, :, :2].max() == 0
    with pytest.raises(TypeError, match="ProGAN"):
        UInt8Images(np.zeros((2, 1, 4, 4), np.uint8)) and dm.train_dataloader()

"""Unpaired and low-light datamodules: layout errors at setup, mode conversions, device-side crops/flips,
the EnlightenGAN darkening, and the embedded data set."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.images import DataError
from datamodules.lowlight import DARKEN_GAIN, LowLightDataModule, darken, embedded_lowlight_root
from datamodules.unpaired import UnpairedDataModule, pad_collate
from lit_gans.utils.patches import crop_at, cut_patches, random_crop, shared_patch_offsets


def write(path, size=(40, 30), mode="RGB", value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    w, h = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(1, 255, (h, w, channels), dtype=np.uint8) if value is None else np.full((h, w, channels), value, np.uint8)
    Image.fromarray(arr[..., 0] if channels == 1 else arr, mode).save(path)
    return path


def make_root(tmp_path, n_a=3, n_b=2, size=(40, 30)):
    for i in range(n_a):
        write(tmp_path / "trainA" / f"a{i}.png", size)
    for i in range(n_b):
        write(tmp_path / "trainB" / f"b{i}.png", size)
    return tmp_path


def attach(dm, training=True):
    dm.trainer = SimpleNamespace(training=training, predicting=False, lightning_module=None)
    return dm


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist.*trainA"):
        UnpairedDataModule(root=str(tmp_path / "nowhere"), num_workers=0).setup("fit")
    make_root(tmp_path)
    (tmp_path / "trainB" / "b0.png").unlink()
    (tmp_path / "trainB" / "b1.png").unlink()
    with pytest.raises(DataError, match=r"trainB.*has no images"):
        UnpairedDataModule(root=str(tmp_path), num_workers=0).setup("fit")


def test_gray_and_rgba_are_converted(tmp_path):
    make_root(tmp_path)
    write(tmp_path / "trainA" / "gray.png", mode="L")
    write(tmp_path / "trainB" / "alpha.png", mode="RGBA")
    dm = UnpairedDataModule(root=str(tmp_path), preprocess="resize_and_crop", load_size=36, crop_size=32, num_workers=0, pairing="serial")
    dm.setup("fit")
    items = [dm.train_set[i] for i in range(len(dm.train_set))]
    assert all(it["A"].shape == (3, 36, 36) and it["B"].shape == (3, 36, 36) for it in items)
    gray = next(it["A"] for it in items if it["A_name"] == "gray")
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])  # replicated to RGB


def test_too_small_for_the_crop(tmp_path):
    make_root(tmp_path, size=(40, 40))
    write(tmp_path / "trainA" / "tiny.png", size=(20, 50))
    dm = UnpairedDataModule(root=str(tmp_path), preprocess="crop", crop_size=32, num_workers=0)
    with pytest.raises(DataError, match=r"tiny\.png is 20x50, smaller than the crop_size 32"):
        dm.setup("fit")
    dm = UnpairedDataModule(root=str(tmp_path), preprocess="crop", crop_size=32, num_workers=0, upscale_small=True, pairing="serial")
    dm.setup("fit")
    sizes = [dm.train_set[i]["A"].shape[1:] for i in range(4)]
    assert all(min(s) >= 32 for s in sizes)


def test_load_size_smaller_than_crop_is_refused():
    with pytest.raises(ValueError, match="load_size"):
        UnpairedDataModule(load_size=200, crop_size=256)


def test_pairing(tmp_path):
    make_root(tmp_path, n_a=4, n_b=2)
    dm = UnpairedDataModule(root=str(tmp_path), num_workers=0, pairing="serial", load_size=32, crop_size=32)
    dm.setup("fit")
    assert len(dm.train_set) == 4
    assert [dm.train_set[i]["B_name"] for i in range(4)] == ["b0", "b1", "b0", "b1"]
    dm = UnpairedDataModule(root=str(tmp_path), num_workers=0, pairing="random", load_size=32, crop_size=32, epoch_repeats=3)
    dm.setup("fit")
    assert len(dm.train_set) == 12
    assert {dm.train_set[i]["B_name"] for i in range(40)} == {"b0", "b1"}


def test_device_crops_stay_inside_each_padded_image():
    items = [
        {"A": torch.full((3, 40, 50), 200, dtype=torch.uint8), "A_name": "x"},
        {"A": torch.full((3, 64, 36), 100, dtype=torch.uint8), "A_name": "y"},
    ]
    batch = pad_collate(items)
    assert batch["A"].shape == (2, 3, 64, 50) and batch["A_hw"].tolist() == [[40, 50], [64, 36]]
    for _ in range(50):
        crops = random_crop(batch["A"], 32, batch["A_hw"])
        assert crops.shape == (2, 3, 32, 32)
        assert (crops[0] == 200).all() and (crops[1] == 100).all()  # never the zero padding


def test_crop_at_equals_kornia_and_slicing():
    from kornia.geometry.transform import crop_by_indices

    x = torch.arange(2 * 3 * 10 * 12, dtype=torch.float32).view(2, 3, 10, 12)
    top, left, s = torch.tensor([1, 4]), torch.tensor([2, 7]), 5
    ours = crop_at(x, top, left, s)
    for b in range(2):
        assert torch.equal(ours[b], x[b, :, top[b] : top[b] + s, left[b] : left[b] + s])
    boxes = torch.stack([torch.stack([left, top], -1), torch.stack([left + s - 1, top], -1),
                         torch.stack([left + s - 1, top + s - 1], -1), torch.stack([left, top + s - 1], -1)], 1).float()
    assert torch.equal(ours, crop_by_indices(x, boxes, size=(s, s)))


def test_shared_patches_cut_identically_by_position():
    fake = torch.randn(2, 3, 40, 48, requires_grad=True)
    real = fake.detach() * 3 + 1  # same layout, other values
    tops, lefts = shared_patch_offsets(40, 48, 8, 6, fake.device)
    assert tops.device == fake.device and (tops >= 0).all() and (tops <= 40 - 8 - 1).all() and (lefts <= 48 - 8 - 1).all()
    pf, pr = cut_patches([fake, real], tops, lefts, 8)
    assert pf.shape == pr.shape == (12, 3, 8, 8)
    torch.testing.assert_close(pr, pf.detach() * 3 + 1)  # same positions in both tensors
    i, b = 4, 1  # patch 4 of image 1 sits at row i * B + b
    assert torch.equal(pf[i * 2 + b].detach(), fake[b, :, tops[i] : tops[i] + 8, lefts[i] : lefts[i] + 8].detach())
    pf.sum().backward()
    assert fake.grad.sum() == pytest.approx(6 * 2 * 3 * 64)  # gradients flow back through the crops
    with pytest.raises(ValueError, match="larger than the image"):
        shared_patch_offsets(16, 48, 32, 1)


def test_training_transform_is_on_device_and_in_range(tmp_path):
    make_root(tmp_path, size=(60, 50))
    dm = attach(UnpairedDataModule(root=str(tmp_path), preprocess="crop", crop_size=32, num_workers=0, vflip=True))
    dm.setup("fit")
    batch = pad_collate([dm.train_set[i] for i in range(2)])
    out = dm.on_after_batch_transfer(batch, 0)
    assert out["A"].shape == (2, 3, 32, 32) and out["A"].dtype == torch.float32
    assert out["A"].min() >= -1 and out["A"].max() <= 1
    attach(dm, training=False)
    batch = pad_collate([dm.train_set[i] for i in range(2)])
    val = dm.on_after_batch_transfer(batch, 0)
    assert val["A"].shape == (2, 3, 50, 60)  # evaluation: no crop


def test_lowlight_random_darkening(tmp_path):
    make_root(tmp_path, n_a=2, n_b=2, size=(40, 40))
    dm = attach(LowLightDataModule(root=str(tmp_path), crop_size=32, batch_size=2, num_workers=0, hflip=False, vflip=False))
    dm.setup("fit")
    ratios = []
    for _ in range(40):
        batch = dm.on_after_batch_transfer(pad_collate([dm.train_set[i] for i in range(2)]), 0)
        a01, in01 = (batch["A"] + 1) / 2, (batch["A_input"] + 1) / 2
        ratios += (in01.flatten(1).sum(1) / a01.flatten(1).sum(1)).tolist()
    ratios = np.array(ratios)
    untouched = np.isclose(ratios, 1.0)
    assert 0.25 < untouched.mean() < 0.75  # p = 1/2
    assert ((ratios[~untouched] >= 0.25 - 1e-5) & (ratios[~untouched] <= 0.5 + 1e-5)).all()  # 1/t, t in [2, 4]


def test_paired_validation_set_and_errors(tmp_path):
    make_root(tmp_path)
    for name in ("p0", "p1"):
        write(tmp_path / "lol" / "low" / f"{name}.png", (48, 32))
        write(tmp_path / "lol" / "high" / f"{name}.png", (48, 32))
    dm = LowLightDataModule(root=str(tmp_path), paired_root=str(tmp_path / "lol"), crop_size=16, num_workers=0)
    dm.setup("validate")
    item = dm.val_set[0]
    assert item["A"].shape == item["target"].shape == (3, 32, 48)
    write(tmp_path / "lol" / "high" / "extra.png", (48, 32))
    with pytest.raises(DataError, match="unmatched files"):
        LowLightDataModule(root=str(tmp_path), paired_root=str(tmp_path / "lol"), num_workers=0).setup("validate")


def test_embedded_lowlight_layout(tmp_path):
    root = embedded_lowlight_root(tmp_path)
    names_a = sorted(p.name for p in (root / "trainA").glob("*.png"))
    assert names_a == sorted(p.name for p in (root / "trainB").glob("*.png")) and len(names_a) == 7
    assert "hubble_deep_field.png" not in names_a
    assert sorted(p.name for p in (root / "low").glob("*.png")) == ["coffee.png", "flower.png"]
    high = np.asarray(Image.open(root / "high" / "coffee.png"))
    low = np.asarray(Image.open(root / "low" / "coffee.png"))
    np.testing.assert_array_equal(low, darken(high))  # the documented recipe, exactly
    assert low.mean() < 0.4 * high.mean()
    assert darken(np.array([[[255, 128, 0]]], np.uint8)).tolist() == [[[round(255 * DARKEN_GAIN), 32, 0]]]
    # the darkened and normal training sets are different halves: never the same pixels
    a = np.asarray(Image.open(root / "trainA" / "astronaut.png")).astype(float)
    b = np.asarray(Image.open(root / "trainB" / "astronaut.png")).astype(float)
    assert a.shape == b.shape == (512, 256, 3) and not np.array_equal(darken(b.astype(np.uint8)), a)

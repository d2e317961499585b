"""InpaintingDataModule: device-side crops/masks/fill, deterministic validation, clear errors on bad masks."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.images import DataError
from datamodules.inpainting import IMAGENET_MEAN, InpaintingDataModule


def write_images(folder: Path, sizes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, (w, h) in enumerate(sizes):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def write_mask(path: Path, w: int, h: int, box=(2, 2, 6, 6), mode: str = "L", value: int = 255) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.zeros((h, w), np.uint8)
    x0, y0, x1, y1 = box
    array[y0:y1, x0:x1] = value
    image = Image.fromarray(array)
    (image.convert(mode) if mode != "L" else image).save(path)
    return path


def stage(dm: InpaintingDataModule, training: bool = False, predicting: bool = False) -> None:
    dm.trainer = SimpleNamespace(training=training, predicting=predicting)


def first_batch(dm, loader):
    return next(iter(loader))


@pytest.mark.parametrize("mask", ["center", "random_block", "random_region"])
def test_train_batch_on_device(tmp_path, mask):
    write_images(tmp_path / "train", [(40, 30), (50, 36)])
    dm = InpaintingDataModule(root=str(tmp_path / "train"), image_size=16, load_size=24, mask=mask, overlap=1, batch_size=4, num_workers=0, samples_per_epoch=8)
    dm.setup("fit")
    raw = first_batch(dm, dm.train_dataloader())
    assert raw["image"].dtype == torch.uint8 and raw["image"].shape == (4, 3, 24, 24)  # workers only decode + resize
    assert dm.val_dataloader() == []  # a user root and no val_root: no validation
    stage(dm, training=True)
    batch = dm.on_after_batch_transfer(raw, 0)
    image, m, masked = batch["image"], batch["mask"], batch["masked"]
    assert image.shape == (4, 3, 16, 16) and m.shape == (4, 1, 16, 16)
    assert -1 <= image.min() and image.max() <= 1
    known = ~m.bool().expand_as(image)
    assert torch.equal(masked[known], image[known])
    fill = torch.tensor(IMAGENET_MEAN) * 2 - 1  # train.lua: 2*117/255-1, ...
    hole = masked.permute(1, 0, 2, 3)[:, m[:, 0].bool()]
    torch.testing.assert_close(hole, fill[:, None].expand_as(hole))
    if mask == "center":
        assert m[0, 0, 5:11, 5:11].min() == 1 and m.sum().item() == 4 * 36


def test_embedded_validation_is_deterministic():
    dm = InpaintingDataModule(image_size=32, load_size=48, mask="random_region", batch_size=8, num_workers=0, val_crops=2)
    dm.setup("validate")
    assert len(dm.val_set) == 4  # 2 held-out photos x 2 crops
    stage(dm)
    a = dm.on_after_batch_transfer(first_batch(dm, dm.val_dataloader()), 0)
    b = dm.on_after_batch_transfer(first_batch(dm, dm.val_dataloader()), 0)
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    cover = a["mask"].mean(dim=(1, 2, 3))
    assert torch.all(cover > 0.2) and torch.all(cover < 0.3)


def test_mask_pool_for_training(tmp_path):
    write_images(tmp_path / "train", [(32, 32)])
    write_mask(tmp_path / "masks" / "a.png", 20, 20, (0, 0, 10, 20))  # any size: resized (nearest)
    dm = InpaintingDataModule(root=str(tmp_path / "train"), image_size=16, load_size=16, mask="files", train_mask_root=str(tmp_path / "masks"), batch_size=2, num_workers=0, samples_per_epoch=2)
    dm.setup("fit")
    stage(dm, training=True)
    batch = dm.on_after_batch_transfer(first_batch(dm, dm.train_dataloader()), 0)
    assert batch["mask"].shape == (2, 1, 16, 16) and batch["mask"].mean().item() == pytest.approx(0.5)


def test_predict_batch_keeps_full_size(tmp_path):
    write_images(tmp_path / "in", [(40, 24)])
    write_mask(tmp_path / "masks" / "img0.png", 40, 24, (4, 4, 20, 12))
    dm = InpaintingDataModule(image_size=16, load_size=16, overlap=1, predict_root=str(tmp_path / "in"), predict_mask_root=str(tmp_path / "masks"), num_workers=0)
    dm.setup("predict")
    stage(dm, predicting=True)
    batch = dm.on_after_batch_transfer(first_batch(dm, dm.predict_dataloader()), 0)
    assert batch["full_image"].shape == (1, 3, 24, 40) and batch["full_mask"].shape == (1, 1, 24, 40)
    assert batch["full_mask"].sum().item() == 16 * 8
    assert batch["image"].shape == (1, 3, 16, 16) and batch["mask"].shape == (1, 1, 16, 16)
    assert batch["name"] == ["img0"]


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda d: write_mask(d / "img0.png", 20, 10), "is 20x10 but its image"),
        (lambda d: write_mask(d / "img0.png", 32, 16, mode="RGB"), "has mode RGB"),
        (lambda d: write_mask(d / "other.png", 32, 16), "no mask for"),
        (lambda d: write_mask(d / "img0.png", 32, 16, value=0), "has no hole"),
        (lambda d: write_mask(d / "img0.png", 32, 16, box=(0, 0, 32, 16)), "all hole"),
    ],
    ids=["size", "channels", "missing", "all-zero", "all-one"],
)
def test_bad_masks_raise_at_setup_naming_the_file(tmp_path, make, match):
    write_images(tmp_path / "in", [(32, 16)])
    bad = make(tmp_path / "masks")
    dm = InpaintingDataModule(image_size=16, load_size=16, overlap=1, predict_root=str(tmp_path / "in"), predict_mask_root=str(tmp_path / "masks"), num_workers=0)
    with pytest.raises(DataError, match=match) as err:
        dm.setup("predict")
    assert str(bad if match != "no mask for" else tmp_path / "in" / "img0.png") in str(err.value)


def test_bad_options():
    with pytest.raises(ValueError, match="overlap=4: overlap 4 leaves no hole"):
        InpaintingDataModule(image_size=16, load_size=16)
    with pytest.raises(ValueError, match="load_size"):
        InpaintingDataModule(image_size=128, load_size=100)
    with pytest.raises(ValueError, match="train_mask_root"):
        InpaintingDataModule(mask="files")
    with pytest.raises(DataError, match="does not exist"):
        InpaintingDataModule(root="/nonexistent/folder").setup("fit")

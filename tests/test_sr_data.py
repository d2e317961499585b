"""SR datamodule: crops and degradation give LR of exactly HR / scale, aligned; layouts; bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.images import DataError
from datamodules.super_resolution import SuperResolutionDataModule, crop_batch, degrade, dihedral, find_test_layout
from lit_gans.metrics.sr import imresize_bicubic, quantize_8bit


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def _photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random colour image (so bicubic is meaningful), uint8 [h, w, 3]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, max(2, h // 8), max(2, w // 8), generator=g)
    big = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return (big[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _lr_of(hr: np.ndarray, scale: int) -> np.ndarray:
    t = torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255
    lr = quantize_8bit(imresize_bicubic(t, 1 / scale))
    return (lr[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _dm(**kwargs) -> SuperResolutionDataModule:  # noqa: ANN003
    kwargs.setdefault("num_workers", 0)
    return SuperResolutionDataModule(**kwargs)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_hr_only_crop_and_degradation_give_lr_of_exactly_hr_over_scale(tmp_path, scale):
    for i, (h, w) in enumerate([(100, 130), (90, 120)]):
        _save(tmp_path / "hr" / f"{i}.png", _photo(h, w, i))
    crop = 12 * scale
    dm = _dm(root=str(tmp_path / "hr"), scale=scale, hr_crop=crop, batch_size=2)
    dm.setup("fit")
    assert dm.window_size % scale == 0 and crop <= dm.window_size <= 2 * crop
    batch = dm.augment(next(iter(dm.train_dataloader())))
    lr, hr = batch["lr"], batch["hr"]
    assert hr.shape == (2, 3, crop, crop) and lr.shape == (2, 3, crop // scale, crop // scale)
    # LR is the (8-bit) MATLAB-bicubic image of the HR crop: equal away from the crop borders, where the
    # window-level degradation saw real neighbours instead of the crop's mirrored ones.
    again = degrade(hr, scale)
    inner = slice(2, -2)
    assert (lr[..., inner, inner] - again[..., inner, inner]).abs().max().item() <= 1.5 / 255


def test_paired_folders_are_aligned_and_transformed_together(tmp_path):
    scale = 4
    for i in range(3):
        hr = _photo(96, 128, i)
        _save(tmp_path / "HR" / f"{i:04d}.png", hr)
        _save(tmp_path / "LR" / f"{i:04d}x4.png", _lr_of(hr, scale))  # DIV2K naming
    dm = _dm(root=str(tmp_path / "HR"), lr_root=str(tmp_path / "LR"), scale=scale, hr_crop=48, batch_size=3)
    dm.setup("fit")
    torch.manual_seed(3)
    batch = dm.augment(next(iter(dm.train_dataloader())))
    assert batch["lr"].shape == (3, 3, 12, 12) and batch["hr"].shape == (3, 3, 48, 48)
    again = degrade(batch["hr"], scale)
    assert (batch["lr"][..., 2:-2, 2:-2] - again[..., 2:-2, 2:-2]).abs().max().item() <= 1.5 / 255


def test_crop_batch_and_dihedral_are_exact():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    out = crop_batch(x, torch.tensor([0, 2]), torch.tensor([1, 3]), 3)
    torch.testing.assert_close(out[0], x[0, :, 0:3, 1:4])
    torch.testing.assert_close(out[1], x[1, :, 2:5, 3:6])
    t, f = torch.tensor([True, False]), torch.tensor([False, False])
    (h,) = dihedral([x], t, f, f)
    torch.testing.assert_close(h[0], x[0].flip(-1))
    torch.testing.assert_close(h[1], x[1])
    (r,) = dihedral([x], f, f, t)
    torch.testing.assert_close(r[0], x[0].transpose(-1, -2))


@pytest.mark.parametrize("layout", ["basicsr", "edsr", "selfexsr"])
def test_test_set_layouts(tmp_path, layout):
    root = tmp_path / "Set5"
    names = ["baby", "bird"]
    for i, name in enumerate(names):
        hr = _photo(64, 80, i)
        lr = _lr_of(hr, 4)
        if layout == "basicsr":
            _save(root / "GTmod12" / f"{name}.png", hr)
            _save(root / "LRbicx4" / f"{name}.png", lr)
        elif layout == "edsr":
            _save(root / "HR" / f"{name}.png", hr)
            _save(root / "LR_bicubic" / "X4" / f"{name}x4.png", lr)
        else:
            _save(root / "image_SRF_4" / f"img_{i:03d}_SRF_4_HR.png", hr)
            _save(root / "image_SRF_4" / f"img_{i:03d}_SRF_4_LR.png", lr)
    hr_files, lr_files = find_test_layout(root, 4)
    assert len(hr_files) == 2 and lr_files is not None and len(lr_files) == 2
    dm = _dm(val_root=str(root), root=str(root), scale=4)
    dm.setup("validate")
    batch = dm.prepare_eval(next(iter(dm.val_dataloader())))
    assert batch["lr"].shape == (1, 3, 16, 20) and batch["hr"].shape == (1, 3, 64, 80)


def test_hr_only_validation_mod_crops_to_the_scale(tmp_path):
    _save(tmp_path / "val" / "a.png", _photo(67, 70))
    dm = _dm(val_root=str(tmp_path / "val"), root=str(tmp_path / "val"), scale=4)
    dm.setup("validate")
    batch = dm.prepare_eval(next(iter(dm.val_dataloader())))
    assert batch["hr"].shape == (1, 3, 64, 68) and batch["lr"].shape == (1, 3, 16, 17)


def test_lr_hr_size_mismatch_names_both_files(tmp_path):
    _save(tmp_path / "HR" / "0001.png", _photo(64, 64))
    _save(tmp_path / "LR" / "0001x4.png", _photo(17, 16))
    dm = _dm(root=str(tmp_path / "HR"), lr_root=str(tmp_path / "LR"), scale=4, hr_crop=32)
    with pytest.raises(DataError, match=r"0001x4.png is 16x17 but its HR image .*0001.png is 64x64.* must be 16x16"):
        dm.setup("fit")


def test_unmatched_pairs_are_listed(tmp_path):
    _save(tmp_path / "HR" / "0001.png", _photo(64, 64))
    _save(tmp_path / "LR" / "0002x4.png", _photo(16, 16))
    dm = _dm(root=str(tmp_path / "HR"), lr_root=str(tmp_path / "LR"), scale=4, hr_crop=32)
    with pytest.raises(DataError, match="unmatched files"):
        dm.setup("fit")


def test_images_smaller_than_the_crop_are_named(tmp_path):
    _save(tmp_path / "hr" / "big.png", _photo(200, 200))
    _save(tmp_path / "hr" / "tiny.png", _photo(100, 120))
    dm = _dm(root=str(tmp_path / "hr"), scale=4, hr_crop=128)
    with pytest.raises(DataError, match=r"tiny.png is smaller than the HR crop 128"):
        dm.setup("fit")


def test_grayscale_and_rgba_files_become_rgb(tmp_path):
    gray = _photo(64, 64)[..., 0]
    rgba = np.concatenate([_photo(64, 64, 1), np.full((64, 64, 1), 128, np.uint8)], -1)
    _save(tmp_path / "hr" / "gray.png", gray, "L")
    _save(tmp_path / "hr" / "rgba.png", rgba, "RGBA")
    dm = _dm(root=str(tmp_path / "hr"), scale=2, hr_crop=32, batch_size=2)
    dm.setup("fit")
    batch = dm.augment(next(iter(dm.train_dataloader())))
    assert batch["hr"].shape == (2, 3, 32, 32)
    # gray replicated to 3 equal channels
    item = dm.train_set.cache.load(tmp_path / "hr" / "gray.png")
    assert torch.equal(item[0], item[1]) and torch.equal(item[1], item[2])


def test_scale_comes_from_the_model_and_must_agree(tmp_path):
    """Without ``scale`` the datamodule waits for the model's (``follow_scale``, called by the SR models' setup,
    which Lightning runs after the datamodule's); a given ``scale`` must agree with it."""
    _save(tmp_path / "hr" / "a.png", _photo(96, 96))
    dm = _dm(root=str(tmp_path / "hr"), hr_crop=48)
    dm.setup("fit")
    assert dm.scale is None and dm.train_set is None  # deferred: no scale yet
    with pytest.raises(ValueError, match="scale is unknown"):
        dm.train_dataloader()
    dm.follow_scale(3)
    assert dm.scale == 3 and dm.train_set.scale == 3
    dm2 = _dm(root=str(tmp_path / "hr"), hr_crop=48, scale=4)
    dm2.setup("fit")
    with pytest.raises(ValueError, match="disagrees with the model's scale 3"):
        dm2.follow_scale(3)


def test_missing_folders_and_stages(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        _dm(root=str(tmp_path / "nope"), scale=4).setup("fit")
    with pytest.raises(ValueError, match="predict_root"):
        _dm(scale=4).setup("predict")

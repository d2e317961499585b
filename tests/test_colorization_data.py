"""Lab normalisation (kornia, fp32) and the colorization datamodule: round trip, skimage agreement, NaN safety,
grayscale/RGBA policy, seeded subset/split, device-side batches, and the full-resolution L at prediction."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from datamodules.images import DataError
from datamodules.lab_colorization import LabColorizationDataModule
from datamodules.paired import collate_images
from lit_gans.models.pix2pix import GeneratorPretraining, Pix2Pix
from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.unet import UnetGenerator
from lit_gans.utils.lab import gray_to_rgb, lab_normalized_to_rgb, rgb_to_lab_normalized


def test_round_trip_and_known_values():
    torch.manual_seed(0)
    rgb = torch.rand(4, 3, 32, 32)
    light, ab = rgb_to_lab_normalized(rgb)
    assert light.shape == (4, 1, 32, 32) and ab.shape == (4, 2, 32, 32)
    assert (lab_normalized_to_rgb(light, ab) - rgb).abs().max() < 1e-4
    white_l, white_ab = rgb_to_lab_normalized(torch.ones(1, 3, 2, 2))
    black_l, black_ab = rgb_to_lab_normalized(torch.zeros(1, 3, 2, 2))
    assert torch.allclose(white_l, torch.ones_like(white_l), atol=1e-5) and white_ab.abs().max() < 1e-4  # L* 100
    assert torch.allclose(black_l, -torch.ones_like(black_l)) and black_ab.abs().max() < 1e-6  # L* 0
    # the sRGB gamut in these units: a in [-86, 98], b in [-108, 94] / 110 (HobbitLong/CMC issue #55)
    assert ab.abs().max() <= 108.0 / 110.0


def test_matches_skimage_normalisation():
    """The tutorial's data: rgb2lab, then L/50 - 1 and ab/110 (skimage on CPU workers there)."""
    from skimage.color import rgb2lab
    from skimage.data import chelsea

    photo = chelsea()[:64, :64]
    lab = rgb2lab(photo).astype("float32")
    ref_l, ref_ab = lab[..., 0] / 50.0 - 1.0, lab[..., 1:] / 110.0
    light, ab = rgb_to_lab_normalized(torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255.0)
    assert np.abs(light[0, 0].numpy() - ref_l).max() < 1e-5
    assert np.abs(ab[0].permute(1, 2, 0).numpy() - ref_ab).max() < 1e-5


def test_fp32_under_autocast_and_no_nan_outside_the_range():
    x = (torch.rand(2, 3, 8, 8) * 2 - 1).requires_grad_(True)  # a [-1, 1] image passed by mistake
    with torch.autocast("cpu", dtype=torch.bfloat16):
        light, ab = rgb_to_lab_normalized(x)
        back = lab_normalized_to_rgb(light, ab * 3, clip=False)
    assert light.dtype == ab.dtype == back.dtype == torch.float32
    (light.sum() + ab.sum()).backward()
    assert torch.isfinite(x.grad).all()
    mid_gray = gray_to_rgb(torch.zeros(1, 1, 2, 2))  # L* = 50 with ab = 0: sRGB 119/255 on every channel
    assert torch.allclose(mid_gray, torch.full_like(mid_gray, 119 / 255), atol=1e-3)


def _folder(tmp_path, n_rgb=6):
    rng = np.random.default_rng(1)
    for i in range(n_rgb):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"rgb{i}.jpg")
    Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(tmp_path / "gray.png")
    Image.fromarray(rng.integers(0, 255, (30, 30, 4), dtype=np.uint8)).save(tmp_path / "rgba.png")
    return tmp_path


def test_grayscale_and_rgba_files_are_handled_and_counted(tmp_path):
    dm = LabColorizationDataModule(str(_folder(tmp_path)), val_fraction=0.25, image_size=32, batch_size=2, num_workers=0)
    dm.setup("fit")
    total = dm.counts["train_files"] + dm.counts["val_files"]
    assert total == 8
    assert dm.counts["train_grayscale"] + dm.counts["val_grayscale"] == 1
    assert dm.counts["train_converted"] + dm.counts["val_converted"] == 1  # the RGBA file
    names = {p.stem for p in dm.train_set.files} | {p.stem for p in dm.val_set.files}
    assert "gray" not in names and "rgba" in names
    for ds in (dm.train_set, dm.val_set):
        for i in range(len(ds)):
            assert ds[i]["image"].shape == (3, 32, 32)  # decoded and resized on the CPU, never a worker crash
    kept = LabColorizationDataModule(str(tmp_path), val_fraction=0.25, skip_grayscale=False, num_workers=0)
    kept.setup("fit")
    assert "gray" in {p.stem for p in kept.train_set.files} | {p.stem for p in kept.val_set.files}


def test_seeded_subset_and_disjoint_split(tmp_path):
    _folder(tmp_path, n_rgb=20)
    lists = []
    for _ in range(2):
        dm = LabColorizationDataModule(str(tmp_path), subset=10, val_fraction=0.2, num_workers=0)
        lists.append(dm._lists())
    (train, val), (train2, val2) = lists
    assert train == train2 and val == val2  # deterministic (seed 123)
    assert len(train) == 8 and len(val) == 2 and not set(train) & set(val)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="has no images"):
        LabColorizationDataModule(str(tmp_path / "empty"), num_workers=0).setup("fit")
    with pytest.raises(DataError, match="does not exist"):
        LabColorizationDataModule(str(tmp_path / "nothing"), num_workers=0).setup("fit")


def test_device_batch_is_normalised_lab(tmp_path):
    dm = LabColorizationDataModule(str(_folder(tmp_path)), image_size=32, batch_size=2, num_workers=0)
    dm.setup("fit")
    batch = collate_images([dm.train_set[i] for i in range(2)])
    light, ab = dm.to_lab(batch["image"], batch, training=True)
    assert light.shape == (2, 1, 32, 32) and ab.shape == (2, 2, 32, 32)
    assert light.min() >= -1.0 and light.max() <= 1.0 and ab.abs().max() < 1.0
    crop_dm = LabColorizationDataModule(str(tmp_path), preprocess="crop", crop_size=64, num_workers=0)
    with pytest.raises(DataError, match=r"rgb0\.jpg is 50x40, smaller than the crop_size .* 64"):
        crop_dm.setup("fit")


class ZeroAB(nn.Module):
    in_channels, out_channels = 1, 2

    def __init__(self) -> None:
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return torch.zeros(x.shape[0], 2, *x.shape[-2:]) + self.p


def test_colorize_keeps_the_full_resolution_lightness():
    model = GeneratorPretraining(ZeroAB(), predict_size=32, metrics=False)
    rgb = torch.rand(1, 3, 45, 70)
    out = model.predict_step({"rgb": rgb, "name": ["photo"]}, 0)
    assert out["images"].shape == (1, 3, 45, 70) and out["names"] == ["photo"]
    l_in, _ = rgb_to_lab_normalized(rgb)
    l_out, ab_out = rgb_to_lab_normalized(out["images"])
    assert (l_in - l_out).abs().max() < 2e-3  # L is the input's own, at full resolution
    assert ab_out.abs().max() < 1e-3  # ab = 0 from the stub generator


def test_lab_model_checks_channels_and_shows_rgb():
    with pytest.raises(ValueError, match="in_channels to 3"):
        Pix2Pix(UnetGenerator(1, 2, 5, 4), PatchDiscriminator(6, 4), color_space="lab")
    model = Pix2Pix(UnetGenerator(1, 2, 5, 4), PatchDiscriminator(3, 4), color_space="lab", inference_mode="eval")
    model.evaluation.samples = {"A": torch.rand(2, 1, 32, 32) * 2 - 1, "B": torch.rand(2, 2, 32, 32) * 0.2}
    grid = model.sample_images()["translation"]
    assert grid.shape[0] == 3 and 0 <= grid.min() and grid.max() <= 1  # input | output | target in RGB

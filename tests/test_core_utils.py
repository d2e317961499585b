"""Shared utilities: tiling, schedules, VGG features, weight loading, image files and the channel policy."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from datamodules.embedded import HELDOUT_PHOTOS, TRAIN_PHOTOS, photos_folder
from datamodules.images import DataError, check_min_size, list_images, load_image, match_by_stem
from lit_gans.networks.vgg import VGGFeatures
from lit_gans.utils.images import check_unit_range, save_png, to_unit_range
from lit_gans.utils.schedulers import LinearDecay
from lit_gans.utils.tiling import tiled_apply
from lit_gans.io.checkpoints import load_weights_into


# ---------------------------------------------------------------- tiling
def test_tiling_equals_untiled_for_a_pointwise_network():
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Tanh(), nn.Conv2d(4, 3, 1))
    x = torch.rand(1, 3, 70, 93)
    torch.testing.assert_close(tiled_apply(net, x, tile=32, overlap=8), net(x), atol=1e-6, rtol=0)


def test_tiling_scale_and_single_tile_exact():
    up = nn.Upsample(scale_factor=4, mode="nearest")
    x = torch.rand(1, 3, 21, 30)
    assert torch.equal(tiled_apply(up, x, tile=64, overlap=8, scale=4), up(x))  # one tile: exactly fn(x)
    torch.testing.assert_close(tiled_apply(up, x, tile=16, overlap=4, scale=4), up(x))


def test_tiling_local_conv_matches_inside_overlap_tolerance():
    torch.manual_seed(0)
    net = nn.Conv2d(3, 3, 3, padding=1)
    x = torch.rand(1, 3, 64, 64)
    ref, out = net(x), tiled_apply(net, x, tile=32, overlap=16)
    assert out.shape == ref.shape
    assert (out - ref).abs().max() < 0.3 and (out - ref).abs().mean() < 5e-3  # seams only, feathered


# ---------------------------------------------------------------- schedules
def test_linear_decay_is_junyanz_formula():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LinearDecay(opt, n_constant=3, n_decay=3)
    lrs = []
    for _ in range(7):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # 1 - max(0, t + 1 - 3) / 4 for t = 0..6
    assert lrs == pytest.approx([1, 1, 1, 0.75, 0.5, 0.25, 0.0])
    state = sched.state_dict()
    assert state["lr_lambdas"][0] == {"n_constant": 3, "n_decay": 3, "start": 1}  # saved in checkpoints


# ---------------------------------------------------------------- VGG
def test_vgg_features_frozen_named_and_not_checkpointed():
    holder = nn.Module()
    holder.vgg = VGGFeatures("vgg19", ["conv5_4", "relu2_2"], weights="random")
    holder.head = nn.Linear(2, 2)
    feats = holder.vgg(torch.rand(2, 3, 64, 64))
    assert feats["conv5_4"].shape == (2, 512, 4, 4) and feats["relu2_2"].shape == (2, 128, 32, 32)
    assert feats["conv5_4"].min() < 0  # before ReLU (ESRGAN)
    assert all(not p.requires_grad for p in holder.vgg.parameters())
    holder.train()
    assert not holder.vgg.training
    assert all(not k.startswith("vgg.") for k in holder.state_dict())
    nn.Module.load_state_dict(holder, holder.state_dict(), strict=True)


def test_vgg_skip_pool_and_caffe_input():
    v = VGGFeatures("vgg16", ["relu5_1"], weights="random", input_norm="caffe_nomean", skip_pools=["pool4"])
    assert "pool4" not in v.layer_names
    assert v(torch.rand(1, 3, 64, 64))["relu5_1"].shape == (1, 512, 8, 8)  # 3 pools only: 64 / 8
    torch.testing.assert_close(v.preprocess(torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)).view(-1), torch.tensor([255.0, 127.5, 0.0]))


def test_vgg_bfloat16_runs_and_matches_float32():
    # dtype="bfloat16" cast the input but not the weights: every forward failed (input/bias dtype mismatch)
    torch.manual_seed(0)
    v32 = VGGFeatures("vgg16", ["relu5_1"], weights="random", input_norm="caffe_nomean", skip_pools=["pool4"])
    v16 = VGGFeatures("vgg16", ["relu5_1"], weights="random", input_norm="caffe_nomean", skip_pools=["pool4"], dtype="bfloat16")
    v16.features.load_state_dict(v32.features.state_dict())  # the same weights, rounded to bfloat16
    assert all(p.dtype == torch.bfloat16 for p in v16.parameters())
    x = torch.rand(1, 3, 32, 32)
    f16, f32 = v16(x)["relu5_1"], v32(x)["relu5_1"]
    assert f16.dtype == torch.float32  # features come back in float32
    assert (f16 - f32).abs().mean() < 0.05 * f32.abs().mean()


def test_vgg_errors():
    with pytest.raises(ValueError, match="unknown VGG layer"):
        VGGFeatures("vgg16", ["conv9_9"], weights="random")
    with pytest.raises(FileNotFoundError, match="not found"):
        VGGFeatures("vgg16", ["relu1_1"], weights="/nonexistent/vgg.pth")


# ---------------------------------------------------------------- weights
def test_load_weights_from_checkpoint_prefix_and_errors(tmp_path):
    net = nn.Linear(3, 2)
    ckpt = {"state_dict": {"generator.weight": torch.ones(2, 3), "generator.bias": torch.zeros(2), "discriminator.x": torch.ones(1)}}
    torch.save(ckpt, tmp_path / "a.ckpt")
    load_weights_into(net, str(tmp_path / "a.ckpt"))
    assert torch.equal(net.weight, torch.ones(2, 3))
    torch.save({"weight": torch.ones(5, 5)}, tmp_path / "bad.pth")
    with pytest.raises(KeyError, match="bad.pth"):
        load_weights_into(net, str(tmp_path / "bad.pth"))
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_weights_into(net, str(tmp_path / "missing.pth"))


def test_load_weights_uses_official_converter(tmp_path):
    class Net(nn.Linear):
        @staticmethod
        def convert_official_state_dict(sd):  # noqa: ANN001, ANN205
            return {k.replace("fc.", ""): v for k, v in sd.items()}

    torch.save({"fc.weight": torch.full((2, 3), 2.0), "fc.bias": torch.ones(2)}, tmp_path / "official.pth")
    net = load_weights_into(Net(3, 2), str(tmp_path / "official.pth"))
    assert torch.equal(net.bias, torch.ones(2))


# ---------------------------------------------------------------- images and folders
def test_png_round_trip_and_range_helpers(tmp_path):
    x = torch.rand(3, 5, 7)
    save_png(x, tmp_path / "a" / "x.png")
    back = torch.from_numpy(np.asarray(Image.open(tmp_path / "a" / "x.png"))).permute(2, 0, 1).float() / 255
    assert (back - x).abs().max() <= 0.5 / 255 + 1e-6
    assert not list((tmp_path / "a").glob(".tmp-*"))  # nothing half-written left behind
    assert to_unit_range(torch.tensor([-1.0, 0.0, 1.0, 3.0])).tolist() == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="to_unit_range"):
        check_unit_range(torch.tensor([-1.0, 1.0]))
    with pytest.raises(TypeError):
        check_unit_range(torch.tensor([0, 1], dtype=torch.uint8))


def test_channel_policy(tmp_path):
    Image.fromarray(np.full((4, 6), 77, np.uint8), "L").save(tmp_path / "gray.png")
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 0  # fully transparent red -> white background
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    gray = load_image(tmp_path / "gray.png")
    assert gray.shape == (3, 4, 6) and (gray == 77).all()
    assert (load_image(tmp_path / "rgba.png") == 255).all()
    assert load_image(tmp_path / "gray.png", channels=1).shape == (1, 4, 6)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.png"):
        load_image(tmp_path / "broken.png")


def test_folder_errors_name_the_option_and_file(tmp_path):
    with pytest.raises(DataError, match="--data.root.*does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        list_images(tmp_path / "empty")
    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    for folder, names in ((a, ["1", "2"]), (b, ["1", "3"])):
        for n in names:
            Image.new("RGB", (8, 8)).save(folder / f"{n}.png")
    with pytest.raises(DataError, match="unmatched.*2.png.*3.png"):
        match_by_stem(list_images(a), list_images(b))
    with pytest.raises(DataError, match="1.png is 8x8, smaller than the crop size 16"):
        check_min_size(list_images(a), 16)


def test_embedded_photos_folder_split_is_disjoint():
    train, held = photos_folder("train"), photos_folder("heldout")  # the shared cache: written once per machine
    assert sorted(p.stem for p in train.glob("*.png")) == sorted(TRAIN_PHOTOS)
    assert sorted(p.stem for p in held.glob("*.png")) == sorted(HELDOUT_PHOTOS)
    assert not set(TRAIN_PHOTOS) & set(HELDOUT_PHOTOS)
    assert photos_folder("train") == train  # written once
    assert not list(Path(train).parent.glob(".train-*"))  # no half-written folder left behind

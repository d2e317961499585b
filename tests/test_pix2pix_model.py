"""Pix2Pix model maths, inference modes, padding, the paired datamodule's jitter and its setup errors."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from datamodules.images import DataError
from datamodules.paired import PairedDataModule, collate_images, shared_random_crop, shared_random_flip
from lit_gans.metrics.paired import PairedImageMetrics
from lit_gans.models.pix2pix import Pix2Pix, generator_mode
from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.unet import UnetGenerator
from lit_gans.utils.padding import apply_padded, pad_to_multiple, reflect_pad_to


class ConstD(nn.Module):
    """A 'discriminator' returning a fixed logit map (hand-computable losses)."""

    in_channels = 6

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return torch.full((x.shape[0], 1, 2, 2), self.value) * self.scale


class Shift(nn.Module):
    in_channels, out_channels = 3, 3

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = nn.Parameter(torch.tensor(shift))

    def forward(self, x):
        return x + self.shift


def test_losses_by_hand():
    model = Pix2Pix(Shift(0.25), ConstD(0.0), init_std=None, metrics=False)
    a = torch.zeros(2, 3, 4, 4)
    batch = {"A": a, "B": a.clone()}
    out = model.generate(batch)
    d_loss, d_logs = model.discriminator_loss(batch, out)
    assert d_loss.item() == pytest.approx(0.5 * 2 * math.log(2), abs=1e-6)  # 0.5 * [BCE(0,1) + BCE(0,0)]
    g_loss, logs = model.generator_loss(batch, out)
    assert logs["g_l1"].item() == pytest.approx(0.25)
    assert g_loss.item() == pytest.approx(math.log(2) + 100 * 0.25, abs=1e-5)  # BCE(0, 1) + lambda * L1
    model2 = Pix2Pix(Shift(0.0), ConstD(3.0), init_std=None, metrics=False)
    d2, _ = model2.discriminator_loss(batch, model2.generate(batch))
    expected = 0.5 * (math.log1p(math.exp(-3.0)) + math.log1p(math.exp(3.0)))
    assert d2.item() == pytest.approx(expected, abs=1e-6)


def test_channel_mismatch_is_refused():
    with pytest.raises(ValueError, match="in_channels to 3"):
        Pix2Pix(UnetGenerator(1, 2, 5, 4), PatchDiscriminator(6, 8))


def test_paper_default_optimizer():
    model = Pix2Pix(UnetGenerator(3, 3, 5, 4), PatchDiscriminator(6, 4), metrics=False)
    opt = model.paper_optimizer_g()(list(model.generator.parameters()))
    assert opt.defaults["lr"] == 2e-4 and opt.defaults["betas"] == (0.5, 0.999)


def test_generator_modes():
    net = UnetGenerator(3, 3, 6, 8)
    net.train()
    for m in net.modules():  # make the running statistics recognisable
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.fill_(0.3)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), generator_mode(net, "paper"):
        y1, y2 = net(x), net(x)
    assert not torch.equal(y1, y2)  # dropout active (the paper's test-time noise)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.all(m.running_mean == 0.3) for m in bns)  # running statistics untouched
    assert all(m.track_running_stats for m in bns) and net.training
    net.train(False)
    with torch.no_grad(), generator_mode(net, "eval"):
        assert torch.equal(net(x), net(x))
    assert not net.training


def test_reflect_padding_and_crop_back():
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).view(2, 3, 5, 7)
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape[-2:] == (8, 8) and size == (5, 7)
    assert torch.equal(padded[..., :5, :7], x)
    assert torch.equal(padded[..., 5, :7], x[..., 3, :])  # reflect: row 5 mirrors row 3
    big = reflect_pad_to(torch.randn(1, 1, 3, 2), 256, 256)  # far more than one reflection
    assert big.shape[-2:] == (256, 256) and torch.isfinite(big).all()
    net = UnetGenerator(3, 3, 5, 4).eval()
    with torch.no_grad():
        y = apply_padded(net, torch.rand(1, 3, 37, 50) * 2 - 1, net.input_multiple)
    assert y.shape == (1, 3, 37, 50)


def test_predict_any_size():
    model = Pix2Pix(UnetGenerator(3, 3, 5, 4), PatchDiscriminator(6, 4), metrics=False)
    out = model.predict_step({"A": torch.rand(1, 3, 45, 61) * 2 - 1, "name": ["x"]}, 0)
    assert out["images"].shape == (1, 3, 45, 61) and out["names"] == ["x"]
    assert 0 <= out["images"].min() and out["images"].max() <= 1


def test_metrics_hand_values_and_dedup():
    m = PairedImageMetrics()
    pred, target = torch.full((2, 3, 16, 16), 0.5), torch.full((2, 3, 16, 16), 0.6)
    m.update(pred, target, torch.tensor([0, 1]), torch.zeros(2, 2, 16, 16), torch.full((2, 2, 16, 16), 0.1))
    m.update(pred[:1] * 0, target[:1], torch.tensor([1]))  # index 1 again (DDP padding): must not count
    out = m.compute()
    assert out["psnr"].item() == pytest.approx(20.0, abs=1e-3)  # MSE 0.01 -> 20 dB
    assert out["ab_l1"].item() == pytest.approx(0.1, abs=1e-6)
    assert 0.9 < out["ssim"].item() <= 1.0


# ----------------------------------------------------------------------------- datamodule
def test_jitter_crops_and_flips_a_and_b_identically():
    torch.manual_seed(3)
    a = torch.rand(6, 3, 40, 50)
    b = 1.0 - a  # any pixelwise relation survives a shared crop/flip
    hw = torch.tensor([[40, 50]] * 3 + [[30, 35]] * 3)
    ca, cb = shared_random_crop([a, b], 24, hw)
    fa, fb = shared_random_flip([ca, cb])
    assert torch.equal(fa + fb, torch.ones_like(fa))
    assert not torch.equal(ca[0], a[0, :, :24, :24]) or not torch.equal(ca[1], a[1, :, :24, :24])  # random positions


def _write_ab(folder, name, w, h, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(arr).save(folder / f"{name}.png")
    return arr


def test_datamodule_jitter_on_the_device_path(tmp_path):
    """resize_and_crop: A and B resized, cropped and flipped with the same parameters."""
    arr = _write_ab(tmp_path / "train", "p0", 64, 24)
    left = arr[:, :32]
    Image.fromarray(np.concatenate([left, 255 - left], axis=1)).save(tmp_path / "train" / "p0.png")
    dm = PairedDataModule(str(tmp_path), load_size=40, crop_size=32, batch_size=2, num_workers=0, epoch_repeats=4)
    dm.setup("fit")
    batch = collate_images([dm.train_set[i] for i in range(4)])
    a, b = dm.geometry([batch["A"], batch["B"]], batch, training=True)
    assert a.shape == (4, 3, 32, 32)
    assert torch.allclose(a + b, torch.ones_like(a), atol=2e-5)  # bicubic resize is linear
    va, vb = dm.geometry([batch["A"], batch["B"]], batch, training=False)
    assert va.shape == (4, 3, 32, 32) and torch.equal(va[0], va[1])  # validation: deterministic resize


def test_layouts_and_direction(tmp_path):
    arr = _write_ab(tmp_path / "aligned" / "train", "x", 16, 8)
    (tmp_path / "folders" / "A").mkdir(parents=True)
    (tmp_path / "folders" / "B").mkdir(parents=True)
    Image.fromarray(arr[:, :8]).save(tmp_path / "folders" / "A" / "x.png")
    Image.fromarray(arr[:, 8:]).save(tmp_path / "folders" / "B" / "x.jpg".replace("jpg", "png"))
    for root in ("aligned", "folders"):
        for direction, (inp, tgt) in (("AtoB", (slice(0, 8), slice(8, 16))), ("BtoA", (slice(8, 16), slice(0, 8)))):
            dm = PairedDataModule(str(tmp_path / root), direction=direction, preprocess="none", num_workers=0)
            dm.setup("fit")
            item = dm.train_set[0]
            assert torch.equal(item["A"], torch.from_numpy(arr[:, inp]).permute(2, 0, 1))
            assert torch.equal(item["B"], torch.from_numpy(arr[:, tgt]).permute(2, 0, 1))


def test_setup_errors_name_the_file(tmp_path):
    _write_ab(tmp_path / "odd" / "train", "bad", 33, 16)
    with pytest.raises(DataError, match=r"bad\.png is 33 px wide.*even"):
        PairedDataModule(str(tmp_path / "odd"), num_workers=0).setup("fit")
    _write_ab(tmp_path / "pairs" / "A", "one", 8, 8)
    _write_ab(tmp_path / "pairs" / "B", "two", 8, 8)
    with pytest.raises(DataError, match="unmatched files"):
        PairedDataModule(str(tmp_path / "pairs"), num_workers=0).setup("fit")
    _write_ab(tmp_path / "small" / "train", "tiny", 40, 20)
    with pytest.raises(DataError, match=r"tiny\.png is 20x20.*smaller than the crop 32"):
        PairedDataModule(str(tmp_path / "small"), preprocess="crop", crop_size=32, num_workers=0).setup("fit")
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="has no images"):
        PairedDataModule(str(tmp_path / "empty"), num_workers=0).setup("fit")
    with pytest.raises(DataError, match="does not exist"):
        PairedDataModule(str(tmp_path / "missing"), num_workers=0).setup("fit")
    with pytest.raises(ValueError, match="load_size"):
        PairedDataModule(str(tmp_path), load_size=128, crop_size=256)


def test_grayscale_and_rgba_pairs_are_converted(tmp_path):
    (tmp_path / "train").mkdir()
    Image.fromarray(np.full((8, 16), 100, np.uint8)).save(tmp_path / "train" / "gray.png")
    Image.fromarray(np.full((8, 16, 4), 200, np.uint8)).save(tmp_path / "train" / "rgba.png")
    dm = PairedDataModule(str(tmp_path), preprocess="none", num_workers=0)
    dm.setup("fit")
    items = [dm.train_set[i] for i in range(2)]
    assert all(it["A"].shape == (3, 8, 8) for it in items)


class ShiftLab(Shift):
    in_channels, out_channels = 1, 2

    def forward(self, x):
        return x.new_zeros(x.shape[0], 2, *x.shape[2:]) + x.mean() + self.shift


@pytest.mark.parametrize("space", ["rgb", "lab"])
def test_discriminator_sees_the_fake_pair_first(space):
    """junyanz ``backward_D`` (and the colorization tutorial's) runs D on the fake pair, then the real one. Both
    passes move D's BatchNorm running statistics (train mode, momentum 0.1), so the order decides them: after
    one D loss they must equal D fed (A, G(A)) then (A, B) by hand, and differ from the real-first order."""
    import copy

    torch.manual_seed(0)
    g = Shift(0.3) if space == "rgb" else ShiftLab(0.3)
    channels = 6 if space == "rgb" else 3
    d = PatchDiscriminator(channels, ndf=4, n_layers=2)
    model = Pix2Pix(g, d, color_space=space, init_std=0.02, metrics=False)
    fresh = copy.deepcopy(model.discriminator)
    a = torch.rand(2, 3 if space == "rgb" else 1, 32, 32) * 2 - 1
    b = torch.rand(2, 3 if space == "rgb" else 2, 32, 32) * 2 - 1
    batch = {"A": a, "B": b}
    out = model.generate(batch)
    model.discriminator_loss(batch, out)

    def stats(net):
        return [(m.running_mean.clone(), m.running_var.clone()) for m in net.modules() if isinstance(m, nn.BatchNorm2d)]

    fake_first, real_first = copy.deepcopy(fresh), copy.deepcopy(fresh)
    with torch.no_grad():
        fake_first(torch.cat([a, out["fake"]], 1))
        fake_first(torch.cat([a, b], 1))
        real_first(torch.cat([a, b], 1))
        real_first(torch.cat([a, out["fake"]], 1))
    got, want, other = stats(model.discriminator), stats(fake_first), stats(real_first)
    assert len(got) == 2  # n_layers=2: two BatchNorm layers (the first conv has none)
    for (gm, gv), (wm, wv), (om, ov) in zip(got, want, other):
        torch.testing.assert_close(gm, wm, rtol=0, atol=1e-7)
        torch.testing.assert_close(gv, wv, rtol=0, atol=1e-7)
        assert max((gm - om).abs().max(), (gv - ov).abs().max()) > 1e-5  # the order shows in the statistics

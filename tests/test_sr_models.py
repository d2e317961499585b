"""SR models: hand-computed losses, tiled prediction, weight loading and network interpolation."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lit_gans.models.super_resolution import (
    ESRGAN,
    SRGAN,
    SRPretrain,
    run_generator,
)
from lit_gans.interpolate import interpolate_weights
from lit_gans.interpolate import main as interpolate_main
from lit_gans.io.checkpoints import generator_state_dict
from lit_gans.networks.rrdb import RRDBNet
from lit_gans.networks.srresnet import SRResNet


class MeanD(nn.Module):
    """A stub discriminator: logit = w * mean(image) + b (its values are easy to compute by hand)."""

    def __init__(self, input_size: int = 32) -> None:
        super().__init__()
        self.input_size = input_size
        self.w, self.b = nn.Parameter(torch.tensor(3.0)), nn.Parameter(torch.tensor(-1.0))

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.w * x.mean((1, 2, 3))[:, None] + self.b


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def _batch(scale: int = 4, size: int = 32, n: int = 2):  # noqa: ANN202
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(n, 3, size, size, generator=g)
    return {"lr": F.avg_pool2d(hr, scale), "hr": hr}


def tiny_rrdb(scale: int = 4) -> RRDBNet:
    return RRDBNet(scale, num_feat=8, num_blocks=1, growth=4)


def test_esrgan_losses_hand_computed():
    model = ESRGAN(tiny_rrdb(), MeanD(), vgg_weights="random")
    batch = _batch()
    out = {"fake": torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))}
    r = [3.0 * v - 1.0 for v in batch["hr"].mean((1, 2, 3)).tolist()]
    f = [3.0 * v - 1.0 for v in out["fake"].mean((1, 2, 3)).tolist()]
    mr, mf = sum(r) / 2, sum(f) / 2
    # D (BasicSR: 0.5 * BCE(D(x_r) - E[D(x_f)], 1) + 0.5 * BCE(D(x_f) - E[D(x_r)], 0))
    d_expected = 0.5 * (sum(_softplus(-(v - mf)) for v in r) / 2 + sum(_softplus(v - mr) for v in f) / 2)
    d_loss, _ = model.discriminator_loss(batch, out)
    assert d_loss.item() == pytest.approx(d_expected, rel=1e-5)
    # G: symmetric relativistic loss, halved, weight 5e-3; + 1 * L1(conv5_4) + 1e-2 * L1(pixels)
    adv = 0.5 * (sum(_softplus(v - mf) for v in r) / 2 + sum(_softplus(-(v - mr)) for v in f) / 2)
    percep = F.l1_loss(model.vgg(out["fake"])["conv5_4"], model.vgg(batch["hr"])["conv5_4"]).item()
    pixel = F.l1_loss(out["fake"], batch["hr"]).item()
    g_loss, logs = model.generator_loss(batch, out)
    assert logs["g_adv"].item() == pytest.approx(adv, rel=1e-5)
    assert g_loss.item() == pytest.approx(5e-3 * adv + percep + 1e-2 * pixel, rel=1e-5)
    assert model.step_order == ("g", "d")  # BasicSR: G step first


def test_srgan_losses_hand_computed():
    model = SRGAN(SRResNet(4, num_feat=8, num_blocks=1), MeanD(), vgg_weights="random")
    batch = _batch()
    out = {"fake": torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))}
    r = [3.0 * v - 1.0 for v in batch["hr"].mean((1, 2, 3)).tolist()]
    f = [3.0 * v - 1.0 for v in out["fake"].mean((1, 2, 3)).tolist()]
    d_loss, _ = model.discriminator_loss(batch, out)
    assert d_loss.item() == pytest.approx(sum(_softplus(-v) for v in r) / 2 + sum(_softplus(v) for v in f) / 2, rel=1e-5)
    feats = [model.vgg(x)["relu5_4"] for x in (out["fake"], batch["hr"])]
    content = F.mse_loss(*feats).item() / 12.75**2  # VGG54 rescaled by 1/12.75 (Sec. 3.2)
    g_loss, logs = model.generator_loss(batch, out)
    assert logs["g_adv"].item() == pytest.approx(sum(_softplus(-v) for v in f) / 2, rel=1e-5)
    assert logs["g_perceptual"].item() == pytest.approx(content, rel=1e-4)
    assert g_loss.item() == pytest.approx(content + 1e-3 * logs["g_adv"].item(), rel=1e-4)
    assert "g_pixel" not in logs  # SRGAN-VGG54: no pixel term


def test_pretrain_step_and_ema():
    model = SRPretrain(tiny_rrdb(), pixel_loss="l1", ema_decay=0.5)
    batch = _batch()
    loss, logs = model.generator_loss(batch, model.generate(batch))  # the core's hooks (GeneratorOnly)
    assert loss.item() == pytest.approx(F.l1_loss(model.generator(batch["lr"]), batch["hr"]).item(), rel=1e-6)
    assert list(logs) == ["l1"]  # logged as train/l1, as before the core
    with torch.no_grad():
        for p in model.generator.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.generator_ema.parameters()]
    model.g_iter = 1  # the core updates the EMA after each generator step
    model._update_ema()
    for b, e, g in zip(before, model.generator_ema.parameters(), model.generator.parameters()):
        torch.testing.assert_close(e, 0.5 * b + 0.5 * g)
    assert model.sampling_generator is model.generator_ema
    assert SRPretrain(tiny_rrdb(), pixel_loss="mse").paper_optimizer().keywords == {"lr": 1e-4, "betas": (0.9, 0.999)}


# ----------------------------------------------------------------------------- tiled prediction
def test_tiled_prediction_equals_untiled_when_the_image_fits():
    model = SRPretrain(tiny_rrdb(), tile=64, tile_overlap=8).eval()
    lr = torch.rand(1, 3, 30, 41)
    with torch.no_grad():
        torch.testing.assert_close(model.super_resolve(lr), model.generator(lr), rtol=0, atol=0)


class PointwiseSR(nn.Module):
    """A network without spatial context (1x1 conv then nearest x4): tiles cannot change its output."""

    scale = 4

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):  # noqa: ANN001, ANN201
        return F.interpolate(self.conv(x), scale_factor=4, mode="nearest")


def test_tiled_prediction_blends_to_the_untiled_result():
    model = SRPretrain(PointwiseSR(), tile=16, tile_overlap=4).eval()
    lr = torch.rand(1, 3, 37, 50)
    out = model.super_resolve(lr)
    assert out.shape == (1, 3, 148, 200)
    torch.testing.assert_close(out, model.generator(lr), atol=1e-6, rtol=0)
    # a real generator: feathered seams stay close to the untiled output
    rrdb = SRPretrain(tiny_rrdb(), tile=24, tile_overlap=8).eval()
    tiled, full = rrdb.super_resolve(lr), rrdb.generator(lr)
    assert tiled.shape == full.shape == (1, 3, 148, 200)
    assert (tiled - full).abs().mean().item() < 0.05 * full.abs().mean().item()


def test_predict_keeps_the_image_on_cpu_and_pads_odd_sizes():
    model = SRPretrain(tiny_rrdb(scale=2), tile=16, tile_overlap=4).eval()  # x2 RRDBNet needs even sides
    out = model.predict_step({"image": torch.rand(1, 3, 21, 33), "name": ["odd"]}, 0)
    assert out["names"] == ["odd"] and out["images"].shape == (1, 3, 42, 66)
    assert out["images"].min() >= 0 and out["images"].max() <= 1
    x = torch.rand(1, 3, 5, 7)
    assert run_generator(model.generator, x, 2).shape == (1, 3, 10, 14)


# ----------------------------------------------------------------------------- weights
def test_generator_ckpt_from_pretrain_checkpoint_and_ema(tmp_path):
    pre = SRPretrain(tiny_rrdb(), ema_decay=0.9)
    with torch.no_grad():
        for p in pre.generator_ema.parameters():
            p.fill_(0.25)
    path = tmp_path / "pre.ckpt"
    torch.save({"state_dict": pre.state_dict()}, path)
    gan = ESRGAN(tiny_rrdb(), MeanD(), generator_ckpt=str(path), vgg_weights="random")
    for a, b in zip(gan.generator.state_dict().values(), pre.generator.state_dict().values()):
        torch.testing.assert_close(a, b)
    gan_ema = ESRGAN(tiny_rrdb(), MeanD(), generator_ckpt=str(path), generator_ckpt_ema=True, vgg_weights="random")
    assert all((p == 0.25).all() for p in gan_ema.generator.parameters())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ESRGAN(tiny_rrdb(), MeanD(), generator_ckpt=str(tmp_path / "missing.ckpt"), vgg_weights="random")


def test_network_interpolation_command(tmp_path):
    a, b = tiny_rrdb(), tiny_rrdb()
    torch.save({"state_dict": {"generator." + k: v for k, v in a.state_dict().items()}}, tmp_path / "psnr.ckpt")
    # the GAN side in xinntao/ESRGAN's released layout (RRDB_trunk / trunk_conv / upconv / HRconv)
    official = {}
    for k, v in b.state_dict().items():
        k = re.sub(r"^body\.(\d+)\.rdb", r"RRDB_trunk.\1.RDB", k)
        k = k.replace("conv_body", "trunk_conv").replace("conv_up", "upconv").replace("conv_hr", "HRconv")
        official[k] = v
    torch.save(official, tmp_path / "RRDB_ESRGAN_x4.pth")
    out = tmp_path / "interp_08.pth"
    assert interpolate_main(["--psnr", str(tmp_path / "psnr.ckpt"), "--gan", str(tmp_path / "RRDB_ESRGAN_x4.pth"), "--alpha", "0.8", "--out", str(out)]) == 0
    blended = torch.load(out)
    for k, v in blended.items():
        torch.testing.assert_close(v, 0.2 * a.state_dict()[k] + 0.8 * b.state_dict()[k])
    model = SRPretrain(tiny_rrdb(), generator_ckpt=str(out))  # the blend loads as a generator
    torch.testing.assert_close(model.generator.conv_first.weight, blended["conv_first.weight"])
    sd = generator_state_dict(str(tmp_path / "psnr.ckpt"))
    assert interpolate_weights(sd, sd, 0.0).keys() == sd.keys()
    with pytest.raises(KeyError, match="different layers"):
        interpolate_weights(sd, {k: v for k, v in list(sd.items())[1:]}, 0.5)


def test_discriminator_and_crop_must_agree():
    class DM:
        hr_crop = 96

    class T:
        datamodule = DM()

    model = ESRGAN(tiny_rrdb(), MeanD(input_size=128), vgg_weights="random")
    model._trainer = T()
    with pytest.raises(ValueError, match="hr_crop=128"):
        model._check_data()

"""Issue 12, "no silent failure": bad inputs and faults as a user meets them. Each test asserts the error class
(a ``lit_gans.errors.UserError`` where the user can act) and that the message names the file or option and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lit_gans.errors import UserError
from lit_gans.metrics.generation import GenerationMetrics
from lit_gans.metrics.niqe import niqe
from lit_gans.metrics.swd import SlicedWassersteinDistance
from lit_gans.utils.images import NonFiniteImagesError, check_unit_range


# ----------------------------------------------------------------------------------------- non-finite metrics
class _MeanFeatures(nn.Module):
    """A tiny custom feature network: per-channel means and stds (6 features)."""

    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1) * self.scale

    scale = 1.0


def _metrics(**kwargs) -> GenerationMetrics:  # noqa: ANN003
    return GenerationMetrics(_MeanFeatures(), feature_name="means", **kwargs)


def test_nan_generated_images_are_refused_before_fid():
    m = _metrics()
    m.update_real(torch.rand(8, 3, 8, 8))
    fake = torch.rand(8, 3, 8, 8)
    fake[3, 0, 2, 2] = math.nan  # a diverged generator (WGAN-GP at lr 1e6 went NaN at step 3)
    with pytest.raises(NonFiniteImagesError, match=r"update_fake: 1 of 1536 values are NaN or inf.*earlier checkpoint"):
        m.update_fake(fake)
    assert isinstance(NonFiniteImagesError("x"), UserError) and isinstance(NonFiniteImagesError("x"), ValueError)
    # the same with the range check off, and with +inf
    m2 = _metrics(check_range=False)
    with pytest.raises(NonFiniteImagesError, match="update_real"):
        m2.update_real(torch.full((2, 3, 8, 8), math.inf))
    # finite images still give a finite FID afterwards (the refused batch was not added)
    m.update_fake(torch.rand(8, 3, 8, 8))
    assert all(torch.isfinite(v) for v in m.compute().values())


def test_non_finite_features_are_refused():
    net = _MeanFeatures()
    net.scale = math.inf  # finite images, infinite features (a broken custom feature network)
    m = GenerationMetrics(net, feature_name="means")
    with pytest.raises(NonFiniteImagesError, match="features of means"):
        m.update_real(torch.rand(2, 3, 8, 8))


def test_check_unit_range_refuses_nan():
    x = torch.zeros(4)
    x[1] = math.nan  # NaN passes every comparison: min/max alone would let it through
    with pytest.raises(NonFiniteImagesError, match="images: 1 of 4 values"):
        check_unit_range(x)


def test_swd_and_niqe_refuse_nan():
    swd = SlicedWassersteinDistance(16)
    with pytest.raises(NonFiniteImagesError, match="SlicedWassersteinDistance.update\\(generated\\)"):
        swd.update(torch.full((2, 3, 16, 16), math.nan), real=False)
    image = torch.rand(3, 96, 192)
    image[0, 0, 0] = math.nan
    with pytest.raises(NonFiniteImagesError, match="niqe: the image holds NaN"):  # before the params are needed
        niqe(image)


# ----------------------------------------------------------------------------------- official-weights files
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from lit_gans.errors import ConfigError, DataError, MissingFileError  # noqa: E402
from lit_gans.networks.dynamic_unet import DynamicUnet  # noqa: E402
from lit_gans.networks.sr_discriminator import VGGStyleDiscriminator  # noqa: E402
from lit_gans.utils.weights import WeightsFileError, load_weights_into  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def dynamic_unet() -> DynamicUnet:
    return DynamicUnet(1, 2, "resnet18", pretrained=False)


def test_dynamic_unet_given_a_junyanz_file_says_what_it_is(dynamic_unet, tmp_path):
    saved = torch.load(FIXTURES / "jz_unet_tiny_batch.pt")  # a junyanz UnetGenerator state dict ('model.model.*')
    path = tmp_path / "latest_net_G.pth"
    torch.save(saved["state_dict"], path)
    with pytest.raises(WeightsFileError) as info:
        load_weights_into(dynamic_unet, str(path))
    message = str(info.value)
    assert str(path) in message and "invalid literal" not in message
    assert "junyanz pytorch-CycleGAN-and-pix2pix U-Net generator" in message
    assert "lit_gans.networks.unet.UnetGenerator" in message
    assert isinstance(info.value, DataError) and isinstance(info.value, KeyError)  # KeyError: as before


def test_colorization_tutorial_main_model_file_loads(dynamic_unet, tmp_path):
    """The tutorial saves ``MainModel.state_dict()``: net_G.* (fastai DynamicUnet), net_D.* (its PatchGAN) and the
    GANLoss buffers GANcriterion.real_label / fake_label. Only net_G.* is taken."""
    shapes = json.loads((FIXTURES / "fastai_dynamic_unet_resnet18_keys.json").read_text())
    sd = {f"net_G.{k}": torch.full(s, 0.5) for k, s in shapes.items()}
    sd.update({"net_D.model.0.weight": torch.zeros(64, 3, 4, 4), "net_D.model.0.bias": torch.zeros(64)})
    sd.update({"GANcriterion.real_label": torch.tensor(1.0), "GANcriterion.fake_label": torch.tensor(0.0)})
    path = tmp_path / "final_model_weights.pt"
    torch.save(sd, path)
    net = load_weights_into(dynamic_unet, str(path))
    assert all((v == 0.5).all() for k, v in net.state_dict().items() if v.is_floating_point())


def test_basicsr_discriminator_params_file_loads(tmp_path):
    d = VGGStyleDiscriminator(3, num_feat=4, input_size=128)
    raw = {k: torch.full_like(v, 1.0) for k, v in d.state_dict().items()}
    ema = {k: torch.full_like(v, 2.0) for k, v in d.state_dict().items()}
    torch.save({"params": raw}, tmp_path / "net_d.pth")  # BasicSR save_network(net_d, 'net_d', ...)
    load_weights_into(d, str(tmp_path / "net_d.pth"))
    assert all((v == 1.0).all() for v in d.state_dict().values() if v.is_floating_point())
    # both keys: params_ema by default (lit_gans.utils.weights.BASICSR_PARAM_KEYS), params on request
    torch.save({"params": raw, "params_ema": ema}, tmp_path / "both.pth")
    load_weights_into(d, str(tmp_path / "both.pth"))
    assert all((v == 2.0).all() for v in d.state_dict().values() if v.is_floating_point())
    load_weights_into(d, str(tmp_path / "both.pth"), param_key="params")
    assert all((v == 1.0).all() for v in d.state_dict().values() if v.is_floating_point())
    with pytest.raises(WeightsFileError, match=r"net_d\.pth: no 'params_ema' entry"):
        load_weights_into(d, str(tmp_path / "net_d.pth"), param_key="params_ema")


def test_weights_errors_name_the_file(tmp_path):
    net = nn.Linear(3, 2)
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsFileError, match=r"junk\.pth: cannot be read as a PyTorch weights file"):
        load_weights_into(net, str(tmp_path / "junk.pth"))
    torch.save({"weight": torch.ones(5, 5), "bias": torch.ones(5)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsFileError, match=r"bad\.pth does not fit Linear"):
        load_weights_into(net, str(tmp_path / "bad.pth"))
    with pytest.raises(MissingFileError, match=r"weights file .*nope\.pth does not exist; pass --model.init_args.generator_ckpt"):
        load_weights_into(net, str(tmp_path / "nope.pth"))


# -------------------------------------------------------------------- stage-2 YAMLs and __init__ validation
@pytest.mark.parametrize(
    "config, stage1",
    [("srgan_div2k.yaml", "srresnet_div2k"), ("esrgan_div2k.yaml", "rrdb_psnr_div2k"), ("colorization_coco.yaml", "colorization_coco_pretrain")],
)
def test_stage2_without_stage1_says_run_stage1(config, stage1, tmp_path, monkeypatch):
    """The stage-1 checkpoint path of each stage-2 YAML (today ``checkpoints/<stage 1>/last.ckpt``, with the run
    layout ``runs/<stage 1>/checkpoints/last.ckpt``): the message says how to make it."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    ckpt = yaml.safe_load((root / "experiments" / config).read_text())["model"]["init_args"]["generator_ckpt"]
    monkeypatch.chdir(tmp_path)
    for path in (ckpt, f"runs/{stage1}/checkpoints/last.ckpt"):
        with pytest.raises(MissingFileError) as info:
            load_weights_into(nn.Linear(1, 1), path)
        message = str(info.value)
        assert f"run stage 1 first: `lit-gans fit --config experiments/{stage1}.yaml`" in message
        assert "or pass --model.init_args.generator_ckpt <file>" in message and "network access" not in message


def test_sr_model_init_raises_missing_file_error(tmp_path):
    from lit_gans.models.super_resolution import ESRGAN
    from lit_gans.networks.rrdb import RRDBNet

    class MeanD(nn.Module):
        input_size = 32

        def forward(self, x):
            return x.mean((1, 2, 3))[:, None]

    missing = tmp_path / "runs" / "rrdb_psnr_div2k" / "checkpoints" / "last.ckpt"
    with pytest.raises(MissingFileError, match="rrdb_psnr_div2k.yaml"):
        ESRGAN(RRDBNet(num_feat=4, num_blocks=1, growth=4), MeanD(), generator_ckpt=str(missing), vgg_weights="random")


def test_init_validation_names_the_option():
    from datamodules.unpaired import UnpairedDataModule
    from lit_gans.networks.progan import ProGANGenerator
    from lit_gans.networks.srresnet import SRResNet

    with pytest.raises(ConfigError, match=r"--data.init_args.load_size=200 is smaller than --data.init_args.crop_size=256.*load_size=286"):
        UnpairedDataModule(load_size=200, crop_size=256)
    with pytest.raises(ConfigError, match=r"--model.init_args.generator.init_args.resolution.*e\.g\. 64"):
        ProGANGenerator(resolution=48)
    with pytest.raises(ConfigError, match=r"--model.init_args.generator.init_args.scale=5: SRResNet supports scale 2, 3 or 4 \(e\.g\. 4"):
        SRResNet(scale=5)

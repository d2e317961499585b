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
from lit_gans.io.checkpoints import WeightsFileError, load_weights_into  # noqa: E402

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


def test_sr_generator_ckpt_key_chooses_the_basicsr_entry(tmp_path):
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.rrdb import RRDBNet

    def net():
        return RRDBNet(num_feat=4, num_blocks=1, growth=4)

    sd = net().state_dict()
    both = {"params": {k: torch.full_like(v, 1.0) for k, v in sd.items()}, "params_ema": {k: torch.full_like(v, 2.0) for k, v in sd.items()}}
    torch.save(both, tmp_path / "net_g_1000.pth")
    default = SRPretrain(net(), generator_ckpt=str(tmp_path / "net_g_1000.pth"))
    raw = SRPretrain(net(), generator_ckpt=str(tmp_path / "net_g_1000.pth"), generator_ckpt_key="params")
    assert all((p == 2.0).all() for p in default.generator.parameters())  # params_ema by default
    assert all((p == 1.0).all() for p in raw.generator.parameters())


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


# -------------------------------------------------------------------------------------------- bad data files
from PIL import Image  # noqa: E402


def _png(path: Path, size=(48, 40), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path)
    return path


def _truncate(path: Path, keep: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_images_are_found_at_setup(tmp_path, ext):
    """Super-resolution and CycleGAN (unpaired) folders: a truncated file is named at setup, before any batch
    trains (it used to fail mid-epoch). One implementation: datamodules.images.image_modes."""
    from datamodules.super_resolution import SuperResolutionDataModule
    from datamodules.unpaired import UnpairedDataModule

    for i in range(3):
        _png(tmp_path / "hr" / f"{i}.{ext}", (64, 64), i)
    _truncate(tmp_path / "hr" / f"1.{ext}")
    dm = SuperResolutionDataModule(root=str(tmp_path / "hr"), scale=2, hr_crop=32, batch_size=2, num_workers=0)
    with pytest.raises(DataError, match=rf"hr/1\.{ext}: cannot decode this image .*truncated.*remove or replace the file"):
        dm.setup("fit")
    for sub in ("trainA", "trainB"):
        for i in range(2):
            _png(tmp_path / "cg" / sub / f"{i}.{ext}", (40, 40), i)
    _truncate(tmp_path / "cg" / "trainB" / f"0.{ext}")
    cg = UnpairedDataModule(root=str(tmp_path / "cg"), preprocess="crop", crop_size=32, num_workers=0)
    with pytest.raises(DataError, match=rf"trainB/0\.{ext}: cannot decode"):
        cg.setup("fit")


def test_jpeg_with_a_trailer_after_its_end_marker_is_kept(tmp_path):
    from datamodules.images import image_modes

    path = _png(tmp_path / "a.jpg", (32, 32))
    path.write_bytes(path.read_bytes() + b"\0" * 5000)  # a camera's trailer: EOI not in the last 4 KiB
    assert image_modes([path]) == {"RGB": 1}  # decoded once to decide: complete, kept


def test_sixteen_bit_png_is_scaled_not_stretched(tmp_path, caplog):
    """A dark 16-bit PNG (max 9765 of 65535) used to come out with max 255 (per-image stretch); now v / 257."""
    from datamodules.images import load_image, report_modes

    values = np.array([[0, 257, 9765, 65535]], dtype=np.uint16)
    path = tmp_path / "dark16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as im:
        assert im.mode.startswith("I")
    out = load_image(path, 3)
    assert out.dtype == torch.uint8 and out[:, 0].tolist() == [[0, 1, 38, 255]] * 3  # 9765 / 257 = 37.996 -> 38
    import logging

    with caplog.at_level(logging.INFO):
        report_modes([path], "--data.init_args.root")
    assert "16-bit scaled to 8 bits as round(v / 257)" in caplog.text and "--data.init_args.root" in caplog.text


def test_grey_masks_are_reported(tmp_path, caplog):
    import logging

    from datamodules.inpainting import check_mask_file, report_thresholded

    binary, grey = tmp_path / "binary.png", tmp_path / "grey.png"
    m = np.zeros((16, 16), np.uint8)
    m[4:12, 4:12] = 255
    Image.fromarray(m).save(binary)
    m[4:12, 4:6] = 100  # below 128: known pixels once thresholded
    Image.fromarray(m).save(grey)
    flags = [check_mask_file(binary), check_mask_file(grey)]
    assert flags == [False, True]
    with caplog.at_level(logging.INFO):
        assert report_thresholded([binary, grey], flags, "--data.init_args.train_mask_root") == 1
    assert "1 of 2 mask file(s) are not binary" in caplog.text and "grey.png" in caplog.text and "128" in caplog.text


@pytest.mark.parametrize("module, kwargs", [
    ("datamodules.images:check_batch_size", {}),
    ("datamodules.super_resolution:SuperResolutionDataModule", {"scale": 2}),
    ("datamodules.unpaired:UnpairedDataModule", {}),
    ("datamodules.paired:PairedDataModule", {}),
    ("datamodules.digits:DigitsDataModule", {}),
    ("datamodules.inpainting:InpaintingDataModule", {}),
    ("datamodules.lab_colorization:LabColorizationDataModule", {}),
])
def test_batch_size_zero_or_negative_names_the_option(module, kwargs):
    import importlib

    mod, name = module.split(":")
    target = getattr(importlib.import_module(mod), name)
    for bad in (0, -4):
        with pytest.raises(ConfigError, match=rf"--data.init_args.batch_size={bad}: the batch size must be an integer >= 1"):
            target(bad) if name == "check_batch_size" else target(batch_size=bad, **kwargs)


def test_progan_datamodule_batch_sizes():
    from datamodules.progan import ProGANDataModule

    with pytest.raises(ConfigError, match="--data.init_args.val_batch_size=0"):
        ProGANDataModule(source="digits", resolution=16, val_batch_size=0)


def test_context_encoder_extreme_aspect_is_cropped_before_resizing(tmp_path):
    """A 1x5000 strip resized whole to a short side of 350 is 350x1,750,000 (1.8 GB); it is centre-cropped to
    4:1 first, with a warning naming the file. Small case: 2x1000 at load_size 64 -> 64x256, not 64x32000."""
    from datamodules.inpainting import MAX_ASPECT, _resize_short

    path = tmp_path / "strip.png"
    Image.fromarray(np.zeros((2, 1000, 3), np.uint8)).save(path)
    with pytest.warns(UserWarning, match=r"strip\.png is 1000x2, more than 4:1: its centre 8x2 is used"):
        out = _resize_short(Image.open(path), 64, path)
    assert out.size == (256, 64) and MAX_ASPECT == 4.0
    assert _resize_short(Image.new("RGB", (500, 300)), 64).size == (107, 64)  # ordinary images: unchanged rule


def test_context_encoder_predict_minimum_side_names_no_missing_option(tmp_path):
    from datamodules.inpainting import InpaintingDataModule

    _png(tmp_path / "p" / "ok.png", (32, 32))
    _png(tmp_path / "p" / "tiny.png", (5, 40))
    dm = InpaintingDataModule(root=str(tmp_path / "p"), predict_root=str(tmp_path / "p"), image_size=32, load_size=32)
    with pytest.raises(DataError) as info:
        dm.setup("predict")
    message = str(info.value)
    assert "tiny.png is 5x40, smaller than the minimum image side for prediction 8" in message
    assert "lower the" not in message and "remove it or upscale it" in message


def test_cyclegan_predict_refuses_a_1x1_image(tmp_path):
    from datamodules.unpaired import UnpairedDataModule
    from lit_gans.models.cyclegan import CycleGAN
    from lit_gans.networks.patchgan import PatchDiscriminator
    from lit_gans.networks.resnet_generator import ResnetGenerator

    _png(tmp_path / "in" / "photo.png", (16, 16))
    _png(tmp_path / "in" / "dot.png", (1, 1))
    import lightning as L

    dm = UnpairedDataModule(root=str(tmp_path), predict_root=str(tmp_path / "in"), num_workers=0)
    model = CycleGAN(ResnetGenerator(ngf=4, n_blocks=1), ResnetGenerator(ngf=4, n_blocks=1), PatchDiscriminator(3, 4, 1), PatchDiscriminator(3, 4, 1))
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    with pytest.raises(DataError, match=r"in/dot\.png is 1x1: the ResnetGenerator needs images of at least 5x5 pixels"):
        trainer.predict(model, datamodule=dm)  # at setup, before any image is predicted

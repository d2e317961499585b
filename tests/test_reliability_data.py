"""Issue 21, data and argument side: what a user sees for image files of every PIL mode, files paired by base
name, truncated files, folder options and the batch a model needs. Each test checks the outcome (decoded
pixels, the error class and its message, exit status)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
from PIL import Image

from datamodules.images import image_modes, load_image, to_mode
from lit_gans.errors import DataError

COLOUR = (200, 100, 50)
WHITE = (255, 255, 255)


def _palette(transparent: bool) -> Image.Image:
    im = Image.new("P", (2, 1))
    im.putpalette([*COLOUR, 0, 0, 0] + [0] * 762)
    im.putpixel((0, 0), 0)
    im.putpixel((1, 0), 1)
    if transparent:
        im.info["transparency"] = 1  # index 1 (black) is transparent: shown as white
    return im


def _two(mode: str, opaque, clear) -> Image.Image:  # noqa: ANN001
    """A 2x1 image: an opaque pixel, then a fully transparent one (composited over white)."""
    im = Image.new(mode, (2, 1))
    im.putpixel((0, 0), opaque)
    im.putpixel((1, 0), clear)
    return im


def _array(values, dtype) -> Callable[[], Image.Image]:  # noqa: ANN001
    return lambda: Image.fromarray(np.array([values], dtype=dtype))


def _sixteen(mode: str) -> Callable[[], Image.Image]:
    """40000 and 65535 in a 16-bit mode of the given byte order (PIL's ``convert`` to I;16B clips at 255)."""
    order = {"I;16": "<", "I;16L": "<", "I;16B": ">", "I;16N": "="}[mode]
    return lambda: Image.frombytes(mode, (2, 1), np.array([40000, 65535], dtype=f"{order}u2").tobytes())


def _converted(mode: str) -> Callable[[], Image.Image]:
    return lambda: Image.new("RGB", (2, 1), COLOUR).convert(mode)


def _pa() -> Image.Image:
    im = Image.new("PA", (2, 1))
    im.putpalette([*COLOUR] + [0] * 765)
    im.putpixel((0, 0), (0, 255))
    im.putpixel((1, 0), (0, 0))
    return im


def _keyed(mode: str, colour) -> Callable[[], Image.Image]:  # noqa: ANN001
    """An L or RGB image whose second pixel has the file's transparent colour (a PNG tRNS chunk)."""

    def make() -> Image.Image:
        im = Image.new(mode, (2, 1), colour)
        im.putpixel((1, 0), 0 if mode == "L" else (0, 0, 0))
        im.info["transparency"] = 0 if mode == "L" else (0, 0, 0)
        return im

    return make


GRAY124 = (124, 124, 124)  # PIL's luma of COLOUR: (200 * 299 + 100 * 587 + 50 * 114) / 1000
#: (mode made, file format or None = the in-memory image (no file format holds it), make, expected RGB of
#: pixel 0 and pixel 1, tolerance, the mode PIL reopens the file in)
CASES = [
    ("1", "PNG", lambda: _two("1", 255, 0), [WHITE, (0, 0, 0)], 0, "1"),
    ("1", "TIFF", lambda: _two("1", 255, 0), [WHITE, (0, 0, 0)], 0, "1"),
    ("1", "BMP", lambda: _two("1", 255, 0), [WHITE, (0, 0, 0)], 0, "1"),
    ("L", "PNG", lambda: Image.new("L", (2, 1), 124), [GRAY124] * 2, 0, "L"),
    ("L", "JPEG", lambda: Image.new("L", (2, 1), 124), [GRAY124] * 2, 1, "L"),
    ("L", "PNG", _keyed("L", 124), [GRAY124, WHITE], 0, "L"),  # transparent colour
    ("LA", "PNG", lambda: _two("LA", (124, 255), (7, 0)), [GRAY124, WHITE], 0, "LA"),
    ("LA", "TIFF", lambda: _two("LA", (124, 255), (7, 0)), [GRAY124, WHITE], 0, "LA"),
    ("La", None, lambda: _two("LA", (124, 255), (7, 0)).convert("La"), [GRAY124, WHITE], 0, "La"),
    ("P", "PNG", lambda: _palette(False), [COLOUR, (0, 0, 0)], 0, "P"),
    ("P", "PNG", lambda: _palette(True), [COLOUR, WHITE], 0, "P"),
    ("P", "TIFF", lambda: _palette(False), [COLOUR, (0, 0, 0)], 0, "P"),
    ("PA", "TIFF", _pa, [COLOUR, WHITE], 0, "PA"),
    ("RGB", "PNG", lambda: Image.new("RGB", (2, 1), COLOUR), [COLOUR] * 2, 0, "RGB"),
    ("RGB", "JPEG", lambda: Image.new("RGB", (2, 1), COLOUR), [COLOUR] * 2, 3, "RGB"),
    ("RGB", "BMP", lambda: Image.new("RGB", (2, 1), COLOUR), [COLOUR] * 2, 0, "RGB"),
    ("RGB", "PPM", lambda: Image.new("RGB", (2, 1), COLOUR), [COLOUR] * 2, 0, "RGB"),
    ("RGB", "PNG", _keyed("RGB", COLOUR), [COLOUR, WHITE], 0, "RGB"),  # transparent colour
    ("RGBA", "PNG", lambda: _two("RGBA", (*COLOUR, 255), (9, 9, 9, 0)), [COLOUR, WHITE], 0, "RGBA"),
    ("RGBA", "TIFF", lambda: _two("RGBA", (*COLOUR, 255), (9, 9, 9, 0)), [COLOUR, WHITE], 0, "RGBA"),
    ("RGBA", "WEBP", lambda: _two("RGBA", (*COLOUR, 255), (9, 9, 9, 0)), [COLOUR, WHITE], 0, "RGBA"),
    ("RGBa", None, lambda: _two("RGBA", (*COLOUR, 255), (9, 9, 9, 0)).convert("RGBa"), [COLOUR, WHITE], 0, "RGBa"),
    ("RGBX", None, _converted("RGBX"), [COLOUR] * 2, 0, "RGBX"),
    ("RGBX", "TIFF", _converted("RGBX"), [COLOUR] * 2, 0, "RGB"),
    ("CMYK", "TIFF", _converted("CMYK"), [COLOUR] * 2, 0, "CMYK"),
    ("CMYK", "JPEG", _converted("CMYK"), [COLOUR] * 2, 3, "CMYK"),
    ("YCbCr", "TIFF", _converted("YCbCr"), [COLOUR] * 2, 2, "YCbCr"),
    ("LAB", "TIFF", _converted("LAB"), [COLOUR] * 2, 2, "LAB"),
    ("HSV", None, _converted("HSV"), [COLOUR] * 2, 2, "HSV"),
    # more than 8 bits: by the scale of the type, 40000 / 257 = 155.6 -> 156; 0.5 * 255 = 127.5 -> 128
    ("I;16", "PNG", _array([40000, 65535], np.uint16), [(156,) * 3, WHITE], 0, "I;16"),
    ("I;16", "TIFF", _array([40000, 65535], np.uint16), [(156,) * 3, WHITE], 0, "I;16"),
    ("I;16B", "TIFF", _sixteen("I;16B"), [(156,) * 3, WHITE], 0, "I;16B"),
    ("I;16L", "TIFF", _sixteen("I;16L"), [(156,) * 3, WHITE], 0, "I;16"),
    ("I;16N", None, _sixteen("I;16N"), [(156,) * 3, WHITE], 0, "I;16N"),
    ("I", "PPM", _array([40000, 65535], np.int32), [(156,) * 3, WHITE], 0, "I"),  # 16-bit PGM: Pillow's mode I
    ("F", "TIFF", _array([0.5, 1.0], np.float32), [(128,) * 3, WHITE], 0, "F"),
    ("F", "PPM", _array([0.25, 0.0], np.float32), [(64,) * 3, (0, 0, 0)], 0, "F"),  # PFM
]


def _decode(mode: str, fmt: Optional[str], make: Callable[[], Image.Image], tmp_path: Path, channels: int, reopened: str) -> np.ndarray:
    image = make()
    assert image.mode == mode
    if fmt is None:  # no file format holds this mode: the policy applied to the image PIL would hand over
        out = np.asarray(to_mode(image, channels))
        return out if out.ndim == 3 else out[..., None]
    options = {"lossless": True} if fmt == "WEBP" else ({"quality": 100} if fmt == "JPEG" else {})
    if fmt == "PNG" and "transparency" in image.info:
        options["transparency"] = image.info["transparency"]
    path = tmp_path / f"x.{fmt.lower()}"
    image.save(path, fmt, **options)
    with Image.open(path) as reread:
        assert reread.mode == reopened, f"{mode} saved as {fmt} reopens as {reread.mode}"
    assert sum(image_modes([path]).values()) == 1  # the setup check accepts it
    return load_image(path, channels).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("mode, fmt, make, expected, tol, reopened", CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_every_pil_mode_decodes_to_its_colour(mode, fmt, make, expected, tol, reopened, tmp_path):
    """Every mode PIL opens (``PIL.Image.MODES``) decodes to the RGB a viewer shows: the colour written, gray
    replicated, transparent pixels white, more than 8 bits by the scale of the type; and to its luma for 1 channel."""
    rgb = _decode(mode, fmt, make, tmp_path, 3, reopened)
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 2, 3)
    assert np.abs(rgb[0].astype(int) - np.array(expected)).max() <= tol, (rgb[0].tolist(), expected)
    gray = _decode(mode, fmt, make, tmp_path, 1, reopened)
    luma = [Image.new("RGB", (1, 1), tuple(int(v) for v in px)).convert("L").getpixel((0, 0)) for px in rgb[0]]
    assert gray.shape == (1, 2, 1) and np.abs(gray[0, :, 0].astype(int) - np.array(luma)).max() <= 1


def test_every_pil_mode_is_covered():
    assert {c[0] for c in CASES} == set(Image.MODES)


@pytest.mark.parametrize("values, dtype, match", [
    ([70000, 5], np.int32, r"i32\.tif: a 32-bit integer image \(mode I, values 5\.\.70000, format TIFF\); its format does not say which value is white.*16-bit PNG"),
    ([124, 5], np.int32, r"a 32-bit integer image \(mode I, values 5\.\.124"),  # (was /257: almost black)
    ([200.0, 0.0], np.float32, r"f32\.tif: a 32-bit float image \(mode F\) with values 0\.\.200; float images are read as 0\.\.1"),
    ([np.nan, 0.5], np.float32, r"values 0\.5\.\.0\.5, 1 NaN/inf pixel"),
])
def test_ambiguous_32_bit_files_are_refused_at_setup(tmp_path, values, dtype, match):
    """A 32-bit integer file (its format says no white level) or a float file outside 0..1: named at setup by the
    check every folder datamodule runs (``image_modes``) and on decode, never decoded to an almost black image."""
    name = "i32.tif" if dtype is np.int32 else "f32.tif"
    path = tmp_path / name
    Image.fromarray(np.array([values], dtype=dtype)).save(path)
    with pytest.raises(DataError, match=match):
        image_modes([path])
    with pytest.raises(DataError, match=match):
        load_image(path)


# ------------------------------------------------------------------------------- files paired by base name
def _png(path: Path, size=(40, 40), seed: int = 0) -> Path:  # noqa: ANN001
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def test_two_files_with_one_base_name_are_an_error_naming_both(tmp_path):
    """``photo.png`` and ``photo.jpg`` where files are paired by base name (Pix2Pix A/ and B/, low-light low/ and
    high/, SR HR and LR, Context Encoder predict masks): one of them used to be dropped without a word."""
    from datamodules.inpainting import InpaintingDataModule
    from datamodules.paired import PairedDataModule
    from datamodules.super_resolution import SuperResolutionDataModule

    for sub in ("A", "B"):
        for i in range(2):
            _png(tmp_path / "p2p" / "train" / sub / f"{i}.png", seed=i)
    _png(tmp_path / "p2p" / "train" / "A" / "0.jpg")
    dm = PairedDataModule(root=str(tmp_path / "p2p"), preprocess="crop", crop_size=32, num_workers=0)
    with pytest.raises(DataError, match=r"train/A/0\.jpg and .*train/A/0\.png in .*have the same base name '0'.*rename or remove one"):
        dm.setup("fit")
    # SR: HR 0001.png and 0001.jpg, or LR 0001x2.png next to 0001.png (the same normalised base name)
    for i in (1, 2):
        _png(tmp_path / "sr" / "hr" / f"000{i}.png", (64, 64), i)
        _png(tmp_path / "sr" / "lr" / f"000{i}x2.png", (32, 32), i)
    _png(tmp_path / "sr" / "lr" / "0001.png", (32, 32))
    sr = SuperResolutionDataModule(root=str(tmp_path / "sr" / "hr"), lr_root=str(tmp_path / "sr" / "lr"), scale=2, hr_crop=32,
                                   batch_size=1, num_workers=0)
    with pytest.raises(DataError, match=r"lr/0001\.png and .*lr/0001x2\.png in .* have the same base name '0001'"):
        sr.setup("fit")
    # Context Encoder predict: two masks for one image
    _png(tmp_path / "ce" / "img" / "a.png", (32, 32))
    mask = np.zeros((32, 32), np.uint8)
    mask[8:16, 8:16] = 255
    for ext in ("png", "bmp"):
        (tmp_path / "ce" / "mask").mkdir(parents=True, exist_ok=True)
        Image.fromarray(mask).save(tmp_path / "ce" / "mask" / f"a.{ext}")
    ce = InpaintingDataModule(root=str(tmp_path / "ce" / "img"), predict_root=str(tmp_path / "ce" / "img"),
                              predict_mask_root=str(tmp_path / "ce" / "mask"), image_size=32, load_size=32)
    with pytest.raises(DataError, match=r"mask/a\.bmp and .*mask/a\.png in --data\.init_args\.predict_mask_root"):
        ce.setup("predict")


def test_pix2pix_cli_with_two_files_of_one_base_name_exits_2(tmp_path, capsys, monkeypatch):
    for sub in ("A", "B"):
        for i in range(2):
            _png(tmp_path / "facades" / "train" / sub / f"{i}.png", seed=i)
    _png(tmp_path / "facades" / "train" / "B" / "photo.png")
    _png(tmp_path / "facades" / "train" / "B" / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    code, err = _main(capsys, "fit", "--config", str(ROOT / "experiments/pix2pix_embedded.yaml"), "--trainer.logger=false",
                      f"--data.init_args.root={tmp_path / 'facades'}", "--data.init_args.num_workers=0", "--trainer.max_steps=1")
    assert code == 2 and "Traceback" not in err
    assert "photo.jpg" in err and "photo.png" in err and "have the same base name 'photo'" in err


# ------------------------------------------------------------------------------------------ CLI helpers
ROOT = Path(__file__).resolve().parents[1]


def _main(capsys, *args: str) -> tuple[int, str]:  # noqa: ANN001
    """The console entry point's exit status and stderr (``tests.test_runs._main``)."""
    from tests.test_runs import _main as run_main

    return run_main(capsys, *args)


# ------------------------------------------------------------------------------ truncated files, at setup
def test_context_encoder_finds_a_truncated_jpeg_at_setup(tmp_path):
    """It used to be found after 10 of 12 batches had trained; now at setup, like the other datamodules
    (``datamodules.images.image_modes``), for the training, validation and predict folders."""
    from datamodules.inpainting import InpaintingDataModule

    for i in range(3):
        _png(tmp_path / "train" / f"{i}.jpg", (48, 48), i)
        _png(tmp_path / "val" / f"{i}.jpg", (48, 48), i)
    data = (tmp_path / "train" / "1.jpg").read_bytes()
    (tmp_path / "train" / "1.jpg").write_bytes(data[: len(data) // 2])
    dm = InpaintingDataModule(root=str(tmp_path / "train"), image_size=32, load_size=32, batch_size=2, num_workers=0)
    with pytest.raises(DataError, match=r"train/1\.jpg: cannot decode this image .*truncated.*remove or replace the file"):
        dm.setup("fit")
    (tmp_path / "val" / "2.jpg").write_bytes(data[: len(data) // 2])
    for stage, kwargs in (("validate", {"val_root": str(tmp_path / "val")}), ("predict", {"predict_root": str(tmp_path / "val")})):
        dm = InpaintingDataModule(root=str(tmp_path / "val"), image_size=32, load_size=32, num_workers=0, **kwargs)
        with pytest.raises(DataError, match=r"val/2\.jpg: cannot decode this image"):
            dm.setup(stage)


# --------------------------------------------------------------------------------- options named as given
def test_missing_test_roots_folder_names_test_roots(tmp_path, capsys, monkeypatch):
    """``lit-gans test`` with a ``test_roots`` folder that is not there named ``val_root``, which the user did not set."""
    monkeypatch.chdir(tmp_path)
    code, err = _main(capsys, "test", "--config", str(ROOT / "experiments/srresnet_embedded.yaml"), "--trainer.logger=false",
                      f"--data.init_args.test_roots=[{tmp_path / 'Set5'}]", "--model.init_args.generator.init_args.num_feat=4",
                      "--model.init_args.generator.init_args.num_blocks=1")
    assert code == 2 and "Traceback" not in err
    assert f"--data.init_args.test_roots[0]: folder {tmp_path / 'Set5'} does not exist" in err and "val_root" not in err


# ------------------------------------------------------------------------------- the batch a model needs
def test_a_datamodule_that_does_not_fit_the_model_is_named(tmp_path, capsys, monkeypatch):
    """DCGAN with the paired datamodule was ``KeyError: 'image'`` from inside a step; now one line naming the model,
    the datamodule, the keys and the datamodules that fit, exit 2, before any batch reaches the model."""
    monkeypatch.chdir(tmp_path)
    code, err = _main(capsys, "fit", "--config", str(ROOT / "experiments/dcgan_digits.yaml"), "--trainer.logger=false",
                      "--data=datamodules.paired.PairedDataModule", "--data.init_args.num_workers=0", "--trainer.max_steps=1",
                      "--model.init_args.generator.init_args.ngf=4", "--model.init_args.discriminator.init_args.ndf=4",
                      "--model.init_args.metrics=null")
    assert code == 2 and "Traceback" not in err and "KeyError" not in err
    assert "the datamodule does not fit the model: lit_gans.models.noise.DCGAN needs" in err
    assert "datamodules.paired.PairedDataModule gives keys ['A', 'B'," in err and "(missing ['image'])" in err
    assert "datamodules.digits.DigitsDataModule" in err  # a datamodule that fits (from the shipped experiments)
    assert not list(tmp_path.glob("runs/*/checkpoints/*.ckpt"))


def test_every_shipped_experiment_declares_a_contract_its_datamodule_meets():
    """Each model class of experiments/*.yaml declares ``batch_keys``; the declared keys are the ones its
    datamodule's batches carry (checked on a real batch for the embedded experiments by the CLI tests of each
    family, which run through ``BatchContract``)."""
    import yaml

    from lit_gans.run.plan import import_path as _import

    for path in sorted((ROOT / "experiments").glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        cls = _import(config["model"]["class_path"])
        assert isinstance(getattr(cls, "batch_keys", None), dict) and cls.batch_keys.get("fit"), path.name


def test_check_batch_names_a_batch_that_is_not_a_dict():
    from lit_gans.errors import ConfigError
    from lit_gans.models.noise import DCGAN
    from lit_gans.utils.batches import check_batch

    check_batch({"image": 0, "index": 1}, DCGAN, None, "validation")  # fits
    check_batch({"image": 0}, DCGAN, None, "train")
    with pytest.raises(ConfigError, match=r"DCGAN needs predict batches with the keys \['index'\], but the dataloader given to the Trainer gives a tuple, not a dict"):
        check_batch((0, 1), DCGAN, None, "predict")


# ------------------------------------------------------------------------------ negative or zero sizes
def _constructors() -> list[tuple[type, str, dict]]:
    """Every network and datamodule class with its option prefix and the arguments it needs besides defaults."""
    import importlib
    import inspect
    import pkgutil

    import lightning as L
    from torch import nn

    import datamodules
    import lit_gans.networks

    needs = {"DynamicUnet": {"pretrained": False}, "SuperResolutionDataModule": {"scale": 2},
             "ProGANDataModule": {"source": "digits", "resolution": 16}}
    out = []
    for pkg, base in ((lit_gans.networks, nn.Module), (datamodules, L.LightningDataModule)):
        for info in pkgutil.iter_modules(pkg.__path__):
            module = importlib.import_module(f"{pkg.__name__}.{info.name}")
            for name, cls in vars(module).items():
                if not (isinstance(cls, type) and issubclass(cls, base) and cls.__module__ == module.__name__) or name.startswith("_"):
                    continue
                params = inspect.signature(cls.__init__).parameters.values()
                if any(p.default is inspect.Parameter.empty and p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD for p in params):
                    continue  # building blocks (ResnetBlock(dim, ...)): built by the networks above
                if name in ("VGGFeatures", "PixelNorm", "MinibatchStdDev", "ResidualDenseBlock", "RRDB"):
                    continue  # VGG: no size option, needs its weights; the others: blocks built by checked networks
                prefix = "--data" if base is L.LightningDataModule else (
                    "--model.init_args.discriminator" if "Discriminator" in name else "--model.init_args.generator")
                out.append((cls, prefix, needs.get(name, {})))
    return out


CONSTRUCTORS = _constructors()


@pytest.mark.parametrize("cls, prefix, needs", CONSTRUCTORS, ids=[c[0].__name__ for c in CONSTRUCTORS])
def test_negative_and_zero_sizes_name_the_option(cls, prefix, needs):
    """Every integer size, width and count of every network and datamodule: -8 (and 0 where 0 means nothing) is a
    ConfigError naming ``<prefix>.init_args.<name>``, at construction (was: a negative-dimension tensor error, or a
    zero-width layer failing in the first step)."""
    import inspect

    from lit_gans.errors import ConfigError
    from lit_gans.utils.checks import SKIP, ZERO_OK, _is_int_annotation

    names = [p.name for p in inspect.signature(cls.__init__).parameters.values()
             if p.name not in SKIP and _is_int_annotation(p.annotation) and p.name not in needs]
    assert names, cls
    for name in names:
        for bad in (-8, 0) if name not in ZERO_OK else (-8,):
            with pytest.raises(ConfigError, match=rf"^{prefix}\.init_args\.{name}={bad}: {cls.__name__} needs (an integer|integers) >= (0|1)"):
                cls(**needs, **{name: bad})


@pytest.mark.parametrize("option, expected", [
    ("--model.init_args.generator.init_args.ngf=-8", "--model.init_args.generator.init_args.ngf=-8: DCGANGenerator needs an integer >= 1 for ngf (default 64)"),
    ("--data.init_args.image_size=0", "--data.init_args.image_size=0: DigitsDataModule needs an integer >= 1 for image_size (default 32)"),
    ("--model.init_args.test_samples=1", "--model.init_args.test_samples=1: must be >= 2 (FID needs two samples)"),  # was a ValueError in the Union traceback
])
def test_cli_prints_the_size_error_as_one_line(option, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, err = _main(capsys, "fit", "--config", str(ROOT / "experiments/dcgan_digits.yaml"), "--trainer.logger=false", option)
    assert code == 2 and "Traceback" not in err and "Union" not in err
    assert f"lit-gans: error: {expected}" in err


# --------------------------------------------------------------------------- stage 2 without its stage 1
@pytest.mark.parametrize("config, stage1", [
    ("srgan_div2k", "srresnet_div2k"), ("esrgan_div2k", "rrdb_psnr_div2k"), ("colorization_coco", "colorization_coco_pretrain"),
])
def test_stage2_yaml_without_stage1_exits_2_naming_the_stage1_command(config, stage1, tmp_path, capsys, monkeypatch):
    """Every YAML that reads a stage-1 checkpoint (``generator_ckpt: runs/<stage 1>/checkpoints/last.ckpt``), run
    where stage 1 never ran or stopped before writing a checkpoint (a diverged stage 1 writes none)."""
    import yaml

    stage2 = [p.stem for p in (ROOT / "experiments").glob("*.yaml")
              if "checkpoints/last.ckpt" in str((yaml.safe_load(p.read_text())["model"].get("init_args") or {}).get("generator_ckpt"))]
    assert sorted(stage2) == ["colorization_coco", "esrgan_div2k", "srgan_div2k"]
    for i in range(2):
        _png(tmp_path / "photos" / f"{i}.png", (64, 64), i)
    monkeypatch.chdir(tmp_path)
    code, err = _main(capsys, "fit", "--config", str(ROOT / f"experiments/{config}.yaml"), "--trainer.logger=false",
                      f"--data.init_args.root={tmp_path / 'photos'}", "--data.init_args.num_workers=0")
    assert code == 2 and "Traceback" not in err
    assert f"runs/{stage1}/checkpoints/last.ckpt does not exist" in err
    assert f"run stage 1 first: `lit-gans fit --config experiments/{stage1}.yaml`" in err

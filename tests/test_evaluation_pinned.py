"""``lit-gans test`` tables pinned on fixed (seeded) checkpoints, one per family, and the state_dict keys of every
model: the evaluation code may move, the numbers a user reads and the checkpoints a user holds may not change.

The values in ``tests/fixtures/evaluation_pinned.json`` were written by this file's ``__main__`` on the code before
the evaluation package (lit_gans/evaluation/) existed; rerun it only to change them on purpose:
``python -m tests.test_evaluation_pinned``. Super-resolution: ``*_tiled`` families run the network in 8-pixel LR
tiles (the old default of 256-pixel tiles, made visible on small images); the other SR families evaluate whole
images (the default since the evaluation package, as BasicSR does).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from PIL import Image

from tests.helpers import tiny_data, tiny_model, trainer
from tests.test_evaluation import _one_thread, _paired_root, _sr_sets  # noqa: F401  (_one_thread: autouse fixture)

PINNED = Path(__file__).resolve().parent / "fixtures" / "evaluation_pinned.json"
SR_TILE = {"tile": 8, "tile_overlap": 2}  # LR pixels: several tiles on the 16x20 / 20x20 LR test images


# ----------------------------------------------------------------------------------------------- families
def _noise(kind: str) -> Callable[[Path], tuple[Any, Any]]:
    def build(tmp: Path):  # noqa: ANN202
        return tiny_model(kind, metrics="digits", test_samples=150), tiny_data(batch_size=64)

    return build


def _progan(tmp: Path):  # noqa: ANN202
    from datamodules.progan import ProGANDataModule
    from lit_gans.models.progan import ProGAN, ProGANSchedule
    from tests.test_progan_model import nets

    model = ProGAN(*nets(16), ProGANSchedule(), metrics="digits", test_samples=100)
    model.images_seen = 900_000  # half-way through the 8x8 fade-in: the mixing path is evaluated
    return model, ProGANDataModule(source="digits", resolution=16, channels=1, num_workers=0)


def _pix2pix(mode: str) -> Callable[[Path], tuple[Any, Any]]:
    def build(tmp: Path):  # noqa: ANN202
        from datamodules.paired import PairedDataModule
        from lit_gans.models.pix2pix import Pix2Pix
        from lit_gans.networks.patchgan import PatchDiscriminator
        from lit_gans.networks.unet import UnetGenerator

        model = Pix2Pix(UnetGenerator(3, 3, 5, 4), PatchDiscriminator(6, 4), inference_mode=mode)
        dm = PairedDataModule(str(_paired_root(tmp / "data", n_test=3)), preprocess="crop", crop_size=32, batch_size=2, num_workers=0)
        return model, dm

    return build


def _colorization(pretraining: bool) -> Callable[[Path], tuple[Any, Any]]:
    def build(tmp: Path):  # noqa: ANN202
        from datamodules.lab_colorization import LabColorizationDataModule
        from lit_gans.models.pix2pix import GeneratorPretraining, Pix2Pix
        from lit_gans.networks.patchgan import PatchDiscriminator
        from lit_gans.networks.unet import UnetGenerator

        g = UnetGenerator(1, 2, 5, 4)
        model = GeneratorPretraining(g) if pretraining else Pix2Pix(g, PatchDiscriminator(3, 4), color_space="lab", inference_mode="eval")
        return model, LabColorizationDataModule(image_size=32, batch_size=4, num_workers=0, embedded_short_side=48)

    return build


def _cyclegan(tmp: Path):  # noqa: ANN202
    from datamodules.embedded import photos_folder
    from tests.test_cyclegan import tiny_data as cyc_data
    from tests.test_cyclegan import tiny_model as cyc_model

    files = sorted(photos_folder("train").glob("*.png"))
    root = tmp / "data"
    for i, sub in enumerate(("trainA", "trainB", "testA", "testA", "testA", "testB", "testB", "trainA", "trainB")):
        (root / sub).mkdir(parents=True, exist_ok=True)  # fixed photos (not hash-seeded noise: the same every run)
        Image.open(files[i % len(files)]).convert("RGB").resize((40, 40)).save(root / sub / f"{sub}{i}.png")
    return cyc_model(), cyc_data(root)


def _enlightengan(tmp: Path):  # noqa: ANN202
    from datamodules.lowlight import LowLightDataModule
    from tests.test_enlightengan import tiny_model as eg_model

    return eg_model(), LowLightDataModule(crop_size=48, batch_size=2, num_workers=0, val_size=64)


def _sr(kind: str, tiled: bool) -> Callable[[Path], tuple[Any, Any]]:
    def build(tmp: Path):  # noqa: ANN202
        from datamodules.super_resolution import SuperResolutionDataModule
        from lit_gans.models.super_resolution import ESRGAN, SRPretrain
        from lit_gans.networks.rrdb import RRDBNet
        from lit_gans.networks.sr_discriminator import VGGStyleDiscriminator
        from lit_gans.networks.srresnet import SRResNet

        tile = SR_TILE if tiled else {}
        if kind == "srresnet":
            model = SRPretrain(SRResNet(4, num_feat=8, num_blocks=1), pixel_loss="mse", **tile)
        else:
            d = VGGStyleDiscriminator(num_feat=4)
            model = ESRGAN(RRDBNet(4, num_feat=8, num_blocks=1, growth=4), d, vgg_weights="random", **tile)
        return model, SuperResolutionDataModule(test_roots=_sr_sets(tmp / "data"), num_workers=0)

    return build


def _sr_large(tile: dict[str, int]) -> Callable[[Path], tuple[Any, Any]]:
    """One 1040x1040 photo (LR 260x260, larger than the old default tile of 256 LR pixels)."""

    def build(tmp: Path):  # noqa: ANN202
        from datamodules.embedded import photos_folder
        from datamodules.super_resolution import SuperResolutionDataModule
        from lit_gans.models.super_resolution import SRPretrain
        from lit_gans.networks.srresnet import SRResNet

        hr = tmp / "data" / "Large" / "HR"
        hr.mkdir(parents=True)
        photo = sorted(photos_folder("heldout").glob("*.png"))[0]
        Image.open(photo).convert("RGB").resize((1040, 1040), Image.BICUBIC).save(hr / "large.png")
        model = SRPretrain(SRResNet(4, num_feat=8, num_blocks=1), pixel_loss="mse", **tile)
        return model, SuperResolutionDataModule(scale=4, test_roots=[str(tmp / "data" / "Large")], num_workers=0)

    return build


def _context_encoder(tmp: Path):  # noqa: ANN202
    from datamodules.inpainting import InpaintingDataModule
    from lit_gans.models.context_encoder import ContextEncoder
    from lit_gans.networks.context_encoder import ContextEncoderDiscriminator, ContextEncoderGenerator

    g = ContextEncoderGenerator(image_size=16, output="image", nef=4, ngf=4)
    model = ContextEncoder(g, ContextEncoderDiscriminator(image_size=16, ndf=4))
    dm = InpaintingDataModule(image_size=16, load_size=24, mask="random_region", overlap=1, batch_size=3, num_workers=0, val_crops=2)
    return model, dm


FAMILIES: dict[str, Callable[[Path], tuple[Any, Any]]] = {
    "dcgan_digits": _noise("dcgan"),
    "cgan_digits": _noise("cgan"),
    "progan_digits": _progan,
    "pix2pix_eval": _pix2pix("eval"),
    "pix2pix_paper": _pix2pix("paper"),
    "colorization": _colorization(pretraining=False),
    "colorization_pretraining": _colorization(pretraining=True),
    "cyclegan": _cyclegan,
    "enlightengan": _enlightengan,
    "srresnet_tiled": _sr("srresnet", tiled=True),
    "esrgan_tiled": _sr("esrgan", tiled=True),
    "srresnet": _sr("srresnet", tiled=False),
    "esrgan": _sr("esrgan", tiled=False),
    "srresnet_large_tiled256": _sr_large({"tile": 256, "tile_overlap": 16}),  # pinned from the old default (no tile option)
    "srresnet_large": _sr_large({}),  # whole image (the default since lit_gans/evaluation/)
    "context_encoder": _context_encoder,
}


def build(name: str, tmp: Path) -> tuple[Any, Any]:
    """The family's model at its fixed checkpoint (seeded initialisation) and its test data."""
    import lightning as L

    L.seed_everything(1234, verbose=False)
    return FAMILIES[name](tmp)


def table(name: str, tmp: Path) -> list[dict[str, Any]]:
    """The rows of ``trainer.test`` with the TestReport callback (what ``lit-gans test`` prints and saves)."""
    import lightning as L

    from lit_gans.evaluation import TestReport

    model, dm = build(name, tmp)
    cb = TestReport(num_examples=1)
    L.seed_everything(99, verbose=False)  # Pix2Pix paper mode: dropout draws at test time
    trainer(tmp / "run", callbacks=[cb]).test(model, datamodule=dm)
    return json.loads((cb.last_folder / "results.json").read_text())["rows"]


def state_keys(name: str, tmp: Path) -> list[str]:
    model, _ = build(name, tmp)
    return sorted(model.state_dict())


# ----------------------------------------------------------------------------------------------- tests
def _pinned() -> dict[str, Any]:
    return json.loads(PINNED.read_text())


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        return (math.isnan(want) and math.isnan(got)) or got == pytest.approx(want, rel=1e-6, abs=1e-9)
    return got == want


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_table_is_pinned(name, tmp_path):
    want = _pinned()["tables"][name]
    got = table(name, tmp_path)
    assert [list(r) for r in got] == [list(r) for r in want]  # the same columns in the same order
    for g, w in zip(got, want):
        for k in w:
            assert _same(g[k], w[k]), (name, g["set"], k, g[k], w[k])


def test_state_dict_keys_are_pinned(tmp_path):
    pinned = _pinned()["state_keys"]
    for name in FAMILIES:
        assert state_keys(name, tmp_path / name) == pinned[name], name


def test_super_resolution_evaluates_whole_images(tmp_path):
    """The default runs the network on the whole LR image (BasicSR's test); ``tile`` is the option for tiles."""
    from lit_gans.metrics.sr import psnr_y

    model, dm = build("srresnet_large", tmp_path)
    dm.setup("test")
    batch = dm.prepare_eval(next(iter(dm.test_dataloader()[0])))
    model.eval()
    with torch.no_grad():
        whole, net = model.super_resolve(batch["lr"]), model.generator(batch["lr"])
        model.evaluation.tile = 256  # what --model.init_args.tile=256 sets
        tiled = model.super_resolve(batch["lr"])
    assert batch["lr"].shape[-1] > 256 and torch.equal(whole, net)
    assert (tiled - net).abs().max() > 1e-3  # tiles change the output near the seams
    row = table("srresnet_large", tmp_path / "t")[0]
    assert row["psnr_y"] == pytest.approx(psnr_y(net, batch["hr"], 4).item(), rel=1e-6)


def test_protocol_line_on_the_page_and_no_model_import(tmp_path):
    import subprocess

    model, dm = build("context_encoder", tmp_path)
    from lit_gans.evaluation import TestReport

    cb = TestReport(num_examples=1)
    trainer(tmp_path / "run", callbacks=[cb]).test(model, datamodule=dm)
    assert "protocol</b>: Inpainting: L1, L2 and PSNR" in (cb.last_folder / "index.html").read_text()
    code = "import sys, lit_gans.evaluation; assert not [m for m in sys.modules if m.startswith('lit_gans.models')]"
    subprocess.run([sys.executable, "-c", code], check=True)  # layering: the evaluation package never imports models


if __name__ == "__main__":  # write the pinned values (on purpose only; see the module docstring)
    import tempfile

    out: dict[str, Any] = {"tables": {}, "state_keys": {}}
    names = sys.argv[1:] or list(FAMILIES)
    if PINNED.is_file():
        out = json.loads(PINNED.read_text())
    for family in names:
        with tempfile.TemporaryDirectory() as d:
            out["tables"][family] = table(family, Path(d) / "t")
            out["state_keys"][family] = state_keys(family, Path(d) / "k")
        print(family, out["tables"][family])
    PINNED.write_text(json.dumps(out, indent=1) + "\n")

"""What ``lit-gans test`` states next to its numbers: the protocol line (FID protocol and weights, whole image or
tiles, mod-crop), the published numbers (paper column) with source and difference, and the page (an even spread
of the test images, thumbnails that open the full-size file, generated and real images as two grids)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

import pytest
import torch
from PIL import Image

from lit_gans.errors import ConfigError
from lit_gans.evaluation import Protocol
from lit_gans.evaluation.published import PUBLISHED, comparison_rows, lookup, set_key
from tests.helpers import tiny_data, tiny_model
from tests.test_evaluation import _one_thread, _sr_sets, run_test  # noqa: F401 (_one_thread: autouse fixture)


def test_sr_table_states_crop_and_whole_image_and_shows_the_paper_column(tmp_path):
    from datamodules.super_resolution import SuperResolutionDataModule
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.rrdb import RRDBNet

    model = SRPretrain(RRDBNet(4, num_feat=8, num_blocks=1, growth=4))  # the RRDB_PSNR model's family
    dm = SuperResolutionDataModule(test_roots=_sr_sets(tmp_path / "data"), num_workers=0, mod_crop=12)
    rows, meta, folder = run_test(model, dm, tmp_path, num_examples=4)
    assert [r["set"] for r in rows] == ["Set5", "Set14"]
    lines = meta["protocol_lines"]
    assert "network run on whole images (as BasicSR's test)" in lines
    assert any("multiple of 12" in x and "GTmod12" in x for x in lines)
    # the HR images (64x80 and 80x80 crops of the photos) were cropped to multiples of 12: 60x72 and 72x72
    targets = sorted(folder.glob("images/*/*target*.png"))
    assert {Image.open(p).size for p in targets} == {(72, 60), (72, 72)}
    paper = {(r["set"], r["metric"]): r for r in meta["paper"]}
    assert set(paper) == {("Set5", "psnr_y"), ("Set5", "ssim_y"), ("Set14", "psnr_y"), ("Set14", "ssim_y")}
    set5 = paper[("Set5", "psnr_y")]
    assert set5["paper"] == 32.73 and "xinntao/ESRGAN README.md" in set5["source"]
    assert set5["difference"] == pytest.approx(rows[0]["psnr_y"] - 32.73)
    assert paper[("Set14", "ssim_y")]["paper"] == 0.7917
    md = (folder / "results.md").read_text()
    assert "Protocol of these numbers:" in md and "Published numbers (paper column):" in md and "| 32.7300 |" in md
    page = (folder / "index.html").read_text()
    assert "Published numbers (paper column)" in page and "GTmod12" in page


def test_sr_default_crop_is_the_scale_and_tiles_are_stated(tmp_path):
    from datamodules.super_resolution import SuperResolutionDataModule
    from lit_gans.models.super_resolution import SRGAN
    from lit_gans.networks.sr_discriminator import VGGStyleDiscriminator
    from lit_gans.networks.srresnet import SRResNet

    model = SRGAN(SRResNet(4, num_feat=8, num_blocks=1), VGGStyleDiscriminator(num_feat=4), vgg_weights="random", tile=8, tile_overlap=2)
    dm = SuperResolutionDataModule(test_roots=_sr_sets(tmp_path / "data"), num_workers=0)
    rows, meta, folder = run_test(model, dm, tmp_path, num_examples=1)
    assert "HR cropped to a multiple of the scale (4)" in meta["protocol_lines"]
    assert any(x.startswith("network run in 8-pixel LR tiles") for x in meta["protocol_lines"])
    assert {Image.open(p).size for p in folder.glob("images/*/*target*.png")} == {(80, 64), (80, 80)}
    assert {(r["set"], r["metric"], r["paper"]) for r in meta["paper"]} == {
        ("Set5", "psnr_y", 29.40), ("Set5", "ssim_y", 0.847), ("Set14", "psnr_y", 26.02), ("Set14", "ssim_y", 0.740)
    }  # SRGAN Table 2


def test_mod_crop_must_be_a_multiple_of_the_scale(tmp_path):
    from datamodules.super_resolution import SuperResolutionDataModule

    dm = SuperResolutionDataModule(test_roots=_sr_sets(tmp_path / "data"), num_workers=0, mod_crop=10, scale=4)
    with pytest.raises(ConfigError, match="mod_crop=10 is not a multiple of the scale 4"):
        dm.setup("test")


def test_generation_protocol_line_and_two_grids(tmp_path):
    model = tiny_model("dcgan", metrics="digits", test_samples=40, fid_protocol="pytorch-fid")
    rows, meta, folder = run_test(model, tiny_data(batch_size=64), tmp_path, num_examples=6)
    (line,) = meta["protocol_lines"]
    assert line.startswith("FID/KID on digitscnn features (weights ") and "torchmetrics statistics" in line
    assert any("fid_protocol=pytorch-fid applies to InceptionV3 features only" in n for n in meta["notes"])
    page = (folder / "index.html").read_text()
    grids = re.findall(r'<div class="grid"><h3>([^<]+)</h3>', page)
    assert grids == ["generated", "real (test set)"]
    # every thumbnail opens its full-size file
    assert re.findall(r'<a href="([^"]+)"[^>]*><img src="([^"]+)"', page) and all(
        a == b for a, b in re.findall(r'<a href="([^"]+)"[^>]*><img src="([^"]+)"', page)
    )
    assert meta["paper"] == []  # the digit GANs' papers publish no FID


def test_unknown_fid_protocol_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown FID/KID protocol 'tf-fid': choose one of torch-fidelity, pytorch-fid, clean-fid"):
        tiny_model("dcgan", fid_protocol="tf-fid")


class _Sized(Protocol):
    """A protocol whose test set has ``n`` items (no trainer needed for the page's choice of examples)."""

    def __init__(self, n: int) -> None:
        super().__init__(module=None)
        self.n = n

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def trainer(self):  # noqa: ANN201
        return None

    def test_set_size(self, dataloader_idx: int = 0) -> int:
        return self.n


def test_page_examples_are_an_even_spread_or_every_image():
    p = _Sized(100)
    p.start_report(5)
    assert p.example_indices(0) == {0, 25, 50, 74, 99}  # round(k * 99 / 4)
    index = torch.arange(100)
    p.add_examples(0, index, {"output": torch.zeros(100, 3, 2, 2)})
    assert sorted(i for _, i in p.test_state.examples) == [0, 25, 50, 74, 99]
    small = _Sized(3)
    small.start_report(5)
    assert small.example_indices(0) == {0, 1, 2}


def test_published_table_keys_and_cyclegan_needs_horse2zebra():
    assert set_key("BSDS100") == set_key("B100") == "bsd100" and set_key("Set 5") == "set5"
    assert lookup("SRPretrain/RRDBNet", "Urban100", "ssim_y").value == 0.8153
    assert lookup("CycleGAN", "AtoB", "fid", experiment="cyclegan_monet2photo") is None
    pub = lookup("CycleGAN", "AtoB", "fid", experiment="cyclegan_horse2zebra")
    assert pub.value == 62.111 and "mmagic" in pub.source
    rows = comparison_rows([{"set": "AtoB", "fid120_inception_test": 70.0, "kid120_inception_test": 0.01}], "CycleGAN", "horse2zebra")
    assert [(r["metric"], r["paper"], r["difference"]) for r in rows] == [("fid120_inception_test", 62.111, pytest.approx(7.889))]
    for key, pub in PUBLISHED.items():  # every number says where it comes from and how it was measured
        assert pub.source and pub.protocol, key


def test_results_json_keeps_na_cells(tmp_path):
    from datamodules.lowlight import LowLightDataModule
    from tests.test_enlightengan import tiny_model as eg_model

    rows, meta, folder = run_test(eg_model(), LowLightDataModule(crop_size=48, batch_size=2, num_workers=0, val_size=64), tmp_path)
    assert rows[0]["niqe"] == "n/a (niqe: false)"
    assert "| n/a (niqe: false) |" in (folder / "results.md").read_text()
    assert json.loads((folder / "results.json").read_text())["rows"][0]["niqe"] == "n/a (niqe: false)"


def test_cli_test_over_two_checkpoints_and_two_seeds(tmp_path, capsys):
    """`lit-gans test --ckpt_path a,b --seeds 0,1`: four ordinary results folders and one summary with a row per
    run naming its checkpoint and seed, and mean ± std per metric."""
    import shutil

    from lit_gans.cli import cli_main
    from tests.test_runs import DIGITS, MAIN_80D8F7E

    for name in ("a.ckpt", "b.ckpt"):
        shutil.copy(MAIN_80D8F7E, tmp_path / name)
    run = tmp_path / "run"
    cli_main([
        "test", "--config", DIGITS, f"--trainer.default_root_dir={run}", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--model.init_args.metrics=null",
        "--model.init_args.generator.init_args.ngf=4", "--model.init_args.discriminator.init_args.ndf=4",
        "--model.init_args.generator.init_args.latent_dim=8", "--trainer.limit_test_batches=1",
        f"--ckpt_path={tmp_path / 'a.ckpt'},{tmp_path / 'b.ckpt'}", "--seeds", "0,1",
    ])
    folders = sorted((run / "test").iterdir())
    assert sum(f.name.startswith(("a_", "b_")) for f in folders) == 4
    (summary,) = [f for f in folders if f.name.startswith("sweep_")]
    meta = json.loads((summary / "results.json").read_text())
    rows = meta["rows"]
    per_run = [(r["run"], Path(r["checkpoint"]).name, r["seed"]) for r in rows[:-1]]
    assert per_run == [(1, "a.ckpt", 0), (2, "a.ckpt", 1), (3, "b.ckpt", 0), (4, "b.ckpt", 1)]
    mean = rows[-1]
    assert mean["run"] == "mean ± std (4 runs)"
    fid = next(k for k in mean if k.startswith("fid"))
    values = [r[fid] for r in rows[:-1]]
    m, s = mean[fid].split(" ± ")
    assert float(m) == pytest.approx(sum(values) / 4, abs=1e-4) and float(s) == pytest.approx(float(np.std(values, ddof=1)), abs=1e-4)
    assert "mean ± std (4 runs)" in capsys.readouterr().out


def test_pix2pix_paper_mode_tests_one_image_at_a_time(tmp_path):
    """Paper mode: the table does not depend on the test batch size (batch statistics of one image, as junyanz's
    test.py with batch 1; the same seed gives the same dropout masks image by image)."""
    from datamodules.paired import PairedDataModule
    from lit_gans.models.pix2pix import Pix2Pix
    from lit_gans.networks.patchgan import PatchDiscriminator
    from lit_gans.networks.unet import UnetGenerator
    from tests.test_evaluation import _paired_root

    root = _paired_root(tmp_path / "data", n_test=3)
    torch.manual_seed(0)
    model = Pix2Pix(UnetGenerator(3, 3, 5, 4), PatchDiscriminator(6, 4), inference_mode="paper")
    tables = []
    for k, batch in enumerate((1, 3)):
        torch.manual_seed(1)
        dm = PairedDataModule(str(root), preprocess="crop", crop_size=32, batch_size=batch, num_workers=0)
        rows, meta, _ = run_test(model, dm, tmp_path / f"b{batch}")
        tables.append(rows)
    assert tables[0] == tables[1]
    assert any(x.startswith("paper mode:") and "batch 1" in x for x in meta["protocol_lines"])

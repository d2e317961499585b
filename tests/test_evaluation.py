"""``lit-gans test``: each family's protocol writes the table and the page, the table's values equal the metric
functions applied to the same outputs, and a 2-process run gives the table of one process."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DistributedSampler

from lit_gans.evaluation import Protocol, TestReport, colourfulness, generated_sample_ids, markdown_table
from lit_gans.utils.images import to_unit_range
from tests.helpers import tiny_data, tiny_model, trainer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def run_test(model, dm, tmp_path: Path, num_examples: int = 2) -> tuple[list[dict], dict, Path]:  # noqa: ANN001
    """``trainer.test`` with the TestReport callback; checks the folder's files and returns (rows, json, folder)."""
    cb = TestReport(num_examples=num_examples)
    trainer(tmp_path, callbacks=[cb]).test(model, datamodule=dm)
    folder = cb.last_folder
    assert folder is not None and folder.parent == tmp_path / "test"
    meta = json.loads((folder / "results.json").read_text())
    rows = meta["rows"]
    md = (folder / "results.md").read_text()
    assert markdown_table(rows) in md
    header = (folder / "results.csv").read_text().splitlines()[0].split(",")
    assert header == meta["columns"] and header[0] == "set"
    page = (folder / "index.html").read_text()
    links = re.findall(r'src="([^"]+)"', page)
    assert links, "the page shows no example"
    for link in links:  # relative links that resolve next to the page
        assert not link.startswith("/") and (folder / link).is_file(), link
    for key in ("checkpoint", "config", "experiment", "data_sets", "date", "versions", "model", "datamodule"):
        assert key in meta
    assert meta["data_sets"] == [r["set"] for r in rows] or len(meta["data_sets"]) == len(rows)
    return rows, meta, folder


def fetch_page_and_images(folder: Path) -> int:
    """Serve the results folder on 127.0.0.1 (as a browser would open it over HTTP) and fetch the page and every
    image it links; returns the number of images fetched."""
    import functools
    import http.server
    import threading
    import urllib.request

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        page = urllib.request.urlopen(base + "index.html", timeout=10).read().decode()
        links = re.findall(r'src="([^"]+)"', page)
        for link in links:
            data = urllib.request.urlopen(base + link, timeout=10).read()
            assert data[:8] == b"\x89PNG\r\n\x1a\n", link
        return len(links)
    finally:
        server.shutdown()
        server.server_close()


def close(a: float, b: float, rel: float = 1e-4) -> bool:
    return a == pytest.approx(b, rel=rel, abs=1e-6)


# ----------------------------------------------------------------------------------------------- pieces
def test_colourfulness_by_hand():
    gray = torch.full((1, 3, 4, 4), 0.5)
    assert colourfulness(gray).item() == pytest.approx(0.0, abs=1e-4)
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0  # rg = 255, yb = 127.5 everywhere: M = 0.3 * sqrt(255^2 + 127.5^2)
    assert colourfulness(red).item() == pytest.approx(0.3 * math.hypot(255.0, 127.5), rel=1e-5)
    half = torch.zeros(1, 3, 2, 1)
    half[0, 0, 0] = 1.0  # rg = (255, 0): std 127.5, mean 127.5; yb = (127.5, 0): std 63.75, mean 63.75
    expected = math.hypot(127.5, 63.75) + 0.3 * math.hypot(127.5, 63.75)
    assert colourfulness(half).item() == pytest.approx(expected, rel=1e-5)


def test_padding_filter_drops_what_distributed_sampler_repeats():
    from types import SimpleNamespace

    for n, world in ((5, 2), (7, 3), (6, 4), (3, 4), (1, 2)):
        dataset = list(range(n))
        counted, counted_by_index = [], []
        for rank in range(world):
            loaders = SimpleNamespace(dataset=dataset)
            on_rank = SimpleNamespace(world_size=world, global_rank=rank, test_dataloaders=loaders, datamodule=None)
            by_position = Protocol(SimpleNamespace(trainer=on_rank, device=torch.device("cpu")))
            by_index = Protocol(SimpleNamespace(trainer=None, device=torch.device("cpu")))
            order = list(DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False))
            for batch in torch.tensor(order).split(2):  # in batches of 2, as a loader would give them
                counted += batch[by_position.test_keep(batch)].tolist()
                counted_by_index += batch[by_index.test_keep(batch)].tolist()  # no trainer: the index rule
        assert sorted(counted) == dataset, (n, world, counted)
        if n > world:
            assert sorted(counted_by_index) == dataset, (n, world, counted_by_index)


def test_generated_sample_ids_make_each_sample_once():
    ids, rows = generated_sample_ids(torch.tensor([0, 3, 4]), n_real=5, total=12)
    assert ids.tolist() == [0, 3, 4, 5, 8, 9, 10]
    assert rows.tolist() == [0, 1, 2, 0, 1, 2, 0]
    every = torch.cat([generated_sample_ids(torch.tensor([i]), 5, 12)[0] for i in range(5)])
    assert sorted(every.tolist()) == list(range(12))


# ----------------------------------------------------------------------------------------------- families
def test_noise_gan_table_equals_generation_metrics(tmp_path):
    from lit_gans.metrics.generation import GenerationMetrics
    from lit_gans.models.noise import seeded_noise

    dm = tiny_data(batch_size=64)
    dm.setup("test")
    n = len(dm.val_set)
    total = 2 * n + 3  # not a multiple of the test set: 3 real items stand for a third sample
    model = tiny_model("cgan", metrics="digits", test_samples=total)
    rows, meta, folder = run_test(model, dm, tmp_path, num_examples=3)
    assert len(list((folder / "images").rglob("*.png"))) == 3 * 2  # generated | real, 3 examples
    assert re.search(r"class \d", (folder / "index.html").read_text())
    assert rows[0]["set"] == "digits/heldout"
    (row,) = rows
    model.eval()
    gm = GenerationMetrics(feature="digits", reference="test", class_accuracy=True)  # the test (held-out) split
    for batch in dm.test_dataloader():  # the same batches, so KID's random subsets see the same order
        batch = dm.on_after_batch_transfer(batch, 0)
        ids, which = generated_sample_ids(batch["index"], n, total)
        z = seeded_noise(ids, model.generator.latent_dim, seed=30_000 + model.sample_seed)
        with torch.no_grad():
            fake = to_unit_range(model.G(z, batch["label"][which], model.sampling_generator))
        gm.update_real(to_unit_range(batch["image"]))
        gm.update_fake(fake, labels=batch["label"][which])
    expected = gm.compute()
    assert f"fid{total}_digitscnn_test" in row
    for k, v in expected.items():
        assert close(row[k], float(v), rel=1e-3), (k, row[k], float(v))


def _sr_sets(tmp_path: Path) -> list[str]:
    from datamodules.embedded import photos_folder

    files = sorted(photos_folder("heldout").glob("*.png"))
    roots = []
    for k, name in enumerate(("Set5", "Set14")):
        hr = tmp_path / name / "HR"  # the "HR" part of a known layout: LR made by MATLAB bicubic
        hr.mkdir(parents=True)
        for i, f in enumerate(files):
            Image.fromarray(np.asarray(Image.open(f).convert("RGB"))[: 64 + 16 * k, :80]).save(hr / f"img{i}.png")
        roots.append(str(tmp_path / name))
    return roots


def test_super_resolution_one_row_per_test_set(tmp_path):
    from datamodules.super_resolution import SuperResolutionDataModule
    from lit_gans.metrics.sr import imresize_bicubic, psnr_y, ssim_y
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.srresnet import SRResNet

    model = SRPretrain(SRResNet(4, num_feat=8, num_blocks=1))
    dm = SuperResolutionDataModule(test_roots=_sr_sets(tmp_path / "data"), num_workers=0)
    rows, meta, folder = run_test(model, dm, tmp_path / "run")
    assert [r["set"] for r in rows] == meta["data_sets"] == ["Set5", "Set14"]
    assert (folder / "images" / "Set14" / "00001_output.png").is_file()
    assert fetch_page_and_images(folder) == 2 * 2 * 4  # 2 sets x 2 examples x (input, output, bicubic, target)
    model.eval()
    for d, row in enumerate(rows):
        p, s, pb = [], [], []
        for batch in dm.test_dataloader()[d]:
            batch = dm.prepare_eval(batch)
            sr = model.super_resolve(batch["lr"])
            p.append(psnr_y(sr, batch["hr"], 4))
            s.append(ssim_y(sr, batch["hr"], 4))
            pb.append(psnr_y(imresize_bicubic(batch["lr"], 4), batch["hr"], 4))
        assert close(row["psnr_y"], torch.cat(p).mean().item())
        assert close(row["ssim_y"], torch.cat(s).mean().item())
        assert close(row["psnr_y_bicubic"], torch.cat(pb).mean().item())


def _paired_root(tmp_path: Path, n_test: int = 2) -> Path:
    from datamodules.embedded import photos_folder

    files = sorted(photos_folder("train").glob("*.png"))[: 2 + n_test]
    for split, chosen in (("train", files[:2]), ("test", files[2:])):
        for i, f in enumerate(chosen):
            rgb = np.asarray(Image.open(f).convert("RGB").resize((32, 32)))
            for sub, array in (("A", 255 - rgb), ("B", rgb)):
                (tmp_path / split / sub).mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.ascontiguousarray(array)).save(tmp_path / split / sub / f"p{i}.png")
    return tmp_path


def test_pix2pix_table_equals_paired_metrics(tmp_path):
    from datamodules.paired import PairedDataModule
    from lit_gans.metrics.paired import psnr_per_image, ssim_per_image
    from lit_gans.models.pix2pix import Pix2Pix
    from lit_gans.networks.patchgan import PatchDiscriminator
    from lit_gans.networks.unet import UnetGenerator

    model = Pix2Pix(UnetGenerator(3, 3, 5, 4), PatchDiscriminator(6, 4), inference_mode="eval")
    dm = PairedDataModule(str(_paired_root(tmp_path / "data")), preprocess="crop", crop_size=32, batch_size=2, num_workers=0)
    rows, meta, folder = run_test(model, dm, tmp_path / "run")
    (row,) = rows
    assert row["set"] == "data/test"
    assert set(row) >= {"psnr", "ssim", "l1"}
    assert len(list((folder / "images").rglob("*.png"))) == 2 * 3  # input | output | target
    model.eval()
    batch = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    with torch.no_grad():
        fake = model.generator(batch["A"])
    out, target = to_unit_range(fake), to_unit_range(batch["B"])
    assert close(row["psnr"], psnr_per_image(out, target).mean().item())
    assert close(row["ssim"], ssim_per_image(out, target).mean().item())
    assert close(row["l1"], (fake - batch["B"]).abs().mean().item())
    if not any(k.startswith("fid") for k in row):
        assert any("Inception" in n for n in meta["notes"])


def test_colorization_table_has_ab_l1_and_colourfulness(tmp_path):
    from datamodules.lab_colorization import LabColorizationDataModule
    from lit_gans.metrics.paired import psnr_per_image
    from lit_gans.models.pix2pix import Pix2Pix
    from lit_gans.networks.patchgan import PatchDiscriminator
    from lit_gans.networks.unet import UnetGenerator
    from lit_gans.utils.lab import lab_normalized_to_rgb

    model = Pix2Pix(UnetGenerator(1, 2, 5, 4), PatchDiscriminator(3, 4), color_space="lab", inference_mode="eval")
    dm = LabColorizationDataModule(image_size=32, batch_size=4, num_workers=0, embedded_short_side=48)
    rows, _, _ = run_test(model, dm, tmp_path)
    (row,) = rows
    model.eval()
    light, ab, fakes = [], [], []
    for batch in dm.test_dataloader():
        batch = dm.on_after_batch_transfer(batch, 0)
        with torch.no_grad():
            fakes.append(model.generator(batch["A"]))
        light.append(batch["A"])
        ab.append(batch["B"])
    light, ab, fake = torch.cat(light), torch.cat(ab), torch.cat(fakes)
    out, target = lab_normalized_to_rgb(light, fake), lab_normalized_to_rgb(light, ab)
    assert close(row["ab_l1"], (fake - ab).abs().flatten(1).mean(1).mean().item())
    assert close(row["psnr"], psnr_per_image(out, target).mean().item())
    assert close(row["colourfulness"], colourfulness(out).mean().item())
    assert close(row["colourfulness_target"], colourfulness(target).mean().item())


def test_context_encoder_rows_per_mask_equal_hole_metrics(tmp_path):
    from datamodules.inpainting import InpaintingDataModule
    from lit_gans.metrics.masked import hole_l1, hole_l2, hole_psnr
    from lit_gans.models.context_encoder import ContextEncoder
    from lit_gans.networks.context_encoder import ContextEncoderDiscriminator, ContextEncoderGenerator
    from lit_gans.utils.masks import fill_hole

    g = ContextEncoderGenerator(image_size=16, output="image", nef=4, ngf=4)
    model = ContextEncoder(g, ContextEncoderDiscriminator(image_size=16, ndf=4))
    dm = InpaintingDataModule(image_size=16, load_size=24, mask="random_region", overlap=1, batch_size=3, num_workers=0, val_crops=2)
    rows, _, _ = run_test(model, dm, tmp_path)
    assert [r["set"] for r in rows] == ["embedded_heldout/center", "embedded_heldout/random_region"]
    model.eval()
    images = torch.stack([dm.val_set[i]["image"] for i in range(len(dm.val_set))]).float() / 127.5 - 1.0
    index = torch.arange(len(dm.val_set))
    for row, kind in zip(rows, ("center", "random_region")):
        mask = dm.test_mask(kind, index, images.device)
        masked = fill_hole(images, mask, dm._fill(images))
        with torch.no_grad():
            _, comp = model.inpaint(masked, images, mask)
        out, target = to_unit_range(comp), to_unit_range(images)
        assert close(row["hole_l1"], hole_l1(out, target, mask).mean().item())
        assert close(row["hole_l2"], hole_l2(out, target, mask).mean().item())
        assert close(row["hole_psnr"], hole_psnr(out, target, mask).mean().item())
    assert rows[0]["hole_l1"] != rows[1]["hole_l1"]


def test_cyclegan_rows_both_directions(tmp_path):
    from tests.test_cyclegan import tiny_data as cyc_data
    from tests.test_cyclegan import tiny_model as cyc_model
    from tests.test_cyclegan_data import make_root, write

    root = make_root(tmp_path / "data", n_a=2, n_b=2, size=(40, 40))
    for i in range(3):
        write(root / "testA" / f"ta{i}.png", (40, 40))
    for i in range(2):
        write(root / "testB" / f"tb{i}.png", (40, 40))
    model = cyc_model()
    dm = cyc_data(root)
    rows, meta, _ = run_test(model, dm, tmp_path / "run")
    assert [r["set"] for r in rows] == ["AtoB", "BtoA"]
    model.eval()
    loaders = dm.test_dataloader()
    for d, (fwd, bwd) in enumerate(((model.generator, model.generator_ba), (model.generator_ba, model.generator))):
        errors = []
        for batch in loaders[d]:
            x = dm.on_after_batch_transfer(batch, d)["A"]
            with torch.no_grad():
                errors.append((bwd(fwd(x)) - x).abs().flatten(1).mean(1))
        assert close(rows[d]["cycle_l1"], torch.cat(errors).mean().item())
    if "fid" not in " ".join(rows[0]):
        assert any("Inception" in n for n in meta["notes"])


def test_enlightengan_paired_folder_psnr_ssim(tmp_path):
    from datamodules.lowlight import LowLightDataModule
    from lit_gans.metrics.paired import psnr_per_image, ssim_per_image
    from tests.test_enlightengan import tiny_model as eg_model

    model = eg_model()
    dm = LowLightDataModule(crop_size=48, batch_size=2, num_workers=0, val_size=64)
    rows, _, _ = run_test(model, dm, tmp_path)
    (row,) = rows
    assert row["niqe"] == "n/a (niqe: false)"  # niqe=False in the tiny model: the cell says why
    model.eval()
    p, s = [], []
    for batch in dm.test_dataloader()[0]:
        batch = dm.on_after_batch_transfer(batch, 0)
        with torch.no_grad():
            out = to_unit_range(model.enhance(batch["A"]))
        target = to_unit_range(batch["target"])
        p.append(psnr_per_image(out, target))
        s.append(ssim_per_image(out, target))
    assert close(row["psnr"], torch.cat(p).mean().item())
    assert close(row["ssim"], torch.cat(s).mean().item())


def test_progan_swd_and_fid(tmp_path):
    from datamodules.progan import ProGANDataModule
    from lit_gans.models.progan import ProGAN, ProGANSchedule
    from tests.test_progan_model import nets

    model = ProGAN(*nets(16), ProGANSchedule(), metrics="digits", test_samples=100)
    dm = ProGANDataModule(source="digits", resolution=16, channels=1, num_workers=0)
    rows, _, _ = run_test(model, dm, tmp_path)
    (row,) = rows
    assert {"fid100_digitscnn_val", "swd100_val_16px", "swd100_val_avg"} <= set(row)
    assert row["swd100_val_avg"] > 0


# ----------------------------------------------------------------------------------------------- CLI and DDP
def _cli_test(tmp_path: Path, devices: int, out: Path, capsys=None) -> dict:  # noqa: ANN001
    args = [
        "test", "--config", str(ROOT / "experiments" / "cgan_digits.yaml"),
        "--trainer.accelerator=cpu", f"--trainer.devices={devices}", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}",
        "--trainer.callbacks+=lit_gans.evaluation.TestReport", "--trainer.callbacks.num_examples=4",
        f"--trainer.callbacks.dirpath={out}", "--data.init_args.batch_size=50",
    ]
    if devices > 1:
        args.append("--trainer.strategy=ddp")
    tmp_path.mkdir(parents=True, exist_ok=True)
    if capsys is not None:  # one process: in this one (as `lit-gans` runs it)
        from lit_gans.cli import cli_main

        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            cli_main(args)
        finally:
            os.chdir(cwd)
        stdout = capsys.readouterr().out
    else:
        env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
        proc = subprocess.run([sys.executable, "-m", "lit_gans", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-4000:]
        stdout = proc.stdout
    assert "| set |" in stdout and "test results in" in stdout  # the table is printed
    (folder,) = list(out.iterdir())
    return json.loads((folder / "results.json").read_text())


def test_two_processes_give_the_table_of_one(tmp_path, capsys):
    one = _cli_test(tmp_path / "one", 1, tmp_path / "one_out", capsys)
    two = _cli_test(tmp_path / "two", 2, tmp_path / "two_out")
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert one["config"].endswith("cgan_digits.yaml")
    n = 359  # digits held-out split: odd, so DistributedSampler pads one repeated item on the second rank
    (r1,), (r2,) = one["rows"], two["rows"]
    assert f"fid{n}_digitscnn_test" in r1, r1
    assert r1.keys() == r2.keys()
    for k in r1:
        if k != "set":
            assert close(r1[k], r2[k], rel=1e-4), (k, r1[k], r2[k])
    pages = [sorted(p.name for p in (tmp_path / f"{w}_out").rglob("*.png")) for w in ("one", "two")]
    assert pages[0] == pages[1] and len(pages[0]) == 4 * 2


def test_official_weights_through_the_cli_and_wandb_table(tmp_path, capsys):
    """``lit-gans test --config experiments/rrdb_psnr_embedded.yaml --model.init_args.generator_ckpt <official .pth>``
    (no ckpt_path): the table is that of the official weights, and the W&B run (offline) holds it as a table."""
    from datamodules.super_resolution import SuperResolutionDataModule
    from lit_gans.cli import cli_main
    from lit_gans.metrics.sr import psnr_y
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.rrdb import RRDBNet
    from tests.test_sr_networks import _esrgan_old_key, _seeded

    shapes = {k: v.shape for k, v in RRDBNet(4, num_feat=32, num_blocks=2, growth=16).state_dict().items()}
    official = tmp_path / "RRDB_ESRGAN_x4.pth"  # the pre-2019 ESRGAN layout of the released file
    torch.save(_seeded({_esrgan_old_key(k, 2, 4): s for k, s in shapes.items()}), official)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        cli_main([
            "test", "--config", str(ROOT / "experiments" / "rrdb_psnr_embedded.yaml"),
            f"--model.init_args.generator_ckpt={official}", "--trainer.accelerator=cpu",
            f"--trainer.default_root_dir={tmp_path}", f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.enable_progress_bar=false", "--trainer.callbacks+=lit_gans.evaluation.TestReport",
            f"--trainer.callbacks.dirpath={tmp_path / 'results'}",
        ])
    finally:
        os.chdir(cwd)
    assert "| embedded held-out photos |" in capsys.readouterr().out
    (folder,) = list((tmp_path / "results").iterdir())
    meta = json.loads((folder / "results.json").read_text())
    assert folder.name.startswith("weights_") and meta["checkpoint"] is None
    (row,) = meta["rows"]
    model = SRPretrain(RRDBNet(4, num_feat=32, num_blocks=2, growth=16), generator_ckpt=str(official)).eval()
    dm = SuperResolutionDataModule(scale=4, num_workers=0)
    dm.setup("test")
    values = [psnr_y(model.super_resolve(b["lr"]), b["hr"], 4) for b in map(dm.prepare_eval, dm.test_dataloader())]
    assert close(row["psnr_y"], torch.cat(values).mean().item())
    tables = list(tmp_path.glob("wandb/offline-run-*/files/media/table/test/results*.table.json"))
    assert tables, "no W&B table"
    table = json.loads(tables[0].read_text())
    assert table["columns"] == meta["columns"] and table["data"][0][0] == "embedded held-out photos"


def test_checkpoint_test_twice_keeps_both_results(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    model = tiny_model("dcgan", metrics="digits")
    dm = tiny_data(batch_size=64)
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "checkpoints"), save_last=True)
    trainer(tmp_path, max_steps=2, enable_checkpointing=True, callbacks=[ckpt]).fit(model, datamodule=dm)
    folders = []
    for _ in range(2):
        cb = TestReport(num_examples=1)
        trainer(tmp_path, callbacks=[cb]).test(tiny_model("dcgan", metrics="digits"), datamodule=dm, ckpt_path=ckpt.last_model_path)
        folders.append(cb.last_folder)
    assert folders[0] != folders[1] and all(f.name.startswith("last_") for f in folders)
    metas = [json.loads((f / "results.json").read_text()) for f in folders]
    assert metas[0]["checkpoint"] == str(Path(ckpt.last_model_path).resolve())
    assert metas[0]["rows"] == metas[1]["rows"]  # the same weights, the same table
    assert not list((tmp_path / "test").glob(".tmp-*"))  # nothing half-written left


def test_official_weights_as_ckpt_path_get_the_fix(tmp_path):
    from lightning.pytorch.callbacks import ModelCheckpoint

    from lit_gans.errors import ConfigError
    from lit_gans.io.checkpoints import check_lightning_checkpoint
    from lit_gans.networks.srresnet import SRResNet

    official = tmp_path / "SRResNet_x4.pth"
    torch.save({"params": SRResNet(4, num_feat=8, num_blocks=1).state_dict()}, official)
    with pytest.raises(ConfigError, match=f"generator_ckpt={official}"):
        check_lightning_checkpoint(str(official))
    (tmp_path / "broken.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="broken.ckpt"):
        check_lightning_checkpoint(str(tmp_path / "broken.ckpt"))
    ckpt = ModelCheckpoint(dirpath=str(tmp_path / "c"), save_last=True)
    trainer(tmp_path, max_steps=1, enable_checkpointing=True, callbacks=[ckpt]).fit(tiny_model(), datamodule=tiny_data())
    check_lightning_checkpoint(ckpt.last_model_path)  # a lit_gans checkpoint passes


@pytest.mark.slow
@pytest.mark.skipif("not __import__('lit_gans.evaluation', fromlist=['x']).inception_available()", reason="no FID Inception weights")
def test_inception_fid_columns_both_directions(tmp_path):
    from lit_gans.metrics.generation import GenerationMetrics
    from tests.test_cyclegan import tiny_data as cyc_data
    from tests.test_cyclegan import tiny_model as cyc_model
    from tests.test_cyclegan_data import make_root, write

    root = make_root(tmp_path / "data", n_a=2, n_b=2, size=(40, 40))
    for sub in ("testA", "testB"):
        for i in range(3):
            write(root / sub / f"{sub}{i}.png", (40, 40))
    model, dm = cyc_model(), cyc_data(root, batch_size=3)
    rows, _, _ = run_test(model, dm, tmp_path / "run")
    assert list(rows[0]) == list(rows[1]) == ["set", "fid3_inception_test", "kid3_inception_test", "cycle_l1"]
    model.eval()
    loaders = dm.test_dataloader()
    a = dm.on_after_batch_transfer(next(iter(loaders[0])), 0)["A"]
    b = dm.on_after_batch_transfer(next(iter(loaders[1])), 1)["A"]
    gm = GenerationMetrics(feature="inception", reference="test")
    with torch.no_grad():
        gm.update_fake(to_unit_range(model.generator(a)))
    gm.update_real(to_unit_range(b))
    assert close(rows[0]["fid3_inception_test"], gm.compute()["fid3_inception_test"].item(), rel=1e-3)

"""Pix2Pix training geometry in the DataLoader workers when the trainer's device is the CPU (issue 17):
the same result as the device-side path, chosen automatically, and a real fit through worker processes."""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from PIL import Image

from datamodules.paired import GeometryInWorkers, PairedDataModule, collate_images


def _write_pairs(folder, n=3, w=40, h=36):  # noqa: ANN001
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):  # A|B side by side, each half w x h
        Image.fromarray(rng.integers(0, 256, (h, 2 * w, 3), dtype=np.uint8)).save(folder / f"p{i}.png")


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop"])
def test_worker_geometry_equals_device_geometry(tmp_path, preprocess: str) -> None:  # noqa: ANN001
    """Same seed, same item: the worker path and the device path (a batch of one through
    ``on_after_batch_transfer``) give bit-identical A and B: the same resize, crop position and flip."""
    _write_pairs(tmp_path / "train")
    kw = dict(preprocess=preprocess, load_size=28, crop_size=16, flip=True, batch_size=1, num_workers=0)
    workers = PairedDataModule(str(tmp_path), train_geometry="workers", **kw)
    device = PairedDataModule(str(tmp_path), train_geometry="device", **kw)
    workers.setup("fit")
    device.setup("fit")
    assert isinstance(workers.train_set, GeometryInWorkers) and not isinstance(device.train_set, GeometryInWorkers)
    device.trainer = SimpleNamespace(training=True)
    flips = set()
    for seed in range(6):
        for i in range(3):
            torch.manual_seed(seed)
            w = workers.on_after_batch_transfer(collate_images([workers.train_set[i]]), 0)
            torch.manual_seed(seed)
            d = device.on_after_batch_transfer(collate_images([device.train_set[i]]), 0)
            assert w["A"].shape == d["A"].shape == (1, 3, 16, 16)
            assert torch.equal(w["A"], d["A"]) and torch.equal(w["B"], d["B"])
            assert w["index"].tolist() == d["index"].tolist() and w["name"] == d["name"]
            assert "geometry_done" not in w
            flips.add(float(d["A"].sum()))
    assert len(flips) > 3  # the draws do vary with the seed


def test_auto_follows_the_trainer_device_and_workers(tmp_path) -> None:  # noqa: ANN001
    _write_pairs(tmp_path / "train")

    def wrapped(num_workers: int, train_geometry: str = "auto") -> bool:
        dm = PairedDataModule(str(tmp_path), crop_size=16, load_size=20, num_workers=num_workers, train_geometry=train_geometry)
        dm.trainer = L.Trainer(accelerator="cpu", devices=1, logger=False)
        dm.setup("fit")
        return isinstance(dm.train_set, GeometryInWorkers)

    assert wrapped(2) is True  # CPU trainer with workers: in the workers
    assert wrapped(0) is False  # no workers: the main process either way, keep the batched device path
    assert wrapped(2, "device") is False
    with pytest.raises(ValueError, match="train_geometry"):
        PairedDataModule(str(tmp_path), train_geometry="gpu")


def test_fit_with_geometry_in_worker_processes(tmp_path) -> None:  # noqa: ANN001
    """A real CPU fit with one worker process: batches arrive cropped, in [-1, 1], and training runs."""
    from lit_gans.models.pix2pix import Pix2Pix
    from lit_gans.networks.patchgan import PatchDiscriminator
    from lit_gans.networks.unet import UnetGenerator

    _write_pairs(tmp_path / "train")
    dm = PairedDataModule(str(tmp_path), crop_size=32, load_size=36, batch_size=2, num_workers=1, epoch_repeats=2)
    seen = []

    class Check(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
            seen.append((tuple(batch["A"].shape), float(batch["A"].min()), float(batch["A"].max())))

    model = Pix2Pix(UnetGenerator(3, 3, num_downs=5, ngf=4), PatchDiscriminator(6, ndf=4, n_layers=1))
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, callbacks=[Check()])
    trainer.fit(model, dm)
    assert isinstance(dm.train_set, GeometryInWorkers)
    # [-1, 1] up to the bicubic overshoot (kornia does not clamp; the device path gives the same values)
    assert len(seen) == 3 and all(s[0] == (2, 3, 32, 32) and -1.5 <= s[1] < -0.5 and 0.5 < s[2] <= 1.5 for s in seen)
    assert model.g_iter == 3

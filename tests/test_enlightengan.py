"""EnlightenGAN model: global relativistic and local LSGAN losses against hand-computed values, the patches,
the frozen VGG and its SFP loss, validation metrics, tiled prediction and the YAMLs through the CLI."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from datamodules.lowlight import LowLightDataModule
from lit_gans.cli import LitGansCLI
from lit_gans.metrics.niqe import find_niqe_params
from lit_gans.losses.perceptual import instance_normalized_mse, self_feature_preserving_loss, sfp_vgg
from lit_gans.models.enlightengan import EnlightenGAN
from lit_gans.networks.enlightengan import AttentionUNetGenerator, NoNormDiscriminator
from tests.test_cyclegan_data import make_root, write

ROOT = Path(__file__).resolve().parents[1]
TINY = [
    "--model.init_args.generator.init_args.base_channels=4", "--model.init_args.discriminator.init_args.ndf=4",
    "--model.init_args.discriminator_local.init_args.ndf=4", "--model.init_args.vgg_weights=random",
    "--data.init_args.crop_size=48", "--data.init_args.batch_size=2", "--data.init_args.num_workers=0",
]


class TableD(nn.Module):
    """'Discriminator' whose output is looked up by the image's mean: lets a test set D(real), D(fake)."""

    def __init__(self, table: dict[float, list[float]]) -> None:
        super().__init__()
        self.table = table
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):  # noqa: ANN001, ANN201
        key = round(float(x.mean()), 3)
        return torch.tensor(self.table[key]).view(-1, 1, 1, 1) + 0 * self.w


class Const(nn.Module):
    in_channels = 3

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x, attention=None):  # noqa: ANN001, ANN201
        return torch.full_like(x, self.value) + 0 * self.w


def test_global_relativistic_and_local_losses_by_hand():
    # real B is all 0, the fake all -0.5 (keys = image means): D(real) = [0.9, 0.5], D(fake) = [0.2, -0.4];
    # the local D answers 0.7 on real patches and 0.1 on fake ones
    d = TableD({0.0: [0.9, 0.5], -0.5: [0.2, -0.4]})
    d_local = TableD({0.0: [0.7] * 4, -0.5: [0.1] * 4})
    model = EnlightenGAN(Const(-0.5), d, d_local, n_patches=2, patch_size=4, sfp_weight=0.0, init_std=None)
    batch = {"A": torch.full((2, 3, 8, 8), -0.9), "B": torch.full((2, 3, 8, 8), 0.0)}
    out = model.generate(batch)
    r, f = torch.tensor([0.9, 0.5]), torch.tensor([0.2, -0.4])
    # Eq. 1-2 + official 1/2: ((D(r) - E D(f) - 1)^2 + (D(f) - E D(r))^2) / 2, means over the batch
    d_global = 0.5 * (((r - f.mean() - 1) ** 2).mean() + ((f - r.mean()) ** 2).mean())
    local = 0.5 * ((0.7 - 1) ** 2 + 0.1**2)  # Eq. 5 with the official 0.5, same for every patch
    _, logs = model.discriminator_loss(batch, out)
    assert logs["d_global"].item() == pytest.approx(d_global.item(), abs=1e-6)
    assert logs["d_local"].item() == pytest.approx(local, abs=1e-6)
    assert logs["d_loss"].item() == pytest.approx(d_global.item() + local, abs=1e-6)
    # Eq. 3-4: ((D(r) - E D(f))^2 + (D(f) - E D(r) - 1)^2) / 2; Eq. 6: (D(fake patch) - 1)^2
    g_global = 0.5 * (((r - f.mean()) ** 2).mean() + ((f - r.mean() - 1) ** 2).mean())
    loss, logs = model.generator_loss(batch, out)
    assert logs["g_global"].item() == pytest.approx(g_global.item(), abs=1e-6)
    assert logs["g_local"].item() == pytest.approx((0.1 - 1) ** 2, abs=1e-6)
    assert loss.item() == pytest.approx(g_global.item() + 0.81, abs=1e-6)


def tiny_model(**kwargs):
    defaults = dict(n_patches=3, patch_size=16, vgg_weights="random", niqe=False)
    defaults.update(kwargs)
    return EnlightenGAN(AttentionUNetGenerator(base_channels=4), NoNormDiscriminator(3, 4, 3), NoNormDiscriminator(3, 4, 2), **defaults)


def test_patches_share_positions_and_sfp_uses_undarkened_input():
    model = tiny_model()
    a = torch.rand(2, 3, 32, 40) * 2 - 1
    batch = {"A": a, "A_input": (a + 1) / 2 / 3 * 2 - 1, "B": a.flip(-1)}
    out = model.generate(batch)
    assert out["fake_patches"].shape == out["input_patches"].shape == out["real_patches"].shape == (6, 3, 16, 16)
    # the input patches are cut from the undarkened A, the real ones from B, at the fake's positions
    found = [(y, x) for y in range(32 - 15) for x in range(40 - 15) if torch.equal(a[0, :, y : y + 16, x : x + 16], out["input_patches"][0])]
    assert found
    y, x = found[0]
    assert torch.equal(out["real_patches"][0], batch["B"][0, :, y : y + 16, x : x + 16])
    # generator sees the darkened input (its attention is computed from it)
    torch.testing.assert_close(out["attention"], 1 - (0.299 * (batch["A_input"][:, :1] + 1) + 0.587 * (batch["A_input"][:, 1:2] + 1) + 0.114 * (batch["A_input"][:, 2:] + 1)) / 2)


def test_vgg_frozen_not_optimized_not_checkpointed():
    model = tiny_model()
    assert model.vgg is None  # built for training only: prediction needs no VGG weights
    model._ensure_vgg()
    assert not model.vgg.training and not any(p.requires_grad for p in model.vgg.parameters())
    model.train()
    assert not model.vgg.training  # stays in eval mode
    opt_g, opt_d = model.configure_optimizers()[0]
    vgg_ids = {id(p) for p in model.vgg.parameters()}
    in_opts = {id(p) for o in (opt_g, opt_d) for g in o.param_groups for p in g["params"]}
    assert not vgg_ids & in_opts
    assert in_opts == {id(p) for p in model.parameters() if p.requires_grad}
    assert opt_g.defaults["lr"] == 1e-4 and opt_g.defaults["betas"] == (0.5, 0.999)
    assert not any(k.startswith("vgg.") for k in model.state_dict())
    # VGG16 relu5_1 with pool4 removed: 1/8 of the input resolution
    assert model.vgg(torch.rand(1, 3, 64, 64))["relu5_1"].shape == (1, 512, 8, 8)


def test_vgg_weights_error_and_official_generator_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="VGG weights file"):
        tiny_model(vgg_weights=str(tmp_path / "vgg16.pth"))._ensure_vgg()
    from tests.test_enlightengan_networks import _official_items, seeded_state

    official = seeded_state(_official_items())
    torch.save(official, tmp_path / "200_net_G_A.pth")  # the released file is such a DataParallel state_dict
    model = EnlightenGAN(AttentionUNetGenerator(), NoNormDiscriminator(3, 4, 3), NoNormDiscriminator(3, 4, 2),
                         generator_weights=str(tmp_path / "200_net_G_A.pth"), niqe=False)
    assert torch.equal(model.generator.down[0].conv1.weight, official["module.conv1_1.weight"])
    assert torch.equal(model.generator.up[3].bn1.running_var, official["module.bn9_1.running_var"])


def test_sfp_loss_values():
    a, b = torch.randn(2, 5, 4, 4), torch.randn(2, 5, 4, 4)
    norm = lambda t: (t - t.mean((2, 3), keepdim=True)) / torch.sqrt(t.var((2, 3), unbiased=False, keepdim=True) + 1e-5)  # noqa: E731
    assert instance_normalized_mse(a, b).item() == pytest.approx(((norm(a) - norm(b)) ** 2).mean().item(), rel=1e-5)
    assert instance_normalized_mse(a, 3 * a + 2).item() == pytest.approx(0.0, abs=1e-6)  # IN: invariant to gain/offset
    vgg = sfp_vgg("random")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert self_feature_preserving_loss(vgg, x, x).item() == 0.0
    y = x.clone().requires_grad_(True)
    self_feature_preserving_loss(vgg, y + 0.1 * torch.randn_like(y), x).backward()
    assert y.grad.abs().sum() > 0


def test_official_vgg_preprocessing_option():
    vgg = sfp_vgg("random", input_norm="caffe_nomean")
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(vgg.preprocess(x).flatten(), torch.tensor([255.0, 127.5, 0.0]))  # BGR, 0..255, no mean


def test_validation_metrics_and_tiled_prediction(tmp_path):
    root = make_root(tmp_path / "data", n_a=2, n_b=2, size=(64, 64))
    for n in ("p0", "p1"):
        write(root / "lol" / "low" / f"{n}.png", size=(200, 104))  # two 96 px NIQE blocks
        write(root / "lol" / "high" / f"{n}.png", size=(200, 104))
    model = tiny_model(niqe=None)  # NIQE when its parameters are installed
    dm = LowLightDataModule(root=str(root), paired_root=str(root / "lol"), crop_size=48, batch_size=2, num_workers=0)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
                        enable_checkpointing=False, default_root_dir=str(tmp_path))
    (metrics,) = trainer.validate(model, dm)
    metrics = {k: torch.as_tensor(v) for k, v in metrics.items()}
    keys = ["val/psnr", "val/ssim", "val/ssim_input", "val/brightness", "val/brightness_target"]
    if find_niqe_params() is not None:
        keys.append("val/niqe")
    for key in keys:
        assert key in metrics and torch.isfinite(metrics[key])
    model.eval()
    x = torch.rand(1, 3, 150, 110) * 2 - 1
    with torch.no_grad():
        whole = model.enhance(x)
        model.predict_tile, model.predict_tile_overlap = 160, 16
        same = model.evaluation.apply_maybe_tiled(model.enhance, x)  # fits in one tile: exactly the same
        model.predict_tile, model.predict_tile_overlap = 64, 32
        tiled = model.evaluation.apply_maybe_tiled(model.enhance, x)
    assert torch.equal(same, whole)
    assert (tiled - whole).abs().mean() < 0.05  # feathered tiles: close away from nothing but the seams
    write(root / "testA" / "p0.png", size=(200, 104))
    write(root / "testA" / "p1.png", size=(200, 104))
    preds = trainer.predict(model, datamodule=dm)
    assert [p["names"] for p in preds] == [["p0"], ["p1"]] and preds[0]["images"].shape == (1, 3, 104, 200)


def _cli_fit(config, tmp_path, *extra):
    args = ["fit", "--config", str(ROOT / "experiments" / config), f"--trainer.default_root_dir={tmp_path}",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={tmp_path}", "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1", "--trainer.num_sanity_val_steps=0", *extra]
    return LitGansCLI(args=args)


def test_yaml_enlightengan_one_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    root = make_root(tmp_path / "eg", n_a=2, n_b=2, size=(64, 64))
    write(root / "testA" / "t.png", size=(200, 200))
    cli = _cli_fit("enlightengan.yaml", tmp_path, f"--data.init_args.root={root}", *TINY)
    assert cli.model.g_iter == 1 and cli.model.n_patches == 6 and cli.model.patch_size == 32


def test_yaml_embedded_one_step(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    cli = _cli_fit("enlightengan_embedded.yaml", tmp_path, *TINY)
    assert cli.model.g_iter == 1
    assert any(tmp_path.rglob("enhance_final.png"))


def test_cli_predict_folder_tiled_without_vgg(tmp_path, monkeypatch):
    """`lit-gans predict` on a folder with the paper YAML: own sizes, same names, tiles kept on the host,
    and no VGG needed (vgg_weights stays 'imagenet', unavailable offline)."""
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos"
    write(photos / "wide.png", size=(150, 70))
    write(photos / "gray.png", size=(64, 64), mode="L")
    out = tmp_path / "enhanced"
    tiny = [a for a in TINY if "vgg_weights" not in a and "data." not in a]
    LitGansCLI(args=["predict", "--config", str(ROOT / "experiments" / "enlightengan.yaml"), *tiny,
                     f"--data.init_args.root={tmp_path}", f"--data.init_args.predict_root={photos}",
                     "--data.init_args.num_workers=0", "--model.init_args.predict_tile=64",
                     "--model.init_args.predict_tile_overlap=16", f"--writer.output_dir={out}",
                     "--trainer.logger=false", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}"])
    from PIL import Image

    assert sorted(p.name for p in out.glob("*.png")) == ["gray.png", "wide.png"]
    assert Image.open(out / "wide.png").size == (150, 70) and Image.open(out / "gray.png").mode == "RGB"


def test_niqe_auto_off_or_required(tmp_path):
    missing = str(tmp_path / "niqe_pris_params.npz")
    model = tiny_model(niqe=None, niqe_params=missing)
    model.evaluation.setup("validate")
    assert model.evaluation.niqe_on is False  # optional: off with a notice
    with pytest.raises(FileNotFoundError, match="basicsr"):
        tiny_model(niqe=True, niqe_params=missing).evaluation.setup("validate")  # required: a clear error

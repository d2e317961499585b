"""ProGAN model: schedule values, setup errors, loss by hand, batch sizes and optimizer resets following the
schedule in a real fit, and an exact resume in the middle of a fade-in."""

from __future__ import annotations

import math

import lightning as L
import pytest
import torch

from datamodules.progan import ProGANDataModule
from lit_gans.models.progan import ProGAN, ProGANSchedule, slerp
from lit_gans.networks.progan import ProGANDiscriminator, ProGANGenerator
from tests.helpers import trainer


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine two OpenMP threads spin against each other."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def nets(res: int = 16, ch: int = 1):
    return ProGANGenerator(res, ch, fmap_base=64, fmap_max=16), ProGANDiscriminator(res, ch, fmap_base=64, fmap_max=16)


# ---------------------------------------------------------------------------------------- schedule
def test_schedule_follows_official_training_schedule():
    s = ProGANSchedule(600, 600, batch_size={4: 128, 8: 128, 16: 128, 32: 64}, lr={4: 1e-3, 8: 1e-3, 16: 1e-3, 32: 2e-3})
    at = lambda n: s.at(n, 32)  # noqa: E731
    assert at(0)[:4] == (0, 1.0, 4, 128) and at(0).lod == 3.0
    assert at(600_000)[:3] == (0, 1.0, 4)  # last image of the 4x4 phase
    st = at(600_001)  # first image of the fade-in of 8x8: lod just below 3
    assert st.stage == 1 and st.resolution == 8 and st.alpha == pytest.approx(1 / 600_000) and st.phase == (2, 3)
    assert at(900_000)[:3] == (1, 0.5, 8) and at(900_000).lod == 2.5
    assert at(1_200_000)[:3] == (1, 1.0, 8) and at(1_200_000).phase == (2, 2)
    st = at(3_300_000)  # phase 2 (16 -> 32), half-way through the fade-in of 32x32
    assert (st.stage, st.alpha, st.resolution, st.batch_size, st.lr) == (3, 0.5, 32, 64, 2e-3)
    assert at(10**9)[:3] == (3, 1.0, 32) and at(10**9).lod == 0.0
    # a later start (official lod_initial_resolution) and an int batch size for every resolution
    s8 = ProGANSchedule(1, 1, start_resolution=8, batch_size=16, lr=None)
    assert s8.at(0, 32)[:5] == (1, 1.0, 8, 16, None) and s8.at(1500, 32)[:3] == (2, 0.5, 16)


def test_schedule_errors_are_clear():
    with pytest.raises(ValueError, match=r"batch_size has no entry for resolution\(s\) \[16, 32\]"):
        ProGANSchedule(batch_size={4: 16, 8: 16}).validate(32)
    with pytest.raises(ValueError, match=r"lr has no entry for resolution\(s\) \[4\]"):
        ProGANSchedule(lr={8: 1e-3, 16: 1e-3}).validate(16)
    with pytest.raises(ValueError, match="start_resolution=6"):
        ProGANSchedule(start_resolution=6).validate(32)
    with pytest.raises(ValueError, match=r"resolution\(s\) \[16\]"):  # at construction (= CLI instantiation)
        ProGAN(*nets(16), ProGANSchedule(batch_size={4: 8, 8: 8}))
    g, _ = nets(16)
    with pytest.raises(ValueError, match="must match"):
        ProGAN(g, ProGANDiscriminator(32, 1, fmap_base=64, fmap_max=16))
    with pytest.raises(ValueError, match="n_critic"):
        ProGAN(*nets(), n_critic=5)


def test_paper_optimizer_and_defaults():
    m = ProGAN(*nets())
    opt = m.paper_optimizer_g()([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(opt, torch.optim.Adam)
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["betas"] == (0.0, 0.99) and opt.defaults["eps"] == 1e-8
    assert (m.gp_weight, m.drift_weight, m.ema_decay) == (10.0, 1e-3, 0.999)
    assert m.hparams["schedule"]["training_kimg"] == 600.0  # plain data in hparams


# ---------------------------------------------------------------------------------------- losses
class LinearCritic(torch.nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x, alpha=1.0):  # noqa: ANN001, ANN201
        return x.flatten(1) @ self.w[:, None]


def test_losses_by_hand():
    m = ProGAN(*nets())
    w = torch.linspace(-0.3, 0.5, 16)
    m.discriminator = LinearCritic(w)
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    loss, logs = m.discriminator_loss({"image": real}, {"fake": fake})
    d_real, d_fake = real.flatten(1) @ w, fake.flatten(1) @ w
    gp = 10 * (w.norm() - 1) ** 2  # a linear critic's gradient is w everywhere
    drift = 1e-3 * (d_real**2).mean()
    assert loss.item() == pytest.approx((d_fake.mean() - d_real.mean() + gp + drift).item(), rel=1e-5)
    assert logs["gp"].item() == pytest.approx(gp.item(), rel=1e-5) and logs["drift"].item() == pytest.approx(drift.item(), rel=1e-5)
    g_loss, _ = m.generator_loss({"image": real}, {"fake": fake})
    assert g_loss.item() == pytest.approx(-d_fake.mean().item(), rel=1e-6)


def test_slerp_and_sample_grid_names():
    a, b = torch.randn(3, 8), torch.randn(3, 8)
    assert torch.allclose(slerp(a, b, torch.zeros(3, 1)), a, atol=1e-5) and torch.allclose(slerp(a, b, torch.ones(3, 1)), b, atol=1e-5)
    m = ProGAN(*nets(), num_sample_images=8)
    grids = m.sample_images()
    assert list(grids) == ["stage0_4px"] and grids["stage0_4px"].shape[-1] == 8 * 4 + 9 * 2  # 8 tiles of 4 px + padding
    m.images_seen = 10**9
    assert list(m.sample_images()) == ["stage2_16px"]


# ---------------------------------------------------------------------------------------- fits
SCHED = dict(training_kimg=0.04, transition_kimg=0.08, batch_size={4: 8, 8: 8, 16: 4}, lr={4: 1e-3, 8: 5e-4, 16: 2e-4})


class Recorder(L.Callback):
    def __init__(self) -> None:
        self.rows = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        self._before = pl_module.images_seen

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001, ANN201
        opt_g = trainer.optimizers[0]
        step = opt_g.state[pl_module.generator.dense.weight]["step"]
        self.rows.append((self._before, batch["image"].shape[0], batch["image"].shape[-1], pl_module.alpha, opt_g.param_groups[0]["lr"], int(step)))


def _fit(tmp_path, batches: int, ckpt_path=None, callbacks=(), **model_kwargs):  # noqa: ANN001, ANN202
    L.seed_everything(0)
    model = ProGAN(*nets(16), ProGANSchedule(**SCHED), **model_kwargs)
    dm = ProGANDataModule(source="digits", resolution=16, channels=1, mirror_augment=True, num_workers=0)
    t = trainer(tmp_path, max_steps=2 * batches, callbacks=list(callbacks))  # global_step counts D and G steps
    t.fit(model, dm, ckpt_path=ckpt_path)
    return model, t


def test_batches_lr_and_optimizer_resets_follow_schedule(tmp_path):
    rec = Recorder()
    model, _ = _fit(tmp_path, 30, callbacks=[rec])
    assert model.images_seen == sum(r[1] for r in rec.rows)
    steps_in_phase = 0
    prev_phase = None
    for nimg, bs, side, _, lr, adam_step in rec.rows:
        st = model.schedule.at(nimg, 16)
        assert (bs, side, lr) == (st.batch_size, st.resolution, SCHED["lr"][st.resolution])
        steps_in_phase = steps_in_phase + 1 if st.phase == prev_phase else 1
        prev_phase = st.phase
        assert adam_step == steps_in_phase  # Adam restarted at each new level of detail (official)
    sides = [r[2] for r in rec.rows]
    assert sides[0] == 4 and sides[-1] == 16 and 8 in sides  # grew through every stage
    assert any(0 < r[3] < 1 for r in rec.rows)  # and faded


def test_resume_mid_fade_is_exact(tmp_path):
    straight, t_straight = _fit(tmp_path / "a", 26)
    first, t_first = _fit(tmp_path / "b", 12)
    # 12 batches of 8 = 96 images: in the middle of the 8x8 fade-in (40..120) and of the first epoch
    assert first.images_seen == 96 and first.stage == 1 and first.alpha == pytest.approx(0.7)
    assert t_first.fit_loop.epoch_loop.batch_progress.current.completed == 12
    ckpt = tmp_path / "mid_fade.ckpt"
    t_first.save_checkpoint(ckpt)
    resumed, t_resumed = _fit(tmp_path / "c", 26, ckpt_path=str(ckpt))
    assert resumed.images_seen == straight.images_seen == 96 + 8 * 9 + 4 * 5  # batches of 8 up to 168 (160 is still stable), then of 4
    assert (resumed.stage, resumed.alpha) == (straight.stage, straight.alpha) == (2, pytest.approx(0.35))  # mid-fade
    sd_a, sd_b = straight.state_dict(), resumed.state_dict()
    assert sd_a.keys() == sd_b.keys() and any(k.startswith("generator_ema.") for k in sd_a)
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k]), k
    for opt_a, opt_b in zip(t_straight.optimizers, t_resumed.optimizers):
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"] == 2e-4
        for sa, sb in zip(opt_a.state.values(), opt_b.state.values()):
            assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(first.state_dict()["generator.dense.weight"], sd_b["generator.dense.weight"])


def test_total_kimg_stops_training(tmp_path):
    L.seed_everything(0)
    model = ProGAN(*nets(16), ProGANSchedule(**SCHED, total_kimg=0.1))
    t = trainer(tmp_path, max_epochs=-1)
    t.fit(model, ProGANDataModule(source="digits", resolution=16, channels=1, num_workers=0))
    assert model.images_seen == 104  # the first batch boundary at or after 100 images


def test_datamodule_must_match_networks(tmp_path):
    from datamodules.digits import DigitsDataModule

    model = ProGAN(*nets(16))
    with pytest.raises(ValueError, match="use --data=datamodules.progan.ProGANDataModule"):
        trainer(tmp_path, max_steps=2).fit(model, DigitsDataModule(image_size=16))
    with pytest.raises(ValueError, match="resolution=16 but the datamodule gives resolution=32"):
        trainer(tmp_path, max_steps=2).fit(model, ProGANDataModule(source="digits", resolution=32, channels=1, num_workers=0))
    assert math.isfinite(model.alpha)


def test_validation_logs_swd_by_protocol(tmp_path):
    L.seed_everything(0)
    model = ProGAN(*nets(16), ProGANSchedule(**SCHED))
    dm = ProGANDataModule(source="digits", resolution=16, channels=1, num_workers=0, epoch_images=32, val_batch_size=64)
    t = trainer(tmp_path, max_epochs=1, limit_val_batches=1, num_sanity_val_steps=0)
    t.fit(model, dm)
    assert model.images_seen == 32  # an epoch of 32 images (epoch_images): 4 batches of 8
    keys = {k for k in t.callback_metrics if k.startswith("val/")}
    assert keys == {"val/swd64_val_16px", "val/swd64_val_avg"}  # 64 generated digits vs the held-out split, x1e3
    assert 0 < float(t.callback_metrics["val/swd64_val_avg"]) < 1000
    assert "_swd" not in dict(model.named_modules()) and not any("_swd" in k for k in model.state_dict())

"""The G/D step mechanics of GANModule: gradient routing, critic schedule, clipping, EMA, schedulers."""

from functools import partial

import pytest
import torch

from lit_gans.models.noise import WGAN
from lit_gans.utils.ema import ema_update, make_ema
from tests.helpers import tiny_data, tiny_model, tiny_nets, trainer


class RecordingMixin:
    """Records, for every backward, which parameters' gradients changed."""

    def manual_backward(self, loss, *args, **kwargs):  # noqa: ANN001, ANN201
        params = dict(self.named_parameters())
        before = {n: None if p.grad is None else p.grad.clone() for n, p in params.items()}
        super().manual_backward(loss, *args, **kwargs)
        changed = {
            n for n, p in params.items()
            if p.grad is not None and (before[n] is None or not torch.equal(before[n], p.grad))
        }
        self.touched.append(changed)


def recording(kind: str, **kwargs):  # noqa: ANN201
    cls = type(tiny_model(kind)).__name__
    base = type(tiny_model(kind))
    model_cls = type(f"Recording{cls}", (RecordingMixin, base), {})
    model = model_cls(*(tiny_model(kind).generator, tiny_model(kind).discriminator), **kwargs)
    model.touched = []
    return model


@pytest.mark.parametrize("kind", ["dcgan", "wgan_gp"])
def test_only_the_stepped_network_receives_gradients(tmp_path, kind):
    model = recording(kind, n_critic=1)
    trainer(tmp_path, max_steps=6).fit(model, tiny_data())
    assert len(model.touched) == 6  # 3 batches x (D, G)
    for i, changed in enumerate(model.touched):
        prefix = "discriminator." if i % 2 == 0 else "generator."  # step_order = ("d", "g")
        assert changed, f"backward {i} produced no gradient"
        assert all(n.startswith(prefix) for n in changed), changed - {n for n in changed if n.startswith(prefix)}
        n_net = sum(1 for n, p in model.named_parameters() if n.startswith(prefix) and p.requires_grad)
        assert len(changed) == n_net  # every parameter of the stepped network is reached


def test_n_critic_counts(tmp_path):
    model = tiny_model("wgan_gp", n_critic=5)
    trainer(tmp_path, max_epochs=1, limit_train_batches=20).fit(model, tiny_data())
    assert (model.d_iter, model.g_iter) == (20, 4)


def test_wgan_warmup_schedule_matches_official_rule():
    model = tiny_model("wgan")  # defaults: n_critic 5, 100 critic steps for g_iter < 25 and every 500th
    expected = [100 if (g < 25 or g % 500 == 0) else 5 for g in range(1200)]
    assert [model.critic_steps(g) for g in range(1200)] == expected


def test_warmup_schedule_drives_training(tmp_path):
    model = tiny_model("wgan", n_critic=2, critic_warmup_steps=3, critic_warmup_g_iters=2, critic_warmup_every=4)
    trainer(tmp_path, max_epochs=1, limit_train_batches=16).fit(model, tiny_data())
    # g_iter 0,1: 3 D steps each; 2,3: 2 each; 4: 3 (4 % 4 == 0); 5: 2 -> 15 batches give 6 G steps, the 16th is a D step
    assert (model.d_iter, model.g_iter) == (16, 6)


def test_weight_clipping_bounds(tmp_path):
    model = tiny_model("wgan", critic_warmup_steps=None)
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) > 0.01  # N(0, 0.02) init
    trainer(tmp_path, max_epochs=1, limit_train_batches=7).fit(model, tiny_data())
    assert max(p.abs().max().item() for p in model.discriminator.parameters()) <= 0.01
    assert max(p.abs().max().item() for p in model.generator.parameters()) > 0.01  # G is never clipped


def test_gradient_norm_clipping(tmp_path):
    norms = []

    class Probe(type(tiny_model("dcgan"))):
        def clip_gradients(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):  # noqa: ANN001, ANN201
            super().clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
            params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
            norms.append(torch.norm(torch.stack([p.grad.norm() for p in params])).item())

    model = Probe(*tiny_nets(), grad_clip_d=1e-3, grad_clip_g=2e-3)
    trainer(tmp_path, max_steps=8).fit(model, tiny_data())
    assert len(norms) == 8
    assert all(n <= 1e-3 * 1.001 for n in norms[0::2]) and all(n <= 2e-3 * 1.001 for n in norms[1::2])


def test_ema_update_formula_and_usage(tmp_path):
    g, _ = tiny_nets()
    ema = make_ema(g)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ref = {n: 0.9 * p_e + 0.1 * p for (n, p_e), p in zip(make_ema(ema).named_parameters(), g.parameters())}
    ema_update(ema, g, 0.9)
    for n, p in ema.named_parameters():
        torch.testing.assert_close(p, ref[n])
    assert all(not p.requires_grad for p in ema.parameters())

    model = tiny_model("dcgan", ema_decay=0.5)
    trainer(tmp_path, max_steps=4).fit(model, tiny_data())
    assert model.sampling_generator is model.generator_ema
    assert any(k.startswith("generator_ema.") for k in model.state_dict())
    opt_params = {id(p) for o in model.trainer.optimizers for g_ in o.param_groups for p in g_["params"]}
    assert not opt_params & {id(p) for p in model.generator_ema.parameters()}


# "step": stepped before each generator iteration but the first (BasicSR's update_learning_rate skips
# current_iter 1), so after 3 iterations the scheduler has stepped twice.
@pytest.mark.parametrize("interval,steps,expected", [("epoch", 2, 0.25), ("step", 3, 0.25)])
def test_schedulers_stepped_by_hand(tmp_path, interval, steps, expected):
    sched = partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5)
    model = tiny_model("dcgan", scheduler_g=sched, scheduler_d=sched, scheduler_interval=interval)
    t = trainer(tmp_path, max_epochs=2, limit_train_batches=2) if interval == "epoch" else trainer(tmp_path, max_steps=2 * steps)
    t.fit(model, tiny_data())
    for opt in t.optimizers:
        assert opt.param_groups[0]["lr"] == pytest.approx(2e-4 * expected)


@pytest.mark.parametrize("order", [("d", "g"), ("g", "d")])
def test_d_and_g_of_one_iteration_share_the_learning_rate(tmp_path, order, monkeypatch):
    """A milestone at iteration 2 halves both rates for iteration 3 (1-indexed) and later, whatever the order."""
    sched = partial(torch.optim.lr_scheduler.MultiStepLR, milestones=[2], gamma=0.5)
    model = tiny_model("dcgan", scheduler_g=sched, scheduler_d=sched, scheduler_interval="step")
    monkeypatch.setattr(type(model), "step_order", order)
    used: list[tuple[str, int, float]] = []
    batches = [0]
    generate = model.generate

    def count(batch):  # noqa: ANN001, ANN202 - once per batch (n_critic = 1: one iteration)
        batches[0] += 1
        return generate(batch)

    monkeypatch.setattr(model, "generate", count)
    for which in ("generator_loss", "discriminator_loss"):
        original = getattr(model, which)

        def record(batch, out, _fn=original, _which=which):  # noqa: ANN001, ANN202
            opt = model.optimizers()[0 if _which == "generator_loss" else 1]
            used.append((_which[0], batches[0] - 1, opt.param_groups[0]["lr"]))
            return _fn(batch, out)

        monkeypatch.setattr(model, which, record)
    trainer(tmp_path, max_steps=8).fit(model, tiny_data())
    by_iter = {}
    for which, g_iter, lr in used:
        by_iter.setdefault(g_iter, set()).add(lr)
    assert [sorted(by_iter[i]) for i in range(4)] == [[2e-4], [2e-4], [1e-4], [1e-4]]


def test_paper_default_optimizers():
    wgan = tiny_model("wgan")
    opt_g, opt_d = wgan.configure_optimizers()[0]
    assert isinstance(opt_g, torch.optim.RMSprop) and opt_g.param_groups[0]["lr"] == 5e-5
    gp = tiny_model("wgan_gp")
    opt_g, _ = gp.configure_optimizers()[0]
    assert isinstance(opt_g, torch.optim.Adam) and opt_g.param_groups[0]["betas"] == (0.0, 0.9) and opt_g.param_groups[0]["lr"] == 1e-4
    assert isinstance(wgan, WGAN) and (wgan.weight_clip, wgan.n_critic) == (0.01, 5)


def test_wgan_gp_refuses_batchnorm_critic():
    from lit_gans.models.noise import WGANGP

    with pytest.raises(ValueError, match="batch norm"):
        WGANGP(*tiny_nets("batch"))


def test_epoch_means_count_each_value_over_its_own_steps(tmp_path):
    """With n_critic = 3 the G loss comes every third batch: its epoch mean is over those batches only."""
    model = tiny_model("wgan_gp", n_critic=3)
    logged: dict[str, list[float]] = {"d_loss": [], "g_loss": []}
    original = model._record

    def spy(logs, batch_idx):  # noqa: ANN001, ANN202
        for k in logged:
            if k in logs:
                logged[k].append(float(logs[k]))
        return original(logs, batch_idx)

    model._record = spy
    t = trainer(tmp_path, max_epochs=1, limit_train_batches=6)
    t.fit(model, tiny_data())
    assert len(logged["d_loss"]) == 6 and len(logged["g_loss"]) == 2
    for k, values in logged.items():
        assert float(t.callback_metrics[f"train_epoch/{k}"]) == pytest.approx(sum(values) / len(values), rel=1e-5)

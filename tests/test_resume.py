"""Checkpoint and resume: N epochs + a resumed N equal 2N straight, exactly."""

from functools import partial

import lightning as L
import torch

from tests.helpers import tiny_data, tiny_model, trainer


def _fit(tmp_path, epochs: int, ckpt_path=None):  # noqa: ANN001, ANN202
    L.seed_everything(0)
    sched = partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.7)
    model = tiny_model("wgan_gp", n_critic=3, ema_decay=0.9, scheduler_g=sched, scheduler_d=sched)
    t = trainer(tmp_path, max_epochs=epochs, limit_train_batches=5, enable_checkpointing=True)
    t.fit(model, tiny_data(), ckpt_path=ckpt_path)
    return model, t


def test_resume_continues_exactly(tmp_path):
    straight, t_straight = _fit(tmp_path / "a", 2)
    first, t_first = _fit(tmp_path / "b", 1)
    ckpt = t_first.checkpoint_callback.best_model_path or t_first.checkpoint_callback.last_model_path
    assert ckpt, "no checkpoint written"
    resumed, t_resumed = _fit(tmp_path / "c", 2, ckpt_path=ckpt)

    assert (resumed.g_iter, resumed.d_iter) == (straight.g_iter, straight.d_iter) == (3, 10)
    sd_a, sd_b = straight.state_dict(), resumed.state_dict()
    assert sd_a.keys() == sd_b.keys() and any(k.startswith("generator_ema.") for k in sd_a)
    for k in sd_a:
        assert torch.equal(sd_a[k], sd_b[k]), k
    for opt_a, opt_b in zip(t_straight.optimizers, t_resumed.optimizers):
        assert opt_a.param_groups[0]["lr"] == opt_b.param_groups[0]["lr"]
        for sa, sb in zip(opt_a.state.values(), opt_b.state.values()):
            assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # and the run did move: the resumed half changed the weights of the first half
    assert not torch.equal(first.state_dict()["generator.main.0.weight"], sd_b["generator.main.0.weight"])

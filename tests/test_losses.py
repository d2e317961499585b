"""Adversarial losses and penalties against values computed by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from lit_gans.losses import adversarial as A
from lit_gans.losses.penalties import drift_penalty, gradient_penalty

LOG2 = math.log(2.0)


def sp(x: float) -> float:  # softplus
    return math.log1p(math.exp(x))


def test_vanilla_at_zero_logits_is_log2():
    z = torch.zeros(4, 1, 3, 3)
    assert A.d_vanilla(z, z).item() == pytest.approx(2 * LOG2)
    assert A.g_vanilla(z).item() == pytest.approx(LOG2)


def test_vanilla_values():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5])
    # -log sigmoid(x) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x)
    expected = (sp(-2.0) + sp(1.0)) / 2 + sp(0.5)
    assert A.d_vanilla(real, fake).item() == pytest.approx(expected, rel=1e-6)
    assert A.g_vanilla(fake).item() == pytest.approx(sp(-0.5), rel=1e-6)


def test_lsgan_values():
    assert A.d_lsgan(torch.tensor([2.0]), torch.tensor([0.5])).item() == pytest.approx(1.0 + 0.25)
    assert A.g_lsgan(torch.tensor([2.0])).item() == pytest.approx(1.0)


def test_wgan_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.5, -0.5])
    assert A.d_wgan(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert A.g_wgan(fake).item() == pytest.approx(0.0)
    assert A.g_wgan(torch.tensor([2.0])).item() == pytest.approx(-2.0)


def test_hinge_values():
    assert A.d_hinge(torch.tensor([0.5, 2.0]), torch.tensor([-0.2])).item() == pytest.approx(0.25 + 0.8)
    assert A.g_hinge(torch.tensor([0.3])).item() == pytest.approx(-0.3)


def test_relativistic_average_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])  # mean real 2, mean fake 1
    # D: BCE([0, 2], 1) + BCE([-2, 0], 0)
    d = (sp(-0.0) + sp(-2.0)) / 2 + (sp(-2.0) + sp(0.0)) / 2
    assert A.d_relativistic(real, fake).item() == pytest.approx(d, rel=1e-6)
    # G: BCE([0, 2], 0) + BCE([-2, 0], 1)
    g = (sp(0.0) + sp(2.0)) / 2 + (sp(2.0) + sp(0.0)) / 2
    assert A.g_relativistic(fake, real).item() == pytest.approx(g, rel=1e-6)


def test_relativistic_lsgan_values():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])
    # D: mean(([0, 2] - 1)^2) + mean(([-2, 0])^2) = 1 + 2
    assert A.d_relativistic_lsgan(real, fake).item() == pytest.approx(3.0)
    # G: mean([0, 2]^2) + mean(([-2, 0] - 1)^2) = 2 + 5
    assert A.g_relativistic_lsgan(fake, real).item() == pytest.approx(7.0)


def test_every_loss_is_registered_with_its_pair():
    assert set(A.GAN_LOSSES) == {"vanilla", "lsgan", "wgan", "hinge", "relativistic", "relativistic_lsgan"}
    for d, g in A.GAN_LOSSES.values():
        assert d.__name__[2:] == g.__name__[2:]


def test_gradient_penalty_of_linear_critic_is_exact():
    torch.manual_seed(1)
    w = torch.randn(1, 3, 4, 4)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731  grad_x = w everywhere
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    expected = 10.0 * (w.norm() - 1.0) ** 2
    assert gradient_penalty(critic, real, fake, weight=10.0).item() == pytest.approx(expected.item(), rel=1e-5)


def test_gradient_penalty_is_per_sample_and_reaches_the_critic():
    # a critic whose gradient norm differs per sample: D(x) = 0.5 * ||x||^2 -> grad = x, norm = ||x_hat||
    lin = torch.nn.Linear(4, 1, bias=False)
    critic = lambda x: lin(x).sum(1) + 0.5 * (x**2).sum(1)  # noqa: E731
    real = torch.zeros(2, 4)
    fake = torch.zeros(2, 4)
    gp = gradient_penalty(critic, real, fake, weight=1.0)  # x_hat = 0 -> grad = w: (||w|| - 1)^2
    assert gp.item() == pytest.approx(((lin.weight.norm() - 1) ** 2).item(), rel=1e-5)
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_drift_penalty():
    assert drift_penalty(torch.tensor([1.0, 3.0]), 1e-3).item() == pytest.approx(1e-3 * 5.0)


def test_losses_match_torch_reference_on_random_maps():
    real, fake = torch.randn(4, 1, 30, 30), torch.randn(4, 1, 30, 30)
    ref = F.binary_cross_entropy(torch.sigmoid(real), torch.ones_like(real)) + F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros_like(fake))
    assert A.d_vanilla(real, fake).item() == pytest.approx(ref.item(), rel=1e-5)

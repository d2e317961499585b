"""Sliced Wasserstein distance (ProGAN's metric): pyramid, descriptors and distance against values of the
official metrics/sliced_wasserstein.py, plus the torchmetrics wrapper."""

from __future__ import annotations

import pytest
import torch

from lit_gans.metrics import swd as S


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _pair():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(4, 3, 32, 32, generator=g) * 255).round()
    b = (torch.rand(4, 3, 32, 32, generator=g) ** 2 * 255).round()
    return a, b


def test_pyramid_filters():
    x = torch.full((1, 2, 16, 16), 7.0)
    assert torch.allclose(S.pyr_down(x), torch.full((1, 2, 8, 8), 7.0))  # the binomial filter sums to 1
    assert torch.allclose(S.pyr_up(torch.full((1, 1, 4, 4), 3.0)), torch.full((1, 1, 8, 8), 3.0))
    band, low = S.laplacian_pyramid(x, 2)
    assert torch.allclose(band, torch.zeros_like(band), atol=1e-5) and low.shape == (1, 2, 8, 8)
    a, _ = _pair()
    pyr = S.laplacian_pyramid(a, 3)
    assert [p.shape[-1] for p in pyr] == [32, 16, 8]
    assert torch.allclose(S.reconstruct_laplacian_pyramid(pyr), a, atol=1e-3)
    assert S.pyramid_resolutions(128) == [128, 64, 32, 16] and S.pyramid_resolutions(32) == [32, 16]
    with pytest.raises(ValueError, match="at least 16"):
        S.pyramid_resolutions(8)


def test_patches_are_the_neighbourhoods():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    cy, cx = torch.tensor([[3, 12]]).expand(2, 2), torch.tensor([[5, 3]]).expand(2, 2)
    p = S.extract_patches(x, cy, cx)
    assert p.shape == (4, 3, 7, 7)
    assert torch.equal(p[0], x[0, :, 0:7, 2:9]) and torch.equal(p[1], x[0, :, 9:16, 0:7]) and torch.equal(p[3], x[1, :, 9:16, 0:7])
    cy, cx = S.random_patch_centers(100, 128, 16, 16, generator=torch.Generator().manual_seed(0))
    assert cy.min() == 3 and cy.max() == 12 and cx.min() == 3 and cx.max() == 12  # at least 3 px from the border


def test_matches_official_values():
    """Same images, patch centres and directions fed to the official numpy code (run outside the project):
    SWD x1e3 = 81.01271 (32 px level) and 118.51418 (16 px level); sum |level 0| = 733486.5625."""
    a, b = _pair()
    pa, pb = S.laplacian_pyramid(a, 2), S.laplacian_pyramid(b, 2)
    assert pa[0].abs().sum().item() == pytest.approx(733486.5625, rel=1e-6)
    assert pa[1].abs().sum().item() == pytest.approx(392776.0, rel=1e-6)
    gen = torch.Generator().manual_seed(1)
    cents = [S.random_patch_centers(4, 128, p.shape[2], p.shape[3], generator=gen) for p in pa]
    dirs = [S.random_directions(147, generator=gen) for _ in pa]
    got = []
    for i in range(2):
        da = S.normalize_descriptors(S.extract_patches(pa[i], *cents[i]))
        db = S.normalize_descriptors(S.extract_patches(pb[i], *cents[i]))
        got.append(S.sliced_wasserstein(da, db, dirs[i]).item() * 1e3)
    assert got == pytest.approx([81.01271, 118.51418], rel=1e-5)


def test_normalize_and_distance_by_hand():
    d = S.normalize_descriptors(torch.tensor([1.0, 3.0]).reshape(2, 1, 1, 1))
    assert torch.allclose(d.flatten(), torch.tensor([-1.0, 1.0]))
    # 1-D: sorted {0, 1} vs {2, 4} along the single unit direction: mean(|0-2|, |1-4|) = 2.5
    a, b = torch.tensor([[1.0], [0.0]]), torch.tensor([[4.0], [2.0]])
    assert S.sliced_wasserstein(a, b, torch.ones(1, 1, 1)).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="same shape"):
        S.sliced_wasserstein(a, b[:1], torch.ones(1, 1, 1))


def test_metric_protocol_and_names():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(8, 3, 32, 32, generator=g)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(8, 3, 32, 32, generator=g), 5, 1, 2)
    m = S.SlicedWassersteinDistance(32)
    m.update(real, real=True)
    m.update(real.clone(), real=False)
    same = m.compute()
    assert set(same) == {"swd8_val_32px", "swd8_val_16px", "swd8_val_avg"}
    # the same images with independently drawn patches (as the official code draws them): sampling noise only
    assert same["swd8_val_avg"] < 60
    m.reset()
    m.update(real, real=True)
    m.update(smooth.clamp(0, 1), real=False)
    other = m.compute()
    assert other["swd8_val_32px"] > 2 * same["swd8_val_32px"] and other["swd8_val_avg"] == pytest.approx((other["swd8_val_32px"] + other["swd8_val_16px"]) / 2)
    m.reset()
    m.update(real, real=True)
    m.update((real + 0.02 * torch.randn(8, 3, 32, 32, generator=g)).clamp(0, 1), real=False)
    assert m.compute()["swd8_val_32px"] < other["swd8_val_32px"]  # a closer distribution is closer
    with pytest.raises(ValueError, match="resolution=32"):
        m.update(torch.rand(2, 3, 16, 16), real=True)

"""ProGAN networks: official parameter counts and outputs, shapes at every stage, exact fade-in ends,
equalized learning rate, pixel norm and minibatch stddev values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lit_gans.networks.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchStdDev,
    PixelNorm,
    ProGANDiscriminator,
    ProGANGenerator,
    downscale2d,
    num_features,
    upscale2d,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: on a shared 2-core machine two OpenMP threads spin against each other."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


# Measured by running the official networks.py (TF 2.21 compat.v1, outside the project; fused_scale
# True and False give the same counts). 1024 px matches the paper's 23.1M for both networks.
OFFICIAL_COUNTS = {
    (1024, 3, 8192, 512): (23_079_115, 23_087_249),
    (128, 3, 8192, 512): (22_933_394, 22_941_313),
    (32, 1, 8192, 512): (20_715_524, 20_722_689),
    (32, 1, 256, 64): (211_220, 212_081),
}


@pytest.mark.parametrize("cfg", list(OFFICIAL_COUNTS))
def test_parameter_counts_match_official(cfg):
    res, ch, base, fmax = cfg
    g = ProGANGenerator(res, ch, fmap_base=base, fmap_max=fmax)
    d = ProGANDiscriminator(res, ch, fmap_base=base, fmap_max=fmax)
    assert (count(g), count(d)) == OFFICIAL_COUNTS[cfg]
    if res == 1024:
        assert g.latent_dim == 512 and g.num_stages == 9


def test_feature_map_formula():
    # paper Table 2: 512 up to 32x32, then 256, 128, 64, 32, 16 at 1024
    widths = [num_features(int(math.log2(r)) - 1) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)]
    assert widths == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    assert num_features(4, fmap_base=256, fmap_max=64) == 16


# ---------------------------------------------------------------------- official outputs, pinned
def _wf(shape):  # deterministic "weights" in the official (TF) layout
    n = int(np.prod(shape))
    return np.sin(0.37 * np.arange(n) + n % 7).reshape(shape).astype(np.float32)


def _bf(n):
    return (0.1 * np.cos(0.5 * np.arange(n))).astype(np.float32)


def _load_formula(g: ProGANGenerator, d: ProGANDiscriminator, fused: bool) -> None:
    """Fill both nets with the formula weights, mapped from the TF layouts of the official variables."""

    def conv(m, in_ch, out_ch, k, transposed=False):
        if transposed:  # official Conv0_up: [k, k, out, in], used by conv2d_transpose = flipped kernel
            w = torch.from_numpy(_wf([k, k, out_ch, in_ch])[::-1, ::-1].copy()).permute(2, 3, 0, 1)
        else:  # [k, k, in, out]
            w = torch.from_numpy(_wf([k, k, in_ch, out_ch])).permute(3, 2, 0, 1)
        m.weight.data.copy_(w)
        m.bias.data.copy_(torch.from_numpy(_bf(out_ch)))

    def dense(m, n_in, n_out, bias_param=None):
        m.weight.data.copy_(torch.from_numpy(_wf([n_in, n_out])).T)
        (bias_param if bias_param is not None else m.bias).data.copy_(torch.from_numpy(_bf(bias_param.numel() if bias_param is not None else n_out)))

    shp = lambda m: (m.weight.shape[1], m.weight.shape[0], m.weight.shape[-1])  # noqa: E731
    dense(g.dense, g.dense.weight.shape[1], g.dense.weight.shape[0], g.dense_bias)
    conv(g.blocks[0][0], *shp(g.blocks[0][0]))
    for s in range(1, g.num_stages):
        conv(g.blocks[s][0], *shp(g.blocks[s][0]), transposed=fused)
        conv(g.blocks[s][1], *shp(g.blocks[s][1]))
    for m in list(g.to_rgb) + list(d.from_rgb) + [d.conv]:
        conv(m, *shp(m))
    for s in range(1, d.num_stages):
        for m in d.blocks[s]:
            conv(m, *shp(m))
    dense(d.dense0, d.dense0.weight.shape[1], d.dense0.weight.shape[0])
    dense(d.dense1, d.dense1.weight.shape[1], d.dense1.weight.shape[0])


# official networks.py (structure='linear', 32 px, 3 channels, fmap_base 256, fmap_max 64) with the formula
# weights: lod -> (sum, abs sum and out[0, 0, 0, :3] of G's 32 px output, D's 4 scores on a formula image)
OFFICIAL = {
    True: {
        3.0: (-1274.4207, 2706.1104, [0.184, 0.184, 0.184], [0.127686, 0.097782, 0.185608, 0.168793]),
        2.5: (-704.2728, 1979.4912, [0.1848, 0.1848, 0.1848], [0.091801, 0.158076, 0.121898, 0.098102]),
        1.25: (1172.1697, 1305.5062, [0.12842, 0.12842, 0.07727], [0.103064, 0.103016, 0.10297, 0.10304]),
        0.5: (2229.2485, 2266.1582, [0.14178, 0.12306, 0.09321], [0.103095, 0.103093, 0.103091, 0.103091]),
        0.0: (2850.8955, 2970.3062, [0.1742, 0.13677, 0.14527], [0.103088, 0.103087, 0.103089, 0.103082]),
    },
    False: {
        2.5: (-1525.2014, 2507.0884, [0.23926, 0.23926, 0.23926], [0.091212, 0.157823, 0.121735, 0.098179]),
        0.0: (2536.2454, 2554.0696, [0.33311, 0.60155, 0.53575], [0.102986, 0.103014, 0.102999, 0.102999]),
    },
}


@pytest.mark.parametrize("fused", [True, False])
def test_outputs_match_official_graph(fused):
    g = ProGANGenerator(32, 3, fmap_base=256, fmap_max=64)
    d = ProGANDiscriminator(32, 3, fmap_base=256, fmap_max=64, fused_scale=fused)
    _load_formula(g, d, fused)
    z = torch.from_numpy(np.sin(np.arange(4 * 64) * 0.11).reshape(4, 64).astype(np.float32))
    for lod, (total, abs_total, row, scores) in OFFICIAL[fused].items():
        stage, alpha = 3 - math.floor(lod), 1.0 - (lod - math.floor(lod))
        r = 4 * 2**stage
        with torch.no_grad():
            img = upscale2d(g(z, stage, alpha), 32 // r)
            n = 4 * 3 * r * r
            x = torch.from_numpy(np.sin(np.arange(n) * 0.013 + 0.5 * np.cos(np.arange(n) * 0.29)).reshape(4, 3, r, r).astype(np.float32))
            out = d(x, alpha)[:, 0]
        assert img.sum().item() == pytest.approx(total, rel=2e-5, abs=2e-2)
        assert img.abs().sum().item() == pytest.approx(abs_total, rel=2e-5)
        assert img[0, 0, 0, :3].tolist() == pytest.approx(row, abs=2e-5)
        assert out.tolist() == pytest.approx(scores, abs=3e-6)


# ---------------------------------------------------------------------- shapes and fade-in
def tiny(res: int = 32, ch: int = 3):
    return ProGANGenerator(res, ch, fmap_base=64, fmap_max=16), ProGANDiscriminator(res, ch, fmap_base=64, fmap_max=16)


def test_shapes_at_every_stage():
    g, d = tiny(64, 3)
    z = torch.randn(4, g.latent_dim)
    assert g.num_stages == d.num_stages == 5
    for stage in range(5):
        for alpha in (0.0, 0.3, 1.0):
            img = g(z, stage, alpha)
            assert img.shape == (4, 3, 4 * 2**stage, 4 * 2**stage)
            assert d(img, alpha).shape == (4, 1)
    assert g(z).shape == (4, 3, 64, 64)  # default: the last stage
    with pytest.raises(ValueError, match="stage=5"):
        g(z, 5)
    with pytest.raises(ValueError, match="4\\*2\\*\\*stage"):
        d(torch.randn(2, 3, 12, 12))


def test_no_tanh_output_unbounded():
    g, _ = tiny()
    with torch.no_grad():
        for p in g.to_rgb[0].parameters():
            p.mul_(50)
    assert g(torch.randn(8, g.latent_dim), 0).abs().max() > 1.0  # no tanh at the end (official)


def test_generator_alpha_ends_are_exact():
    g, _ = tiny()
    z = torch.randn(4, g.latent_dim)
    with torch.no_grad():
        for stage in (1, 2, 3):
            old = upscale2d(g(z, stage - 1, 1.0))
            assert torch.equal(g(z, stage, 0.0), old)  # alpha 0: exactly the previous stage, upscaled
            x = g._block(z, 0)
            for s in range(1, stage + 1):
                x = g._block(x, s)
            new = g.to_rgb[stage](x)
            assert torch.equal(g(z, stage, 1.0), new)  # alpha 1: exactly the new to-RGB path
            mid = g(z, stage, 0.25)
            assert torch.allclose(mid, 0.75 * old + 0.25 * new, atol=1e-6)


@pytest.mark.parametrize("fused", [True, False])
def test_discriminator_alpha_ends_are_exact(fused):
    _, d = tiny()
    d.fused_scale = fused
    with torch.no_grad():
        for stage in (1, 2, 3):
            r = 4 * 2**stage
            x = torch.randn(4, 3, r, r)
            assert torch.equal(d(x, 0.0), d(downscale2d(x), 1.0))  # alpha 0: the old from-RGB on the 2x smaller image
            h = d._block(d.act(d.from_rgb[stage](x)), stage)
            for s in range(stage - 1, -1, -1):
                h = d._block(h, s)
            assert torch.equal(d(x, 1.0), h)  # alpha 1: exactly the new path


# ---------------------------------------------------------------------- equalized learning rate
def test_equalized_lr_runtime_scaling():
    torch.manual_seed(0)
    conv = EqualizedConv2d(64, 32, 3)
    he = math.sqrt(2) / math.sqrt(64 * 9)
    assert conv.scale == pytest.approx(he)
    assert conv.weight.std().item() == pytest.approx(1.0, abs=0.02)  # stored weights are N(0, 1)
    assert torch.all(conv.bias == 0)
    x = torch.randn(2, 64, 5, 5)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * he, conv.bias, padding=1), atol=1e-6)
    # the gradient w.r.t. the stored weight is the He constant times the gradient w.r.t. the used weight
    w_eff = (conv.weight.detach() * he).requires_grad_(True)
    F.conv2d(x, w_eff, conv.bias.detach(), padding=1).square().sum().backward()
    conv(x).square().sum().backward()
    assert torch.allclose(conv.weight.grad, w_eff.grad * he, rtol=1e-5, atol=1e-7)
    # gains of the official code
    g = ProGANGenerator(32, 3, fmap_base=256, fmap_max=64)
    d = ProGANDiscriminator(32, 3, fmap_base=256, fmap_max=64)
    assert g.dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(64))  # first dense: gain sqrt(2)/4
    assert g.to_rgb[3].scale == pytest.approx(1 / math.sqrt(16))  # to-RGB: gain 1, fan_in 16 x 1 x 1
    assert d.from_rgb[3].scale == pytest.approx(math.sqrt(2) / math.sqrt(3))
    assert d.dense1.scale == pytest.approx(1 / math.sqrt(64))  # last dense: gain 1
    lin = EqualizedLinear(10, 4, use_wscale=False)
    assert lin.scale == 1.0 and lin.weight.std().item() < 1.0  # He-initialized directly when off


def test_pixel_norm_values():
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]]).reshape(2, 2, 1, 1)
    y = PixelNorm()(x)
    assert torch.allclose(y.flatten(1), torch.tensor([[3 / math.sqrt(12.5), 4 / math.sqrt(12.5)], [0.0, math.sqrt(2.0)]]), atol=1e-6)
    g, _ = tiny()
    feats = g._block(torch.randn(5, g.latent_dim), 0)
    assert torch.allclose(feats.pow(2).mean(1), torch.ones(5, 4, 4), atol=1e-4)  # unit RMS per pixel


# ---------------------------------------------------------------------- minibatch stddev
def test_minibatch_stddev_hand_made_batch():
    # one feature, 1x1: values 0, 1, 3, 7. Official grouping: sample n belongs to group n % M.
    x = torch.tensor([0.0, 1.0, 3.0, 7.0]).reshape(4, 1, 1, 1)
    whole = MinibatchStdDev(4)(x)
    std = math.sqrt(((0 - 2.75) ** 2 + (1 - 2.75) ** 2 + (3 - 2.75) ** 2 + (7 - 2.75) ** 2) / 4 + 1e-8)  # population std
    assert whole.shape == (4, 2, 1, 1)
    assert torch.equal(whole[:, 0], x[:, 0])
    assert torch.allclose(whole[:, 1].flatten(), torch.full((4,), std), atol=1e-6)
    pairs = MinibatchStdDev(2)(x)[:, 1].flatten()  # groups {0, 3} -> std 1.5 and {1, 7} -> std 3
    assert torch.allclose(pairs, torch.tensor([1.5, 3.0, 1.5, 3.0]), atol=1e-6)
    # averaged over features and pixels, replicated over the map
    y = torch.zeros(2, 2, 2, 2)
    y[1, 0] = 2.0  # feature 0 differs by 2 (std 1), feature 1 is equal (std ~0)
    out = MinibatchStdDev(2)(y)
    assert torch.allclose(out[:, 2], torch.full((2, 2, 2), (1.0 + 1e-4) / 2), atol=1e-6)
    # a batch not divisible by the group: largest divisor in [2, group] (deviation, the official code fails)
    assert MinibatchStdDev(4)._group(6) == 3 and MinibatchStdDev(4)._group(7) == 7 and MinibatchStdDev(4)._group(8) == 4


def test_resolution_errors():
    with pytest.raises(ValueError, match="not a power of two"):
        ProGANGenerator(48)
    with pytest.raises(ValueError, match="not a power of two"):
        ProGANDiscriminator(2)

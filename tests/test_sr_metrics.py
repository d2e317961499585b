"""SR protocol: Y channel, border crop, PSNR/SSIM against hand-computed values, MATLAB bicubic, DDP states."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lit_gans.metrics.sr import SRMetrics, imresize_bicubic, psnr_y, quantize_8bit, rgb_to_y, ssim_y


def test_rgb_to_y_is_matlab_rgb2ycbcr():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]).T
    y = rgb_to_y(x.reshape(1, 3, 1, 5)).flatten() * 255.0
    torch.testing.assert_close(y, torch.tensor([16 + 65.481, 16 + 128.553, 16 + 24.966, 235.0, 16.0]))


def test_psnr_y_hand_computed_with_border_crop():
    hr = torch.zeros(1, 3, 16, 16)
    sr = torch.zeros(1, 3, 16, 16)
    sr[..., 4:12, 4:12] = 0.5  # gray 0.5 -> 8-bit 128/255 inside, 0 on a 4 px frame
    sr[..., :4, :] = 1.0  # white frame rows: must be cropped away by crop=4
    y_diff = (128 / 255) * (65.481 + 128.553 + 24.966) / 255  # Y difference of gray 128 vs black
    expected = -20 * math.log10(y_diff)  # the 8x8 gray center is the whole cropped area
    assert psnr_y(sr, hr, crop=4).item() == pytest.approx(expected, abs=1e-4)
    # without quantisation the gray stays 0.5
    y_exact = 0.5 * 219 / 255
    assert psnr_y(sr, hr, crop=4, quantize=False).item() == pytest.approx(-20 * math.log10(y_exact), abs=1e-4)
    # no crop: the white rows count
    assert psnr_y(sr, hr, crop=0).item() < expected - 0.5
    assert psnr_y(hr, hr, crop=4).item() == pytest.approx(100.0)  # identical images: capped


def test_quantize_8bit_rounds_and_clamps():
    torch.testing.assert_close(quantize_8bit(torch.tensor([-0.2, 0.5, 1.3, 0.1])), torch.tensor([0.0, 128 / 255, 1.0, 26 / 255]))


def test_ssim_y_matches_skimage_gaussian_matlab_settings():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(0)
    hr = quantize_8bit(torch.rand(1, 3, 40, 36, generator=g))
    sr = quantize_8bit(hr + 0.1 * torch.randn(1, 3, 40, 36, generator=g))
    ya, yb = (rgb_to_y(t)[0, 0, 3:-3, 3:-3].double().numpy() for t in (sr, hr))
    expected = skimage_metrics.structural_similarity(
        ya, yb, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    assert ssim_y(sr, hr, crop=3).item() == pytest.approx(expected, abs=1e-5)
    assert ssim_y(hr, hr, crop=3).item() == pytest.approx(1.0, abs=1e-6)


# BasicSR basicsr/utils/matlab_functions.py imresize (a NumPy port of MATLAB's) on the same seeded input:
# (factor, output shape HWC, sum, first pixel, last pixel)
MATLAB_IMRESIZE = [
    (1 / 2, (6, 9), 80.332306, [0.43215871, 0.41393739, 0.73020238], [0.48888436, 0.55469441, 0.47912458]),
    (1 / 3, (4, 6), 35.703247, [0.46379933, 0.40504354, 0.65531349], [0.43944228, 0.52120215, 0.45183250]),
    (2, (24, 36), 1285.316895, [0.50086266, 0.02485977, 0.96417630], [0.55659747, 0.76036739, 1.02100468]),
    (3, (36, 54), 2891.962891, [0.50142491, 0.00784848, 0.97201908], [0.55450261, 0.77598715, 1.04186535]),
    (4, (48, 72), 5141.267090, [0.50160015, 0.00178767, 0.97479904], [0.55371308, 0.78158844, 1.04920590]),
]


@pytest.mark.parametrize("factor, shape, total, first, last", MATLAB_IMRESIZE)
def test_imresize_bicubic_matches_matlab(factor, shape, total, first, last):
    x = torch.rand(1, 3, 12, 18, generator=torch.Generator().manual_seed(0))
    y = imresize_bicubic(x, factor)
    assert tuple(y.shape[-2:]) == shape
    assert y.sum().item() == pytest.approx(total, abs=5e-3)
    torch.testing.assert_close(y[0, :, 0, 0], torch.tensor(first), atol=3e-6, rtol=0)
    torch.testing.assert_close(y[0, :, -1, -1], torch.tensor(last), atol=3e-6, rtol=0)


def test_imresize_bicubic_errors():
    with pytest.raises(ValueError, match="divisible by 4"):
        imresize_bicubic(torch.rand(1, 3, 10, 12), 1 / 4)


def test_srmetrics_averages_per_image_and_drops_repeated_indices():
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 3, 24, 24, generator=g)
    sr = (hr + 0.05 * torch.randn(3, 3, 24, 24, generator=g)).clamp(0, 1)
    per_image = psnr_y(sr, hr, 2)
    m = SRMetrics(crop=2)
    m.update(sr[:2], hr[:2], torch.tensor([0, 1]))
    m.update(sr[2:], hr[2:], torch.tensor([2]))
    m.update(sr[:1], hr[:1], torch.tensor([0]))  # DistributedSampler padding repeats a sample
    out = m.compute()
    assert out["psnr_y"].item() == pytest.approx(per_image.mean().item(), abs=1e-5)
    assert out["ssim_y"].item() == pytest.approx(ssim_y(sr, hr, 2).mean().item(), abs=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, queue) -> None:  # noqa: ANN001
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        g = torch.Generator().manual_seed(1)
        hr = torch.rand(3, 3, 24, 24, generator=g)
        sr = (hr + 0.05 * torch.randn(3, 3, 24, 24, generator=g)).clamp(0, 1)
        m = SRMetrics(crop=2)
        idx = [0, 1] if rank == 0 else [2, 0]  # 3 images on 2 ranks: index 0 padded onto rank 1
        m.update(sr[idx], hr[idx], torch.tensor(idx))
        queue.put((rank, m.compute()["psnr_y"].item()))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # ~30 s: two spawned processes import torch
def test_srmetrics_is_ddp_correct_with_two_gloo_processes():
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 3, 24, 24, generator=g)
    sr = (hr + 0.05 * torch.randn(3, 3, 24, 24, generator=g)).clamp(0, 1)
    expected = psnr_y(sr, hr, 2).mean().item()
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    mp.start_processes(_ddp_worker, args=(_free_port(), queue), nprocs=2, join=True, start_method="spawn")
    results = dict(queue.get() for _ in range(2))
    assert results[0] == pytest.approx(expected, abs=1e-5)
    assert results[1] == pytest.approx(expected, abs=1e-5)


def test_numpy_reference_psnr_on_8bit_y():
    """PSNR-Y of two 8-bit images equals the textbook formula on MATLAB's Y (peak 255)."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    y = lambda im: 16 + im.astype(np.float64) / 255 @ np.array([65.481, 128.553, 24.966])  # noqa: E731
    ya, yb = y(a)[4:-4, 4:-4], y(b)[4:-4, 4:-4]
    expected = 10 * np.log10(255.0**2 / np.mean((ya - yb) ** 2))
    ta, tb = (torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255 for im in (a, b))
    assert psnr_y(tb, ta, crop=4).item() == pytest.approx(expected, abs=1e-4)

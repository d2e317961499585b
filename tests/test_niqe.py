"""NIQE (lit_gans.metrics.niqe): building blocks against MATLAB conventions and values pinned after a
comparison with BasicSR's ``calculate_niqe`` (which reports MATLAB parity; docs/cyclegan_enlightengan.md).

The value tests need the pristine model parameters (``pip install --no-deps basicsr==1.4.2``); they are
skipped, with the reason, where the package is absent.
"""

import numpy as np
import pytest
import torch

from lit_gans.metrics import niqe as N

needs_params = pytest.mark.skipif(N.find_niqe_params() is None, reason="NIQE parameters absent: pip install --no-deps basicsr==1.4.2")


def test_gaussian_window_is_matlab_fspecial():
    w = N.gaussian_window()
    assert w.shape == (7, 7) and w.sum() == pytest.approx(1.0)
    # fspecial('gaussian', 7, 7/6): centre / corner = exp(2 * 3^2 / (2 * (7/6)^2))
    assert w[3, 3] / w[0, 0] == pytest.approx(np.exp(9 / (7 / 6) ** 2))


@needs_params
def test_gaussian_window_equals_the_shipped_one():
    shipped = np.load(N.find_niqe_params())["gaussian_window"]
    np.testing.assert_allclose(N.gaussian_window(), shipped, atol=1e-15)


def test_imresize_matches_matlab_bicubic_antialias():
    x = np.arange(48, dtype=np.float64).reshape(6, 8)
    expected = [  # MATLAB imresize(x, 0.5) (bicubic, antialiasing), as BasicSR's port computes it
        [4.04296875, 6.08203125, 8.10546875, 10.14453125],
        [20.44921875, 22.48828125, 24.51171875, 26.55078125],
        [36.85546875, 38.89453125, 40.91796875, 42.95703125],
    ]
    np.testing.assert_allclose(N.imresize_matlab(x, 0.5), expected, atol=1e-6)
    np.testing.assert_allclose(N.imresize_matlab(np.full((9, 7), 3.0), 0.5), np.full((5, 4), 3.0))  # constant kept


def test_aggd_params_of_a_gaussian_sample():
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, size=(1, 400, 400))
    alpha, bl, br = N.aggd_params(x)
    assert alpha[0] == pytest.approx(2.0, abs=0.05)  # a Gaussian is a GGD of shape 2
    assert bl[0] == pytest.approx(2.0 * np.sqrt(2), rel=0.02) and br[0] == pytest.approx(2.0 * np.sqrt(2), rel=0.02)


def test_luma_is_matlab_rgb2ycbcr():
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(N.rgb_to_luma(rgb), [[235.0, 16.0, 81.0]])


def test_missing_parameters_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps basicsr"):
        N.load_niqe_params(str(tmp_path / "nope.npz"))


@needs_params
def test_small_image_error():
    with pytest.raises(ValueError, match="at least two 96x96 blocks"):
        N.niqe(np.zeros((100, 150, 3), np.uint8))


@needs_params
def test_values_on_chelsea():
    from scipy.ndimage import gaussian_filter
    from skimage.data import chelsea

    img = chelsea()
    noisy = np.clip(img + np.random.RandomState(0).normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    blur = np.stack([gaussian_filter(img[..., c].astype(float), 2) for c in range(3)], -1).round().astype(np.uint8)
    clean_v, noisy_v, blur_v = N.niqe(img), N.niqe(noisy), N.niqe(blur)
    # pinned; BasicSR's calculate_niqe gives 2.625536 / 8.504904 for clean / blurred (float32 pipeline)
    assert clean_v == pytest.approx(2.6255267, abs=1e-6)
    assert blur_v == pytest.approx(8.5049211, abs=1e-6)
    assert noisy_v == pytest.approx(9.0706774, abs=1e-6)
    assert clean_v < noisy_v and clean_v < blur_v  # lower is better
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0  # tensors in [0, 1] give the same value
    assert N.niqe(t) == pytest.approx(clean_v, abs=1e-9)
    assert N.niqe_batch(t[None].repeat(2, 1, 1, 1)).tolist() == pytest.approx([clean_v, clean_v])

"""NIQE (lit_gans.metrics.niqe): building blocks against MATLAB conventions and values pinned after a
comparison with BasicSR 1.4.2's ``calculate_niqe`` (which reports MATLAB parity): benchmarks/niqe_vs_basicsr.py
gave identical values on all its 32 images (docs/metrics.md); the images are regenerated here by its
``check_images()`` (skimage samples, seeded noise, Pillow JPEG), so basicsr itself is not needed.

The value tests need the pristine model parameters (``pip install --no-deps basicsr==1.4.2``); they are
skipped, with the reason, where the package is absent.
"""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lit_gans.metrics import niqe as N

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

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
    x = rng.normal(0.0, 2.0, size=(400, 400)).astype(np.float32)
    alpha, bl, br = N.aggd_params(x)
    assert alpha == pytest.approx(2.0, abs=0.05)  # a Gaussian is a GGD of shape 2
    assert bl == pytest.approx(2.0 * np.sqrt(2), rel=0.02) and br == pytest.approx(2.0 * np.sqrt(2), rel=0.02)


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
def test_tensor_and_batch_inputs_give_the_array_value():
    from skimage.data import chelsea

    img = chelsea()
    value = N.niqe(img)
    assert value == pytest.approx(2.625536, abs=1e-6)  # BasicSR: 2.625536
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0  # tensors in [0, 1] give the same value
    assert N.niqe(t) == value
    assert N.niqe_batch(t[None].repeat(2, 1, 1, 1)).tolist() == [value, value]


def test_flat_region_mscn_is_exactly_zero():
    """In float32 (BasicSR's arithmetic) a flat region's MSCN is exactly 0: E[x^2] - mu^2 cancels, and I - mu is 0.
    In float64 it was rounding noise of either sign (about 1e-14), which the AGGD fit splits by sign (issue 12:
    rocket at JPEG quality 20 read 10.973 instead of BasicSR's 10.283). An all-zero block has no negative or
    positive values: alpha 0.2, NaN spreads (MATLAB)."""
    y = np.full((96, 192), 100.0)
    y[:, 100:] = 37.0  # block 0 (columns 0..95) is flat
    assert (N.mscn(y.astype(np.float32), N.gaussian_window())[:, :90] == 0).all()
    f = N.niqe_features(y)[0, :18]  # scale 1: alpha, spread, then 4 x (alpha, mean, left, right)
    alphas = [0, 2, 6, 10, 14]
    np.testing.assert_array_equal(f[alphas], 0.2)
    assert np.isnan(np.delete(f, alphas)).all()


# BasicSR 1.4.2 ``basicsr.metrics.niqe.calculate_niqe(bgr, 0, input_order='HWC', convert_to='y')`` (grey images:
# ``input_order='HW'``) on benchmarks/niqe_vs_basicsr.py's images, uint8 input: its table (docs/metrics.md). Ours
# gave the same digits on all 32 defined images (relative difference 0). Chosen here: the images where the
# float64 version differed most (text, logo, dark, blobs, brick: up to 1.48e-3) plus JPEG and a bright flat area.
BASICSR_NIQE = {
    "rocket jpeg20": 10.283298,
    "rocket dark": 12.891355,
    "astronaut jpeg20": 4.446430,
    "astronaut very dark (0.05x)": 9.507928,
    "page": 8.812568,
    "logo": 4.832195,
    "brick": 9.477540,
    "logo jpeg20": 7.745473,
    "binary blobs": 35.041698,
    "bright flat half": 6.002085,
}


@needs_params
def test_agrees_with_basicsr_within_1e_5():
    from niqe_vs_basicsr import check_images

    images = dict(check_images())
    for name, reference in BASICSR_NIQE.items():
        value = N.niqe(images[name])
        assert abs(value - reference) / reference < 1e-6, (name, value, reference)  # pins are rounded to 1e-6


@needs_params
def test_undefined_niqe_is_nan_with_a_reason():
    """BasicSR raises numpy's LinAlgError (SVD did not converge) on these; we give NaN and the reason."""
    from niqe_vs_basicsr import check_images

    images = dict(check_images())
    for name in ("constant (n/a)", "ramp (n/a)", "stripes (n/a)"):
        result = N.niqe_result(images[name])
        assert math.isnan(result.value) and math.isnan(N.niqe(images[name])), name
        assert result.reason is not None and "flat, ramp or stripe image" in result.reason
        assert result.cell().startswith("n/a (fewer than 2 of the ") and result.cell().endswith(")")
    assert N.NIQEResult(3.14159).cell() == "3.142" and N.NIQEResult(3.14159).reason is None
    assert math.isnan(N.niqe_batch(torch.full((1, 3, 192, 192), 0.5)).item())


# The MATLAB release's own code (computequality.m, computefeature.m, estimateaggdparam.m) run by GNU Octave 7.3 with
# octave-image 2.14 on the rounded Y of these images (docs/metrics.md): MATLAB computes in double, which
# precision="float64" reproduces (to 5e-12 on these two); BasicSR's float32 differs on flat areas by up to 40%.
OCTAVE_MATLAB_NIQE = {"bright flat half": 10.0482447070, "binary blobs": 37.5210603993}


@needs_params
def test_float64_precision_is_matlab_arithmetic():
    from niqe_vs_basicsr import check_images

    images = dict(check_images())
    for name, reference in OCTAVE_MATLAB_NIQE.items():
        value = N.niqe(images[name], precision="float64")
        assert abs(value - reference) / reference < 1e-9, (name, value, reference)
        assert abs(N.niqe(images[name]) - BASICSR_NIQE[name]) / BASICSR_NIQE[name] < 1e-6  # the float32 default
    with pytest.raises(ValueError, match="precision must be 'float32'"):
        N.niqe(images["page"], precision="float16")

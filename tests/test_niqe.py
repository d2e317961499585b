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
    assert blur_v == pytest.approx(8.5048934, abs=1e-6)
    assert noisy_v == pytest.approx(9.0706774, abs=1e-6)
    assert clean_v < noisy_v and clean_v < blur_v  # lower is better
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0  # tensors in [0, 1] give the same value
    assert N.niqe(t) == pytest.approx(clean_v, abs=1e-9)
    assert N.niqe_batch(t[None].repeat(2, 1, 1, 1)).tolist() == pytest.approx([clean_v, clean_v])


def test_flat_region_mscn_is_exactly_zero():
    """Float64 rounding noise (about 1e-14) in a flat region's MSCN is set to 0: the AGGD fit splits values by
    sign, so the noise alone would change the features (issue 12: rocket at JPEG quality 20 read 10.973 instead
    of BasicSR's 10.283). An all-zero block has no negative or positive values: alpha 0.2, NaN spreads (MATLAB)."""
    y = np.full((96, 192), 100.0)
    y[:, 100:] = 37.0  # block 0 (columns 0..95) is flat; without the zeroing a pair spread read 3e-32
    f = N.niqe_features(y)[0, :18]  # scale 1: alpha, spread, then 4 x (alpha, mean, left, right)
    alphas = [0, 2, 6, 10, 14]
    np.testing.assert_array_equal(f[alphas], 0.2)
    assert np.isnan(np.delete(f, alphas)).all()


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


# BasicSR 1.4.2 ``basicsr.metrics.niqe.calculate_niqe(bgr, 0, input_order='HWC', convert_to='y')`` on these
# images (uint8 input, its float32 pipeline), computed once with ``pip install --no-deps basicsr==1.4.2
# opencv-python-headless`` (benchmarks/niqe_vs_basicsr.py). JPEG through Pillow's libjpeg at quality
# 20; dark = round(0.15 x image). Before the flat-region fix the project read 10.973 / 13.319 / 7.012 on the first three.
BASICSR_NIQE = {
    ("rocket", "jpeg20"): 10.283298,
    ("rocket", "dark"): 12.891355,
    ("coffee", "jpeg20"): 6.834650,
    ("astronaut", "jpeg20"): 4.446430,
    ("chelsea", "dark"): 6.292825,
}


@needs_params
def test_agrees_with_basicsr_on_jpeg_and_dark_images():
    from skimage import data

    for (name, kind), reference in BASICSR_NIQE.items():
        img = getattr(data, name)()
        x = _jpeg(img, 20) if kind == "jpeg20" else (img.astype(np.float64) * 0.15).round().astype(np.uint8)
        assert N.niqe(x) == pytest.approx(reference, rel=3e-4), (name, kind)

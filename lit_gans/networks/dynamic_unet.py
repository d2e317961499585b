"""Dynamic U-Net on a ResNet encoder: the improved colorization generator of seed 002's tutorial.

Seed 002 (moein-shariatnia/Deep-Learning, "Image Colorization Tutorial", section 2.1) builds it with fastai:
``DynamicUnet(create_body(resnet18, pretrained=True, n_in=1, cut=-2), 2, (256, 256))``. This module
rebuilds the same network, layer for layer, in plain PyTorch (fastai 2.x ``vision/models/unet.py``
``DynamicUnet`` with its defaults: ``norm_type=None``, ``blur=False``, ``self_attention=False``,
``last_cross=True``, ``bottle=False``, ``y_range=None``, ReLU activations):

* encoder: torchvision ResNet without its pooling/fc head (``cut=-2``); the stem conv takes ``in_channels``
  (for ImageNet weights and 1 input channel the RGB filters are summed, fastai ``_load_pretrained_weights``;
  2 channels: the first two times 1.5; more than 3: RGB copied, the rest zero);
* BatchNorm + ReLU on the encoder output, then two 3x3 conv + ReLU (``ni -> 2 ni -> ni``; with
  ``norm_type=None`` these convs have a bias and no norm);
* one ``UnetBlock`` per encoder resolution change (deepest first): PixelShuffle_ICNR upsampling (1x1 conv
  to ``4 * up_in/2`` channels + ReLU + PixelShuffle(2), weights ICNR-initialised) of the lower features,
  nearest resize if the skip is a different size, ReLU(concat(up, BatchNorm(skip))), two 3x3 conv + ReLU;
  channels keep their sum except in the last block (halved);
* a last PixelShuffle_ICNR up to the input resolution, a nearest resize to the input size if needed, the
  input concatenated (``last_cross``), a residual block (two 3x3 convs, ReLU inside and after the sum) and
  a 1x1 conv to ``out_channels``. **No Tanh**: ``y_range=None`` (fastai's ``DynamicUnet`` default, which
  the colorization tutorial keeps).

Initialisation as fastai: kaiming-normal for the middle convs, the block convs and the residual block,
ICNR (kaiming-normal sub-kernel repeated over the 4 sub-pixels) for the PixelShuffle convs, biases zero;
BatchNorm weight 1 and bias 1e-3 (fastai ``BatchNorm``).

Parameter count for ``resnet18``, 1 -> 2 channels: **31,099,672** (encoder 11,170,240), equal to fastai
2.8.12's ``DynamicUnet(create_body(resnet18(), n_in=1, pretrained=False, cut=-2), 2, (256, 256))``, which
also gives the same output on the same input with the same weights (max |diff| pinned in
``tests/test_colorization_networks.py`` from a measurement outside the project; fastai is not a
dependency). fastai state_dicts (``layers.<i>...``, e.g. the tutorial's saved ``net_G``) load through
:meth:`DynamicUnet.convert_official_state_dict`.

ImageNet weights come from torchvision (``pretrained=True``). Offline they are available only when the
file is already in the torch hub cache; otherwise the constructor raises an error that says how to get it.
``pretrained=False`` gives a randomly initialised encoder; a path loads a local torchvision state_dict.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path
from typing import Literal, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.utils.checks import check_sizes

Encoder = Literal["resnet18", "resnet34", "resnet50"]
_WEIGHT_FILES = {  # torchvision IMAGENET1K_V1 files (the weights fastai 2.4's create_body(pretrained=True) used)
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
}
BN_BIAS_INIT = 1e-3  # fastai layers._get_norm: bn.bias.data.fill_(1e-3)


def icnr_(weight: Tensor, scale: int = 2) -> Tensor:
    """ICNR init (Aitken et al. 2017) of a conv feeding ``PixelShuffle(scale)``, in place: a kaiming-normal
    kernel for each output channel group, repeated over the ``scale**2`` sub-pixels (no checkerboard at init)."""
    out_ch = weight.shape[0]
    if out_ch % (scale * scale):
        raise ValueError(f"ICNR needs out_channels divisible by {scale * scale}, got {out_ch}")
    sub = torch.empty(out_ch // (scale * scale), *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_normal_(sub)
    with torch.no_grad():
        weight.copy_(sub.repeat_interleave(scale * scale, dim=0))
    return weight


def _norm(channels: int) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(channels)
    nn.init.ones_(bn.weight)
    nn.init.constant_(bn.bias, BN_BIAS_INIT)
    return bn


def _conv_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight)
    nn.init.zeros_(conv.bias)
    return nn.Sequential(conv, nn.ReLU())


class PixelShuffleICNR(nn.Sequential):
    """1x1 conv (``cin -> cout * 4``) + ReLU + PixelShuffle(2), the conv ICNR-initialised (fastai
    ``PixelShuffle_ICNR`` with ``norm_type=None``, ``blur=False``)."""

    def __init__(self, cin: int, cout: int) -> None:
        conv = nn.Conv2d(cin, cout * 4, 1)
        icnr_(conv.weight)
        nn.init.zeros_(conv.bias)
        super().__init__(conv, nn.ReLU(), nn.PixelShuffle(2))


class UnetBlock(nn.Module):
    """Upsample the lower features, merge the skip, two 3x3 conv + ReLU (fastai ``UnetBlock``)."""

    def __init__(self, up_in: int, skip_in: int, final_div: bool = True) -> None:
        super().__init__()
        self.shuf = PixelShuffleICNR(up_in, up_in // 2)
        self.bn = _norm(skip_in)
        ni = up_in // 2 + skip_in
        nf = ni if final_div else ni // 2
        self.conv1 = _conv_relu(ni, nf)
        self.conv2 = _conv_relu(nf, nf)
        self.out_channels = nf

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        up = self.shuf(x)
        if up.shape[-2:] != skip.shape[-2:]:
            up = F.interpolate(up, skip.shape[-2:], mode="nearest")
        return self.conv2(self.conv1(F.relu(torch.cat([up, self.bn(skip)], dim=1))))


class ResBlock(nn.Module):
    """``relu(conv2(relu(conv1(x))) + x)`` with 3x3 convs (fastai ``ResBlock(1, ni, ni)``, ``norm_type=None``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_relu(channels, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.kaiming_normal_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + x)


def _adapt_stem(conv: nn.Conv2d, in_channels: int, pretrained: bool) -> nn.Conv2d:
    """The stem conv for ``in_channels`` inputs (fastai ``_update_first_layer`` / ``_load_pretrained_weights``)."""
    if in_channels == conv.in_channels:
        return conv
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=conv.bias is not None)
    if pretrained:
        with torch.no_grad():
            w = conv.weight
            if in_channels == 1:
                new.weight.copy_(w.sum(dim=1, keepdim=True))
            elif in_channels == 2:
                new.weight.copy_(w[:, :2] * 1.5)
            else:
                new.weight.zero_()
                new.weight[:, :3] = w
    return new


def _resnet(encoder: Encoder, pretrained: Union[bool, str]) -> nn.Module:
    import torchvision

    ctor = getattr(torchvision.models, encoder)
    if pretrained is False or pretrained in ("false", "random"):
        return ctor(weights=None)
    if pretrained is True or pretrained == "imagenet":
        try:
            return ctor(weights="IMAGENET1K_V1")
        except Exception as err:  # URLError when offline and not cached
            raise RuntimeError(
                f"{encoder} ImageNet weights are not in the torch hub cache and cannot be downloaded here ({err}). "
                f"On a machine with network access run `python -c \"import torchvision; torchvision.models.{encoder}"
                f"(weights='IMAGENET1K_V1')\"` and copy ~/.cache/torch/hub/checkpoints/{_WEIGHT_FILES[encoder]} to this "
                "machine's cache (or set TORCH_HOME), or pass the file's path as `pretrained`; "
                "`pretrained: false` trains the encoder from a random init (deviates from seed 002)."
            ) from err
    path = Path(str(pretrained)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights file {path} not found; pass true (ImageNet), false (random) or an existing file")
    model = ctor(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


class DynamicUnet(nn.Module):
    """U-Net with a torchvision ResNet encoder and PixelShuffle_ICNR decoder (fastai ``DynamicUnet``).

    Args:
        in_channels: input channels (1: the L channel).
        out_channels: output channels (2: ab). The output is linear (no Tanh, fastai ``y_range=None``).
        encoder: torchvision ResNet ('resnet18' in seed 002).
        pretrained: True: torchvision ImageNet weights (seed 002); False: random init; a path: a local
            torchvision state_dict file.
        img_size: size used to trace the encoder's resolutions when building (fastai ``img_size``, 256).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        encoder: Encoder = "resnet18",
        pretrained: Union[bool, str] = True,
        img_size: int = 256,
    ) -> None:
        check_sizes(DynamicUnet, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        #: The encoder downsamples by 32; other sizes work (nearest resizes inside) but multiples are exact.
        self.input_multiple = 32
        resnet = _resnet(encoder, pretrained)
        loaded = pretrained is not False and pretrained not in ("false", "random")
        resnet.conv1 = _adapt_stem(resnet.conv1, in_channels, loaded)
        children = list(resnet.named_children())[:-2]  # cut=-2: drop avgpool and fc
        self.encoder = nn.Sequential(OrderedDict(children))

        # Resolutions of the encoder's children on a dummy input: a skip wherever the size changes next.
        was_training = self.encoder.training
        self.encoder.eval()
        with torch.no_grad():
            x = torch.zeros(1, in_channels, img_size, img_size)
            shapes = []
            for layer in self.encoder:
                x = layer(x)
                shapes.append(tuple(x.shape[1:]))
        self.encoder.train(was_training)
        self.skip_indices = [i for i in range(len(shapes) - 1) if shapes[i][-1] != shapes[i + 1][-1]]

        ni = shapes[-1][0]
        self.mid_norm = _norm(ni)
        self.middle = nn.Sequential(*_conv_relu(ni, ni * 2), *_conv_relu(ni * 2, ni))
        blocks, channels = [], ni
        for k, idx in enumerate(reversed(self.skip_indices)):
            block = UnetBlock(channels, shapes[idx][0], final_div=k != len(self.skip_indices) - 1)
            blocks.append(block)
            channels = block.out_channels
        self.blocks = nn.ModuleList(blocks)
        first_size = shapes[0][-1]
        # fastai adds a last PixelShuffle_ICNR when the first encoder resolution is not the input's
        self.final_shuffle = PixelShuffleICNR(channels, channels) if first_size != img_size else nn.Identity()
        self.res_block = ResBlock(channels + in_channels)
        self.head = nn.Conv2d(channels + in_channels, out_channels, 1)  # fastai ConvLayer(ks=1, act_cls=None): default init

    def forward(self, x: Tensor) -> Tensor:
        skips: dict[int, Tensor] = {}
        h = x
        for i, layer in enumerate(self.encoder):
            h = layer(h)
            if i in self.skip_indices:
                skips[i] = h
        h = self.middle(F.relu(self.mid_norm(h)))
        for block, idx in zip(self.blocks, reversed(self.skip_indices)):
            h = block(h, skips[idx])
        h = self.final_shuffle(h)
        if h.shape[-2:] != x.shape[-2:]:
            h = F.interpolate(h, x.shape[-2:], mode="nearest")  # fastai ResizeToOrig
        h = self.res_block(torch.cat([h, x], dim=1))  # fastai MergeLayer(dense=True): [features, input]
        return self.head(h)

    # ------------------------------------------------------------------ fastai checkpoints
    @staticmethod
    def convert_official_state_dict(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a fastai ``DynamicUnet`` state_dict (keys ``layers.<i>...``; a ``net_G.`` or ``module.`` prefix,
        as in the tutorial's saved ``MainModel``, is removed and its ``net_D.`` keys ignored) to this class.

        fastai layout: 0 encoder (ResNet children 0..7), 1 BatchNorm, 2 ReLU, 3 middle convs, 4.. UnetBlocks,
        then the last PixelShuffle_ICNR, ResizeToOrig, MergeLayer, ResBlock and the 1x1 head conv.
        """
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        has_g = any(k.startswith("net_G.") for k in state_dict)
        sd = {}
        for key, value in state_dict.items():
            # The tutorial's MainModel also holds net_D.* and its GANLoss buffers (GANcriterion.real_label /
            # fake_label): only the generator's keys are taken.
            if has_g and not key.startswith("net_G."):
                continue
            for prefix in ("net_G.", "module."):
                if key.startswith(prefix):
                    key = key[len(prefix):]
            sd[key] = value
        foreign = [k for k in sd if not re.match(r"^layers\.\d+\.", k)]
        if foreign or not sd:
            raise KeyError(_describe_foreign_layout(sd))
        idx = lambda k: int(k.split(".")[1])  # noqa: E731
        block_ids = sorted({idx(k) for k in sd if ".shuf." in k})
        res_ids = {idx(k) for k in sd if ".convpath." in k}
        head_id = max(idx(k) for k in sd)
        out: dict[str, Tensor] = {}
        for key, value in sd.items():
            m = re.match(r"^layers\.(\d+)\.(.+)$", key)
            if not m:
                raise KeyError(f"not a fastai DynamicUnet key: {key!r}")
            i, rest = int(m.group(1)), m.group(2)
            if i == 0:
                child, tail = rest.split(".", 1)
                out[f"encoder.{names[int(child)]}.{tail}"] = value
            elif i == 1:
                out[f"mid_norm.{rest}"] = value
            elif i == 3:
                j, tail = re.match(r"^(\d)\.0\.(.+)$", rest).groups()
                out[f"middle.{2 * int(j)}.{tail}"] = value
            elif i in block_ids:
                b = block_ids.index(i)
                out[f"blocks.{b}.{re.sub(r'^shuf[.]0[.]0[.]', 'shuf.0.', rest)}"] = value
            elif i in res_ids:
                rest = rest.replace("convpath.0.0.", "conv1.0.").replace("convpath.1.0.", "conv2.")
                out[f"res_block.{rest}"] = value
            elif i == head_id:
                out[f"head.{rest.removeprefix('0.')}"] = value
            elif i > max(block_ids, default=3):
                out[f"final_shuffle.0.{rest.removeprefix('0.0.')}"] = value
            else:
                raise KeyError(f"fastai DynamicUnet key without a counterpart here: {key!r}")
        return out


def _describe_foreign_layout(sd: dict[str, Tensor]) -> str:
    """What a state dict that is not a fastai DynamicUnet looks like, and what to load it into instead."""
    keys = list(sd)
    if any(k.startswith("model.model.") for k in keys):
        return (
            "this is a junyanz pytorch-CycleGAN-and-pix2pix U-Net generator (keys 'model.model.*', e.g. "
            "latest_net_G.pth, or the colorization tutorial's baseline U-Net), not a fastai DynamicUnet: load it into "
            "--model.init_args.generator.class_path lit_gans.networks.unet.UnetGenerator (with the file's "
            "in_channels/out_channels/num_downs), not DynamicUnet"
        )
    if any(re.match(r"^model\.\d+\.", k) for k in keys):
        return (
            "this is a junyanz ResnetGenerator file (keys 'model.<i>.*', a CycleGAN/pix2pix latest_net_G.pth), not "
            "a fastai DynamicUnet: use lit_gans.networks.resnet_generator.ResnetGenerator"
        )
    if any(k in ("params", "params_ema") for k in keys):
        return "this is a BasicSR file ('params'/'params_ema'), a super-resolution network, not a fastai DynamicUnet"
    return (
        "expected a fastai DynamicUnet state dict (keys 'layers.<i>.*': the tutorial's saved net_G, e.g. "
        f"res18-unet.pt, or its MainModel state dict with 'net_G.*' keys); first keys: {keys[:5]}"
    )

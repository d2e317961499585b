"""RRDBNet, the ESRGAN generator (Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", ECCV Workshops 2018, arXiv:1809.00219, Sec. 3.1 and Fig. 4).

Layer for layer the network of BasicSR ``basicsr/archs/rrdbnet_arch.py`` (``RRDBNet``): the module names
are the same (``conv_first``, ``body.<i>.rdb<k>.conv<j>``, ``conv_body``, ``conv_up1``, ``conv_up2``,
``conv_hr``, ``conv_last``), so a BasicSR checkpoint's ``params``/``params_ema`` load as they are, and the
x4 network with 23 blocks has the official 16,697,987 parameters (measured by running BasicSR's and
xinntao/ESRGAN's definitions; pinned in ``tests/test_sr_networks.py``).

* No BatchNorm anywhere (Sec. 3.1: BN brings artifacts).
* Residual scaling 0.2 on every residual dense block and every RRDB (Sec. 3.1, "residual scaling").
* Dense-block convs initialised with Kaiming-normal weights scaled by 0.1 and zero biases (Sec. 3.1,
  "smaller initialization"; BasicSR ``default_init_weights(..., 0.1)``); the other convs keep PyTorch's
  default initialisation, as in BasicSR.
* Upsampling: nearest x2 + 3x3 conv + LeakyReLU(0.2), twice (the "upconv" of both official codes).

Scales. x4 is the paper's. x2 and x1 are BasicSR's extension: the LR input is pixel-unshuffled by 2 (x2)
or 4 (x1) so that the x4 body and tail are reused (the input sides must then be even, resp. multiples of
4: ``input_multiple``). x3 follows xinntao/ESRGAN's original ``architecture.py`` (``RRDB_Net(upscale=3)``):
a single nearest x3 upconv, i.e. no ``conv_up2``.

Input and output are RGB in [0, 1] (BasicSR's range); the output is not clamped (clamp when saving).

Official weights: :func:`convert_official_state_dict` maps BasicSR files (``{"params": ...}`` /
``{"params_ema": ...}``), xinntao/ESRGAN's ``RRDB_ESRGAN_x4.pth`` / ``RRDB_PSNR_x4.pth`` (``RRDB_trunk``,
``trunk_conv``, ``upconv1``, ``HRconv`` ...) and the pre-2019 sequential layout (``model.0``,
``model.1.sub.<i>.RDB<k>.conv<j>.0``, ...) onto this module's names.
"""

from __future__ import annotations

import re
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_gans.errors import ConfigError
from lit_gans.utils.checks import check_sizes

_RESIDUAL_SCALE = 0.2  # ESRGAN Sec. 3.1 / BasicSR rrdbnet_arch.py ("we use 0.2 to scale the residual")
_INIT_SCALE = 0.1  # ESRGAN Sec. 3.1 / BasicSR default_init_weights(..., 0.1) for the dense-block convs
_SLOPE = 0.2  # LeakyReLU negative slope of both official codes


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs with dense connections; the fifth maps back to ``num_feat`` channels.

    ``out = x + 0.2 * conv5(cat(x, x1, x2, x3, x4))`` where ``x_k = lrelu(conv_k(cat(x, x1 .. x_{k-1})))``.
    """

    def __init__(self, num_feat: int = 64, growth: int = 32) -> None:
        super().__init__()
        for k in range(1, 5):
            setattr(self, f"conv{k}", nn.Conv2d(num_feat + (k - 1) * growth, growth, 3, 1, 1))
        self.conv5 = nn.Conv2d(num_feat + 4 * growth, num_feat, 3, 1, 1)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(conv.weight)
            conv.weight.mul_(_INIT_SCALE)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        feats = [x]
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            feats.append(F.leaky_relu(conv(torch.cat(feats, 1)), _SLOPE))
        return x + _RESIDUAL_SCALE * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks and a scaled outer skip (ESRGAN Fig. 4)."""

    def __init__(self, num_feat: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, growth)
        self.rdb2 = ResidualDenseBlock(num_feat, growth)
        self.rdb3 = ResidualDenseBlock(num_feat, growth)

    def forward(self, x: Tensor) -> Tensor:
        return x + _RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN generator.

    Args:
        scale: upscaling factor, 1, 2, 3 or 4 (see the module docstring for how each is built).
        in_channels: input channels (3 for RGB).
        out_channels: output channels.
        num_feat: trunk width (64 in ESRGAN, BasicSR ``num_feat``).
        num_blocks: number of RRDBs (23 in ESRGAN, BasicSR ``num_block``).
        growth: growth channels of the dense blocks (32 in ESRGAN, BasicSR ``num_grow_ch``).
    """

    def __init__(
        self,
        scale: int = 4,
        in_channels: int = 3,
        out_channels: int = 3,
        num_feat: int = 64,
        num_blocks: int = 23,
        growth: int = 32,
    ) -> None:
        check_sizes(RRDBNet, "--model.init_args.generator", locals())  # widths, sizes >= 1 (lit_gans.utils.checks)
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise ConfigError(
                f"--model.init_args.generator.init_args.scale={scale}: RRDBNet supports scale 1, 2, 3 or 4 "
                "(e.g. 4, ESRGAN's; the datamodule follows the generator's scale)"
            )
        self.scale = scale
        # x2 / x1: BasicSR feeds a pixel-unshuffled input to the x4 network.
        self.unshuffle = {1: 4, 2: 2}.get(scale, 1)
        self.input_multiple = self.unshuffle
        self.up_factors = (3,) if scale == 3 else (2, 2)
        self.conv_first = nn.Conv2d(in_channels * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, growth) for _ in range(num_blocks)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale != 3:
            self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: [B, C, h, w] in [0, 1] -> [B, C_out, h*scale, w*scale]."""
        if self.unshuffle > 1:
            if x.shape[-2] % self.unshuffle or x.shape[-1] % self.unshuffle:
                raise ValueError(
                    f"RRDBNet(scale={self.scale}) needs input sides divisible by {self.unshuffle}, got "
                    f"{tuple(x.shape[-2:])}; pad the input (the SR model's predict does it for you)"
                )
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        convs = (self.conv_up1,) if self.scale == 3 else (self.conv_up1, self.conv_up2)
        for conv, factor in zip(convs, self.up_factors):
            feat = F.leaky_relu(conv(F.interpolate(feat, scale_factor=factor, mode="nearest")), _SLOPE)
        return self.conv_last(F.leaky_relu(self.conv_hr(feat), _SLOPE))

    @staticmethod
    def convert_official_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """See :func:`convert_official_state_dict` (used by ``lit_gans.io.checkpoints.load_weights_into``)."""
        return convert_official_state_dict(state_dict)


def _unwrap(state_dict: Mapping, param_key: str | None) -> Mapping[str, Tensor]:
    from lit_gans.utils.weights import unwrap_param_key  # one rule for every BasicSR file (default params_ema)

    return unwrap_param_key(state_dict, "state dict", param_key)


_ESRGAN_RENAMES = {  # xinntao/ESRGAN RRDBNet_arch.py (2019 layout) -> BasicSR / this module
    "trunk_conv.": "conv_body.",
    "upconv1.": "conv_up1.",
    "upconv2.": "conv_up2.",
    "HRconv.": "conv_hr.",
}


def convert_official_state_dict(state_dict: Mapping, param_key: str | None = None) -> dict[str, Tensor]:
    """Map an official RRDBNet state dict onto :class:`RRDBNet`'s names.

    Accepted layouts:

    * BasicSR (``conv_first``, ``body.*.rdb*``): a checkpoint ``{"params": sd}`` / ``{"params_ema": sd}``
      is unwrapped (``params_ema`` preferred when both exist, as Real-ESRGAN's inference does; pass
      ``param_key`` to choose; ``lit_gans.utils.weights.BASICSR_PARAM_KEYS`` says why);
    * xinntao/ESRGAN ``RRDBNet_arch.py`` (``RRDB_trunk.<i>.RDB<k>.conv<j>``, ``trunk_conv``, ``upconv1/2``,
      ``HRconv``): the released ``RRDB_ESRGAN_x4.pth`` and ``RRDB_PSNR_x4.pth``;
    * the pre-2019 ESRGAN sequential layout (``model.0``, ``model.1.sub.<i>.RDB<k>.conv<j>.0``,
      ``model.1.sub.<nb>``, then the upconvs, HR conv and last conv as ``model.<n>``), the layout
      ESRGAN's own ``transer_RRDB_models.py`` converts.

    A ``module.`` prefix (DataParallel) is stripped. Tensors are returned as they are (not copied).
    """
    sd = dict(_unwrap(state_dict, param_key))
    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    if any(k.startswith("body.") for k in sd) and "conv_first.weight" in sd:
        return sd
    if any(k.startswith("RRDB_trunk.") for k in sd):
        out = {}
        for key, value in sd.items():
            new = re.sub(r"^RRDB_trunk\.(\d+)\.RDB(\d)\.", r"body.\1.rdb\2.", key)
            for old, repl in _ESRGAN_RENAMES.items():
                if new.startswith(old):
                    new = repl + new[len(old):]
            out[new] = value
        return out
    if "model.0.weight" in sd:
        return _convert_sequential(sd)
    raise KeyError(
        "unrecognised RRDBNet state dict layout (expected BasicSR 'conv_first'/'body.*', xinntao/ESRGAN "
        f"'RRDB_trunk.*' or the old 'model.*' keys); first keys: {list(sd)[:6]}"
    )


def _convert_sequential(sd: Mapping[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    trunk_ids = set()
    for key, value in sd.items():
        m = re.match(r"^model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)$", key)
        if m:
            block, rdb, conv, kind = m.groups()
            out[f"body.{block}.rdb{rdb}.conv{conv}.{kind}"] = value
            trunk_ids.add(int(block))
    # The trunk's last conv follows the blocks inside the shortcut: model.1.sub.<num_blocks>.
    nb = max(trunk_ids) + 1 if trunk_ids else 0
    for kind in ("weight", "bias"):
        out[f"conv_first.{kind}"] = sd[f"model.0.{kind}"]
        out[f"conv_body.{kind}"] = sd[f"model.1.sub.{nb}.{kind}"]
    # After the shortcut (model.1): the upconvs, the HR conv and the last conv, each a top-level conv.
    tail = sorted({int(m.group(1)) for k in sd if (m := re.match(r"^model\.(\d+)\.weight$", k)) and int(m.group(1)) > 1})
    names = [f"conv_up{i + 1}" for i in range(len(tail) - 2)] + ["conv_hr", "conv_last"]
    if len(tail) not in (3, 4):
        raise KeyError(f"old ESRGAN layout with {len(tail) - 2} upsampling convs is not an x3/x4 RRDBNet")
    for idx, name in zip(tail, names):
        for kind in ("weight", "bias"):
            out[f"{name}.{kind}"] = sd[f"model.{idx}.{kind}"]
    return out

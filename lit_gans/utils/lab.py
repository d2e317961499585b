"""RGB <-> CIE Lab with the normalisation of the colorization models, on the device, in fp32.

Normalisation: ``L / 50 - 1`` and ``ab / 110``, both about [-1, 1]. This is the normalisation of seed 002's
tutorial (moein-shariatnia/Deep-Learning, ``Image Colorization Tutorial``: ``img_lab[[0]] / 50. - 1.`` and
``img_lab[[1, 2]] / 110.``) and of junyanz/pytorch-CycleGAN-and-pix2pix ``data/colorization_dataset.py`` /
``util/util.py::lab2rgb``. Both compute Lab with skimage on CPU workers; here kornia computes it on the
device. kornia's ``rgb_to_lab`` matches skimage's ``rgb2lab`` to float32 precision (D65, 2 degree observer;
measured with kornia 0.9.0 against skimage on six photos: max |dL| 1.6e-5, |da| 6.3e-5; checked by
``tests/test_colorization_data.py``).

Traps handled (kornia's ``rgb_to_lab`` docstring; kornia issues #868, #1140; pytorch/pytorch#68425):

* Input must be sRGB in [0, 1]: :func:`rgb_to_lab_normalized` clamps to [0, 1] first, so a [-1, 1] image
  passed by mistake cannot reach ``pow(negative, 2.4)`` (NaN gradients through ``torch.where``).
* fp32: both conversions run with autocast off and cast their input to float32 (the cube / cube-root steps
  lose precision in fp16/bf16).
* ``lab_to_rgb(clip=True)`` zeroes the gradient of out-of-gamut pixels: :func:`lab_normalized_to_rgb` has a
  ``clip`` switch; losses are computed in Lab (on ab), the RGB path is for display, metrics and saving.
"""

from __future__ import annotations

import torch
from kornia.color import lab_to_rgb, rgb_to_lab
from torch import Tensor

#: L* in [0, 100] -> L / 50 - 1 in [-1, 1] (seed 002 / junyanz colorization_dataset.py).
L_SCALE = 50.0
L_SHIFT = 1.0
#: a*, b* -> ab / 110 (seed 002 / junyanz ``ab_norm = 110``); the sRGB gamut is a in [-86, 98], b in [-108, 94].
AB_SCALE = 110.0


def _fp32(device: torch.device) -> torch.autocast:
    return torch.autocast(device_type=device.type, enabled=False)


def rgb_to_lab_normalized(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """sRGB [B, 3, H, W] in [0, 1] -> (L [B, 1, H, W] = L*/50 - 1, ab [B, 2, H, W] = (a*, b*)/110), fp32.

    Values outside [0, 1] are clamped first (``rgb_to_linear_rgb``'s ``torch.where`` gives NaN gradients below -0.055,
    pytorch/pytorch#68425).
    """
    if rgb.dim() < 3 or rgb.shape[-3] != 3:
        raise ValueError(f"rgb_to_lab_normalized expects [..., 3, H, W] RGB in [0, 1], got shape {tuple(rgb.shape)}")
    with _fp32(rgb.device):
        lab = rgb_to_lab(rgb.float().clamp(0.0, 1.0))
        light = lab[..., :1, :, :] / L_SCALE - L_SHIFT
        ab = lab[..., 1:, :, :] / AB_SCALE
    return light, ab


def lab_normalized_to_rgb(light: Tensor, ab: Tensor, clip: bool = True) -> Tensor:
    """(L/50 - 1 [B, 1, H, W], ab/110 [B, 2, H, W]) -> sRGB [B, 3, H, W], fp32.

    ``clip=True`` (display, metrics, PNG) clamps to [0, 1]; ``clip=False`` keeps the gradient of out-of-gamut
    colours (kornia issue #1140). L is clamped to its valid range [-1, 1] (L* in [0, 100]) before converting.
    """
    if light.shape[-3] != 1 or ab.shape[-3] != 2:
        raise ValueError(f"expected L [..., 1, H, W] and ab [..., 2, H, W], got {tuple(light.shape)} and {tuple(ab.shape)}")
    with _fp32(light.device):
        lab = torch.cat([(light.float().clamp(-1.0, 1.0) + L_SHIFT) * L_SCALE, ab.float() * AB_SCALE], dim=-3)
        return lab_to_rgb(lab, clip=clip)


def gray_to_rgb(light: Tensor) -> Tensor:
    """The grayscale image of L (ab = 0) in sRGB [0, 1]: the "gray baseline" and the input shown in previews."""
    return lab_normalized_to_rgb(light, torch.zeros_like(light).expand(*light.shape[:-3], 2, *light.shape[-2:]))

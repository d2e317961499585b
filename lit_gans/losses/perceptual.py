"""EnlightenGAN's self feature preserving loss (Jiang et al. 2021, Sec. 3.3, Eq. 7), as pure functions
over the project's frozen VGG (:class:`lit_gans.networks.vgg.VGGFeatures`).

What the official code does (VITA-Group/EnlightenGAN ``models/networks.py``: ``Vgg16``, ``vgg_preprocess``,
``PerceptualLoss``; ``scripts/script.py``: ``--vgg 1 --vgg_choose relu5_1``, no ``--vgg_maxpooling``, no
``--vgg_mean``, no ``--no_vgg_instance``):

* VGG16 features at ``relu5_1``, computed **without the 4th max-pool** (``vgg_maxpooling`` unset), so
  relu5_1 is at 1/8 of the input resolution;
* input ``[-1, 1]`` RGB -> BGR in 0..255 without mean subtraction (``vgg_preprocess``), for their
  Caffe-converted VGG16 weights;
* both feature maps go through ``InstanceNorm2d(512, affine=False)`` before the mean squared error;
* the loss compares the enhanced image with the **low-light input** (hence "self" feature preserving),
  on the whole image and on the local patches (Sec. 3.3: "adopt the SFP loss on the local patches").
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor

from lit_gans.networks.vgg import VGGFeatures

SFP_LAYER = "relu5_1"  # scripts/script.py: --vgg_choose relu5_1
IN_EPS = 1e-5  # nn.InstanceNorm2d default eps (official PerceptualLoss.instancenorm)


def sfp_vgg(
    weights: str = "imagenet",
    input_norm: Literal["imagenet", "caffe", "caffe_nomean"] = "imagenet",
    dtype: Literal["float32", "bfloat16"] = "float32",
) -> VGGFeatures:
    """The frozen VGG16 of the SFP loss: relu5_1 with ``pool4`` removed (official ``vgg_maxpooling`` off).

    ``input_norm``: the official code feeds BGR 0..255 without mean (``"caffe_nomean"``) to Caffe-converted
    VGG16 weights. torchvision's ImageNet weights, the default here, were trained on RGB normalised by the
    ImageNet mean/std, so ``"imagenet"`` is the matching input for them (deviates from the official
    preprocessing because the weights differ); pass a Caffe-converted VGG16 file as ``weights`` with
    ``"caffe_nomean"`` to reproduce the official features exactly.
    """
    return VGGFeatures("vgg16", layers=(SFP_LAYER,), weights=weights, input_norm=input_norm, skip_pools=("pool4",), dtype=dtype)


def instance_normalized_mse(features: Tensor, target: Tensor, eps: float = IN_EPS) -> Tensor:
    """``mean((IN(a) - IN(b))^2)`` with a non-affine instance norm per sample and channel (official
    ``PerceptualLoss.compute_vgg_loss``)."""
    return F.mse_loss(F.instance_norm(features, eps=eps), F.instance_norm(target, eps=eps))


def self_feature_preserving_loss(vgg: VGGFeatures, output: Tensor, low_light: Tensor, layer: str = SFP_LAYER) -> Tensor:
    """Eq. 7 between the enhanced images and their low-light inputs, both ``[B, 3, H, W]`` in [-1, 1].

    The images are mapped to [0, 1] with ``(x + 1) / 2`` and not clamped (the official ``vgg_preprocess``
    does not clamp either). ``low_light`` carries no gradient. Several crops of equal size (the local
    patches) can be passed as one batch: the mean over the batch is the official average over patches.
    """
    feats = vgg(((output + 1.0) * 0.5))[layer]
    target = vgg(((low_light.detach() + 1.0) * 0.5))[layer]
    return instance_normalized_mse(feats, target)

"""Issue 12, "no silent failure": bad inputs and faults as a user meets them. Each test asserts the error class
(a ``lit_gans.errors.UserError`` where the user can act) and that the message names the file or option and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from lit_gans.errors import UserError
from lit_gans.metrics.generation import GenerationMetrics
from lit_gans.metrics.niqe import niqe
from lit_gans.metrics.swd import SlicedWassersteinDistance
from lit_gans.utils.images import NonFiniteImagesError, check_unit_range


# ----------------------------------------------------------------------------------------- non-finite metrics
class _MeanFeatures(nn.Module):
    """A tiny custom feature network: per-channel means and stds (6 features)."""

    num_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x.mean((2, 3)), x.std((2, 3))], 1) * self.scale

    scale = 1.0


def _metrics(**kwargs) -> GenerationMetrics:  # noqa: ANN003
    return GenerationMetrics(_MeanFeatures(), feature_name="means", **kwargs)


def test_nan_generated_images_are_refused_before_fid():
    m = _metrics()
    m.update_real(torch.rand(8, 3, 8, 8))
    fake = torch.rand(8, 3, 8, 8)
    fake[3, 0, 2, 2] = math.nan  # a diverged generator (WGAN-GP at lr 1e6 went NaN at step 3)
    with pytest.raises(NonFiniteImagesError, match=r"update_fake: 1 of 1536 values are NaN or inf.*earlier checkpoint"):
        m.update_fake(fake)
    assert isinstance(NonFiniteImagesError("x"), UserError) and isinstance(NonFiniteImagesError("x"), ValueError)
    # the same with the range check off, and with +inf
    m2 = _metrics(check_range=False)
    with pytest.raises(NonFiniteImagesError, match="update_real"):
        m2.update_real(torch.full((2, 3, 8, 8), math.inf))
    # finite images still give a finite FID afterwards (the refused batch was not added)
    m.update_fake(torch.rand(8, 3, 8, 8))
    assert all(torch.isfinite(v) for v in m.compute().values())


def test_non_finite_features_are_refused():
    net = _MeanFeatures()
    net.scale = math.inf  # finite images, infinite features (a broken custom feature network)
    m = GenerationMetrics(net, feature_name="means")
    with pytest.raises(NonFiniteImagesError, match="features of means"):
        m.update_real(torch.rand(2, 3, 8, 8))


def test_check_unit_range_refuses_nan():
    x = torch.zeros(4)
    x[1] = math.nan  # NaN passes every comparison: min/max alone would let it through
    with pytest.raises(NonFiniteImagesError, match="images: 1 of 4 values"):
        check_unit_range(x)


def test_swd_and_niqe_refuse_nan():
    swd = SlicedWassersteinDistance(16)
    with pytest.raises(NonFiniteImagesError, match="SlicedWassersteinDistance.update\\(generated\\)"):
        swd.update(torch.full((2, 3, 16, 16), math.nan), real=False)
    image = torch.rand(3, 96, 192)
    image[0, 0, 0] = math.nan
    with pytest.raises(NonFiniteImagesError, match="niqe: the image holds NaN"):  # before the params are needed
        niqe(image)

"""Inpainting masks (lit_gans.utils.masks): exact center box, block and region coverage, exact composites."""

import pytest
import torch

from lit_gans.utils.masks import (
    center_box,
    center_mask,
    composite,
    dilate,
    fill_hole,
    random_block_mask,
    random_region_mask,
    region_pattern,
)


def test_center_mask_is_the_official_hole():
    # train.lua, fineSize 128, overlapPred 4: Lua rows 1 + 32 + 4 .. 64 + 32 - 4 (1-based, inclusive) = 36..91 (0-based)
    assert center_box(128, 4) == (36, 92)
    m = center_mask(2, 128, overlap=4)
    assert m.shape == (2, 1, 128, 128) and m.dtype == torch.float32
    assert m.sum().item() == 2 * 56 * 56
    assert m[:, :, 36:92, 36:92].min() == 1 and m[:, :, 35, :].max() == 0 and m[:, :, :, 92].max() == 0
    assert center_mask(1, 64).sum().item() == 32 * 32  # no overlap: the whole center patch
    with pytest.raises(ValueError, match="no hole"):
        center_box(16, 4)
    with pytest.raises(ValueError, match="divisible by 4"):
        center_box(30)


def test_random_block_inside_and_varied():
    m = random_block_mask(64, 32, block=(8, 12))
    assert torch.all(m.sum(dim=(1, 2, 3)) == 8 * 12)  # fully inside the image: never clipped
    rows = m.amax(dim=(1, 3)).squeeze(1)  # [B, H]: rows touched
    assert torch.all(rows.sum(1) == 8) and torch.all(m.amax(dim=(1, 2)).sum(1) == 12)
    tops = rows.float().argmax(1)
    assert len(set(tops.tolist())) > 5, "positions should vary"
    assert tops.max() <= 32 - 8
    assert random_block_mask(3, 16).sum().item() == 3 * 8 * 8  # default: half the side
    with pytest.raises(ValueError, match="does not fit"):
        random_block_mask(1, 16, 17)


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("shared", [True, False])
def test_random_region_coverage_within_bounds(size, shared):
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        m = random_region_mask(16, size, shared=shared, generator=g)
        assert m.shape == (16, 1, size, size)
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        cover = m.mean(dim=(1, 2, 3))
        assert torch.all(cover > 0.20) and torch.all(cover < 0.30), cover  # train_random.lua: 20 < area < 30
        if shared:
            assert torch.equal(m, m[:1].expand_as(m))  # official: one mask repeated over the batch
        else:
            assert len({tuple(x.flatten().nonzero().flatten()[:5].tolist()) for x in m}) > 1


def test_random_region_custom_range_and_determinism():
    a = random_region_mask(8, 64, coverage=(0.10, 0.15), shared=False, generator=torch.Generator().manual_seed(3))
    b = random_region_mask(8, 64, coverage=(0.10, 0.15), shared=False, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    cover = a.mean(dim=(1, 2, 3))
    assert torch.all(cover > 0.10) and torch.all(cover < 0.15)
    with pytest.raises(ValueError, match="coverage"):
        random_region_mask(1, 64, coverage=(0.3, 0.2))


def test_region_pattern_is_blobby_noise():
    p = region_pattern(512, generator=torch.Generator().manual_seed(0))
    # thresholding bicubic-upscaled U(0,1) noise at 0.25 leaves fewer than 25 % holes (smoothing), in blobs
    assert 0.12 < p.mean().item() < 0.25
    # neighbours agree far more often than independent pixels would (1 - 2p(1-p) ~ 0.7)
    assert (p[:, 1:] == p[:, :-1]).float().mean().item() > 0.95


def test_dilate_fill_and_composite_exact():
    m = torch.zeros(1, 1, 7, 7)
    m[..., 3, 3] = 1
    assert dilate(m, 1).sum().item() == 9 and dilate(m, 2).sum().item() == 25 and torch.equal(dilate(m, 0), m)
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    mask = random_block_mask(2, 16, 6)
    filled = fill_hole(image, mask, (0.1, 0.2, 0.3))
    known = ~mask.bool().expand_as(image)
    assert torch.equal(filled[known], image[known])
    assert torch.allclose(filled[:, 1][mask[:, 0].bool()], torch.tensor(0.2))
    pred = torch.rand_like(image)
    out = composite(pred, image, mask)
    assert torch.equal(out[known], image[known]) and torch.equal(out[~known], pred[~known])

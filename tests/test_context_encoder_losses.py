"""Masked L2 with the overlap weighting (hand-computed and against train.lua's gradient), hole metrics, model loss."""

import math

import pytest
import torch

from lit_gans.losses.adversarial import d_vanilla, g_vanilla
from lit_gans.losses.reconstruction import masked_l2, overlap_weights
from lit_gans.metrics.masked import MaskedImageMetrics, hole_l1, hole_l2, hole_psnr, hole_ssim
from lit_gans.models.context_encoder import ContextEncoder
from lit_gans.networks.context_encoder import ContextEncoderDiscriminator, ContextEncoderGenerator
from lit_gans.utils.masks import center_mask


def test_masked_l2_hand_computed():
    # 1x1x4x4 patch, hole = the 2x2 center, overlap 1: the 12 border pixels are the overlap band
    target = torch.zeros(1, 1, 4, 4)
    pred = torch.zeros(1, 1, 4, 4)
    pred[0, 0, 1, 1] = 2.0  # in the hole: weight 1 -> 4
    pred[0, 0, 0, 0] = 1.0  # in the band: weight 10 -> 10
    pred[0, 0, 3, 2] = -0.5  # in the band: weight 10 -> 2.5
    hole = torch.zeros(1, 1, 4, 4)
    hole[..., 1:3, 1:3] = 1
    assert masked_l2(pred, target, hole, overlap=1).item() == pytest.approx((4 + 10 + 2.5) / 16)
    # context pixels: a 6x6 image, overlap 1 -> the outer ring is context (weight context_weight)
    pred6, hole6 = torch.zeros(1, 1, 6, 6), torch.zeros(1, 1, 6, 6)
    hole6[..., 2:4, 2:4] = 1
    pred6[0, 0, 0, 5] = 3.0  # context
    pred6[0, 0, 2, 2] = 1.0  # hole
    assert masked_l2(pred6, torch.zeros_like(pred6), hole6, overlap=1).item() == pytest.approx(1 / 36)
    assert masked_l2(pred6, torch.zeros_like(pred6), hole6, 1, 10.0, context_weight=2.0).item() == pytest.approx((1 + 18) / 36)
    w = overlap_weights(hole6, 1, 10.0, 2.0)
    assert w.sum().item() == 4 * 1 + 12 * 10 + 20 * 2
    # channels share the spatial weights; normalisation by every predicted element (nn.MSECriterion mean)
    pred3 = pred.expand(2, 3, 4, 4)
    assert masked_l2(pred3, torch.zeros_like(pred3), hole.expand(2, 1, 4, 4), overlap=1).item() == pytest.approx((4 + 10 + 2.5) / 16)


def test_masked_l2_gradient_equals_train_lua():
    """train.lua: df_dg = wtl2Matrix * dMSE/dx, wtl2Matrix = 10*wtl2 on the 64 px patch, wtl2 in [4:60, 4:60]."""
    wtl2 = 0.999
    pred = torch.randn(2, 3, 64, 64, requires_grad=True)
    target = torch.randn(2, 3, 64, 64)
    hole = center_mask(2, 128, overlap=4)[..., 32:96, 32:96]  # the hole cut to the predicted patch
    (wtl2 * masked_l2(pred, target, hole, overlap=64, overlap_weight=10.0)).backward()
    matrix = torch.full((2, 3, 64, 64), 10 * wtl2)
    matrix[:, :, 4:60, 4:60] = wtl2
    official = matrix * 2 * (pred.detach() - target) / pred.numel()
    torch.testing.assert_close(pred.grad, official)


def test_shape_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        masked_l2(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 5), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        masked_l2(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))


def test_hole_metrics_values():
    target = torch.rand(2, 3, 32, 32) * 0.5 + 0.25
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    pred = target.clone()
    pred[..., 8:24, 8:24] += 0.1  # error 0.1 in the hole only
    pred[..., :4, :] = 0.0  # large errors outside the hole must not count
    torch.testing.assert_close(hole_l1(pred, target, mask), torch.full((2,), 0.1))
    torch.testing.assert_close(hole_l2(pred, target, mask), torch.full((2,), 0.01))
    torch.testing.assert_close(hole_psnr(pred, target, mask), torch.full((2,), 20.0))  # 10 log10(1 / 0.01)
    torch.testing.assert_close(hole_ssim(target, target, mask), torch.ones(2))
    assert torch.all(hole_ssim(pred, target, mask) < 1)
    import kornia

    full = torch.ones(2, 1, 32, 32)
    torch.testing.assert_close(hole_ssim(pred, target, full), kornia.metrics.ssim(pred, target, 11).mean(dim=(1, 2, 3)))
    m = MaskedImageMetrics()
    m.update(pred[:1], target[:1], mask[:1])
    pred2 = target.clone()
    pred2[..., 8:24, 8:24] += 0.01  # 40 dB
    m.update(pred2[1:], target[1:], mask[1:])
    out = m.compute()
    assert out["psnr"].item() == pytest.approx(30.0, abs=1e-3)  # mean over images of per-image PSNR
    assert out["l2"].item() == pytest.approx((0.01 + 1e-4) / 2, rel=1e-4)


def tiny_model(output="center", **kwargs):
    g = ContextEncoderGenerator(image_size=16, output=output, nef=4, ngf=4)
    d = ContextEncoderDiscriminator(image_size=8 if output == "center" else 16, ndf=4)
    return ContextEncoder(g, d, **kwargs)


def test_model_losses_are_the_official_combination():
    model = tiny_model()
    image = torch.rand(4, 3, 16, 16) * 2 - 1
    mask = center_mask(4, 16, overlap=1)
    batch = {"image": image, "mask": mask, "masked": torch.where(mask.bool(), 0.0, image)}
    out = model.generate(batch)
    assert out["fake"].shape == (4, 3, 8, 8)
    real_patch = image[..., 4:12, 4:12]
    d_loss, _ = model.discriminator_loss(batch, out)
    torch.testing.assert_close(d_loss, d_vanilla(model.discriminator(real_patch), model.discriminator(out["fake"])))
    g_loss, logs = model.generator_loss(batch, out)
    w = torch.full((4, 1, 8, 8), 10.0)  # train.lua: 10x on the known patch border, 1x in the hole
    w[..., 1:7, 1:7] = 1.0
    rec = (w * (out["fake"] - real_patch) ** 2).sum() / out["fake"].numel()
    adv = g_vanilla(model.discriminator(out["fake"]))
    torch.testing.assert_close(logs["g_rec"], rec.detach())
    torch.testing.assert_close(g_loss, 0.999 * rec + 0.001 * adv)


def test_paper_optimizers_and_checks():
    model = tiny_model()
    opt_g = model.paper_optimizer_g()(model.generator.parameters())
    opt_d = model.paper_optimizer_d()(model.discriminator.parameters())
    assert opt_g.defaults["lr"] == pytest.approx(10 * opt_d.defaults["lr"]) and opt_d.defaults["lr"] == 2e-4
    assert opt_g.defaults["betas"] == (0.5, 0.999)
    with pytest.raises(ValueError, match="set the discriminator's image_size to 8"):
        ContextEncoder(ContextEncoderGenerator(image_size=16, nef=4, ngf=4), ContextEncoderDiscriminator(image_size=16, ndf=4))
    with pytest.raises(ValueError, match="gan_loss"):
        tiny_model(gan_loss="relativistic")


def test_composites_keep_known_pixels():
    for output in ("center", "image"):
        model = tiny_model(output).eval()
        image = torch.rand(3, 3, 16, 16) * 2 - 1
        mask = center_mask(3, 16, overlap=1) if output == "center" else (torch.rand(3, 1, 16, 16) < 0.3).float()
        masked = torch.where(mask.bool(), 0.1, image)
        with torch.no_grad():
            prediction, comp = model.inpaint(masked, image, mask)
        known = ~mask.bool().expand_as(image)
        assert torch.equal(comp[known], image[known])
        assert torch.equal(comp[~known], prediction[~known])
        assert not torch.equal(comp[~known], image[~known])
    assert math.isfinite(comp.sum().item())

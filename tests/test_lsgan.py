"""LSGAN (Mao et al. 2017): the losses a step optimises are the paper's least squares ones with the 0-1 coding
(a = 0, b = 1, c = 1), on the discriminator's raw outputs. The YAML runs through tests/test_experiments.py."""

import torch

from lit_gans.models.lsgan import LSGAN
from lit_gans.networks.dcgan import DCGANDiscriminator, DCGANGenerator


def test_lsgan_losses_are_least_squares_with_a0_b1_c1():
    torch.manual_seed(0)
    model = LSGAN(DCGANGenerator(latent_dim=8, out_channels=1, image_size=32, ngf=8),
                  DCGANDiscriminator(in_channels=1, image_size=32, ndf=8, norm="batch"))
    assert model.gan_loss == "lsgan"
    batch = {"image": torch.rand(4, 1, 32, 32) * 2 - 1, "label": torch.zeros(4, dtype=torch.long)}
    out = model.generate(batch)
    model.eval()  # batch norm in eval mode: the two D calls below see the same statistics as the losses'
    d_loss, logs = model.discriminator_loss(batch, out)
    d_real, d_fake = model.discriminator(batch["image"]), model.discriminator(out["fake"].detach())
    a, b, c = 0.0, 1.0, 1.0
    torch.testing.assert_close(d_loss, ((d_real - b) ** 2).mean() + ((d_fake - a) ** 2).mean())
    g_loss, _ = model.generator_loss(batch, out)
    torch.testing.assert_close(g_loss, ((model.discriminator(out["fake"]) - c) ** 2).mean())
    assert d_loss.item() > 0 and set(logs) >= {"d_loss", "d_real_logit", "d_fake_logit"}
    # no sigmoid: a fake the discriminator scores above the real code b = 1 still gets a gradient back to 1
    over = torch.tensor([3.0], requires_grad=True)
    model.g_loss_fn(over).backward()
    assert over.grad.item() == 2 * (3.0 - c)

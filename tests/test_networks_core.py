"""Networks of the foundation: official parameter counts, shapes, and clear errors for sizes they cannot take."""

import pytest
import torch

from lit_gans.networks.dcgan import ConditionalDCGANDiscriminator, ConditionalDCGANGenerator, DCGANDiscriminator, DCGANGenerator
from lit_gans.networks.mlp import MLPDiscriminator, MLPGenerator
from lit_gans.networks.patchgan import PatchDiscriminator


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_dcgan_64_matches_pytorch_examples_parameter_counts():
    # pytorch/examples dcgan/main.py with nz=100, ngf=ndf=64, nc=3
    assert n_params(DCGANGenerator(100, 3, 64, 64)) == 3_576_704
    assert n_params(DCGANDiscriminator(3, 64, 64)) == 2_765_568


def test_dcgan_64_layer_sequence():
    g = DCGANGenerator(100, 3, 64, 64).main
    convs = [(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding) for m in g if isinstance(m, torch.nn.ConvTranspose2d)]
    assert convs == [(100, 512, (4, 4), (1, 1), (0, 0)), (512, 256, (4, 4), (2, 2), (1, 1)), (256, 128, (4, 4), (2, 2), (1, 1)),
                     (128, 64, (4, 4), (2, 2), (1, 1)), (64, 3, (4, 4), (2, 2), (1, 1))]
    d = DCGANDiscriminator(3, 64, 64).main
    assert not isinstance(d[1], torch.nn.BatchNorm2d)  # no BN on the first D layer (Radford et al. 2016 Sec. 3)


@pytest.mark.parametrize("size", [8, 28, 32, 64, 128])
def test_dcgan_shapes(size):
    g, d = DCGANGenerator(10, 1, size, 4), DCGANDiscriminator(1, size, 4)
    x = g(torch.randn(3, 10))
    assert x.shape == (3, 1, size, size) and x.abs().max() <= 1
    assert d(x).shape == (3,)


@pytest.mark.parametrize("size", [0, 4, 24, 48, 100])
def test_dcgan_rejects_sizes_it_cannot_take(size):
    with pytest.raises(ValueError, match=f"image_size={size}"):
        DCGANGenerator(10, 1, size)


def test_layer_norm_critic_has_no_batchnorm():
    d = DCGANDiscriminator(1, 32, 8, norm="layer")
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())


def test_mlp_pytorch_gan_sizes():
    g = MLPGenerator(100, 1, 28)
    # Linear 100-128, 128-256 (+BN), 256-512 (+BN), 512-1024 (+BN), 1024-784
    expected = (100 * 128 + 128) + (128 * 256 + 256 + 512) + (256 * 512 + 512 + 1024) + (512 * 1024 + 1024 + 2048) + (1024 * 784 + 784)
    assert n_params(g) == expected
    d = MLPDiscriminator(1, 28, (512, 256))
    assert n_params(d) == (784 * 512 + 512) + (512 * 256 + 256) + (256 + 1)
    assert g(torch.randn(2, 100)).shape == (2, 1, 28, 28) and d(torch.zeros(2, 1, 28, 28)).shape == (2,)
    with pytest.raises(ValueError, match="built for images"):
        d(torch.zeros(2, 1, 32, 32))


def test_conditional_networks_use_the_label():
    torch.manual_seed(0)
    g, d = ConditionalDCGANGenerator(10, 8, 1, 16, 4).eval(), ConditionalDCGANDiscriminator(10, 1, 16, 4).eval()
    z = torch.randn(1, 8).repeat(2, 1)
    x = g(z, torch.tensor([0, 7]))
    assert not torch.allclose(x[0], x[1])
    assert d(x, torch.tensor([0, 7])).shape == (2,)
    cg = MLPGenerator(8, 1, 8, num_classes=10)
    assert cg(torch.randn(2, 8), torch.tensor([1, 2])).shape == (2, 1, 8, 8)


@pytest.mark.parametrize("n_layers,norm,params,out", [
    (3, "batch", 2_768_705, 30),      # pix2pix 70x70 PatchGAN on concat(A, B): junyanz NLayerDiscriminator
    (3, "instance", 2_764_737, 30),   # CycleGAN's D on 3 channels (conv bias with instance norm)
    (1, "batch", 6208 + 131072 + 256 + 2049, 126),  # the 16x16 PatchGAN
    (0, "batch", 6 * 64 + 64 + 64 * 128 + 256 + 128, 256),  # PixelGAN (1x1 convs, no bias before BN)
])
def test_patchgan(n_layers, norm, params, out):
    c = 6 if norm == "batch" else 3
    d = PatchDiscriminator(c, 64, n_layers, norm)
    assert n_params(d) == params
    assert d(torch.zeros(1, c, 256, 256)).shape[-2:] == (out, out)

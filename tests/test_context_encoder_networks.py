"""Context Encoder networks: official layer-for-layer parameter counts, the channel-wise FC layer."""

import pytest
import torch
from torch import nn

from lit_gans.networks.context_encoder import (
    ChannelwiseFC,
    ContextEncoderDiscriminator,
    ContextEncoderGenerator,
)
from lit_gans.networks.dcgan import DCGANDiscriminator


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_channelwise_fc_is_per_channel():
    layer = ChannelwiseFC(512, 4)
    # Sec. 3.1: m n^4 weights (+ m n^2 biases), not the (m n^2)^2 of a dense layer
    assert count(layer) == 512 * 16 * 16 + 512 * 16 == 139_264
    assert count(layer) < (512 * 16) ** 2 // 400
    small = ChannelwiseFC(3, 2)
    with torch.no_grad():
        small.bias.normal_()
    x = torch.randn(5, 3, 2, 2)
    y = small(x)
    for c in range(3):  # channel c is an ordinary dense layer over its own 4 positions
        expected = x[:, c].reshape(5, 4) @ small.weight[c] + small.bias[c]
        torch.testing.assert_close(y[:, c].reshape(5, 4), expected)
    x2 = x.clone()
    x2[:, 1] += 1.0  # changing one channel changes only that channel's output
    y2 = small(x2)
    assert torch.equal(y2[:, 0], y[:, 0]) and torch.equal(y2[:, 2], y[:, 2]) and not torch.equal(y2[:, 1], y[:, 1])
    with pytest.raises(ValueError, match="built for"):
        small(torch.randn(1, 3, 4, 4))


def test_official_parameter_counts():
    # Measured against BoyuanJiang/context_encoder_pytorch model.py (_netG, _netlocalD: bias-free ports of
    # train.lua's netG/netD), run outside the project with identical weights: identical outputs.
    with torch.device("meta"):
        g = ContextEncoderGenerator(image_size=128, output="center", bottleneck="conv", bottleneck_dim=4000)
        d = ContextEncoderDiscriminator(image_size=64)
        g_full = ContextEncoderGenerator(image_size=128, output="image", bottleneck="conv", bottleneck_dim=4000)
        d_full = ContextEncoderDiscriminator(image_size=128)
        g_cw = ContextEncoderGenerator(image_size=128, output="center", bottleneck="channelwise")
        dcgan_d = DCGANDiscriminator(3, 64, 64)
    assert count(g) == 71_124_544
    assert count(d) == 2_765_568 == count(dcgan_d)  # the 64 px D is DCGAN's D (pytorch/examples)
    # train_random.lua at fineSize 128: one more nef->nef / ngf->ngf layer in E, G and D
    assert count(g_full) == 71_190_208
    assert count(d_full) == 2_831_232 == 2_765_568 + 64 * 64 * 16 + 2 * 64
    # channel-wise bottleneck: 512x4x4 -> per-channel FC (139,264) + BN + 1x1 conv 512->512 + BN
    enc_dec = count(g) - count(g.bottleneck)
    assert count(g_cw) == enc_dec + 139_264 + 2 * 512 + 512 * 512 + 2 * 512 == 5_982_976
    # the 4000-d conv bottleneck is 8,192,000 + 8,192,000 weights + BN 2*4000 + 2*512
    assert count(g.bottleneck) == 512 * 16 * 4000 * 2 + 2 * 4000 + 2 * 512


def test_official_layer_order():
    g = ContextEncoderGenerator(image_size=128, bottleneck="conv", bottleneck_dim=4000, nef=4, ngf=4)
    convs = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    shapes = [(type(m).__name__, m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs]
    assert shapes == [  # train.lua netE, bottleneck, netG at nef = ngf = 4
        ("Conv2d", 3, 4, 4, 2), ("Conv2d", 4, 4, 4, 2), ("Conv2d", 4, 8, 4, 2), ("Conv2d", 8, 16, 4, 2), ("Conv2d", 16, 32, 4, 2),
        ("Conv2d", 32, 4000, 4, 1), ("ConvTranspose2d", 4000, 32, 4, 1),
        ("ConvTranspose2d", 32, 16, 4, 2), ("ConvTranspose2d", 16, 8, 4, 2), ("ConvTranspose2d", 8, 4, 4, 2),
        ("ConvTranspose2d", 4, 3, 4, 2),
    ]
    assert all(m.bias is None for m in convs)  # train.lua zeroes every conv bias before each forward
    assert isinstance(g.encoder[1], nn.LeakyReLU) and not any(isinstance(m, nn.BatchNorm2d) for m in g.encoder[:2])
    assert isinstance(g.decoder[-1], nn.Tanh)


@pytest.mark.parametrize("size", [16, 32, 64, 128])
@pytest.mark.parametrize("output", ["center", "image"])
@pytest.mark.parametrize("bottleneck", ["channelwise", "conv"])
def test_shapes_and_range(size, output, bottleneck):
    g = ContextEncoderGenerator(image_size=size, output=output, bottleneck=bottleneck, bottleneck_dim=16, nef=4, ngf=4)
    y = g(torch.randn(2, 3, size, size))
    side = size // 2 if output == "center" else size
    assert y.shape == (2, 3, side, side) and y.abs().max() <= 1
    d = ContextEncoderDiscriminator(image_size=side, ndf=4)
    assert d(y).shape == (2,)


def test_bad_sizes():
    with pytest.raises(ValueError, match="power of two"):
        ContextEncoderGenerator(image_size=96)
    with pytest.raises(ValueError, match="power of two"):
        ContextEncoderGenerator(image_size=8, output="center")
    g = ContextEncoderGenerator(image_size=32, nef=4, ngf=4)
    with pytest.raises(ValueError, match="built for 32 px"):
        g(torch.randn(1, 3, 64, 64))


def test_convert_port_state_dict():
    """The PyTorch port's flat `main.<i>` layout maps onto ours in layer order."""
    g = ContextEncoderGenerator(bottleneck="conv", bottleneck_dim=4000)
    sd = g.state_dict()
    flat = {}  # the port's Sequential: our encoder (14 modules), bottleneck (6), decoder (11) concatenated
    offsets = {"encoder": 0, "bottleneck": 14, "decoder": 20}
    for key, value in sd.items():
        part, idx, name = key.split(".")
        flat[f"main.{offsets[part] + int(idx)}.{name}"] = value.clone()
    converted = ContextEncoderGenerator.convert_official_state_dict({"epoch": 3, "state_dict": dict(reversed(flat.items()))})
    assert converted.keys() == sd.keys()
    assert all(torch.equal(converted[k], sd[k]) for k in sd)
    old = {k: v for k, v in flat.items() if not k.endswith("num_batches_tracked")}  # PyTorch < 0.4 files
    assert ContextEncoderGenerator.convert_official_state_dict(old).keys() == sd.keys()

"""Colorization generators: the Dynamic U-Net (ResNet18 encoder) against fastai's DynamicUnet, and the Res-U-Net.

fastai is not a dependency: the parameter count and the state_dict layout
(``tests/fixtures/fastai_dynamic_unet_resnet18_keys.json``) were measured with fastai 2.8.12's
``DynamicUnet(create_body(resnet18(), n_in=1, pretrained=False, cut=-2), 2, (256, 256))`` outside the project;
loading that network's weights through the converter gave max |output difference| 0.0 in eval and train
mode at 256x256, 96x160 and 100x70 (docs/pix2pix_colorization.md).
"""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lit_gans.networks.dynamic_unet import DynamicUnet, icnr_
from lit_gans.networks.resunet import ResUNet

DATA = Path(__file__).parent / "fixtures"


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.fixture(scope="module")
def dyn() -> DynamicUnet:
    torch.manual_seed(0)
    return DynamicUnet(1, 2, "resnet18", pretrained=False)


def test_dynamic_unet_counts_match_fastai(dyn):
    assert n_params(dyn) == 31_099_672
    assert n_params(dyn.encoder) == 11_170_240
    assert dyn.skip_indices == [2, 4, 5, 6]  # relu (1/2), layer1 (1/4), layer2 (1/8), layer3 (1/16)
    assert [b.out_channels for b in dyn.blocks] == [512, 384, 256, 96]


def test_fastai_state_dict_maps_one_to_one(dyn):
    shapes = json.loads((DATA / "fastai_dynamic_unet_resnet18_keys.json").read_text())
    fastai_sd = {k: torch.zeros(s) for k, s in shapes.items()}
    converted = DynamicUnet.convert_official_state_dict({f"net_G.{k}": v for k, v in fastai_sd.items()})
    own = dyn.state_dict()
    assert len(converted) == len(fastai_sd) == len(own) == 181
    assert set(converted) == set(own) and all(converted[k].shape == own[k].shape for k in own)


def test_dynamic_unet_any_size_and_no_tanh(dyn):
    dyn.eval()
    with torch.no_grad():
        for h, w in ((64, 64), (50, 70)):
            y = dyn(torch.randn(2, 1, h, w) * 3)
            assert y.shape == (2, 2, h, w)
    assert not any(isinstance(m, nn.Tanh) for m in dyn.modules())  # fastai y_range=None: linear output
    with torch.no_grad():
        dyn.head.bias.fill_(5.0)
        assert dyn(torch.randn(1, 1, 64, 64)).max() > 1.0
        dyn.head.bias.zero_()


def test_icnr_repeats_the_kernel_over_sub_pixels():
    w = icnr_(torch.empty(16, 8, 1, 1))
    groups = w.view(4, 4, 8)
    assert torch.equal(groups, groups[:, :1].expand_as(groups))  # 4 identical sub-pixel filters per output channel
    y = nn.PixelShuffle(2)(nn.functional.conv2d(torch.randn(1, 8, 5, 5), w))
    assert torch.equal(y[..., 0::2, 0::2], y[..., 1::2, 1::2])  # nearest-neighbour-like at init: no checkerboard


def test_pretrained_stem_sums_the_rgb_filters(tmp_path):
    import torchvision

    rgb = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(rgb.state_dict(), path)
    net = DynamicUnet(1, 2, pretrained=str(path))
    assert torch.allclose(net.encoder.conv1.weight, rgb.conv1.weight.sum(1, keepdim=True))  # fastai n_in=1
    assert torch.equal(net.encoder.layer4[1].conv2.weight, rgb.layer4[1].conv2.weight)


def test_missing_imagenet_weights_give_a_clear_error():
    hub = Path(torch.hub.get_dir()) / "checkpoints" / "resnet18-f37072fd.pth"
    if hub.exists():
        pytest.skip("the ImageNet weights are cached on this machine")
    with pytest.raises(RuntimeError, match=r"resnet18-f37072fd\.pth.*pretrained: false"):
        DynamicUnet(1, 2, pretrained=True)
    with pytest.raises(FileNotFoundError, match="encoder weights file"):
        DynamicUnet(1, 2, pretrained="/nonexistent/resnet18.pth")


def test_resunet_counts_and_shapes():
    net = ResUNet(1, 2)
    assert n_params(net) == 8_222_594
    assert n_params(ResUNet(3, 1, output_activation="sigmoid")) == 8_223_809  # the paper's road-mask network
    y = net.eval()(torch.randn(2, 1, 48, 40))
    assert y.shape == (2, 2, 48, 40) and y.abs().max() <= 1.0  # Tanh for ab
    # Table I: 3 stride-2 stages (enc2, enc3, bridge), widths 64-128-256-512
    assert [m.body[2].out_channels for m in (net.enc2, net.enc3, net.bridge)] == [128, 256, 512]
    assert [m.stride for m in (net.enc2.body[2], net.enc3.body[2], net.bridge.body[2])] == [(2, 2)] * 3

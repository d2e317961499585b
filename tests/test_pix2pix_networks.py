"""Pix2Pix networks against the official junyanz/pytorch-CycleGAN-and-pix2pix code.

The numbers pinned here were measured by running the official ``models/networks.py`` classes outside the
project (same weights, same input): parameter counts, the exact key layout of ``UnetGenerator`` state_dicts
(``tests/fixtures/jz_unet_256_keys.json``) and the output of a small official U-Net saved with its weights
(``tests/fixtures/jz_unet_tiny_*.pt``).
"""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.unet import UnetGenerator, unet_generator
from lit_gans.io.checkpoints import load_weights_into

DATA = Path(__file__).parent / "fixtures"


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "name,kwargs,expected",
    [
        ("unet_256", {}, 54_413_955),  # official define_G('unet_256', norm='batch'), 3 -> 3
        ("unet_128", {}, 41_828_995),
        ("unet_256", {"norm": "instance"}, 54_409_603),
        ("unet_256", {"in_channels": 1, "out_channels": 2}, 54_409_858),  # colorization baseline (tutorial Unet)
    ],
)
def test_unet_parameter_counts_match_official(name, kwargs, expected):
    assert n_params(unet_generator(name, init_std=None, **kwargs)) == expected


def test_unet_dropout_in_the_inner_blocks_only():
    for depth, n_dropout in ((8, 3), (7, 2), (5, 0)):
        net = UnetGenerator(num_downs=depth, ngf=4, init_std=None)
        drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
        assert len(drops) == n_dropout and all(d.p == 0.5 for d in drops)
        # dropout sits in the decoder blocks right above the innermost one (ups[4 .. depth-2])
        assert [i for i, up in enumerate(net.ups) if any(isinstance(m, nn.Dropout) for m in up)] == list(range(4, depth - 1))
    assert not any(isinstance(m, nn.Dropout) for m in UnetGenerator(use_dropout=False, ngf=4, init_std=None).modules())


def test_unet_shapes_range_and_size_check():
    net = UnetGenerator(3, 3, num_downs=6, ngf=8).eval()
    y = net(torch.randn(2, 3, 64, 128))
    assert y.shape == (2, 3, 64, 128) and y.abs().max() <= 1.0  # Tanh
    assert net.input_multiple == 64
    with pytest.raises(ValueError, match="divisible by 64"):
        net(torch.randn(1, 3, 96, 64))
    with pytest.raises(ValueError, match="num_downs must be >= 5"):
        UnetGenerator(num_downs=4)


def test_unet_init_is_normal_002():
    net = UnetGenerator(3, 3, 6, ngf=32)
    convs = torch.cat([m.weight.flatten() for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    bns = torch.cat([m.weight for m in net.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(convs.std().item() - 0.02) < 1e-3 and abs(convs.mean().item()) < 1e-3
    assert abs(bns.mean().item() - 1.0) < 5e-3 and abs(bns.std().item() - 0.02) < 5e-3


def test_official_unet_256_keys_map_one_to_one():
    shapes = json.loads((DATA / "jz_unet_256_keys.json").read_text())
    official = {k: torch.zeros(s) for k, s in shapes.items()}
    converted = UnetGenerator.convert_official_state_dict(official)
    own = UnetGenerator(init_std=None).state_dict()
    assert len(converted) == len(official) == len(own)  # nothing left over, nothing missing
    assert set(converted) == set(own)
    assert all(converted[k].shape == own[k].shape for k in own)


@pytest.mark.parametrize("fixture", ["jz_unet_tiny_batch.pt", "jz_unet_tiny_instance_old.pt"])
def test_official_checkpoint_gives_the_official_output(fixture, tmp_path):
    """``load_weights_into`` maps an official ``latest_net_G.pth`` and the output equals the official network's
    (the instance-norm file is an old one with running statistics, dropped as junyanz does)."""
    saved = torch.load(DATA / fixture)
    path = tmp_path / "latest_net_G.pth"
    torch.save(saved["state_dict"], path)
    net = load_weights_into(UnetGenerator(**saved["config"]), str(path)).eval()
    with torch.no_grad():
        assert torch.equal(net(saved["x"]), saved["y"])


def test_converter_rejects_foreign_keys():
    with pytest.raises(KeyError, match="not a junyanz UnetGenerator key"):
        UnetGenerator.convert_official_state_dict({"model.0.weight": torch.zeros(1)})


@pytest.mark.parametrize(
    "n_layers,in_channels,expected,out_hw",
    [(3, 6, 2_768_705, 30), (1, 6, 139_585, 126), (0, 6, 9_024, 256), (3, 3, 2_765_633, 30)],
)
def test_patchgan_matches_official(n_layers, in_channels, expected, out_hw):
    """Core's PatchDiscriminator as pix2pix uses it: 70x70 (n_layers 3), 16x16 (1), PixelGAN (0, junyanz
    netD='pixel'), and the 3-channel Lab D of the colorization tutorial (same layers as its PatchDiscriminator)."""
    d = PatchDiscriminator(in_channels, 64, n_layers, "batch")
    assert n_params(d) == expected
    assert d(torch.randn(1, in_channels, 256, 256)).shape[-1] == out_hw


def test_patchgan_70_receptive_field():
    d = PatchDiscriminator(6, 8, 3, "none")
    x = torch.randn(1, 6, 128, 128, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum((0, 1, 3)).nonzero()
    assert rows.max() - rows.min() + 1 == 70

"""CycleGAN networks against junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py``.

Parameter counts and outputs were measured with the official classes (run outside the project on the
same seeded weights and input) and are pinned here.
"""

import pytest
import torch

from lit_gans.networks.patchgan import PatchDiscriminator
from lit_gans.networks.resnet_generator import ResnetGenerator


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "n_blocks,norm,expected",
    [
        (9, "instance", 11_378_179),  # resnet_9blocks, CycleGAN default (official count)
        (6, "instance", 7_837_699),  # resnet_6blocks (128 px)
        (9, "batch", 11_383_427),
        (6, "batch", 7_841_411),
    ],
)
def test_resnet_generator_parameter_count(n_blocks, norm, expected):
    assert n_params(ResnetGenerator(3, 3, 64, n_blocks, norm)) == expected


def test_patchgan_70_parameter_count():
    assert n_params(PatchDiscriminator(3, 64, 3, "instance")) == 2_764_737  # official NLayerDiscriminator


def test_resnet_generator_shapes_and_odd_sizes():
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=1).eval()
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    y = g(x)
    assert y.shape == x.shape and y.abs().max() <= 1
    odd = torch.rand(1, 3, 30, 37) * 2 - 1  # not a multiple of 4: reflect-padded and cropped back
    assert g(odd).shape == odd.shape


# Official layout of ResnetGenerator(3, 3, ngf=4, n_blocks=2) with InstanceNorm(track_running_stats=True),
# as checkpoints saved by junyanz's code of 2018 contain (flat ``model.<i>`` Sequential).
def _official_tiny_items():
    items = [("model.1.weight", (4, 3, 7, 7)), ("model.1.bias", (4,))]
    stats = lambda i, c: [(f"{i}.running_mean", (c,)), (f"{i}.running_var", (c,)), (f"{i}.num_batches_tracked", ())]  # noqa: E731
    items += stats("model.2", 4)
    items += [("model.4.weight", (8, 4, 3, 3)), ("model.4.bias", (8,))] + stats("model.5", 8)
    items += [("model.7.weight", (16, 8, 3, 3)), ("model.7.bias", (16,))] + stats("model.8", 16)
    for b in (10, 11):
        cb = f"model.{b}.conv_block"
        items += [(f"{cb}.1.weight", (16, 16, 3, 3)), (f"{cb}.1.bias", (16,))] + stats(f"{cb}.2", 16)
        items += [(f"{cb}.5.weight", (16, 16, 3, 3)), (f"{cb}.5.bias", (16,))] + stats(f"{cb}.6", 16)
    items += [("model.12.weight", (16, 8, 3, 3)), ("model.12.bias", (8,))] + stats("model.13", 8)
    items += [("model.15.weight", (8, 4, 3, 3)), ("model.15.bias", (4,))] + stats("model.16", 4)
    items += [("model.19.weight", (3, 4, 7, 7)), ("model.19.bias", (3,))]
    return items


def seeded_state(items, seed=0):
    """The recipe used on the official network to pin the outputs below."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in items:
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(0)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.1
    return sd


def test_convert_official_state_dict_matches_official_output():
    official = seeded_state(_official_tiny_items())
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=2)
    g.load_state_dict(ResnetGenerator.convert_official_state_dict(official), strict=True)
    x = torch.randn(1, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = g(x)
    # measured with junyanz's ResnetGenerator on the same weights and input
    assert y.sum().item() == pytest.approx(-179.024185, abs=1e-3)
    assert y.abs().mean().item() == pytest.approx(0.548843, abs=1e-5)
    torch.testing.assert_close(y.flatten()[:4], torch.tensor([0.8101940155, 0.2954685986, 0.5498522520, 0.1691240668]), atol=1e-5, rtol=0)


def test_convert_official_state_dict_prefix_and_errors():
    official = {f"module.{k}": v for k, v in seeded_state(_official_tiny_items()).items()}
    sd = ResnetGenerator.convert_official_state_dict(official)  # DataParallel prefix stripped
    assert "blocks.1.conv2.weight" in sd and not any("running" in k for k in sd)
    with pytest.raises(RuntimeError, match="Missing key"):  # a 2-block checkpoint into a 9-block network
        ResnetGenerator(3, 3, ngf=4, n_blocks=9).load_state_dict(sd, strict=True)
    with pytest.raises(ValueError, match="not a junyanz ResnetGenerator"):
        ResnetGenerator.convert_official_state_dict({"conv1.weight": torch.zeros(1)})


def test_round_trip_through_official_layout():
    """Our network, re-keyed to the official flat layout, converts back to identical weights."""
    for dropout, padding in ((False, "reflect"), (True, "zero")):
        g = ResnetGenerator(3, 3, ngf=4, n_blocks=3, dropout=dropout, padding=padding)
        ours = g.state_dict()
        npad = 0 if padding == "zero" else 1
        conv2 = 2 * npad + 3 + int(dropout)
        inv = {"stem.1": "model.1", "down.0": "model.4", "down.3": "model.7", "head.1": "model.20"}
        inv.update({"up.0": "model.13", "up.3": "model.16"})
        for b in range(3):
            inv.update({f"blocks.{b}.conv1": f"model.{10 + b}.conv_block.{npad}", f"blocks.{b}.conv2": f"model.{10 + b}.conv_block.{conv2}"})
        official = {}
        for k, v in ours.items():
            prefix, _, leaf = k.rpartition(".")
            official[f"{inv[prefix]}.{leaf}"] = v
        back = ResnetGenerator.convert_official_state_dict(official)
        assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)

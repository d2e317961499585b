"""SR networks: parameter counts of the official architectures, official key layouts, shapes, init.

The pinned numbers were measured by running the official definitions outside the project
(XPixelGroup/BasicSR ``basicsr/archs/rrdbnet_arch.py`` and ``discriminator_arch.py``, xinntao/ESRGAN
``RRDBNet_arch.py`` and the pre-2019 ``architecture.py``/``block.py``) on the same seeded weights and input.
"""

from __future__ import annotations

import re

import pytest
import torch

from lit_gans.networks.rrdb import RRDBNet, convert_official_state_dict
from lit_gans.networks.sr_discriminator import SRGANDiscriminator, VGGStyleDiscriminator
from lit_gans.networks.srresnet import SRResNet
from lit_gans.io.checkpoints import load_weights_into


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ----------------------------------------------------------------------------- parameter counts
@pytest.mark.parametrize(
    "scale, expected",
    [
        (4, 16_697_987),  # BasicSR RRDBNet(3, 3) and xinntao/ESRGAN RRDBNet(3, 3, 64, 23, gc=32): the ESRGAN count
        (2, 16_703_171),  # BasicSR RRDBNet(3, 3, scale=2): pixel-unshuffled input (12 channels)
        (1, 16_723_907),  # BasicSR RRDBNet(3, 3, scale=1): 48 input channels
        (3, 16_661_059),  # xinntao/ESRGAN architecture.py RRDB_Net(3, 3, 64, 23, upscale=3): one x3 upconv
    ],
)
def test_rrdbnet_official_parameter_counts(scale, expected):
    with torch.device("meta"):
        net = RRDBNet(scale, num_feat=64, num_blocks=23, growth=32)
    assert n_params(net) == expected


def test_vgg_style_discriminator_official_parameter_counts():
    with torch.device("meta"):
        assert n_params(VGGStyleDiscriminator(3, 64, 128)) == 14_499_401  # BasicSR VGGStyleDiscriminator(3, 64)
        assert n_params(VGGStyleDiscriminator(3, 64, 256)) == 21_055_049  # input_size=256


def test_srresnet_parameter_count_by_hand():
    # Fig. 4 of Ledig et al.: 9x9 head + PReLU; 16 x (conv-BN-PReLU-conv-BN); conv-BN; 2 x (conv 64->256, PReLU); 9x9 tail.
    head = 3 * 64 * 81 + 64 + 1
    block = 2 * 64 * 64 * 9 + 2 * 2 * 64 + 1  # two bias-free convs, two BN (weight, bias), one PReLU slope
    body_tail = 64 * 64 * 9 + 2 * 64
    up = 64 * 256 * 9 + 256 + 1
    tail = 64 * 3 * 81 + 3
    expected = head + 16 * block + body_tail + 2 * up + tail
    assert expected == 1_547_350
    assert n_params(SRResNet(4)) == expected


def test_srgan_discriminator_parameter_count_by_hand():
    widths = [64, 64, 128, 128, 256, 256, 512, 512]
    convs = 3 * 64 * 9 + 64  # first conv: bias, no BN
    convs += sum(cin * cout * 9 + 2 * cout for cin, cout in zip(widths[:-1], widths[1:]))  # bias-free + BN
    dense = 512 * 6 * 6 * 1024 + 1024 + 1024 + 1  # 96 px input -> 6x6x512 -> Dense(1024) -> Dense(1)
    assert n_params(SRGANDiscriminator()) == convs + dense == 23_563_649


# ----------------------------------------------------------------------------- official layouts, same outputs
def _seeded(shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """Deterministic weights for a state dict in an official layout: keys in sorted order, N(0, 0.05)."""
    g = torch.Generator().manual_seed(1234)
    return {k: torch.randn(shape, generator=g) * 0.05 for k, shape in sorted(shapes.items())}


def _esrgan_2019_key(key: str) -> str:
    """This project's (= BasicSR's) name -> xinntao/ESRGAN RRDBNet_arch.py's name."""
    key = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", key)
    for ours, theirs in (("conv_body.", "trunk_conv."), ("conv_up1.", "upconv1."), ("conv_up2.", "upconv2."), ("conv_hr.", "HRconv.")):
        key = key.replace(ours, theirs) if key.startswith(ours) else key
    return key


def _esrgan_old_key(key: str, num_blocks: int, scale: int) -> str:
    """This project's name -> the pre-2019 sequential ESRGAN name (architecture.py + block.py)."""
    m = re.match(r"^body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)$", key)
    if m:
        return f"model.1.sub.{m[1]}.RDB{m[2]}.conv{m[3]}.0.{m[4]}"
    tail = {"conv_up1": 3, "conv_up2": 6, "conv_hr": 8, "conv_last": 10} if scale == 4 else {"conv_up1": 3, "conv_hr": 5, "conv_last": 7}
    name, kind = key.rsplit(".", 1)
    index = {"conv_first": "0", "conv_body": f"1.sub.{num_blocks}"}.get(name) or str(tail[name])
    return f"model.{index}.{kind}"


# (layout, scale, blocks, growth, output shape, sum, abs-mean, output[0, :, 1, 2]) measured on the official networks
OFFICIAL_OUTPUTS = [
    ("basicsr", 4, 2, 4, (1, 3, 24, 28), -5.497997, 0.0477393, [0.0235325, 0.0455530, -0.0778920]),
    ("basicsr", 2, 2, 4, (1, 3, 12, 12), 9.538479, 0.0222193, [0.0456706, -0.0011973, 0.0204932]),
    ("esrgan", 4, 2, 4, (1, 3, 24, 28), 125.819023, 0.0624210, [0.0661729, 0.0055105, 0.1144037]),
    ("old", 4, 1, 32, (1, 3, 24, 28), -19.442276, 0.0475161, [-0.0869202, 0.0409210, 0.0143457]),
    ("old", 3, 1, 32, (1, 3, 18, 21), -40.259613, 0.0432181, [-0.0722111, 0.0108889, -0.0462683]),
]


@pytest.mark.parametrize("layout, scale, blocks, growth, shape, total, absmean, pixel", OFFICIAL_OUTPUTS)
def test_official_state_dicts_give_the_official_outputs(tmp_path, layout, scale, blocks, growth, shape, total, absmean, pixel):
    ours = RRDBNet(scale, num_feat=8, num_blocks=blocks, growth=growth)
    own_shapes = {k: v.shape for k, v in ours.state_dict().items()}
    if layout == "basicsr":
        official = {"params": _seeded(own_shapes)}  # BasicSR checkpoints wrap the weights in 'params'
    elif layout == "esrgan":
        official = _seeded({_esrgan_2019_key(k): s for k, s in own_shapes.items()})
    else:
        official = _seeded({_esrgan_old_key(k, blocks, scale): s for k, s in own_shapes.items()})
    path = tmp_path / "official.pth"
    torch.save(official, path)
    load_weights_into(ours, str(path))  # the project's loader calls convert_official_state_dict
    x = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(0))
    x = x[..., :6] if scale == 2 else x
    with torch.no_grad():
        y = ours.eval()(x)
    assert tuple(y.shape) == shape
    assert y.sum().item() == pytest.approx(total, abs=2e-4)
    assert y.abs().mean().item() == pytest.approx(absmean, abs=1e-6)
    torch.testing.assert_close(y[0, :, 1, 2], torch.tensor(pixel), atol=2e-6, rtol=0)


def test_convert_prefers_params_ema_and_strips_module_prefix():
    sd = {k: torch.zeros(1) for k in ("conv_first.weight", "body.0.rdb1.conv1.weight")}
    ema = {k: torch.ones(1) for k in sd}
    out = convert_official_state_dict({"params": sd, "params_ema": ema})
    assert all(v.item() == 1 for v in out.values())
    assert convert_official_state_dict({"params": sd, "params_ema": ema}, param_key="params")["conv_first.weight"].item() == 0
    wrapped = {"module." + k: v for k, v in sd.items()}
    assert set(convert_official_state_dict(wrapped)) == set(sd)
    with pytest.raises(KeyError, match="unrecognised RRDBNet state dict layout"):
        convert_official_state_dict({"foo.weight": torch.zeros(1)})


# ----------------------------------------------------------------------------- behaviour
@pytest.mark.parametrize("scale", [1, 2, 3, 4])
def test_rrdbnet_output_is_scale_times_input(scale):
    net = RRDBNet(scale, num_feat=8, num_blocks=1, growth=4)
    x = torch.rand(2, 3, 8, 12)
    assert net(x).shape == (2, 3, 8 * scale, 12 * scale)


def test_rrdbnet_x2_needs_even_input():
    with pytest.raises(ValueError, match="divisible by 2"):
        RRDBNet(2, num_feat=8, num_blocks=1, growth=4)(torch.rand(1, 3, 7, 8))


def test_rrdb_init_and_residual_scaling():
    torch.manual_seed(0)
    net = RRDBNet(4, num_feat=64, num_blocks=2, growth=32)
    conv = net.body[0].rdb1.conv5  # Kaiming normal (fan_in, gain sqrt 2) scaled by 0.1, zero bias
    fan_in = conv.weight[0].numel()
    assert conv.weight.std().item() == pytest.approx(0.1 * (2.0 / fan_in) ** 0.5, rel=0.05)
    assert conv.bias.abs().max().item() == 0
    block = net.body[0]
    for rdb in (block.rdb1, block.rdb2, block.rdb3):
        torch.nn.init.zeros_(rdb.conv5.weight)
    x = torch.randn(1, 64, 5, 5)
    # each dense block is then the identity (x + 0.2 * 0), and the RRDB adds its scaled input: x + 0.2 * x
    torch.testing.assert_close(block(x), 1.2 * x)
    torch.nn.init.constant_(block.rdb3.conv5.bias, 1.0)
    # rdb3 now returns its input + 0.2; the RRDB: x + 0.2 * (x + 0.2)
    torch.testing.assert_close(block(x), 1.2 * x + 0.04)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_srresnet_shapes(scale):
    assert SRResNet(scale, num_feat=8, num_blocks=1)(torch.rand(2, 3, 6, 5)).shape == (2, 3, 6 * scale, 5 * scale)


def test_discriminators_check_their_input_size():
    d = VGGStyleDiscriminator(3, 8, 128)
    assert d(torch.rand(2, 3, 128, 128)).shape == (2, 1)
    with pytest.raises(ValueError, match="hr_crop"):
        d(torch.rand(2, 3, 96, 96))
    s = SRGANDiscriminator(3, 8, 96, 32)
    assert s(torch.rand(2, 3, 96, 96)).shape == (2, 1)
    with pytest.raises(ValueError, match="multiple of 16"):
        SRGANDiscriminator(input_size=100)
    with pytest.raises(ValueError, match="128 or 256"):
        VGGStyleDiscriminator(input_size=96)

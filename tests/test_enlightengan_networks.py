"""EnlightenGAN networks against VITA-Group/EnlightenGAN ``models/networks.py`` (``Unet_resize_conv`` with
the released options, ``NoNormDiscriminator``): counts and outputs measured with the official classes
on the same seeded weights and input, pinned here."""

import pytest
import torch

from lit_gans.networks.enlightengan import AttentionUNetGenerator, NoNormDiscriminator, attention_map


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_official():
    assert n_params(AttentionUNetGenerator()) == 8_636_675  # sid_unet_resize, self_attention, use_norm 1
    assert n_params(NoNormDiscriminator(3, 64, 5)) == 11_154_369  # global, no_norm_4, n_layers_D 5
    assert n_params(NoNormDiscriminator(3, 64, 4)) == 6_959_553  # local, n_layers_patchD 4


def test_discriminator_output_sizes():
    assert NoNormDiscriminator(3, 8, 5)(torch.zeros(1, 3, 320, 320)).shape == (1, 1, 13, 13)
    assert NoNormDiscriminator(3, 8, 4)(torch.zeros(6, 3, 32, 32)).shape == (6, 1, 5, 5)


def test_attention_map_is_one_minus_luminance():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    x = (x * 2 - 1).T.reshape(1, 3, 1, 5)  # red, green, blue, white, black in [-1, 1]
    att = attention_map(x).flatten()
    torch.testing.assert_close(att, torch.tensor([1 - 0.299, 1 - 0.587, 1 - 0.114, 0.0, 1.0]))


def _official_items():
    """Key order and shapes of the official state_dict (DataParallel save: ``module.`` prefix)."""
    ch = {1: (4, 32), 2: (32, 64), 3: (64, 128), 4: (128, 256), 5: (256, 512), 6: (512, 256), 7: (256, 128), 8: (128, 64), 9: (64, 32)}
    bn = lambda n, c: [(f"module.{n}.{p}", (c,)) for p in ("weight", "bias", "running_mean", "running_var")]  # noqa: E731
    conv = lambda n, i, o, k=3: [(f"module.{n}.weight", (o, i, k, k)), (f"module.{n}.bias", (o,))]  # noqa: E731
    items = []
    for level in range(1, 10):
        cin, cout = ch[level]
        if level >= 6:
            items += conv(f"deconv{level - 1}", 2 * cout, cout)  # resize-conv after the x2 upsampling
        items += conv(f"conv{level}_1", cin, cout) + bn(f"bn{level}_1", cout) + conv(f"conv{level}_2", cout, cout)
        if level != 9:
            items += bn(f"bn{level}_2", cout)
    return items + conv("conv10", 32, 3, 1)


def seeded_state(items, seed=0):
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in items:
        sd[k] = torch.rand(shape, generator=g) + 0.5 if k.endswith("running_var") else torch.randn(shape, generator=g) * 0.1
    return sd


def test_convert_official_state_dict_matches_official_output():
    items = _official_items()
    assert len(items) == 114
    g = AttentionUNetGenerator(align_corners=False).eval()  # the official file run on torch >= 0.4
    g.load_state_dict(AttentionUNetGenerator.convert_official_state_dict(seeded_state(items)), strict=True)
    x = torch.rand(1, 3, 40, 56, generator=torch.Generator().manual_seed(2)) * 2 - 1  # not a multiple of 16
    with torch.no_grad():
        y = g(x)
    assert y.shape == x.shape
    assert y.sum().item() == pytest.approx(-387.935028, abs=2e-3)
    assert y.abs().mean().item() == pytest.approx(0.509161, abs=1e-5)
    torch.testing.assert_close(y.flatten()[:4], torch.tensor([0.0055672228, -0.3392565250, 0.1498136222, -0.2184351385]), atol=2e-5, rtol=0)
    g.align_corners = True  # torch 0.3.1 semantics of the released model: a different (documented) output
    with torch.no_grad():
        assert not torch.allclose(g(x), y)


def test_generator_residual_structure():
    g = AttentionUNetGenerator(base_channels=4).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out, residual = g(x, return_residual=True)
    torch.testing.assert_close(out, x + residual)  # skip 1: output = input + attention * residual
    white = torch.ones(1, 3, 32, 32)
    with torch.no_grad():
        out_w, res_w = g(white, return_residual=True)
    assert res_w.abs().max() == 0  # attention 0 on white: times_residual leaves white untouched
    torch.testing.assert_close(out_w, white)


def test_unknown_official_key_is_reported():
    with pytest.raises(ValueError, match="not part of EnlightenGAN"):
        AttentionUNetGenerator.convert_official_state_dict({"module.fc.weight": torch.zeros(1)})


def test_halve_above_width_option():
    g = AttentionUNetGenerator(base_channels=4, halve_above_width=40).eval()
    x = torch.rand(1, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        assert g(x).shape == x.shape  # official memory work-around: half resolution, upsampled back

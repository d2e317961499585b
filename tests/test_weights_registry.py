"""Official weights by name (lit_gans.io.weights_registry) against a real HTTP server on 127.0.0.1.

The server (tests/test_datasets.py's ``Server``: ``LIT_GANS_DATA_MIRROR`` points the downloader at it) serves
files in the official formats, made once per session with seeded random values and the real architectures:
junyanz's ``net.state_dict()`` of the unet_256 ``UnetGenerator`` (key layout of the official code, pinned in
tests/fixtures/jz_unet_256_keys.json) and of the resnet_9blocks ``ResnetGenerator``; BasicSR's
``{'params': ...}`` / ``{'params_ema': ...}`` of the 23-block RRDBNet; EnlightenGAN's DataParallel state_dict.
BasicSR's published sha256 prefix is re-pinned to the test file (the same check runs).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
import torch

from lit_gans.errors import DataError, MissingFileError
from lit_gans.io import weights_registry as registry
from lit_gans.io.weights_registry import WEIGHTS, fetch, resolve
from tests.test_datasets import Server, serve
from tests.test_enlightengan_networks import _official_items as enlightengan_items

ROOT = Path(__file__).resolve().parents[1]


def _seeded(shapes: dict[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(0)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(tuple(shape), generator=g) + 0.5
        else:
            sd[key] = torch.randn(tuple(shape), generator=g) * 0.02
    return sd


def _junyanz_resnet_9blocks() -> dict[str, tuple[int, ...]]:
    """junyanz ``ResnetGenerator(3, 3, 64, norm=instance, n_blocks=9)``: InstanceNorm without affine or running
    statistics, so only the convolutions hold tensors (flat ``model.<i>`` Sequential)."""
    shapes = {"model.1.weight": (64, 3, 7, 7), "model.1.bias": (64,), "model.4.weight": (128, 64, 3, 3), "model.4.bias": (128,),
              "model.7.weight": (256, 128, 3, 3), "model.7.bias": (256,)}
    for b in range(10, 19):
        for c in (1, 5):
            shapes[f"model.{b}.conv_block.{c}.weight"] = (256, 256, 3, 3)
            shapes[f"model.{b}.conv_block.{c}.bias"] = (256,)
    shapes.update({"model.19.weight": (256, 128, 3, 3), "model.19.bias": (128,), "model.22.weight": (128, 64, 3, 3),
                   "model.22.bias": (64,), "model.26.weight": (3, 64, 7, 7), "model.26.bias": (3,)})
    return shapes


def _rrdb() -> dict[str, torch.Tensor]:
    from lit_gans.networks.rrdb import RRDBNet

    return _seeded({k: tuple(v.shape) for k, v in RRDBNet(scale=4, num_feat=64, num_blocks=23, growth=32).state_dict().items()})


class OfficialFiles:
    """Official-format bytes per architecture, each made on first use and kept for the session."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.made = folder, {}

    def __getitem__(self, kind: str) -> bytes:
        if kind not in self.made:
            if kind == "unet":
                obj = _seeded(json.loads((ROOT / "tests" / "fixtures" / "jz_unet_256_keys.json").read_text()))
            elif kind == "resnet":
                obj = _seeded(_junyanz_resnet_9blocks())
            elif kind == "enlightengan":
                obj = _seeded(dict(enlightengan_items()))
            else:  # BasicSR: {'params': sd} (ESRGAN) or {'params_ema': sd} (Real-ESRGAN), as BaseModel.save_network
                obj = {kind.removeprefix("basicsr_"): _rrdb()}
            torch.save(obj, self.folder / kind)
            self.made[kind] = (self.folder / kind).read_bytes()
        return self.made[kind]


@pytest.fixture(scope="session")
def official_files(tmp_path_factory) -> OfficialFiles:
    return OfficialFiles(tmp_path_factory.mktemp("official"))


def _kind(spec: registry.WeightsSpec) -> str:
    if spec.family == "pix2pix":
        return "unet"
    if spec.family == "cyclegan":
        return "resnet"
    if spec.family == "enlightengan":
        return "enlightengan"
    return "basicsr_params_ema" if "real" in spec.name else "basicsr_params"


@pytest.fixture()
def server(monkeypatch, tmp_path):
    s = Server()
    monkeypatch.setenv("LIT_GANS_DATA_MIRROR", s.url)
    monkeypatch.setenv(registry.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    monkeypatch.delenv(registry.OFFLINE_ENV, raising=False)
    yield s
    s.close()


def pin_prefix(monkeypatch, name: str, data: bytes) -> None:
    """Re-pin BasicSR's published hash prefix of ``name`` to the test file's."""
    spec = WEIGHTS[name]
    monkeypatch.setitem(WEIGHTS, name, dataclasses.replace(spec, sha256_prefix=hashlib.sha256(data).hexdigest()[:8]))


def _loaded_generator(spec: registry.WeightsSpec, tmp_path: Path) -> torch.nn.Module:
    """The experiment's model built as the CLI builds it, with the weight option set to the registry NAME."""
    from lit_gans.export import build

    args = ["--config", str(ROOT / spec.config), f"--model.init_args.{spec.option}={spec.name}",
            "--trainer.default_root_dir", str(tmp_path / "run")]
    if spec.family == "esrgan" and "rrdb_psnr" not in spec.config:
        args.append("--model.init_args.vgg_weights=random")  # the perceptual loss's VGG19 (ImageNet weights are offline)
    model, _, prov = build(args, None)
    assert prov["weights_name"] == spec.name and prov["checkpoint"] == str(registry.local_path(spec).resolve())
    return model.generator


def _assert_holds(net: torch.nn.Module, file_bytes_path: Path) -> None:
    """Every weight/bias of the official file is in the network (the same values, whatever the key names)."""
    obj = torch.load(file_bytes_path, map_location="cpu", weights_only=True)
    sd = obj.get("params_ema") or obj.get("params") or obj
    file_sum = sum(float(v.double().sum()) for k, v in sd.items() if k.endswith(("weight", "bias")))
    net_sum = sum(float(p.double().sum()) for p in net.parameters())
    assert net_sum == pytest.approx(file_sum, rel=1e-9, abs=1e-6)
    assert sum(p.numel() for p in net.parameters()) == sum(v.numel() for k, v in sd.items() if k.endswith(("weight", "bias")))


# ------------------------------------------------------------------------------------------------ download
def test_download_by_name_checks_the_prefix_and_a_second_call_makes_no_request(server, monkeypatch, official_files, tmp_path, capsys):
    data = official_files["basicsr_params"]
    serve(server, {"esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth": data})
    pin_prefix(monkeypatch, "esrgan-x4", data)
    assert registry.main(["download", "esrgan-x4", "--quiet"], "lit-gans weights") == 0
    path = tmp_path / "weights" / "esrgan" / "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth"
    assert capsys.readouterr().out.strip() == str(path) and path.read_bytes() == data
    assert len(server.requests("esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth")) == 1
    assert registry.main(["download", "esrgan-x4", "--quiet"], "lit-gans weights") == 0
    assert resolve("esrgan-x4") == str(path)
    assert len(server.log) == 1  # neither the second download nor the option's resolution asked the server


def test_checksum_mismatch_is_refused_with_nothing_left_behind(server, official_files, tmp_path):
    serve(server, {"esrgan/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth": official_files["basicsr_params"]})  # ff704c30 published
    with pytest.raises(DataError, match="does not start with the published ff704c30") as err:
        fetch("esrgan-x4", quiet=True)
    assert "Nothing was written" in str(err.value)
    assert list((tmp_path / "weights" / "esrgan").iterdir()) == []  # no file, no .part


def test_interrupted_download_resumes(server, official_files, tmp_path):
    data = official_files["resnet"]
    serve(server, {"cyclegan/horse2zebra.pth": data})
    server.cut["/cyclegan/horse2zebra.pth"] = len(data) // 3
    path = fetch("cyclegan-horse2zebra", quiet=True)
    ranges = [e["range"] for e in server.requests("cyclegan/horse2zebra.pth")]
    assert path.read_bytes() == data and ranges == [None, f"bytes={len(data) // 3}-"]


def test_offline_and_missing_names_the_download_command(server, monkeypatch):
    monkeypatch.setenv(registry.OFFLINE_ENV, "1")
    with pytest.raises(MissingFileError, match=r"run `lit-gans weights download esrgan-x4`") as err:
        resolve("esrgan-x4", "--model.init_args.generator_ckpt")
    assert str(err.value).startswith("--model.init_args.generator_ckpt=esrgan-x4:")
    assert server.log == []


def test_paths_are_not_names(tmp_path):
    assert resolve(str(tmp_path / "x.pth")) == str(tmp_path / "x.pth") and resolve(None) is None


def test_drive_files_name_the_page_and_load_once_placed_by_hand(server, official_files, tmp_path):
    spec = WEIGHTS["enlightengan"]
    with pytest.raises(MissingFileError, match="cannot be downloaded automatically") as err:
        fetch("enlightengan")
    assert "drive.google.com/file/d/1AkV-n2MdyfuZTFvcon8Z4leyVb0i7x63" in str(err.value) and str(registry.local_path(spec)) in str(err.value)
    registry.local_path(spec).parent.mkdir(parents=True)
    registry.local_path(spec).write_bytes(official_files["enlightengan"])
    _assert_holds(_loaded_generator(spec, tmp_path), registry.local_path(spec))
    assert server.log == []


def test_same_official_file_names_of_two_families_do_not_collide(tmp_path):
    pix2pix, cyclegan = WEIGHTS["pix2pix-sat2map"], WEIGHTS["cyclegan-sat2map"]
    assert pix2pix.filename == cyclegan.filename == "sat2map.pth"
    assert registry.local_path(pix2pix, tmp_path) != registry.local_path(cyclegan, tmp_path)


def test_list_names_every_entry(capsys):
    assert registry.main(["list"], "lit-gans weights") == 0
    out = capsys.readouterr().out
    assert all(name in out for name in WEIGHTS)


# ------------------------------------------------------------------------------------------------ load by name
FAST = ["cyclegan-horse2zebra", "esrgan-x4", "realesrgan-x4plus"]  # pix2pix (a 218 MB unet_256 file): in the slow test


def _download_and_load(name, server, monkeypatch, official_files, tmp_path) -> None:
    spec = WEIGHTS[name]
    data = official_files[_kind(spec)]
    serve(server, {f"{spec.family}/{spec.filename}": data})
    if spec.sha256_prefix:
        pin_prefix(monkeypatch, name, data)
        spec = WEIGHTS[name]
    net = _loaded_generator(spec, tmp_path)  # downloads on demand through the weight option
    assert len(server.requests(f"{spec.family}/{spec.filename}")) == 1
    _assert_holds(net, registry.local_path(spec))
    registry.local_path(spec).unlink()


@pytest.mark.parametrize("name", FAST)
def test_a_name_in_the_weight_option_downloads_and_loads_into_the_yaml_model(name, server, monkeypatch, official_files, tmp_path):
    _download_and_load(name, server, monkeypatch, official_files, tmp_path)


@pytest.mark.slow
def test_every_downloadable_release_loads_into_its_yaml_model(server, monkeypatch, official_files, tmp_path):
    names = [n for n, s in WEIGHTS.items() if not s.manual]
    assert len(names) == 26
    for name in names:
        _download_and_load(name, server, monkeypatch, official_files, tmp_path / name)


def test_official_weights_export_by_name(server, official_files, tmp_path):
    """The official CycleGAN generator, fetched by name, exported to ONNX (no lit_gans checkpoint)."""
    from lit_gans import export

    serve(server, {"cyclegan/horse2zebra.pth": official_files["resnet"]})
    out = tmp_path / "h2z.onnx"
    args = ["--config", str(ROOT / "experiments" / "cyclegan_horse2zebra.yaml"), "--trainer.default_root_dir", str(tmp_path / "run"),
            "--model.init_args.generator_weights=cyclegan-horse2zebra", "--format", "onnx", "--output", str(out)]
    assert export.main(args, "lit-gans export") == 0
    meta = export.read_metadata(out)
    assert meta["weights"] == "generator" and meta["weights_option"] == "generator_weights"
    assert json.loads(json.dumps(meta["checkpoint_sha256"])) == hashlib.sha256(official_files["resnet"]).hexdigest()

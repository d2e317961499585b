"""Datasets from nothing (lit_gans.datasets) against a real HTTP server on 127.0.0.1.

The server (http.server in a thread, our own handler) serves small archives built here in each family's
official archive layout, answers ``Range`` requests, and can cut a transfer mid-way, answer 404/500, or stall.
Entries with published checksums are re-pinned to the test archives (the same kind of check: sha256, md5,
fastai's md5 of the first MiB), so the verification path of each family runs.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lit_gans.datasets import DATASETS, MARKER, DownloadError, fetch, get, infer, prepare
from lit_gans.errors import ConfigError, DataError, MissingFileError

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ server
class Server:
    """Files by URL path; a log of every request; switches: ``cut`` (path -> bytes sent before the connection is
    dropped, once), ``status`` (path -> forced HTTP status), ``stall`` (path -> seconds to sleep after 1 KiB)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.log: list[dict] = []
        self.cut: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.stall: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                entry = {"path": path, "range": self.headers.get("Range"), "sent": 0, "status": None}
                server.log.append(entry)
                if path in server.status:
                    entry["status"] = server.status[path]
                    self.send_error(server.status[path])
                    return
                if path not in server.files:
                    entry["status"] = 404
                    self.send_error(404)
                    return
                data = server.files[path]
                start = 0
                if entry["range"]:
                    start = int(entry["range"].split("=")[1].split("-")[0])
                    if start >= len(data):
                        entry["status"] = 416
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                entry["status"] = 206 if start else 200
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if path in server.cut:
                    n = server.cut.pop(path)
                    self.wfile.write(body[:n])
                    self.wfile.flush()
                    entry["sent"] = n
                    self.connection.shutdown(socket.SHUT_RDWR)  # drop the connection mid-transfer
                    return
                if path in server.stall:
                    self.wfile.write(body[:1024])
                    self.wfile.flush()
                    entry["sent"] = 1024
                    time.sleep(server.stall[path])
                    return
                self.wfile.write(body)
                entry["sent"] = len(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def requests(self, name: str) -> list[dict]:
        return [e for e in self.log if e["path"] == "/" + name]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server(monkeypatch):
    s = Server()
    monkeypatch.setenv("LIT_GANS_DATA_MIRROR", s.url)
    yield s
    s.close()


# ------------------------------------------------------------------------------------------------ archives
def _image(w: int, h: int, seed: int, fmt: str = "JPEG") -> bytes:
    rng = np.random.default_rng(seed)
    array = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt)
    return buf.getvalue()


def _tar(files: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        dirs = sorted({str(Path(n).parent) for n in files} | {str(p) for n in files for p in Path(n).parents if str(p) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def pix2pix_archive(name: str = "facades", n: int = 4) -> bytes:
    """junyanz pix2pix layout: <name>/{train,val,test}/<i>.jpg, A | B side by side (256x256 halves there)."""
    files = {f"{name}/{split}/{i + 1}.jpg": _image(128, 64, 100 * k + i)
             for k, split in enumerate(("train", "val", "test")) for i in range(n if split == "train" else 2)}
    return _tar(files)


def cyclegan_archive(name: str = "horse2zebra") -> bytes:
    """junyanz CycleGAN zip: <name>/trainA, trainB, testA, testB of jpgs."""
    files = {}
    for k, sub in enumerate(("trainA", "trainB", "testA", "testB")):
        for i in range(3 if sub.startswith("train") else 2):
            files[f"{name}/{sub}/n0{k}_{i}.jpg"] = _image(80, 80, 10 * k + i)
    return _zip(files)


def div2k_archives() -> dict[str, bytes]:
    """DIV2K_train_HR.zip (DIV2K_train_HR/0001.png) and DIV2K_train_LR_bicubic_X4.zip (.../X4/0001x4.png)."""
    hr = {f"DIV2K_train_HR/{i:04d}.png": _image(128, 128, i, "PNG") for i in (1, 2, 3)}
    lr = {f"DIV2K_train_LR_bicubic/X4/{i:04d}x4.png": _image(32, 32, i, "PNG") for i in (1, 2, 3)}
    return {"DIV2K_train_HR.zip": _zip(hr), "DIV2K_train_LR_bicubic_X4.zip": _zip(lr)}


def benchmark_archive() -> bytes:
    """EDSR benchmark.tar: benchmark/<set>/HR/<name>.png, LR_bicubic/X{2,3,4}/<name>x{s}.png (plain tar)."""
    files = {}
    for subset, names in (("Set5", ("baby", "bird")), ("Set14", ("baboon",)), ("B100", ("3096",)), ("Urban100", ("img001",))):
        for j, stem in enumerate(names):
            files[f"benchmark/{subset}/HR/{stem}.png"] = _image(96, 96, j, "PNG")
            for s in (2, 3, 4):
                files[f"benchmark/{subset}/LR_bicubic/X{s}/{stem}x{s}.png"] = _image(96 // s, 96 // s, j, "PNG")
    return _tar(files, gz=False)


def coco_sample_archive(n: int = 6) -> bytes:
    """fastai coco_sample.tgz: coco_sample/train_sample/*.jpg and coco_sample/annotations/train_sample.json."""
    files = {f"coco_sample/train_sample/{i:012d}.jpg": _image(96, 80, i) for i in range(n)}
    files["coco_sample/annotations/train_sample.json"] = b'{"images": []}'
    return _tar(files)


def coco_train2017_archive(n: int = 4) -> bytes:
    return _zip({f"train2017/{i:012d}.jpg": _image(72, 64, i) for i in range(n)})


def mnist_archives() -> dict[str, bytes]:
    """torchvision's four .gz IDX files (here 20 training and 10 test digits)."""
    rng = np.random.default_rng(0)

    def idx(array: np.ndarray) -> bytes:
        header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        return gzip.compress(header + array.astype(np.uint8).tobytes())

    return {
        "train-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (20, 28, 28))),
        "train-labels-idx1-ubyte.gz": idx(rng.integers(0, 10, (20,))),
        "t10k-images-idx3-ubyte.gz": idx(rng.integers(0, 256, (10, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": idx(rng.integers(0, 10, (10,))),
    }


def pin(monkeypatch, name: str, blobs: dict[str, bytes]) -> None:
    """Re-pin ``name``'s published size/checksums to the test files (the same kinds as the real entry)."""
    spec = DATASETS[name]
    archives = []
    for a in spec.archives:
        data = blobs[a.filename]
        archives.append(dataclasses.replace(
            a,
            size=len(data) if a.size is not None else None,
            sha256=hashlib.sha256(data).hexdigest() if a.sha256 is not None else None,
            md5=hashlib.md5(data).hexdigest() if a.md5 is not None else None,
            md5_first_mib=hashlib.md5(data[: 1 << 20]).hexdigest() if a.md5_first_mib is not None else None,
        ))
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(spec, archives=tuple(archives)))


def serve(server: Server, blobs: dict[str, bytes]) -> None:
    for filename, data in blobs.items():
        server.files["/" + filename] = data


def _leftovers(parent: Path) -> list[str]:
    """Temporary extraction folders and partial files left next to a dataset folder."""
    out = [p.name for p in parent.iterdir() if p.name.startswith(".") and p.name != ".downloads"]
    if (parent / ".downloads").is_dir():
        out += [p.name for p in (parent / ".downloads").iterdir() if not p.name.endswith(".lock")]
    return out


# ------------------------------------------------------------------------------------------------ layouts
FAMILIES = {
    # name: (archives, {relative path: expected count of files in it})
    "horse2zebra": (lambda: {"horse2zebra.zip": cyclegan_archive()}, {"trainA": 3, "trainB": 3, "testA": 2, "testB": 2}),
    "div2k_train_hr": (lambda: {"DIV2K_train_HR.zip": div2k_archives()["DIV2K_train_HR.zip"]}, {".": 3}),
    "div2k_train_lr_bicubic_x4": (lambda: {"DIV2K_train_LR_bicubic_X4.zip": div2k_archives()["DIV2K_train_LR_bicubic_X4.zip"]}, {".": 3}),
    "set5": (lambda: {"benchmark.tar": benchmark_archive()}, {"HR": 2, "LR_bicubic/X4": 2, "LR_bicubic/X2": 2}),
    "coco_sample": (lambda: {"coco_sample.tgz": coco_sample_archive()}, {"train_sample": 6, "annotations": 1}),
    "coco_train2017": (lambda: {"train2017.zip": coco_train2017_archive()}, {".": 4}),
    "mnist": (mnist_archives, {".": 4}),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_layout_marker_and_no_second_request(name, server, monkeypatch, tmp_path):
    make, expected = FAMILIES[name]
    blobs = make()
    serve(server, blobs)
    pin(monkeypatch, name, blobs)
    spec = get(name)
    target = fetch(name, root=tmp_path / "data", quiet=True)
    assert target == tmp_path / "data" / spec.folder
    for rel, count in expected.items():
        files = [p for p in (target / rel).iterdir() if p.is_file() and p.name != MARKER]
        assert len(files) == count, (rel, sorted(p.name for p in files))
    if name == "mnist":  # unpacked as torchvision reads them
        assert sorted(p.name for p in target.iterdir() if p.name != MARKER) == sorted(f[:-3] for f in blobs)
    marker = json.loads((target / MARKER).read_text())
    assert marker["dataset"] == name
    assert {f["file"]: f["sha256"] for f in marker["files"]} == {k: hashlib.sha256(v).hexdigest() for k, v in blobs.items()}
    assert _leftovers(target.parent) == [] or name == "set5"  # benchmark.tar is shared by four sets: kept
    n = len(server.log)
    assert fetch(name, root=tmp_path / "data", quiet=True) == target
    assert len(server.log) == n, "a second call made a request"


def test_shared_benchmark_archive_is_downloaded_once(server, monkeypatch, tmp_path):
    blobs = {"benchmark.tar": benchmark_archive()}
    serve(server, blobs)
    for name in ("set5", "set14", "bsd100", "urban100"):
        pin(monkeypatch, name, blobs)
    for name, folder in (("set5", "Set5"), ("set14", "Set14"), ("bsd100", "BSD100"), ("urban100", "Urban100")):
        assert fetch(name, root=tmp_path, quiet=True) == tmp_path / folder
        assert (tmp_path / folder / "HR").is_dir() and (tmp_path / folder / "LR_bicubic" / "X4").is_dir()
    assert len(server.requests("benchmark.tar")) == 1


def test_cli_downloads_facades_and_second_call_makes_no_request(server, tmp_path):
    """`python -m lit_gans.datasets download facades` (what `lit-gans data download facades` runs): pix2pix publishes
    no checksum, so nothing is re-pinned; the subprocess reads the mirror from the environment."""
    serve(server, {"facades.tar.gz": pix2pix_archive()})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIT_GANS_DATA_MIRROR": server.url}
    cmd = [sys.executable, "-m", "lit_gans.datasets", "download", "facades", "--root", str(tmp_path / "datasets")]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    target = tmp_path / "datasets" / "facades"
    assert out.stdout.strip() == str(target)
    assert sorted(p.name for p in target.iterdir()) == sorted([MARKER, "test", "train", "val"])
    assert len(list((target / "train").glob("*.jpg"))) == 4 and len(list((target / "val").glob("*.jpg"))) == 2
    assert "facades.tar.gz" in out.stderr and "%" in out.stderr  # progress lines
    assert len(server.log) == 1
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == str(target)
    assert len(server.log) == 1, "the second call made a request"
    listing = subprocess.run([sys.executable, "-m", "lit_gans.datasets", "list", "--root", str(tmp_path / "datasets")],
                             env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "facades [present]" in listing.stdout and "celeba" in listing.stdout


def test_folder_copied_by_hand_is_used_without_request(server, tmp_path):
    target = tmp_path / "facades"
    for split in ("train", "val"):
        (target / split).mkdir(parents=True)
        (target / split / "1.jpg").write_bytes(_image(64, 32, 0))
    assert fetch("facades", folder=target, quiet=True) == target
    assert server.log == [] and not (target / MARKER).exists()


def test_incomplete_existing_folder_is_refused_and_kept(server, tmp_path):
    target = tmp_path / "horse2zebra"
    (target / "trainA").mkdir(parents=True)
    (target / "trainA" / "a.jpg").write_bytes(b"x")
    with pytest.raises(MissingFileError, match="trainB") as err:
        fetch("horse2zebra", folder=target, quiet=True)
    assert str(target) in str(err.value) and server.log == []
    assert (target / "trainA" / "a.jpg").exists()
    # a datamodule with download=true leaves the user's own files to its setup (e.g. pix2pix's A/ + B/ layout)
    own = tmp_path / "facades"
    (own / "A").mkdir(parents=True)
    (own / "A" / "a.jpg").write_bytes(b"x")
    assert prepare(own, "facades", download=True) == own and server.log == []


def test_file_mirror(monkeypatch, tmp_path):
    """A folder of the official files as the mirror (file://): no HTTP at all."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "facades.tar.gz").write_bytes(pix2pix_archive())
    monkeypatch.setenv("LIT_GANS_DATA_MIRROR", mirror.as_uri())
    target = fetch("facades", root=tmp_path / "datasets", quiet=True)
    assert len(list((target / "test").glob("*.jpg"))) == 2


# ------------------------------------------------------------------------------------------------ resume
def test_interrupted_transfer_resumes_with_range_in_the_same_call(server, monkeypatch, tmp_path):
    blobs = {"horse2zebra.zip": cyclegan_archive()}
    serve(server, blobs)
    pin(monkeypatch, "horse2zebra", blobs)
    size = len(blobs["horse2zebra.zip"])
    server.cut["/horse2zebra.zip"] = size // 3
    target = fetch("horse2zebra", root=tmp_path, quiet=True)
    log = server.requests("horse2zebra.zip")
    assert [e["range"] for e in log] == [None, f"bytes={size // 3}-"]
    assert [e["status"] for e in log] == [200, 206]
    assert sum(e["sent"] for e in log) == size, "bytes received before the cut were sent again"
    assert len(list((target / "trainA").iterdir())) == 3


def test_interrupted_transfer_resumes_on_the_next_call(server, tmp_path):
    data = pix2pix_archive()
    serve(server, {"facades.tar.gz": data})
    server.cut["/facades.tar.gz"] = 1000
    target = tmp_path / "datasets" / "facades"
    with pytest.raises(DownloadError, match="resumes") as err:
        fetch("facades", folder=target, retries=0, quiet=True)
    assert "transfer ended at 1000 of" in str(err.value) or "1000 bytes are kept" in str(err.value)
    assert not target.exists() and (target.parent / ".downloads" / "facades.tar.gz.part").stat().st_size == 1000
    fetch("facades", folder=target, quiet=True)
    log = server.requests("facades.tar.gz")
    assert [e["range"] for e in log] == [None, "bytes=1000-"]
    assert sum(e["sent"] for e in log) == len(data)
    assert (target / "train").is_dir() and _leftovers(target.parent) == []


# ------------------------------------------------------------------------------------------------ refusals
def test_corrupted_archive_is_refused_with_nothing_left_in_place(server, tmp_path):
    data = bytearray(pix2pix_archive())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # damage the deflate stream: no checksum is published for pix2pix
    serve(server, {"facades.tar.gz": bytes(data)})
    target = tmp_path / "datasets" / "facades"
    with pytest.raises(DataError, match="damaged") as err:
        fetch("facades", folder=target, quiet=True)
    assert str(target) in str(err.value) and "efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz" in str(err.value)
    assert not target.exists()
    assert _leftovers(target.parent) == [], "a temporary folder or the damaged file was left behind"


def test_published_checksum_mismatch_is_refused(server, monkeypatch, tmp_path):
    serve(server, {"horse2zebra.zip": cyclegan_archive()})
    pin(monkeypatch, "horse2zebra", {"horse2zebra.zip": b"the official file"})  # published values of other bytes
    monkeypatch.setitem(DATASETS, "horse2zebra", dataclasses.replace(
        DATASETS["horse2zebra"], archives=(dataclasses.replace(DATASETS["horse2zebra"].archives[0], size=None),)))
    with pytest.raises(DataError, match="sha256") as err:
        fetch("horse2zebra", root=tmp_path, quiet=True)
    assert "TensorFlow Datasets" in str(err.value)  # where the published value comes from
    assert not (tmp_path / "horse2zebra").exists() and _leftovers(tmp_path) == []


def test_archive_without_the_expected_folder_is_refused(server, tmp_path):
    serve(server, {"facades.tar.gz": _tar({"other/train/1.jpg": _image(64, 32, 0)})})
    with pytest.raises(DataError, match="no facades/ folder"):
        fetch("facades", root=tmp_path, quiet=True)
    assert not (tmp_path / "facades").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_names_url_folder_and_layout_quickly(server, tmp_path, status):
    server.status["/facades.tar.gz"] = status
    target = tmp_path / "datasets" / "facades"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        fetch("facades", folder=target, quiet=True)
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert f"{server.url}/facades.tar.gz: HTTP {status}" in message
    assert str(target) in message and "A | B side by side" in message  # the folder and the layout
    assert "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz" in message  # the official file
    assert not target.exists()


def test_unreachable_host_fails_within_seconds(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LIT_GANS_DATA_MIRROR", f"http://127.0.0.1:{port}")
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="cannot connect") as err:
        fetch("facades", root=tmp_path, quiet=True)
    assert time.perf_counter() - start < 5
    assert f"127.0.0.1:{port}/facades.tar.gz" in str(err.value) and str(tmp_path / "facades") in str(err.value)


def test_stalled_transfer_hits_the_read_timeout(server, tmp_path):
    serve(server, {"facades.tar.gz": pix2pix_archive()})
    server.stall["/facades.tar.gz"] = 4.0
    start = time.perf_counter()
    with pytest.raises(DownloadError, match="timed out"):
        fetch("facades", root=tmp_path, timeouts=(2.0, 0.5), retries=0, quiet=True)
    assert time.perf_counter() - start < 3


def test_data_behind_forms_names_page_and_layout(server, tmp_path):
    from datamodules.lowlight import LowLightDataModule

    for name, words in (("celeba", "mmlab.ie.cuhk.edu.hk"), ("lol", "BMVC2018"), ("enlightengan", "VITA-Group/EnlightenGAN"),
                        ("paris_streetview", "pathak22/context-encoder"), ("cityscapes", "cityscapes-dataset.com")):
        with pytest.raises(MissingFileError, match=words) as err:
            fetch(name, root=tmp_path, quiet=True)
        assert get(name).layout in str(err.value) and str(tmp_path / get(name).folder) in str(err.value)
    dm = LowLightDataModule(root=str(tmp_path / "datasets" / "enlightengan"), download=True)
    with pytest.raises(MissingFileError, match="trainA"):
        dm.prepare_data()
    assert server.log == []


# ------------------------------------------------------------------------------------------------ registry
def test_registry_names_and_inference():
    names = [a.filename for s in DATASETS.values() for a in s.archives if s.name not in ("set14", "bsd100", "urban100")]
    assert len(names) == len(set(names)), "mirror file names must be unique"
    assert infer("datasets/facades") == ["facades"] and infer("/x/horse2zebra") == ["horse2zebra"]
    assert infer("data/DIV2K/DIV2K_train_LR_bicubic/X4") == ["div2k_train_lr_bicubic_x4"]
    assert infer("data/Set5") == ["set5"] and infer("data/paris_streetview/paris_eval_gt") == ["paris_streetview"]
    assert sorted(infer("X4")) == ["div2k_train_lr_bicubic_x4", "div2k_valid_lr_bicubic_x4"]
    assert infer("data/my_photos") == []
    with pytest.raises(ConfigError, match="--data.init_args.dataset"):
        prepare("data/my_photos", None, download=True)
    assert get("Horse2Zebra").name == "horse2zebra"
    with pytest.raises(ConfigError, match="known: "):
        get("nosuch")


def test_mnist_pins_are_torchvisions():
    from torchvision.datasets import MNIST

    spec = get("mnist")
    assert {a.filename: a.md5 for a in spec.archives} == dict(MNIST.resources)
    assert [a.urls for a in spec.archives] == [tuple(m + f for m in MNIST.mirrors) for f, _ in MNIST.resources]


def test_mnist_datamodule_downloads_through_the_registry(server, monkeypatch, tmp_path):
    from datamodules.digits import MNISTDataModule

    blobs = mnist_archives()
    serve(server, blobs)
    pin(monkeypatch, "mnist", blobs)
    dm = MNISTDataModule(root=str(tmp_path), download=True)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.train_set) == 20 and len(dm.val_set) == 10
    assert len(server.log) == 4
    MNISTDataModule(root=str(tmp_path), download=True).prepare_data()
    assert len(server.log) == 4


# ------------------------------------------------------------------------------------------------ end to end
_P2P = ["--data.init_args.load_size=72", "--data.init_args.crop_size=64", "--data.init_args.num_workers=0",
        "--model.init_args.generator.init_args.num_downs=6", "--model.init_args.generator.init_args.ngf=8"]
_CYC = ["--data.init_args.load_size=72", "--data.init_args.crop_size=64", "--data.init_args.num_workers=0",
        "--model.init_args.generator.init_args.ngf=8", "--model.init_args.generator_ba.init_args.ngf=8",
        "--model.init_args.discriminator.init_args.ndf=8", "--model.init_args.discriminator_a.init_args.ndf=8"]
_SR = ["--data.init_args.batch_size=2", "--data.init_args.num_workers=0", "--model.init_args.generator.init_args.num_feat=8",
       "--model.init_args.generator.init_args.num_blocks=1"]
_COLOR = ["--data.init_args.preprocess=crop", "--data.init_args.crop_size=64", "--data.init_args.batch_size=2",
          "--data.init_args.num_workers=0", "--data.init_args.subset=null", "--model.init_args.generator.init_args.pretrained=false"]

END_TO_END = {
    # yaml: (archives, datasets to re-pin, data roots under tmp, overrides)
    "pix2pix_facades.yaml": (lambda: {"facades.tar.gz": pix2pix_archive()}, (), {"root": "datasets/facades"}, _P2P),
    "cyclegan_horse2zebra.yaml": (lambda: {"horse2zebra.zip": cyclegan_archive()}, ("horse2zebra",),
                                  {"root": "datasets/horse2zebra"}, _CYC),
    "srresnet_div2k.yaml": (lambda: {"DIV2K_train_HR.zip": div2k_archives()["DIV2K_train_HR.zip"], "benchmark.tar": benchmark_archive()},
                            ("div2k_train_hr", "set5"), {"root": "data/DIV2K/DIV2K_train_HR", "val_root": "data/Set5"}, _SR),
    "colorization_coco_pretrain.yaml": (lambda: {"coco_sample.tgz": coco_sample_archive()}, ("coco_sample",),
                                        {"root": "datasets/coco_sample", "dataset": "coco_sample"}, _COLOR),
}


@pytest.mark.parametrize("yaml", sorted(END_TO_END))
def test_fit_from_an_empty_folder(yaml, server, monkeypatch, tmp_path, cli_args):
    """`lit-gans fit --config experiments/<paper yaml> --data.init_args.download=true`: empty folder -> training."""
    from lit_gans.cli import LitGansCLI

    make, pinned, roots, overrides = END_TO_END[yaml]
    blobs = make()
    serve(server, blobs)
    for name in pinned:
        pin(monkeypatch, name, {k: v for k, v in blobs.items() if k in {a.filename for a in DATASETS[name].archives}})
    monkeypatch.chdir(tmp_path)
    data_args = [f"--data.init_args.{k}={tmp_path / v}" if "root" in k else f"--data.init_args.{k}={v}" for k, v in roots.items()]
    args = ["fit"] + cli_args(yaml) + data_args + overrides + [
        "--data.init_args.download=true", "--trainer.max_steps=2", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]
    cli = LitGansCLI(args=args)
    assert cli.trainer.global_step >= 1
    for k, v in roots.items():
        if "root" in k:
            assert (tmp_path / v / MARKER).is_file()
    assert {e["path"].lstrip("/") for e in server.log} == set(blobs)


@pytest.mark.slow
def test_cli_subprocess_fit_from_an_empty_folder(server, tmp_path):
    """The same through the console entry point, in a fresh process: `python -m lit_gans fit ... download=true`."""
    serve(server, {"facades.tar.gz": pix2pix_archive()})
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LIT_GANS_DATA_MIRROR": server.url, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "pix2pix_facades.yaml"),
           f"--data.init_args.root={tmp_path / 'datasets' / 'facades'}", "--data.init_args.download=true", *_P2P,
           "--trainer.max_steps=2", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
           "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={tmp_path}",
           f"--trainer.logger.init_args.save_dir={tmp_path}"]
    out = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "datasets" / "facades" / MARKER).is_file()
    assert "downloading facades" in out.stderr and len(server.log) == 1

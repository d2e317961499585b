"""Official released generator weights by name: ``lit-gans weights list | download NAME``.

Each entry names the file's official URL (or, for files behind a Google Drive, the page to get it from by
hand), the published checksum or size where one exists, the experiment YAML and the option it loads through
(``generator_ckpt``; ``generator_weights`` for CycleGAN/EnlightenGAN) and the license of the repository that
publishes it. The files are fetched with the downloader of ``lit-gans data``
(:func:`lit_gans.datasets.download.download`: resume with HTTP ``Range``, timeouts, checks, atomic rename,
``LIT_GANS_DATA_MIRROR``) into ``$LIT_GANS_WEIGHTS_DIR`` (default ``~/.cache/lit_gans/weights``), one file per
entry: ``<family>/<official file name>`` (pix2pix and CycleGAN both publish a ``sat2map.pth``, ``map2sat.pth`` and
``facades_label2photo.pth``); a mirror serves ``<mirror>/<family>/<official file name>``. A file already there is
used without any request.

The models' weight options accept a registry name in place of a path (:func:`resolve`): the file is downloaded
on demand, except with ``LIT_GANS_OFFLINE=1``, where a missing file is an error naming
``lit-gans weights download NAME``.

Sources (URLs, names, checksums):

* junyanz/pytorch-CycleGAN-and-pix2pix ``scripts/download_pix2pix_model.sh``
  (``http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/$FILE.pth``; edges2shoes, sat2map, map2sat,
  facades_label2photo, day2night) and ``scripts/download_cyclegan_model.sh``
  (``http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/$FILE.pth``; the 18 names of its note). The
  scripts save ``net.state_dict()`` of the generator as ``latest_net_G.pth``; no checksum or size is published.
* xinntao/Real-ESRGAN ``docs/Training.md`` and its releases: ``ESRGAN_SRx4_DF2KOST_official-ff704c30.pth``
  (v0.1.1, the official ESRGAN converted to BasicSR's layout), ``RealESRNet_x4plus.pth`` (v0.1.1),
  ``RealESRGAN_x4plus.pth`` (v0.1.0). BasicSR names a published file ``<name>-<first 8 hex digits of its
  sha256>.pth`` (XPixelGroup/BasicSR ``scripts/publish_models.py``): that prefix is checked here.
* XPixelGroup/BasicSR ``scripts/download_pretrained_models.py``: ``ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth``
  is on Google Drive only (by hand; its sha256 prefix is checked when the file is given).
* xinntao/ESRGAN README: ``RRDB_ESRGAN_x4.pth`` / ``RRDB_PSNR_x4.pth`` on Google Drive / Baidu (by hand).
* VITA-Group/EnlightenGAN README ("Testing process"): the pretrained model is on Google Drive (by hand).
* The colorization tutorial (moein-shariatnia/Deep-Learning, "Image Colorization Tutorial") publishes no
  weight file: nothing is registered for it.

This module is a low layer: no torch, no lightning.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from lit_gans.datasets.download import CONNECT_TIMEOUT, MIRROR_ENV, READ_TIMEOUT, DownloadError, download
from lit_gans.datasets.registry import Archive
from lit_gans.errors import DataError, MissingFileError, UserError

WEIGHTS_DIR_ENV = "LIT_GANS_WEIGHTS_DIR"
OFFLINE_ENV = "LIT_GANS_OFFLINE"
JUNYANZ = "junyanz/pytorch-CycleGAN-and-pix2pix"
JUNYANZ_LICENSE = f"BSD (the {JUNYANZ} LICENSE)"
NONE_PUBLISHED = "none published: checked against the server's Content-Length; loading checks every tensor's shape"


@dataclass(frozen=True)
class WeightsSpec:
    """One released generator file.

    ``archive``: the file to fetch (None: behind a drive, ``page`` says where); ``filename``: its official name;
    ``sha256_prefix``: BasicSR's published hash prefix (first 8 hex digits of the sha256), checked after the
    download; ``config``/``option``: the experiment and the model option that load it; ``note``: what the file
    is (and what differs from the experiment, if anything)."""

    name: str
    family: str
    filename: str
    config: str
    option: str
    license: str
    source: str
    archive: Optional[Archive] = None
    page: str = ""
    sha256_prefix: Optional[str] = None
    note: str = ""

    @property
    def manual(self) -> bool:
        return self.archive is None

    @property
    def url(self) -> str:
        return self.archive.urls[0] if self.archive is not None else self.page

    def command(self) -> str:
        """The one command that runs these weights through the experiment's test protocol."""
        return f"lit-gans test --config {self.config} --model.init_args.{self.option}={self.name}"


def _junyanz(kind: str, model: str) -> WeightsSpec:
    if kind == "pix2pix":
        url = f"http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/{model}.pth"
        script, config, option = "scripts/download_pix2pix_model.sh", "experiments/pix2pix_facades.yaml", "generator_ckpt"
        note = "UnetGenerator unet_256 (batch norm, dropout) state_dict"
    else:
        url = f"http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/{model}.pth"
        script, config, option = "scripts/download_cyclegan_model.sh", "experiments/cyclegan_horse2zebra.yaml", "generator_weights"
        note = "ResnetGenerator resnet_9blocks (instance norm) state_dict, loaded as G_A (AtoB)"
    return WeightsSpec(
        name=f"{kind}-{model}", family=kind, filename=f"{model}.pth", config=config, option=option,
        license=JUNYANZ_LICENSE, source=f"{JUNYANZ} {script}", archive=Archive(urls=(url,), kind="file", source=NONE_PUBLISHED),
        note=note,
    )


PIX2PIX_MODELS = ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night")
CYCLEGAN_MODELS = (
    "apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite", "horse2zebra", "zebra2horse",
    "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe", "style_vangogh", "sat2map", "map2sat",
    "cityscapes_photo2label", "cityscapes_label2photo", "facades_photo2label", "facades_label2photo", "iphone2dslr_flower",
)
REAL_ESRGAN = "xinntao/Real-ESRGAN"
REAL_ESRGAN_RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
ESRGAN_DRIVE_PAGE = "https://github.com/xinntao/ESRGAN#quick-test (README: Google Drive / Baidu links)"
BASICSR_DRIVE_PAGE = "https://drive.google.com/drive/folders/15DgDtfaLASQ3iAPJEVHQF49g9msexECG (XPixelGroup/BasicSR docs/ModelZoo.md)"
ENLIGHTENGAN_PAGE = "https://drive.google.com/file/d/1AkV-n2MdyfuZTFvcon8Z4leyVb0i7x63/view (VITA-Group/EnlightenGAN README, 'Testing process')"

_SR = dict(family="esrgan", config="experiments/esrgan_div2k.yaml", option="generator_ckpt")

WEIGHTS: dict[str, WeightsSpec] = {
    s.name: s
    for s in (
        *(_junyanz("pix2pix", m) for m in PIX2PIX_MODELS),
        *(_junyanz("cyclegan", m) for m in CYCLEGAN_MODELS),
        WeightsSpec(
            name="esrgan-x4", filename="ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", **_SR,
            archive=Archive(urls=(f"{REAL_ESRGAN_RELEASES}/v0.1.1/ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",), kind="file",
                            source="BasicSR file name: sha256 prefix ff704c30"),
            sha256_prefix="ff704c30", license=f"BSD-3-Clause ({REAL_ESRGAN} LICENSE; ESRGAN itself: Apache-2.0)",
            source=f"{REAL_ESRGAN} docs/Training.md, release v0.1.1",
            note="the paper's ESRGAN (RRDB_ESRGAN_x4) in BasicSR's {'params'} layout, RRDBNet 23 blocks",
        ),
        WeightsSpec(
            name="esrgan-psnr-x4", filename="ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth", **{**_SR, "config": "experiments/rrdb_psnr_div2k.yaml"},
            page=BASICSR_DRIVE_PAGE, sha256_prefix="150ff491", license="Apache-2.0 (XPixelGroup/BasicSR LICENSE)",
            source="XPixelGroup/BasicSR scripts/download_pretrained_models.py (Google Drive file)",
            note="the paper's PSNR-oriented RRDB (RRDB_PSNR_x4) in BasicSR's layout",
        ),
        WeightsSpec(
            name="realesrnet-x4plus", filename="RealESRNet_x4plus.pth", **_SR,
            archive=Archive(urls=(f"{REAL_ESRGAN_RELEASES}/v0.1.1/RealESRNet_x4plus.pth",), kind="file", source=NONE_PUBLISHED),
            license=f"BSD-3-Clause ({REAL_ESRGAN} LICENSE)", source=f"{REAL_ESRGAN} docs/Training.md, release v0.1.1",
            note="Real-ESRNet (L1 only), RRDBNet 23 blocks, {'params_ema'}: trained on synthetic real-world "
                 "degradations, not on the bicubic LR of the experiment's test protocol",
        ),
        WeightsSpec(
            name="realesrgan-x4plus", filename="RealESRGAN_x4plus.pth", **_SR,
            archive=Archive(urls=(f"{REAL_ESRGAN_RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",), kind="file", source=NONE_PUBLISHED),
            license=f"BSD-3-Clause ({REAL_ESRGAN} LICENSE)", source=f"{REAL_ESRGAN} README / docs/Training.md, release v0.1.0",
            note="Real-ESRGAN, RRDBNet 23 blocks, {'params_ema'}: trained on synthetic real-world degradations, "
                 "not on the bicubic LR of the experiment's test protocol",
        ),
        WeightsSpec(
            name="esrgan-x4-original", filename="RRDB_ESRGAN_x4.pth", **_SR, page=ESRGAN_DRIVE_PAGE,
            license="Apache-2.0 (xinntao/ESRGAN LICENSE)", source="xinntao/ESRGAN README and models/README.md",
            note="the ESRGAN repository's own file (its 2019 RRDB_trunk layout, converted on loading)",
        ),
        WeightsSpec(
            name="esrgan-psnr-x4-original", filename="RRDB_PSNR_x4.pth", **{**_SR, "config": "experiments/rrdb_psnr_div2k.yaml"},
            page=ESRGAN_DRIVE_PAGE, license="Apache-2.0 (xinntao/ESRGAN LICENSE)", source="xinntao/ESRGAN README and models/README.md",
            note="the ESRGAN repository's PSNR-oriented file",
        ),
        WeightsSpec(
            name="enlightengan", family="enlightengan", filename="200_net_G_A.pth", config="experiments/enlightengan.yaml",
            option="generator_weights", page=ENLIGHTENGAN_PAGE, license="none stated (VITA-Group/EnlightenGAN has no LICENSE file)",
            source="VITA-Group/EnlightenGAN README", note="the released generator (a DataParallel state_dict, converted on loading)",
        ),
    )
}


# ------------------------------------------------------------------------------------------------ lookup
def weights_dir(root: Optional[str | os.PathLike] = None) -> Path:
    if root is not None:
        return Path(root).expanduser()
    return Path(os.environ.get(WEIGHTS_DIR_ENV) or Path.home() / ".cache" / "lit_gans" / "weights").expanduser()


def get(name: str) -> WeightsSpec:
    try:
        return WEIGHTS[name]
    except KeyError:
        raise MissingFileError(f"no official weights named {name!r}; `lit-gans weights list` shows the names") from None


def local_path(spec: WeightsSpec, root: Optional[str | os.PathLike] = None) -> Path:
    return weights_dir(root) / spec.family / spec.filename


def _check_prefix(spec: WeightsSpec, path: Path, sha256: str) -> None:
    """BasicSR's published hash prefix; a mismatching file is deleted."""
    if spec.sha256_prefix is None:
        return
    if not sha256.startswith(spec.sha256_prefix):
        path.unlink(missing_ok=True)
        raise DataError(
            f"{spec.filename}: sha256 {sha256[:16]}... does not start with the published {spec.sha256_prefix} (the hash "
            "in BasicSR's file name); the file is damaged or not the official one and was deleted"
        )


def fetch(
    name: str, root: Optional[str | os.PathLike] = None, mirror: Optional[str] = None,
    timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT), retries: int = 3, quiet: bool = False,
) -> Path:
    """The local file of the official weights ``name``, downloaded (and checked) when absent; no request at
    all when it is there. Files behind a drive: ``MissingFileError`` naming the page and where to put the file."""
    spec = get(name)
    target = local_path(spec, root)
    if target.is_file():
        return target
    if spec.manual:
        raise MissingFileError(
            f"{spec.name} ({spec.filename}) cannot be downloaded automatically (a drive): get it from {spec.page} and "
            f"put it at {target} (or pass its path to --model.init_args.{spec.option})"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"lit_gans: downloading {spec.name} ({spec.url}) into {target.parent}", file=sys.stderr)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    mirror = f"{mirror.rstrip('/')}/{spec.family}" if mirror else None  # same-named files of two families
    try:
        path, _, hashes = download(spec.archive, target.parent, spec.filename, mirror, timeouts, retries, quiet)
    except DownloadError as err:
        raise DownloadError(
            f"could not download {spec.name}: {err} By hand: get {spec.url} and put it at {target}"
        ) from None
    except DataError as err:
        raise DataError(f"{err}. Nothing was written to {target}") from None
    try:
        _check_prefix(spec, path, hashes["sha256"])
    except DataError as err:
        raise DataError(f"{err}. Nothing was written to {target}") from None
    return path


def resolve(value: Optional[str], option: str = "--model.init_args.generator_ckpt") -> Optional[str]:
    """A weight option's value: a registry name becomes the path of its downloaded file (downloaded now unless
    ``LIT_GANS_OFFLINE=1``); anything else (a path) is returned as it is."""
    if not value or value not in WEIGHTS or Path(value).expanduser().exists():
        return value
    spec = WEIGHTS[value]
    target = local_path(spec)
    if not target.is_file() and os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        raise MissingFileError(
            f"{option}={value}: the official weights are not downloaded ({target} is missing) and {OFFLINE_ENV} is "
            f"set: run `lit-gans weights download {value}` where there is network, or pass a file path"
        )
    try:
        return str(fetch(value))
    except DownloadError as err:
        raise DownloadError(f"{option}={value}: {err} (or run `lit-gans weights download {value}` later)") from None


# ------------------------------------------------------------------------------------------------ command line
def _list(root: Optional[str]) -> int:
    rows = [("name", "file", "config (option)", "source")]
    for spec in WEIGHTS.values():
        present = " [present]" if local_path(spec, root).is_file() else ""
        where = spec.url if not spec.manual else "by hand: " + spec.page.split(" ")[0]
        rows.append((spec.name + present, spec.filename, f"{spec.config} ({spec.option})", where))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    print(f"\nfolder: {weights_dir(root)} (${WEIGHTS_DIR_ENV}); mirror: ${MIRROR_ENV}; licenses and notes: docs/weights.md")
    return 0


def main(argv: list[str], prog: str = "lit-gans weights") -> int:
    """``list`` | ``download NAME... [--root DIR] [--mirror URL]``; returns the exit status (2: a user error)."""
    parser = argparse.ArgumentParser(prog=prog, description="Official released generator weights, by name.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="the registered weights, their file, experiment and source")
    p_list.add_argument("--root", default=None, help=f"weights folder (default: ${WEIGHTS_DIR_ENV} or ~/.cache/lit_gans/weights)")
    p_dl = sub.add_parser("download", help="download and check weights (no request when present)")
    p_dl.add_argument("names", nargs="+", metavar="NAME")
    p_dl.add_argument("--root", default=None, help="weights folder (default as for list)")
    p_dl.add_argument("--mirror", default=None, help=f"base URL serving <family>/<official file name> (default: ${MIRROR_ENV})")
    p_dl.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.root)
        for name in args.names:
            print(fetch(name, root=args.root, mirror=args.mirror, quiet=args.quiet))
        return 0
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130

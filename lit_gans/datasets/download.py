"""Fetch a registered dataset into its folder: resumable HTTP download, verification, atomic extraction.

``fetch(name, folder)`` makes ``folder`` hold the dataset in the layout the datamodules read, or raises an error
that names the URL, the folder and the layout (so the files can be put there by hand):

1. A complete folder (its marker ``.lit_gans_dataset.json``, or every required path present: data copied by
   hand) returns at once, without any network request.
2. Data behind a form or a drive (no archive in the registry): ``MissingFileError`` naming the page and the layout.
3. Each archive is downloaded into ``<parent>/.downloads/<file>.part`` with connect and read timeouts; an
   interrupted transfer continues with an HTTP ``Range`` request (automatically up to ``retries`` times, and on
   the next call), a server that ignores ``Range`` restarts it. A progress bar (tqdm on a terminal, a line every
   10 % otherwise) goes to stderr.
4. The file is checked: its length against ``Content-Length`` and the published size, its published checksum
   (sha256, md5, or fastai's md5 of the first MiB). A mismatch deletes it.
5. It is extracted into a temporary folder next to the target (same file system), reading every member (zip and
   gzip CRCs checked; member paths that would leave the folder refused); the required paths are checked, the
   marker is written (with the sha256 of each downloaded file) and the folder is renamed into place. Any failure
   removes the temporary folder: a dataset is never left half extracted.

``LIT_GANS_DATA_MIRROR`` (or ``mirror=``) replaces the official hosts by one base URL that serves the official
files under their own names (``<mirror>/facades.tar.gz``, ``<mirror>/horse2zebra.zip`` ...); ``file://`` works.
Several processes (nodes sharing a file system) take a lock per dataset, and the second one finds the folder done.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator, Optional

from lit_gans.datasets.registry import DATASETS, Archive, DatasetSpec, get
from lit_gans.errors import ConfigError, DataError, MissingFileError, UserError

MARKER = ".lit_gans_dataset.json"
MIRROR_ENV = "LIT_GANS_DATA_MIRROR"
CONNECT_TIMEOUT = 10.0  # seconds to open the connection and receive the response headers
READ_TIMEOUT = 60.0  # seconds without a byte before a transfer counts as stalled
CHUNK = 1 << 20


class DownloadError(UserError, OSError):
    """A dataset file could not be downloaded (names the URL, the folder it was for and its layout)."""


# ------------------------------------------------------------------------------------------------ helpers
def manual_hint(spec: DatasetSpec, target: Path) -> str:
    """What to do by hand: where to get the files and how to lay them out."""
    official = ", ".join(a.urls[0] for a in spec.archives) or spec.page
    return (
        f"To set it up by hand, get {official} (page: {spec.page}) and unpack it so that {target} holds: "
        f"{spec.layout}. A folder laid out like that is used as it is, without any download."
    )


def _nonempty(path: Path) -> bool:
    if path.is_file():
        return True
    if path.is_dir():
        return any(p.name != MARKER for p in path.iterdir())
    return False


def missing_parts(spec: DatasetSpec, folder: Path) -> list[str]:
    """Required paths absent (or empty) under ``folder``; ``[]`` when the layout is complete."""
    if not spec.required:
        return [] if _nonempty(folder) else ["(any file)"]
    return [r for r in spec.required if not _nonempty(folder / r)]


def read_marker(folder: Path) -> Optional[dict]:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_complete(spec: DatasetSpec, folder: Path) -> bool:
    """Downloaded by us (the marker names this dataset) or laid out by hand (every required path present)."""
    marker = read_marker(folder)
    if marker is not None and marker.get("dataset") == spec.name:
        return True
    return folder.is_dir() and not missing_parts(spec, folder)


def mirror_urls(archive: Archive, mirror: Optional[str]) -> list[str]:
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if mirror:
        return [mirror.rstrip("/") + "/" + archive.filename]
    return list(archive.urls)


def _shared(archive: Archive) -> bool:
    """Whether another dataset uses the same file (then it is kept in ``.downloads`` for reuse)."""
    return sum(1 for s in DATASETS.values() for a in s.archives if a.urls == archive.urls) > 1


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive lock (one download of a dataset at a time across processes); no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"lit_gans: waiting for another process downloading into {path.parent.parent} ...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Progress:
    """Bytes received: tqdm on a terminal, else one stderr line per 10 % (or per 100 MB when the size is unknown)."""

    def __init__(self, label: str, total: Optional[int], done: int, quiet: bool) -> None:
        self.label, self.total, self.done, self.quiet = label, total, done, quiet
        self.bar = None
        self.next_report = 0.0
        if quiet:
            return
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True, unit_divisor=1024, desc=label, file=sys.stderr)
                return
            except ImportError:
                pass
        self._line()

    def _line(self) -> None:
        mb = self.done / 1e6
        if self.total:
            print(f"lit_gans: {self.label}: {mb:,.1f} of {self.total / 1e6:,.1f} MB ({100 * self.done / self.total:.0f} %)", file=sys.stderr)
            self.next_report = self.done + self.total / 10
        else:
            print(f"lit_gans: {self.label}: {mb:,.1f} MB", file=sys.stderr)
            self.next_report = self.done + 100e6

    def update(self, n: int) -> None:
        self.done += n
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.update(n)
        elif self.done >= self.next_report:
            self._line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _set_read_timeout(response: object, seconds: float) -> None:
    """After the headers arrived within the connect timeout, give each later read ``seconds`` (the socket of
    urllib's response; without one, the connect timeout stays in force)."""
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    if isinstance(sock, socket.socket):
        sock.settimeout(seconds)


def _reason(err: BaseException) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        return f"cannot connect ({reason})" if not isinstance(reason, str) else reason
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{type(err).__name__}: {err}"


# ------------------------------------------------------------------------------------------------ download
def _hashes(path: Path) -> dict[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    first = None
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            if first is None:
                first = hashlib.md5(block).hexdigest()  # CHUNK = 2**20: fastai's md5 of the first MiB
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest(), "md5_first_mib": first or hashlib.md5(b"").hexdigest()}


def verify(archive: Archive, path: Path) -> dict[str, str]:
    """Check ``path`` against the published size and checksums; returns its hashes. A DataError names the
    expected and found values and where the expected ones were published."""
    size = path.stat().st_size
    if archive.size is not None and size != archive.size:
        raise DataError(f"{archive.filename}: {size} bytes, but {archive.size} are published ({archive.source})")
    hashes = _hashes(path)
    for kind in ("sha256", "md5", "md5_first_mib"):
        want = getattr(archive, kind)
        if want is not None and hashes[kind] != want:
            raise DataError(
                f"{archive.filename}: {kind} {hashes[kind]} differs from the published {want} ({archive.source}); "
                "the file is damaged or not the official one"
            )
    return hashes


def _transfer(url: str, part: Path, label: str, timeouts: tuple[float, float], quiet: bool) -> tuple[int, Optional[int]]:
    """One HTTP request continuing ``part`` from its current length. Returns (bytes now in ``part``, total or
    None). Raises urllib/socket errors as they come (the caller decides whether to resume)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "lit-gans-datasets", "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeouts[0])
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # nothing after offset: the previous call received everything
            return offset, offset
        raise
    with response:
        status = getattr(response, "status", 200) or 200
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None and length.isdigit() else None
        if offset and status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {offset}-"):
                raise DownloadError(f"{url}: the server answered Range bytes={offset}- with Content-Range {content_range!r}")
            total = offset + length if length is not None else None
            mode = "ab"
        else:  # 200 (or a file:// URL): the whole file from the start
            offset, total, mode = 0, length, "wb"
        if total is not None:
            free = shutil.disk_usage(part.parent).free
            if free < total - offset:
                raise DownloadError(
                    f"{part.parent} has {free / 1e9:.1f} GB free, {(total - offset) / 1e9:.1f} GB are needed for {url}"
                )
        _set_read_timeout(response, timeouts[1])
        progress = Progress(label, total, offset, quiet)
        done = offset
        try:
            with open(part, mode) as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    done += len(block)
                    progress.update(len(block))
        finally:
            progress.close()
    return done, total


def download(
    archive: Archive, into: Path, label: str, mirror: Optional[str] = None, timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT),
    retries: int = 3, quiet: bool = False, check: bool = True,
) -> tuple[Path, str, dict[str, str]]:
    """Download ``archive`` into the folder ``into`` (resuming a ``.part`` left there). Returns (file, URL used,
    hashes). Raises DownloadError after the alternatives and retries are spent (the ``.part`` is kept for the
    next call), DataError when the complete file fails verification (then it is deleted)."""
    final = into / archive.filename
    part = into / (archive.filename + ".part")
    if final.exists():  # kept from an earlier call (a shared archive, or a failed extraction's predecessor)
        try:
            return final, "(kept)", verify(archive, final) if check else _hashes(final)
        except DataError:
            final.unlink()
    errors: list[str] = []
    for url in mirror_urls(archive, mirror):
        attempts = 0
        while True:
            before = part.stat().st_size if part.exists() else 0
            problem = None
            try:
                done, total = _transfer(url, part, label, timeouts, quiet)
                if total is not None and done < total:  # the server closed the connection early
                    problem = f"transfer ended at {done} of {total} bytes"
            except urllib.error.HTTPError as err:
                errors.append(f"{url}: {_reason(err)}")
                break
            except (urllib.error.URLError, OSError, EOFError, ValueError, http.client.HTTPException) as err:
                if isinstance(err, DownloadError):
                    raise
                problem = _reason(err)
            if problem is not None:
                got = (part.stat().st_size if part.exists() else 0) - before
                if got > 0 and attempts < retries:  # some bytes came: continue with a Range request
                    attempts += 1
                    if not quiet:
                        print(f"lit_gans: {label}: {problem}; resuming", file=sys.stderr)
                    continue
                errors.append(f"{url}: {problem}")
                break
            try:
                hashes = verify(archive, part) if check else _hashes(part)
            except DataError:
                part.unlink()
                raise
            os.replace(part, final)
            return final, url, hashes
    kept = f" {part.stat().st_size} bytes are kept in {part}; the next call resumes from there." if part.exists() and part.stat().st_size else ""
    raise DownloadError("; ".join(errors) + "." + kept)


# ------------------------------------------------------------------------------------------------ extraction
def _safe_name(name: str) -> Optional[PurePosixPath]:
    """A member name as a relative path inside the archive, or None if it would leave the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or path.is_absolute() or ".." in parts:
        return None
    return PurePosixPath(*parts)


def _selected(rel: PurePosixPath, member: str) -> bool:
    return not member or rel == PurePosixPath(member) or PurePosixPath(member) in rel.parents


def _extract_zip(path: Path, dest: Path, member: str) -> int:
    n = 0
    with zipfile.ZipFile(path) as zf:
        infos = [(i, _safe_name(i.filename)) for i in zf.infolist()]
        bad = [i.filename for i, rel in infos if rel is None]
        if bad:
            raise DataError(f"{path.name}: member paths leave the folder ({bad[:3]}); refused")
        chosen = [(i, rel) for i, rel in infos if _selected(rel, member)]  # type: ignore[arg-type]
        need = sum(i.file_size for i, _ in chosen)
        if need > shutil.disk_usage(dest).free:
            raise DownloadError(f"{dest} has {shutil.disk_usage(dest).free / 1e9:.1f} GB free; extracting {path.name} needs {need / 1e9:.1f} GB")
        for info, rel in chosen:
            out = dest / rel  # type: ignore[operator]
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(out, "wb") as dst:  # reading to the end checks the member's CRC-32
                shutil.copyfileobj(src, dst, CHUNK)
            n += 1
    return n


def _extract_tar(path: Path, dest: Path, member: str) -> int:
    with open(path, "rb") as raw:
        magic = raw.read(2)
    n = 0
    with contextlib.ExitStack() as stack:
        source: IO[bytes] = stack.enter_context(gzip.open(path) if magic == b"\x1f\x8b" else open(path, "rb"))
        tar = stack.enter_context(tarfile.open(fileobj=source, mode="r|"))  # one streaming pass
        for info in tar:
            rel = _safe_name(info.name)
            if rel is None:
                raise DataError(f"{path.name}: member path {info.name!r} leaves the folder; refused")
            if not _selected(rel, member):
                continue
            if info.isdir():
                (dest / rel).mkdir(parents=True, exist_ok=True)
                continue
            if not info.isfile():  # links, devices: not part of an image data set
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(info)
            assert src is not None
            with open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK)
            n += 1
        while source.read(CHUNK):  # read to the end: gzip checks its CRC-32 and length there
            pass
    return n


def _gunzip(path: Path, dest: Path) -> int:
    with gzip.open(path) as src, open(dest / path.name[: -len(".gz")], "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK)
    return 1


def extract(archive: Archive, path: Path, dest: Path) -> int:
    """Unpack the ``archive.member`` part of ``path`` into ``dest``; raises DataError on a damaged archive."""
    import zlib

    if archive.kind not in ("zip", "tar", "gz"):
        raise ConfigError(f"unknown archive kind {archive.kind!r}")
    try:
        if archive.kind == "zip":
            return _extract_zip(path, dest, archive.member)
        if archive.kind == "tar":
            return _extract_tar(path, dest, archive.member)
        return _gunzip(path, dest)
    except UserError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError, ValueError, OSError) as err:
        raise DataError(f"{path.name} is damaged ({type(err).__name__}: {err}); it was deleted, run again to download it anew") from err


# ------------------------------------------------------------------------------------------------ fetch
def target_folder(spec: DatasetSpec, folder: Optional[str | Path] = None, root: Optional[str | Path] = None) -> Path:
    if folder is not None:
        return Path(folder).expanduser()
    return Path(root if root is not None else "datasets").expanduser() / spec.folder


def fetch(
    name: str, folder: Optional[str | Path] = None, root: Optional[str | Path] = None, mirror: Optional[str] = None,
    timeouts: tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT), retries: int = 3, quiet: bool = False, check: bool = True,
) -> Path:
    """Make the dataset ``name`` present in ``folder`` (default ``<root>/<its folder>``, root ``datasets``) and
    return that folder. No request at all when it is already complete. See the module docstring."""
    spec = get(name)
    target = target_folder(spec, folder, root)
    if is_complete(spec, target):
        return target
    where = f"{spec.name} (expected folder {target}, layout: {spec.layout})"
    if spec.manual:
        raise MissingFileError(
            f"{target} does not hold {spec.name} ({spec.note or spec.layout}); it cannot be downloaded automatically "
            f"(a form or a drive): get it from {spec.page} and lay it out as {spec.layout}."
        )
    if target.exists() and _nonempty(target):
        raise MissingFileError(
            f"{target} exists but is not a complete {spec.name}: missing {', '.join(missing_parts(spec, target))} "
            f"(layout: {spec.layout}). Complete it by hand, or move it away and run again to download it."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    downloads = target.parent / ".downloads"
    downloads.mkdir(exist_ok=True)
    with _lock(downloads / f"{spec.name}.lock"):
        if is_complete(spec, target):  # another process finished it while we waited
            return target
        files = []
        if not quiet:
            print(f"lit_gans: downloading {spec.name} into {target}", file=sys.stderr)
        got: list[tuple[Archive, Path]] = []
        for archive in spec.archives:
            try:
                path, url, hashes = download(archive, downloads, archive.filename, mirror, timeouts, retries, quiet, check)
            except DownloadError as err:
                raise DownloadError(f"could not download {where}: {err} {manual_hint(spec, target)}") from None
            except DataError as err:
                raise DataError(
                    f"{err}. Nothing was written to {target}. If you trust this file anyway (e.g. a mirror that serves "
                    f"other bytes): lit-gans data download {spec.name} --folder {target} --no-check. {manual_hint(spec, target)}"
                ) from None
            got.append((archive, path))
            files.append({"file": archive.filename, "url": url, "official_url": archive.urls[0], "size": path.stat().st_size,
                          "sha256": hashes["sha256"], "published": archive.source if archive.published else None})
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            count = 0
            for archive, path in got:
                try:
                    count += extract(archive, path, tmp)
                except DataError as err:
                    path.unlink(missing_ok=True)
                    raise DataError(f"{err}. Nothing was written to {target}. {manual_hint(spec, target)}") from None
            members = {a.member for a, _ in got}
            staged = tmp / members.pop() if len(members) == 1 else tmp
            if not staged.is_dir() or missing_parts(spec, staged):
                for _, path in got:
                    path.unlink(missing_ok=True)
                what = f"has no {got[0][0].member}/ folder" if not staged.is_dir() else f"lacks {', '.join(missing_parts(spec, staged))}"
                raise DataError(
                    f"{', '.join(a.filename for a, _ in got)} {what}: not the expected archive (it was deleted). "
                    f"Nothing was written to {target}. {manual_hint(spec, target)}"
                )
            marker = {"dataset": spec.name, "files": files, "images_and_files": count,
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (staged / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
            if target.is_dir():
                target.rmdir()  # empty (a non-empty one was refused above)
            os.rename(staged, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for archive, path in got:
            if not _shared(archive):
                path.unlink(missing_ok=True)
    if not quiet:
        print(f"lit_gans: {spec.name} ready in {target} ({count} files)", file=sys.stderr)
    return target


def prepare(
    folder: Optional[str | Path], dataset: Optional[str] = None, download: bool = False, option: str = "--data.init_args.root",
    dataset_option: str = "--data.init_args.dataset", download_option: str = "--data.init_args.download",
) -> Optional[Path]:
    """What a datamodule's ``prepare_data`` calls for each of its folders.

    ``dataset``: the registry name (None: inferred from the folder's name, e.g. ``datasets/facades`` ->
    ``facades``). With ``download`` false nothing is fetched (a missing folder then gets a one-line hint, and
    ``setup`` reports it as before). With ``download`` true a missing or empty folder is fetched; a folder that
    already holds files (the user's own, in whatever layout the datamodule accepts) is used as it is."""
    if folder is None:
        return None
    from lit_gans.datasets.registry import infer

    path = Path(folder).expanduser()
    if dataset is None:
        names = infer(str(path))
        if len(names) == 1:
            dataset = names[0]
        elif download and not _nonempty(path):
            hint = f"it could be any of {', '.join(names)}" if names else "its folder name matches no known dataset"
            raise ConfigError(
                f"{download_option}=true: which dataset is {path} ({option})? {hint}; set "
                f"{dataset_option} to one of the names of `python -m lit_gans.datasets list`"
            )
    if dataset is None or (download and _nonempty(path) and read_marker(path) is None):
        return path  # nothing to name, or the user's own files: used as they are (setup checks them)
    if not download:
        if not path.exists():
            spec = get(dataset)
            how = "it is behind a form or a drive: see" if spec.manual else "download it with"
            target = f"lit-gans data download {spec.name} --folder {path}" if not spec.manual else spec.page
            _info(f"lit_gans: {path} ({option}) does not exist; {how} {target} (or add {download_option}=true)")
        return path
    return fetch(dataset, folder=path)


def _info(message: str) -> None:
    try:
        from lightning.pytorch.utilities import rank_zero_info

        rank_zero_info(message)
    except ImportError:  # pragma: no cover
        print(message, file=sys.stderr)

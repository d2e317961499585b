"""Datasets from nothing: the registry of the data sets the experiments name, and their downloader.

Command line (``lit-gans data ...`` runs the same :func:`main`)::

    python -m lit_gans.datasets list
    python -m lit_gans.datasets download facades --root datasets          # -> datasets/facades/{train,val,test}
    python -m lit_gans.datasets download div2k_train_hr set5 --root data  # -> data/DIV2K/DIV2K_train_HR, data/Set5

Datamodules: ``--data.init_args.download=true`` makes ``prepare_data`` (one process per node) call
:func:`lit_gans.datasets.download.prepare` for each folder they read. ``LIT_GANS_DATA_MIRROR`` points every
download at one base URL (an institutional mirror, a ``file://`` folder, or a test server).

This package imports neither torch nor lightning (``list`` and ``download`` start in well under a second).
Its submodules ``embedded`` (the data shipped in registry packages) and ``digits`` (the digit splits) are the
plain loaders that the datamodules and the digit classifier share; they use torch and are imported only where used.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from lit_gans.datasets.download import (
    CONNECT_TIMEOUT,
    MARKER,
    MIRROR_ENV,
    READ_TIMEOUT,
    DownloadError,
    fetch,
    is_complete,
    prepare,
    target_folder,
)
from lit_gans.datasets.registry import DATASETS, Archive, DatasetSpec, get, infer

__all__ = [
    "DATASETS", "Archive", "DatasetSpec", "DownloadError", "MARKER", "MIRROR_ENV", "fetch", "get", "infer", "is_complete",
    "main", "prepare", "target_folder",
]


def _size(n: Optional[int]) -> str:
    if n is None:
        return "?"
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _list(root: str) -> int:
    rows = [("name", "family", "size", "folder (under --root)", "source")]
    for spec in DATASETS.values():
        source = "by hand: " + spec.page.split(" ")[0] if spec.manual else spec.archives[0].urls[0]
        if len(spec.archives) > 1:
            source += f" (+{len(spec.archives) - 1} files)"
        done = " [present]" if is_complete(spec, target_folder(spec, root=root)) else ""
        rows.append((spec.name, spec.family, _size(spec.size) if not spec.manual else "-", spec.folder + done, source))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    mirror = os.environ.get(MIRROR_ENV)
    print("\nsizes: published ones ('?': none published). "
          + (f"Mirror: ${MIRROR_ENV}={mirror}" if mirror else f"Another source: download NAME --mirror URL (or ${MIRROR_ENV})"))
    return 0


def main(argv: Optional[list[str]] = None, prog: Optional[str] = None) -> int:
    """``list`` | ``download NAME... [--root DIR | --folder DIR] [--mirror URL]``; returns the exit status
    (0 done, 2 a user-facing error, printed as one message)."""
    parser = argparse.ArgumentParser(prog=prog or "python -m lit_gans.datasets", description="Get the data sets the experiments use.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="the known data sets, their size, folder and source")
    p_list.add_argument("--root", default="datasets", help="where `download` puts them by default (marks the ones present)")
    p_dl = sub.add_parser("download", help="download, verify and unpack data sets (nothing is fetched when present)")
    p_dl.add_argument("names", nargs="+", metavar="NAME", help="names from `list`")
    where = p_dl.add_mutually_exclusive_group()
    where.add_argument("--root", default="datasets", help="parent folder: NAME goes to ROOT/<its folder> (default: datasets)")
    where.add_argument("--folder", default=None, help="the exact dataset folder (one NAME only), e.g. the datamodule's root")
    p_dl.add_argument("--mirror", default=None, help=f"base URL serving the official files by name (default: ${MIRROR_ENV})")
    p_dl.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT, help="seconds (default %(default)s)")
    p_dl.add_argument("--read-timeout", type=float, default=READ_TIMEOUT, help="seconds without data (default %(default)s)")
    p_dl.add_argument("--retries", type=int, default=3, help="automatic resumes of an interrupted transfer (default 3)")
    p_dl.add_argument("--no-check", action="store_true", help="skip the published size/checksum (e.g. a mirror with other files)")
    p_dl.add_argument("--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    from lit_gans.errors import UserError

    try:
        if args.command == "list":
            return _list(args.root)
        if args.folder is not None and len(args.names) > 1:
            parser.error("--folder takes one NAME")
        for name in args.names:
            path = fetch(name, folder=args.folder, root=args.root, mirror=args.mirror, timeouts=(args.connect_timeout, args.read_timeout),
                         retries=args.retries, quiet=args.quiet, check=not args.no_check)
            print(path)
        return 0
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130

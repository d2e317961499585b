"""Writing files so that a reader never sees half of one: a temporary file in the target's folder, renamed onto
the target (``os.replace``, atomic on one filesystem). A full disk, an error or a kill mid-write leaves the
previous file intact and no temporary file behind (except after SIGKILL, a hidden ``.<name>.*.tmp``)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)
#: Mode of the files the project writes (outputs, checkpoints, configs): what ``open`` would give, readable by
#: others under the usual umask (``mkstemp`` alone makes 0600 files).
FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path`` to write to; when the block ends without error, the file gets
    ``FILE_MODE`` (and, with ``durable``, is flushed to disk first) and replaces ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

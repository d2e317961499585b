"""Read the records of an offline W&B run file (``run-<id>.wandb``) to check what a run stored.

The file is W&B's append-only log (the LevelDB log layout): a 7-byte header (``:W&B``, magic 0xBEE1, version 0),
then 32 KiB blocks of chunks, each with a 7-byte header (CRC32, little-endian length, type 1 full / 2 first /
3 middle / 4 last); a record is one protobuf ``wandb.proto.wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

BLOCK = 32 * 1024
HEADER = 7


def records(path: str | Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # block trailer padding
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            pending = b""
            yield record


def _items(items: Any) -> dict[str, Any]:
    return {(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in items}


def complete_records(path: str | Path, timeout: float = 60.0) -> list[Any]:
    """The records of a finished run: W&B's service may still be writing the file when ``finish()`` returns,
    so wait (up to ``timeout`` s) for its last record, ``exit``."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            found = list(records(path))
        except Exception:  # noqa: BLE001 - a record cut off mid-write: read again
            found = []
        if any(r.WhichOneof("record_type") == "exit" for r in found) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def run_contents(path: str | Path, timeout: float = 60.0) -> dict[str, Any]:
    """History rows, final summary, config, metric definitions and run id of one offline run file, read once it
    is finished (``timeout`` 0 for a run that was killed and never will be)."""
    out: dict[str, Any] = {"history": [], "summary": {}, "config": {}, "metrics": {}, "run": None, "artifacts": [],
                           "exit_code": None}
    for r in complete_records(path, timeout):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            out["history"].append(_items(r.history.item))
        elif kind == "summary":
            out["summary"].update(_items(r.summary.update))
        elif kind == "config":
            out["config"].update(_items(r.config.update))
        elif kind == "metric":
            out["metrics"][r.metric.name or r.metric.glob_name] = r.metric.step_metric
        elif kind == "artifact":
            out["artifacts"].append({"type": r.artifact.type, "name": r.artifact.name,
                                     "files": [m.path for m in r.artifact.manifest.contents]})
        elif kind == "exit":
            out["exit_code"] = r.exit.exit_code  # 0: finished, else failed
        elif kind == "run":
            out["run"] = {"id": r.run.run_id, "group": r.run.run_group, "job_type": r.run.job_type,
                          "name": r.run.display_name, "tags": list(r.run.tags)}
    return out

"""The report of ``lit-gans test``: the results table, the results folder and the page.

* the model's protocol (:mod:`lit_gans.evaluation.protocol`) runs its paper's test and gives one row per test set
  and a few examples (input / output / target) through :meth:`~lit_gans.evaluation.protocol.Protocol.results`;
* the :class:`TestReport` callback (registered by the CLI for ``test``) gathers the examples of all ranks at
  the end of the test and, on rank zero, prints the table (markdown) and writes
  ``<run dir>/test/<checkpoint stem>_<UTC time>/`` with ``results.md``, ``results.csv``, ``results.json``
  (checkpoint, config, experiment, data sets, date, versions) and ``index.html`` (the table and the example
  images, PNG files in ``images/``, relative links: open it in a browser). The folder is written under a
  temporary name and renamed: an earlier result is never overwritten and nothing is left half-written.
  With a ``WandbLogger`` the table is also logged as a ``wandb.Table`` (``test/results``).
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import math
import os
import platform
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info

from lit_gans.evaluation.protocol import Protocol

# ----------------------------------------------------------------------------- writing


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.4g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"
    return str(value)


def table_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for k in row:
            if k not in cols:
                cols.append(k)
    return cols


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a GitHub markdown table (missing values shown as ``-``)."""
    cols = table_columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row[c]) if c in row else "-" for c in cols) + " |")
    return "\n".join(lines)


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    cols = table_columns(rows)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in cols})
    return buf.getvalue()


def _versions() -> dict[str, str]:
    import lightning
    import torchmetrics

    import lit_gans

    return {
        "lit_gans": lit_gans.__version__,
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "torchmetrics": torchmetrics.__version__,
        "python": platform.python_version(),
    }


def _config_of(trainer: L.Trainer) -> Optional[str]:
    """The ``--config`` file(s) of a LightningCLI run (its SaveConfigCallback holds the parsed config), else from argv."""
    from lightning.pytorch.cli import SaveConfigCallback

    for cb in trainer.callbacks:
        if isinstance(cb, SaveConfigCallback):
            try:
                paths = cb.config.get("config")
            except AttributeError:
                paths = None
            if paths:
                return ", ".join(str(p) for p in paths)
    return _config_from_argv(sys.argv)


def _config_from_argv(argv: Sequence[str]) -> Optional[str]:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _safe(name: str) -> str:
    """A file name for ``name``: each run of other characters becomes one ``_`` ("real (test set)" ->
    "real_test_set"), none at either end."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", name).strip("_") or "x"


def _html_table(rows: Sequence[dict[str, Any]]) -> str:
    esc = html.escape
    cols = table_columns(rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_fmt(r[c]) if c in r else '-')}</td>" for c in cols) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _thumb(src: str, alt: str) -> str:
    """A thumbnail that opens the full-size image."""
    src, alt = html.escape(src), html.escape(alt)
    return f'<a href="{src}" target="_blank"><img src="{src}" alt="{alt}" title="{alt}: click for the full-size image"></a>'


def _page(meta: dict[str, Any], rows: list[dict[str, Any]], sets: list[dict[str, Any]]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(meta['experiment'])}: test results</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:center}img{image-rendering:pixelated;"
        "width:256px;max-width:256px}.grid{display:inline-block;vertical-align:top;margin-right:2em}"
        ".grid img{width:64px;max-width:64px;margin:1px}.grid .cells{width:540px}</style></head><body>",
        f"<h1>{esc(meta['experiment'])}: test results</h1>",
        "<p>"
        + "<br>".join(
            f"<b>{esc(k)}</b>: {esc(str(meta[k]))}"
            for k in ("checkpoint", "config", "model", "datamodule", "date")
            if meta.get(k) is not None
        )
        + "</p>",
        _html_table(rows),
    ]
    if meta.get("protocol_lines"):
        parts.append("<p><b>Protocol of these numbers</b>:<br>" + "<br>".join(esc(x) for x in meta["protocol_lines"]) + "</p>")
    if meta.get("paper"):
        parts.append("<h2>Published numbers (paper column)</h2>" + _html_table(meta["paper"]))
    if meta.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in meta["notes"]) + "</ul>")
    if meta.get("protocol"):
        parts.append(f"<p><b>protocol</b>: {esc(meta['protocol'])}</p>")
    for s in sets:
        if not s["examples"]:
            continue
        names = s["columns"]
        parts.append(f"<h2>{esc(s['name'])}</h2><p>{len(s['examples'])} of the test images; click an image for its full size.</p>")
        if meta.get("page_layout") == "grids":  # unrelated columns (samples | real images): one grid each
            for c in names:
                cells = "".join(_thumb(ex["files"][c], f"{c} #{ex['index']}" + (f" ({ex['caption']})" if ex["caption"] else "")) for ex in s["examples"] if c in ex["files"])
                parts.append(f'<div class="grid"><h3>{esc(c)}</h3><div class="cells">{cells}</div></div>')
            continue
        parts.append("<table><tr><th>#</th>" + "".join(f"<th>{esc(c)}</th>" for c in names) + "</tr>")
        for ex in s["examples"]:
            cells = "".join(
                f"<td>{_thumb(ex['files'][c], c)}</td>" if c in ex["files"] else "<td>-</td>" for c in names
            )
            caption = f"<br>{esc(ex['caption'])}" if ex["caption"] else ""
            parts.append(f"<tr><td>{ex['index']}{caption}</td>{cells}</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    folder: Path,
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    examples: dict[tuple[int, int], dict[str, Any]],
    set_names: list[str],
) -> Path:
    """Write results.md/.csv/.json, index.html and images/ into a new ``folder`` (built under a temporary name in
    the same parent, then renamed; a name that exists gets a ``-2``, ``-3``... suffix). Returns the folder."""
    from lit_gans.utils.images import save_png

    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=parent))
    try:
        sets = []
        for d, name in enumerate(set_names):
            items = sorted((i, ex) for (dl, i), ex in examples.items() if dl == d)
            columns: list[str] = []
            entries = []
            for i, ex in items:
                files = {}
                for col, image in ex["columns"].items():
                    if col not in columns:
                        columns.append(col)
                    rel = f"images/{_safe(name)}/{i:05d}_{_safe(col)}.png"
                    save_png(image.float() / 255.0, tmp / rel)
                    files[col] = rel
                entries.append({"index": i, "files": files, "caption": ex.get("caption", "")})
            sets.append({"name": name, "columns": columns, "examples": entries})
        md = [f"# {meta['experiment']}: test results", ""]
        md += [f"- {k}: {meta[k]}" for k in ("checkpoint", "config", "model", "datamodule", "date", "protocol") if meta.get(k) is not None]
        md += ["", markdown_table(rows), ""]
        if meta.get("protocol_lines"):
            md += ["Protocol of these numbers:", ""] + [f"- {x}" for x in meta["protocol_lines"]] + [""]
        if meta.get("paper"):
            md += ["Published numbers (paper column):", "", markdown_table(meta["paper"]), ""]
        md += [f"- {n}" for n in meta.get("notes", [])]
        (tmp / "results.md").write_text("\n".join(md).rstrip() + "\n")
        (tmp / "results.csv").write_text(csv_text(rows))
        (tmp / "results.json").write_text(json.dumps(dict(meta, columns=table_columns(rows), rows=rows), indent=2, default=str) + "\n")
        (tmp / "index.html").write_text(_page(meta, rows, sets))
        final, k = folder, 1
        while True:
            try:
                os.rename(tmp, final)  # atomic; fails if `final` exists and is not empty
                break
            except OSError:
                if not final.exists():
                    raise
                k += 1
                final = folder.with_name(f"{folder.name}-{k}")
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ----------------------------------------------------------------------------- the callback



class TestReport(Callback):
    """At the end of ``test``: print the results table and write the results folder and page (see the module
    docstring); the model must have a protocol (``pl_module.evaluation``, :class:`~lit_gans.evaluation.protocol.Protocol`).

    Args:
        num_examples: examples per test set on the HTML page (input / output / target): every test image when the
            set has no more, else an even spread over the set.
        dirpath: parent folder of the result folders (default ``<run dir>/test``).
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, num_examples: int = 24, dirpath: Optional[str] = None) -> None:
        if num_examples < 0:
            raise ValueError(f"TestReport: num_examples must be >= 0, got {num_examples}")
        self.num_examples, self.dirpath = num_examples, dirpath
        self.last_folder: Optional[Path] = None
        self.last_rows: Optional[list[dict[str, Any]]] = None

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        protocol = getattr(pl_module, "evaluation", None)
        if not isinstance(protocol, Protocol):
            raise TypeError(
                f"{type(pl_module).__name__} has no test protocol (a lit_gans.evaluation protocol as its `evaluation`); "
                "TestReport cannot report on it"
            )
        protocol.start_report(self.num_examples)

    def _gather_examples(self, trainer: L.Trainer, local: dict) -> dict:
        if trainer.world_size <= 1 or not torch.distributed.is_available() or not torch.distributed.is_initialized():
            return dict(local)
        everything: list[Any] = [None] * trainer.world_size
        torch.distributed.all_gather_object(everything, local)
        merged: dict = {}
        for part in everything:
            for key, value in (part or {}).items():
                merged.setdefault(key, value)
        return merged

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        results = pl_module.evaluation.results()  # type: ignore[attr-defined]
        examples = self._gather_examples(trainer, results.examples)
        rows = results.rows
        if rows is None:
            raise RuntimeError(f"{type(pl_module).__name__}'s protocol published no test rows")
        self.last_rows = rows
        if not trainer.is_global_zero:
            return
        ckpt = getattr(trainer, "ckpt_path", None)
        base = Path(trainer.default_root_dir)  # the run folder (lit_gans.run.layout.run_dir)
        now = _dt.datetime.now(_dt.timezone.utc)
        stem = _safe(Path(ckpt).stem) if ckpt else "weights"
        folder = (Path(self.dirpath) if self.dirpath else base / "test") / f"{stem}_{now.strftime('%Y%m%d-%H%M%S')}"
        dm = trainer.datamodule
        config = _config_of(trainer)
        meta = {
            # the experiment: the YAML's file stem (the CLI's default experiment name), else the run folder's name
            "experiment": Path(config.split(", ")[-1]).stem if config else base.name,
            "checkpoint": str(Path(ckpt).resolve()) if ckpt else None,
            "config": config,
            "model": f"{type(pl_module).__module__}.{type(pl_module).__name__}",
            "datamodule": f"{type(dm).__module__}.{type(dm).__name__}" if dm is not None else None,
            "data_sets": results.set_names,
            "protocol": results.section or None,
            "date": now.isoformat(timespec="seconds"),
            "versions": _versions(),
            "world_size": trainer.world_size,
            "notes": results.notes,
            "protocol_lines": results.protocol_lines,
            "page_layout": results.page_layout,
        }
        from lit_gans.evaluation.published import comparison_rows

        meta["paper_model"] = results.paper_model
        meta["paper"] = comparison_rows(rows, results.paper_model, f"{meta['experiment']} {' '.join(results.set_names)} {config or ''}")
        self.last_folder = write_report(folder, rows, meta, examples, meta["data_sets"])
        table = markdown_table(rows)
        extra = [f"protocol: {x}" for x in meta["protocol_lines"]]
        if meta["paper"]:
            extra += ["published numbers (paper column):", markdown_table(meta["paper"])]
        extra += [f"note: {n}" for n in meta["notes"]]
        print("\n" + table + ("\n" + "\n".join(extra) if extra else ""))
        print(f"lit_gans: test results in {self.last_folder.resolve()} (open index.html in a browser)")
        from lightning.pytorch.loggers import WandbLogger

        cols = table_columns(rows)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                mixed = {c for c in cols if any(isinstance(r.get(c), str) for r in rows)}  # "n/a (...)" cells
                data = [[(str(_fmt(r[c])) if c in mixed and c in r else r.get(c)) for c in cols] for r in rows]
                logger.log_table(key="test/results", columns=cols, data=data)
        rank_zero_info(f"lit_gans: {len(rows)} result row(s)")

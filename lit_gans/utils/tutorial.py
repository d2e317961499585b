"""What the tutorials in ``notebooks/`` share: their budget switch and their model-vs-baseline table.

Each training tutorial has one budget setting at its top::

    BUDGET = tutorial.budget()              # "full" (the stored outputs) or "reduced" (the tests)
    STEPS = {"full": 1000, "reduced": 60}[BUDGET]

``full`` is what the outputs stored in the notebooks were executed with; the tests set
``LIT_GANS_NOTEBOOK_BUDGET=reduced`` to run the same cells in a fraction of the time.

Each ends with a :class:`Scoreboard`: for every model, a held-out quality figure of the trained model next to the
same figure of its trivial baseline (bicubic, the mean fill, the gray image, the input) and of the untrained
network. The table is printed for the reader; the same rows are stored, machine-readable, in the output's
metadata (key :data:`METADATA_KEY`), where ``tests/test_notebooks.py`` reads them: the stored outputs (full budget)
must beat every baseline, a reduced run must at least move every figure from the untrained value the right way
(except the rows added with ``reduced_check=False``: the notebook says why the reduced budget cannot move them).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass

BUDGET_ENV = "LIT_GANS_NOTEBOOK_BUDGET"
BUDGETS = ("full", "reduced")
METADATA_KEY = "lit_gans/scoreboard"


def budget() -> str:
    """The budget the notebook runs with: ``$LIT_GANS_NOTEBOOK_BUDGET``, ``"full"`` when unset."""
    value = os.environ.get(BUDGET_ENV, "full").strip().lower() or "full"
    if value not in BUDGETS:
        raise ValueError(f"{BUDGET_ENV}={value!r}: use one of {', '.join(BUDGETS)} (unset means full)")
    return value


@dataclass(frozen=True)
class Row:
    """One held-out figure: the trained model against its baseline and its untrained start."""

    metric: str
    baseline_name: str
    baseline: float
    untrained: float
    trained: float
    higher_is_better: bool
    #: False where the reduced budget is known to be too short to move this figure (the notebook says why); the
    #: tests then do not require it to move at that budget. The full budget must still beat the baseline.
    reduced_check: bool = True

    def _better(self, a: float, b: float) -> bool:
        return a > b if self.higher_is_better else a < b

    @property
    def beats_baseline(self) -> bool:
        return math.isfinite(self.trained) and self._better(self.trained, self.baseline)

    @property
    def learned(self) -> bool:
        """The trained value moved from the untrained one the right way."""
        return math.isfinite(self.trained) and self._better(self.trained, self.untrained)


class Scoreboard:
    """Rows of :class:`Row`, shown as a table at the end of a tutorial."""

    def __init__(self, budget: str) -> None:
        if budget not in BUDGETS:
            raise ValueError(f"budget {budget!r}: use one of {', '.join(BUDGETS)}")
        self.budget = budget
        self.rows: list[Row] = []

    def add(self, metric: str, *, baseline: tuple[str, float], untrained: float, trained: float,
            higher_is_better: bool, reduced_check: bool = True) -> Row:
        """Record ``metric`` (its name says the model, the unit and the held-out data it was measured on)."""
        name, value = baseline
        row = Row(metric, name, float(value), float(untrained), float(trained), higher_is_better, reduced_check)
        self.rows.append(row)
        return row

    def table(self) -> str:
        width = max([len(r.metric) for r in self.rows] + [len("held-out figure")])
        base_width = max([len(f"{r.baseline_name} {_fmt(r.baseline)}") for r in self.rows] + [len("baseline")])
        lines = [f"{'held-out figure':{width}s}  {'baseline':{base_width}s}  {'untrained':>9s}  {'trained':>9s}  beats baseline",
                 "-" * (width + base_width + 40)]
        for r in self.rows:
            arrow = "higher" if r.higher_is_better else "lower"
            lines.append(f"{r.metric:{width}s}  {r.baseline_name + ' ' + _fmt(r.baseline):{base_width}s}  "
                         f"{_fmt(r.untrained):>9s}  {_fmt(r.trained):>9s}  "
                         f"{'yes' if r.beats_baseline else 'NO'} ({arrow} is better)"
                         + ("" if r.reduced_check or self.budget == "full" else "; no learning check at this budget"))
        lines.append(f"budget: {self.budget}")
        return "\n".join(lines)

    def records(self) -> dict:
        return {"budget": self.budget, "rows": [asdict(r) for r in self.rows]}

    def show(self) -> None:
        """Print the table; in a Jupyter kernel the rows also go into the output's metadata."""
        try:
            from IPython import get_ipython
            from IPython.display import publish_display_data
        except ImportError:  # plain Python without IPython
            get_ipython = None
        if get_ipython is None or get_ipython() is None:
            print(self.table())
        else:
            publish_display_data({"text/plain": self.table()}, metadata={METADATA_KEY: self.records()})


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def read_scoreboards(notebook) -> list[dict]:  # noqa: ANN001
    """The scoreboards stored in an nbformat notebook's outputs (see :meth:`Scoreboard.show`)."""
    found = []
    for cell in notebook.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            meta = out.get("metadata", {})
            if METADATA_KEY in meta:
                found.append(meta[METADATA_KEY])
    return found

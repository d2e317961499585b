"""The tutorials in notebooks/ run top to bottom: each is executed by a real Jupyter kernel (nbclient) in a
temporary working directory, and any cell error fails its test.

The kernel is the interpreter running the tests (ipykernel in the same environment): ``kernel_name="python3"``
resolves to it, and ``PYTHONPATH`` puts this checkout first so the kernel imports this copy of ``lit_gans`` and
``datamodules``. To refresh the outputs stored in the notebooks (what the forge renders), execute them in place::

    python -m tests.test_notebooks --write                  # all of them
    python -m tests.test_notebooks --write 00_quickstart    # one

Every training tutorial has one budget setting at its top (``lit_gans.utils.tutorial.budget``): ``--write`` runs
the full budget, whose outputs are stored; the tests run the reduced one (``LIT_GANS_NOTEBOOK_BUDGET=reduced``).
Each ends with a scoreboard (held-out figures of the trained model, its trivial baseline and the untrained
network): the stored one must beat every baseline, a reduced run must move every figure the right way.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lit_gans.utils import tutorial
from lit_gans.utils.files import atomic_path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = ("00_quickstart", "01_image_to_image", "02_unpaired", "03_restoration", "04_progan", "05_official_weights")
CELL_TIMEOUT_S = 600  # per cell; a full-budget notebook takes at most 10 minutes on an idle 2-core CPU
#: The tutorials that train models and end with a scoreboard (05 loads released weights: nothing to train).
TRAINING = EXPECTED[:5]
MAX_TOTAL_BYTES = 2 * 1024 * 1024  # the notebooks with their stored outputs, together


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def kernel_env(threads: int | None = None, budget: str = "reduced") -> dict[str, str]:
    env = dict(os.environ)
    env[tutorial.BUDGET_ENV] = budget
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("WANDB_MODE", "disabled")
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # pytest -n 2 on 2 cores: one thread per kernel
    return env


def execute(nb, workdir: Path, threads: int | None = None, budget: str = "reduced"):  # noqa: ANN001, ANN201
    """Run every cell of ``nb`` (an nbformat notebook) in place, with ``budget``; raises ``CellExecutionError`` on
    the first error."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env(threads, budget), cwd=str(workdir))
    return nb


def _image_outputs(nb) -> int:  # noqa: ANN001
    return sum(
        any(kind.startswith("image/") for kind in out.get("data", {}))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )


def test_the_six_tutorials_are_there():
    assert tuple(p.stem for p in notebook_paths()) == EXPECTED


def test_notebooks_are_small():
    sizes = {p.name: p.stat().st_size for p in notebook_paths()}
    assert sum(sizes.values()) < MAX_TOTAL_BYTES, sizes


def test_kernel_is_this_interpreter_and_imports_this_checkout(tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import sys, os, lit_gans, datamodules\nprint(sys.executable)\nprint(lit_gans.__file__)\n"
        "print(datamodules.__file__)\nprint(os.getcwd())"
    )])
    execute(nb, tmp_path)
    lines = nb.cells[0].outputs[0]["text"].split()
    assert Path(lines[0]).resolve() == Path(sys.executable).resolve()
    assert Path(lines[1]).resolve() == (ROOT / "lit_gans" / "__init__.py").resolve()
    assert Path(lines[2]).resolve() == (ROOT / "datamodules" / "__init__.py").resolve()
    assert Path(lines[3]).resolve() == tmp_path.resolve()


#: Every notebook runs in the default test run, at its reduced budget (tens of seconds each, one torch thread).
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name: str, tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    pytest.importorskip("matplotlib")
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    stored_images = _image_outputs(nb)
    for cell in nb.cells:  # run from a clean state: what was stored must not count
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    execute(nb, tmp_path, threads=1)
    produced = _image_outputs(nb)
    assert produced >= 1, f"{name} drew no figure"
    assert produced == stored_images, f"{name}: {produced} figures now, {stored_images} stored: refresh with --write"
    assert not list(ROOT.glob("notebooks/*.ckpt")) and not (ROOT / "notebooks" / "lightning_logs").exists()
    boards = tutorial.read_scoreboards(nb)
    if name in TRAINING:  # the reduced budget: every held-out figure moved from the untrained network's the right way
        assert len(boards) == 1 and boards[0]["budget"] == "reduced", boards
        checked = [tutorial.Row(**row) for row in boards[0]["rows"] if row.get("reduced_check", True)]
        not_learned = [row for row in checked if not row.learned]
        assert checked and not not_learned, f"{name}: no learning at the reduced budget: {not_learned}"
    else:
        assert not boards


@pytest.mark.parametrize("name", TRAINING)
def test_stored_outputs_beat_their_baselines(name: str):
    """What a reader sees: the stored outputs come from the full budget and every model beats its baseline."""
    nbformat = pytest.importorskip("nbformat")
    boards = tutorial.read_scoreboards(nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4))
    assert len(boards) == 1, f"{name}: {len(boards)} scoreboards stored: refresh with --write"
    assert boards[0]["budget"] == "full", f"{name}: stored outputs of the {boards[0]['budget']} budget"
    rows = [tutorial.Row(**row) for row in boards[0]["rows"]]
    assert rows and all(r.beats_baseline and r.learned for r in rows), [r for r in rows if not r.beats_baseline]


def test_budget_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(tutorial.BUDGET_ENV, raising=False)
    assert tutorial.budget() == "full"
    monkeypatch.setenv(tutorial.BUDGET_ENV, " Reduced ")
    assert tutorial.budget() == "reduced"
    monkeypatch.setenv(tutorial.BUDGET_ENV, "fast")
    with pytest.raises(ValueError, match="LIT_GANS_NOTEBOOK_BUDGET='fast': use one of full, reduced"):
        tutorial.budget()


def test_scoreboard_rows_compare_trained_with_baseline_and_untrained():
    board = tutorial.Scoreboard("reduced")
    psnr = board.add("Y-PSNR (dB)", baseline=("bicubic", 27.06), untrained=9.3, trained=24.0, higher_is_better=True)
    fid = board.add("FID", baseline=("untrained G", 205.0), untrained=778.0, trained=300.0, higher_is_better=False)
    flat = board.add("gap", baseline=("input", 0.2), untrained=0.16, trained=0.16, higher_is_better=False,
                     reduced_check=False)
    assert (psnr.beats_baseline, psnr.learned) == (False, True)
    assert (fid.beats_baseline, fid.learned) == (False, True)
    assert (flat.beats_baseline, flat.learned) == (True, False)  # equal is not learning
    assert not board.add("nan", baseline=("b", 1.0), untrained=0.0, trained=float("nan"), higher_is_better=True).learned
    lines = board.table().splitlines()
    assert lines[2].split()[-4:] == ["NO", "(higher", "is", "better)"]
    assert lines[4].endswith("(lower is better); no learning check at this budget") and lines[-1] == "budget: reduced"
    assert board.records()["rows"][2] == {"metric": "gap", "baseline_name": "input", "baseline": 0.2, "untrained": 0.16,
                                          "trained": 0.16, "higher_is_better": False, "reduced_check": False}
    with pytest.raises(ValueError, match="budget 'quick'"):
        tutorial.Scoreboard("quick")


def write(names: list[str]) -> None:
    """Execute the notebooks at their full budget, with one torch thread, and store their outputs in the files
    (atomically, one file at a time). GAN runs differ with the thread count (the order of floating-point sums), so
    the stored figures are those of one thread, as the recipes were tuned."""
    import nbformat

    for path in notebook_paths():
        if names and path.stem not in names:
            continue
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        start, cpu = time.perf_counter(), _children_cpu()
        with tempfile.TemporaryDirectory(prefix="lit_gans_nb_") as tmp:
            execute(nb, Path(tmp), threads=1, budget="full")  # one torch thread: what the recipes were tuned with
        nb.metadata.pop("widgets", None)
        with atomic_path(path) as tmp_file:
            nbformat.write(nb, tmp_file)
        print(f"{path.relative_to(ROOT)}: executed in {time.perf_counter() - start:.1f} s wall, "
              f"{_children_cpu() - cpu:.1f} s CPU (kernel), {path.stat().st_size / 1024:.0f} KiB", flush=True)


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes (the kernels) so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Execute the notebooks and store their outputs.")
    parser.add_argument("--write", action="store_true", help="execute and write the outputs into notebooks/*.ipynb")
    parser.add_argument("names", nargs="*", help="notebook names (default: all), e.g. 00_quickstart")
    args = parser.parse_args()
    if not args.write:
        parser.error("nothing to do: pass --write (the tests run with pytest tests/test_notebooks.py)")
    write(args.names)

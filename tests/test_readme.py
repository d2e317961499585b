"""The README's command blocks run as written, in order, in an empty folder, so that the README cannot drift from
the code.

A fenced ``bash`` block right after the line ``<!-- readme-test: run -->`` is run line by line (each line one
command, comments included, through ``bash``), in README order, in a folder that holds only a copy of
``experiments/`` (what a fresh clone has next to the README), with the budgets cut by ``LIT_GANS_SMOKE=1``
(``lit_gans/smoke.py``) and W&B offline. ``lit-gans`` and ``python`` are this interpreter's. The install block
(``<!-- readme-test: install -->``) needs the network, so it is not run: its extras must exist in pyproject.toml.
What a user would see after each command is checked: files on disk, checkpoints' epochs, the help text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"^<!-- readme-test: (run|install) -->\s*$")


def readme_blocks(text: str) -> list[tuple[str, list[str]]]:
    """(kind, commands) of each marked ``bash`` block, in README order."""
    lines, blocks = text.splitlines(), []
    for i, line in enumerate(lines):
        m = MARK.match(line)
        if not m:
            continue
        assert lines[i + 1].strip() == "```bash", f"README.md line {i + 2}: a marked block must start with ```bash"
        end = next(j for j in range(i + 2, len(lines)) if lines[j].strip() == "```")
        commands = [c for c in lines[i + 2:end] if c.strip() and not c.lstrip().startswith("#")]
        assert not any(c.rstrip().endswith("\\") for c in commands), "one command per line (no continuation lines)"
        blocks.append((m.group(1), commands))
    return blocks


def epochs_done(ckpt: Path) -> int:
    """Epochs trained when ``ckpt`` was written (Lightning stores the 0-based epoch index)."""
    return int(torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)["epoch"]) + 1


def test_blocks_are_marked() -> None:
    """The quick start, its install line and the "Using it" block are the marked ones."""
    blocks = readme_blocks((ROOT / "README.md").read_text())
    kinds = [k for k, _ in blocks]
    assert kinds[0] == "install" and kinds.count("run") >= 2, kinds
    install = blocks[0][1]
    text = (ROOT / "pyproject.toml").read_text()  # (tomllib is Python 3.11+; the project supports 3.10)
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = set(re.findall(r"^(\w+) = \[", section, flags=re.M))
    assert {"embedded", "test"} <= extras, extras
    for extra in re.findall(r'pip install -e "\.\[([\w,]+)\]"', " ".join(install)):
        assert set(extra.split(",")) <= extras, (extra, extras)
    run = [c for k, cmds in blocks if k == "run" for c in cmds]
    assert run[0].startswith("lit-gans fit --config experiments/dcgan_digits.yaml"), run[0]


def test_readme_commands_run_in_order(tmp_path: Path) -> None:
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(ROOT / "experiments", work / "experiments")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "LIT_GANS_SMOKE"))}
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        LIT_GANS_SMOKE="1", WANDB_MODE="offline", WANDB_SILENT="true", OMP_NUM_THREADS="1",
    )
    run_dir = work / "runs" / "dcgan_digits"
    last = run_dir / "checkpoints" / "last.ckpt"
    commands = [c for k, cmds in readme_blocks((ROOT / "README.md").read_text()) if k == "run" for c in cmds]
    seen = set()
    for command in commands:
        proc = subprocess.run(["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        shown = f"$ {command}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        assert proc.returncode == 0, shown
        words = command.split("#")[0].split()
        sub = next((w for w in words if w in ("fit", "validate", "test", "predict")), None)
        if "--help" in words:
            assert "usage:" in proc.stdout and "dcgan_digits" in proc.stdout, shown
            assert "lit_gans.models.noise.DCGAN" in proc.stdout, shown
            seen.add("help")
        elif "--print_config" in words:
            assert "max_epochs:" in proc.stdout and "DCGANGenerator" in proc.stdout, shown
            seen.add("print_config")
        elif sub == "fit" and "--ckpt_path" not in words and "dcgan_digits" in command:
            # the quick start: 60 epochs / 20 under LIT_GANS_SMOKE; the checkpoint and the sample grid are there
            assert epochs_done(last) == 3 and list((run_dir / "samples").glob("*.png")), shown
            assert str(last.resolve()) in proc.stdout + proc.stderr, shown
            seen.add("quick start")
        elif sub == "fit" and "--ckpt_path" in words:
            more = int(re.search(r"--trainer\.max_epochs=(\d+)", command).group(1))
            assert epochs_done(last) == -(-more // 20), shown  # the finished run was extended: 3 -> 4 epochs
            seen.add("extend")
        elif sub == "test":
            assert list((run_dir / "test").glob("*/results.md")), shown
            seen.add("test")
        elif sub == "predict":
            out = work / re.search(r"--writer\.output_dir[ =](\S+)", command).group(1)
            assert list(out.glob("class*_*.png")), shown
            seen.add("predict")
        elif sub == "validate":
            seen.add("validate")
    assert {"quick start", "help", "print_config", "validate", "test", "extend", "predict"} <= seen, seen

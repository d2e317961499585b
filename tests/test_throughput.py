"""``benchmarks/throughput.py --quick`` runs on the CPU (so the GPU benchmark cannot rot) and its table holds
one row per model and variant, with finite, positive, self-consistent values."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import throughput as T  # noqa: E402


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.mark.slow  # 65 s on 2 idle cores: `pytest -m slow tests/test_throughput.py`
def test_quick_table(tmp_path: Path) -> None:
    out = tmp_path / "table.md"
    assert T.main(["--quick", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("CPU, ") and "quick" in lines[0]
    header = cells(lines[2])
    assert header == T.COLUMNS
    rows = [dict(zip(header, cells(line))) for line in lines[4:]]
    quick = [m for m, spec in T.ALL_SPECS.items() if spec.in_quick]
    assert {"progan_celeba", "dcgan_mnist", "wgan_gp_mnist", "cgan_mnist"} <= set(quick)
    assert [(r["model"], r["variant"]) for r in rows] == [(m, v) for m in quick for v in ("fp32", "bf16+cl")]
    timed = ["(a) images/s", "(a) ms / G iter", "(a) / fp32 (a) speed-up"]
    bc = ["(b) images/s", "(b) data wait %", "(c) plain ms / G iter", "Lightning / plain"]
    for r in rows:
        assert len(r) == len(T.COLUMNS)
        assert r["(a) peak MiB"] == "-"  # no device memory on the CPU
        for col in timed + (bc if r["variant"] == "fp32" else []):
            value = float(r[col])
            assert math.isfinite(value) and value > 0, (r["model"], r["variant"], col, r[col])
        if r["variant"] != "fp32":
            assert all(r[c] == "-" for c in bc)
        else:
            assert float(r["(a) / fp32 (a) speed-up"]) == 1.0
            assert float(r["(b) data wait %"]) < 100.0
        # one generator iteration per batch (WGAN-GP: per n_critic = 5 batches, at most 2 of them in the timed steps):
        # images/s x ms per iteration = the batch size (times the batches per iteration)
        batch = int(r["batch x crop"].split(" x ")[0])
        per_g = float(r["(a) images/s"]) * float(r["(a) ms / G iter"]) / 1000 / batch
        batches = (1, 2) if r["model"] == "wgan_gp_mnist" else (1,)
        assert any(math.isclose(per_g, k, rel_tol=0.02) for k in batches), (r["model"], per_g)

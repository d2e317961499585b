"""lit_gans chooses torch's CPU threads before torch loads (lit_gans/threads.py): one thread per free core when
other processes keep cores busy, torch's default otherwise, and the user's OMP_* / GOMP_* settings always win.
The timing side is benchmarks/busy_cpu.py (docs/benchmarks.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lit_gans import threads

ROOT = Path(__file__).resolve().parents[1]
PROBE = "import lit_gans, os, torch; print(torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS'))"


def probe(env_extra: dict[str, str], cpus: set[int]) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in (*threads.USER_VARIABLES, "LIT_GANS_THREADS")}
    env.update(PYTHONPATH=str(ROOT), **env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True,
                         preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    n, var = out.stdout.split()
    return int(n), var


def test_choice() -> None:
    assert threads.choose_threads({0, 1}, busy=0.3) is None  # idle: torch's default, nothing set
    assert threads.choose_threads({0, 1}, busy=1.0) == 1
    assert threads.choose_threads({0, 1}, busy=2.0) == 1  # never fewer than one
    assert threads.choose_threads({0, 1, 2, 3}, busy=1.2) == min(3, threads.physical_cores({0, 1, 2, 3}))


def test_user_settings_win() -> None:
    for var, value in [("OMP_NUM_THREADS", "3"), ("OMP_WAIT_POLICY", "PASSIVE"), ("GOMP_SPINCOUNT", "1000")]:
        env = {var: value}
        assert threads.configure(env) is None and env == {var: value}
    env = {"LIT_GANS_THREADS": "off"}
    assert threads.configure(env) is None and "OMP_NUM_THREADS" not in env


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs")
def test_busy_core_gives_one_thread_before_torch_loads() -> None:
    """A process spinning on one of the two CPUs a run may use: the run's torch has 1 thread (set before it loaded);
    with OMP_NUM_THREADS given, torch has that many."""
    cpus = set(sorted(os.sched_getaffinity(0))[:2])
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                               preexec_fn=lambda: os.sched_setaffinity(0, {min(cpus)}))
    try:
        time.sleep(0.3)
        assert probe({}, cpus) == (1, "1")
    finally:
        spinner.kill()
        spinner.wait()
    assert probe({"OMP_NUM_THREADS": "2"}, cpus) == (2, "2")

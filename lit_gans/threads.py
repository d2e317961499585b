"""CPU threads chosen at start so that a run stays fast next to other busy processes.

PyTorch's Linux x86 wheels run their CPU operators on GNU OpenMP (``libgomp``, shipped in ``torch/lib``), one
thread per physical core by default. libgomp's threads spin-wait for each other between parallel regions
(``GOMP_SPINCOUNT``, 300,000 spins when ``OMP_WAIT_POLICY`` is unset: GNU libgomp manual). When another process
keeps one of the cores busy, a spinning thread competes with the threads doing the work, and every parallel
region waits for a thread that is not scheduled: ``benchmarks/busy_cpu.py`` measured the README's main job
several times slower next to one busy process on 2 cores, but not with one thread per free core.

So, when ``lit_gans`` is imported and before torch is (``lit_gans/__init__.py``; ``lit-gans`` and
``python -m lit_gans`` both import it first), :func:`configure` looks at how busy the CPUs this process may run on
are (``/proc/stat`` over ``WINDOW_S``) and, if other processes keep some of them busy, sets ``OMP_NUM_THREADS`` to
the free ones (at least 1, at most the physical cores). On an idle machine it sets nothing: torch's defaults.

It does nothing when any of ``OMP_NUM_THREADS``, ``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT`` is set (yours win: e.g.
``OMP_NUM_THREADS=2 lit-gans fit ...``), when ``LIT_GANS_THREADS=off``, off Linux, or when torch was imported before
lit_gans (too late: the thread pool exists; call ``torch.set_num_threads`` yourself). The choice is made once, at
start: load that begins later is not seen (set ``OMP_NUM_THREADS`` yourself on a machine shared with jobs that
come and go). Child processes (DDP ranks, data workers) inherit the variable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Optional

#: the variables that, when set by the user, leave the threads alone
USER_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
#: how long the CPUs are watched at start (seconds; /proc/stat counts in 10 ms ticks)
WINDOW_S = 0.1


def _cpu_times() -> dict[int, tuple[int, int]]:
    """{cpu: (idle ticks, total ticks)} from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *fields = line.split()
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            out[int(name[3:])] = (ticks[3] + ticks[4], sum(ticks))
    return out


def busy_cpus(cpus: set[int], window_s: float = WINDOW_S) -> float:
    """How many of ``cpus`` other processes kept busy over ``window_s`` (this process sleeps meanwhile)."""
    before = _cpu_times()
    time.sleep(window_s)
    after = _cpu_times()
    busy = 0.0
    for cpu in cpus:
        if cpu in before and cpu in after:
            idle = after[cpu][0] - before[cpu][0]
            total = after[cpu][1] - before[cpu][1]
            if total > 0:
                busy += 1.0 - idle / total
    return busy


def physical_cores(cpus: set[int]) -> int:
    """Distinct physical cores among ``cpus`` (hyper-threads of one core count once), from sysfs."""
    cores = set()
    for cpu in cpus:
        topo = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topo.joinpath("physical_package_id").read_text().strip(), topo.joinpath("core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores) or len(cpus)


def choose_threads(cpus: set[int], busy: float) -> Optional[int]:
    """Threads for torch given the usable ``cpus`` and the busy ones; None: leave torch's default."""
    others = round(busy)
    if others < 1:
        return None
    return max(1, min(physical_cores(cpus), len(cpus) - others))


def configure(environ: Optional[dict] = None) -> Optional[int]:
    """Set ``OMP_NUM_THREADS`` for a busy machine (module docstring). Returns the number set, or None."""
    env = os.environ if environ is None else environ
    if any(env.get(v) for v in USER_VARIABLES) or env.get("LIT_GANS_THREADS", "").lower() == "off":
        return None
    if "torch" in sys.modules or not sys.platform.startswith("linux") or not hasattr(os, "sched_getaffinity"):
        return None
    try:
        cpus = set(os.sched_getaffinity(0))
        threads = choose_threads(cpus, busy_cpus(cpus))
    except (OSError, ValueError):
        return None
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return threads

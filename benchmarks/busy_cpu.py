"""The README's main job on a CPU, on an idle machine and next to one busy process, with and without lit_gans'
OpenMP thread settings (``lit_gans/threads.py``), side by side in one run.

Each run is the README's main command shortened to ``--epochs`` epochs (default 8 of the YAML's 60), as a user
types it, in its own session and a temporary folder, W&B offline::

    python -m lit_gans fit --config experiments/dcgan_digits.yaml --trainer.max_epochs=8 --trainer.default_root_dir <tmp>

timed from start to exit (imports, W&B set-up and the end-of-fit messages included). "busy" runs it while another
process spins (``python -c "while True: pass"``, pinned nowhere, started first and killed after). Variants:

- ``today``: the behaviour before the fix, forced through the environment: torch's default thread count and
  libgomp's documented default spin count when ``OMP_WAIT_POLICY`` is unset (``GOMP_SPINCOUNT=300000``; GNU
  libgomp manual, "GOMP_SPINCOUNT"). Setting any of the variables makes lit_gans leave the threads alone.
- ``fix``: nothing set, so lit_gans applies its defaults before torch loads.
- ``--variant NAME=VAR=VALUE[,VAR=VALUE...]`` adds other settings to compare (e.g. ``passive=OMP_WAIT_POLICY=PASSIVE``).

Prints a table (seconds per run) and the ratios the issue asks for: busy / idle of each variant, and fix idle /
today idle. Absolute times depend on the machine and on what else runs on it: the ratios are what to compare, and
they are only meaningful when nothing else loads the machine. ``--shield`` (root or CAP_SYS_NICE only) runs every
process of the benchmark in autogroups at nice -20, so that other users' processes on a shared machine take little
of its CPU time (Linux ``sched(7)``, "The autogroup feature"); the busy process is shielded the same way.

    python benchmarks/busy_cpu.py                          # today / fix, idle / busy: 4 runs, about 3 minutes
    python benchmarks/busy_cpu.py --epochs 4 --repeats 2   # shorter runs, each twice (the table shows the median)
    python benchmarks/busy_cpu.py --variant passive=OMP_WAIT_POLICY=PASSIVE --variant one=OMP_NUM_THREADS=1
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "LIT_GANS_THREADS")  # removed from every run's environment
LIBGOMP_DEFAULT_SPINCOUNT = "300000"  # GNU libgomp manual, GOMP_SPINCOUNT: the default when OMP_WAIT_POLICY is unset


def torch_default_threads(env: dict[str, str]) -> int:
    """torch's own default intra-op thread count here (a process that never imports lit_gans)."""
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                         env=env, capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def renice_autogroup(pid: int) -> None:
    """Put ``pid``'s autogroup (its own session) at nice -20; see ``--shield``."""
    Path(f"/proc/{pid}/autogroup").write_text("-20")


def start(cmd: list[str], env: dict[str, str], shield: bool, **kw) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, **kw)  # a session of its own, like another terminal
    if shield:
        renice_autogroup(proc.pid)
    return proc


def timed_run(env: dict[str, str], folder: Path, epochs: int, shield: bool, log: Path) -> float:
    cmd = [sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments" / "dcgan_digits.yaml"),
           f"--trainer.max_epochs={epochs}", "--trainer.default_root_dir", str(folder)]
    t0 = time.perf_counter()
    with log.open("w") as out:
        proc = start(cmd, env, shield, cwd=folder.parent, stdout=out, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait()
        finally:  # Ctrl-C / SIGTERM: the run is in a session of its own, so end it here
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"busy_cpu: the run failed (exit {rc}); its output: {log}")
    return seconds


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=8, help="epochs per run (default 8; the YAML trains 60)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per cell; the table shows the median (default 1)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=VAR=VALUE[,VAR=VALUE]",
                    help="another environment to compare (repeatable)")
    ap.add_argument("--only", nargs="*", default=None, help="run only these variants (default: all)")
    ap.add_argument("--shield", action="store_true", help="run at autogroup nice -20 (root): less noise on a shared machine")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: end the runs, remove the temporary folder

    base = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    base.update(WANDB_MODE="offline", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    variants: dict[str, dict[str, str]] = {
        "today": {"OMP_NUM_THREADS": str(torch_default_threads(base)), "GOMP_SPINCOUNT": LIBGOMP_DEFAULT_SPINCOUNT},
        "fix": {},
    }
    for spec in args.variant:
        name, _, settings = spec.partition("=")
        variants[name] = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}

    ncpu = len(os.sched_getaffinity(0))
    print(f"machine: {platform.machine()}, {ncpu} CPUs usable ({os.cpu_count()} online), "
          f"load average {os.getloadavg()[0]:.2f} at start; {args.epochs} epochs of experiments/dcgan_digits.yaml; "
          f"shield={'on' if args.shield else 'off'}", flush=True)
    times: dict[tuple[str, str], list[float]] = {}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="busy_cpu_") as tmp:
        for r in range(args.repeats):
            for load in ("idle", "busy"):
                for name, extra in variants.items():
                    spinner = None
                    if load == "busy":
                        spinner = start([sys.executable, "-c", "while True: pass"], base, args.shield)
                        time.sleep(0.5)
                    try:
                        folder = Path(tmp) / f"{name}_{load}_{r}" / "run"
                        folder.parent.mkdir(parents=True)
                        s = timed_run({**base, **extra}, folder, args.epochs, args.shield, folder.parent / "log.txt")
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()
                    times.setdefault((name, load), []).append(s)
                    print(f"  {name:>10} {load}: {s:6.1f} s  ({' '.join(f'{k}={v}' for k, v in extra.items()) or 'nothing set'})",
                          flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.epochs} epochs of experiments/dcgan_digits.yaml, seconds (median of {args.repeats}); "
          f"load average {os.getloadavg()[0]:.2f} at the end; {time.perf_counter() - t_all:.0f} s in all\n")
    print("| variant | environment | idle s | busy s | busy / idle | idle / today idle |")
    print("|---|---|---|---|---|---|")
    for name, extra in variants.items():
        env_text = " ".join(f"{k}={v}" for k, v in extra.items()) or "(lit_gans defaults)"
        idle, busy = med[(name, "idle")], med[(name, "busy")]
        vs_today = f"{idle / med[('today', 'idle')]:.2f}" if ("today", "idle") in med else "-"
        print(f"| {name} | {env_text} | {idle:.1f} | {busy:.1f} | {busy / idle:.2f} | {vs_today} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

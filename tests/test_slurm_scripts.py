"""The SLURM scripts of experiments/slurm/: valid bash, and the `lit_gans fit` command line each one builds parses
with the real CLI (`--print_config`), run through the script itself with stand-ins for `srun`, `torchrun` and
`scontrol` on PATH (no scheduler here) and the environment SLURM gives a job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "experiments" / "slurm").glob("*.sbatch"))
CONFIG = ROOT / "experiments" / "cyclegan_horse2zebra.yaml"

FAKES = {
    # srun: record the command line, then run it (one task: enough to parse the configuration)
    "srun": '#!/bin/bash\nprintf "%s\\n" "$@" > "$FAKE_LOG"\nexec "$@"\n',
    # torchrun: drop its own options, run the module it was given
    "torchrun": '#!/bin/bash\nwhile [ "$1" != "-m" ]; do shift; done\nexec "$PYTHON" "$@"\n',
    "scontrol": '#!/bin/bash\necho node-a\necho node-b\n',
}


def test_scripts_exist():
    assert {p.name for p in SCRIPTS} >= {"fit_1node.sbatch", "fit_multinode.sbatch", "fit_torchrun.sbatch"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_valid_bash_with_requeue_settings(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "--trainer.enable_progress_bar=false" in text and "--trainer.strategy=ddp" in text
    assert "#SBATCH --requeue" in text and "#SBATCH --gres=gpu:" in text
    if "torchrun" not in script.name:
        assert "#SBATCH --signal=SIGUSR1@90" in text and "srun " in text


def run_script(script: Path, tmp_path: Path, nodes: int) -> tuple[dict, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKES.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "srun_args.txt"
    env = dict(
        os.environ, PATH=f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}", PYTHON=sys.executable,
        PYTHONPATH=str(ROOT), FAKE_LOG=str(log), SLURM_SUBMIT_DIR=str(tmp_path), SLURM_JOB_ID="4242",
        SLURM_NNODES=str(nodes), SLURM_NTASKS_PER_NODE="4", SLURM_CPUS_PER_TASK="8", SLURM_JOB_NODELIST="node-[a-b]",
        WANDB_MODE="offline",
    )
    proc = subprocess.run(["bash", str(script), str(CONFIG), "--print_config"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith("lit_gans: job 4242 (restart 0)")  # the script's own line in the job log
    config = yaml.safe_load(proc.stdout.split("\n", 1)[1])  # then the configuration, as --print_config prints it
    return config, log.read_text().splitlines()


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_command_line_parses(script, tmp_path):
    nodes = 1 if "1node" in script.name else 2
    config, srun_args = run_script(script, tmp_path, nodes)
    trainer = config["trainer"]
    # --trainer.strategy=ddp, as the run uses it (--print_config shows the resolved value: lit_gans.run.plan maps
    # a plain ddp to Lightning's ddp_find_unused_parameters_true, each backward reaching one network only)
    assert trainer["strategy"] == "ddp_find_unused_parameters_true" and trainer["accelerator"] == "gpu"
    assert str(trainer["devices"]) == "4" and trainer["num_nodes"] == nodes  # devices: int | str (Lightning parses "4")
    assert trainer["enable_progress_bar"] is False
    assert config["ckpt_path"] is None  # the requeued job's resume is the CLI's (tests/test_runs.py::test_slurm_*)
    assert srun_args[0] == ("torchrun" if "torchrun" in script.name else sys.executable)

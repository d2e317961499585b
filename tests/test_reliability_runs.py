"""Issue 21, the run side: runs, signals and checkpoints as a user meets them (the batches the Trainer ran, the exit
status, the files on disk). Each case is a row of docs/reliability.md ("Runs, signals and checkpoints")."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lit_gans.cli import LitGansCLI
from lit_gans.cli import cli_main
from tests.test_runs import DIGITS, ROOT, TINY, _main, _own_wandb_service
from tests.wandb_records import run_contents

#: a short fit: 1 epoch of 6 batches, no validation, no W&B
SHORT = [*TINY, "--trainer.max_epochs=1", "--trainer.limit_train_batches=6", "--trainer.limit_val_batches=0"]


def _env(**extra: str) -> dict[str, str]:
    return {**_own_wandb_service(), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT), **extra}


def _run(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lit_gans", *args], env=env or _env(), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def _main_out(capsys, *args: str) -> tuple[int, str, str]:
    """The console entry point in this process: exit status, stdout, stderr."""
    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _g_iter(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["lit_gans"]["g_iter"])


# ------------------------------------------------------------------------------------------ batches actually run
@pytest.mark.parametrize("where", ["command line", "yaml"])
def test_limit_train_batches_1_trains_one_batch(where, tmp_path):
    args = ["fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path / 'run'}", *TINY,
            "--trainer.max_epochs=2", "--trainer.limit_val_batches=0", "--trainer.logger=false"]
    if where == "yaml":
        overlay = tmp_path / "one.yaml"
        overlay.write_text("trainer:\n  limit_train_batches: 1\n")
        args[3:3] = ["--config", str(overlay)]
    else:
        args.append("--trainer.limit_train_batches=1")
    cli = LitGansCLI(args=args)
    assert cli.trainer.limit_train_batches == 1 and type(cli.trainer.limit_train_batches) is int
    assert cli.model.g_iter == 2 and cli.model.d_iter == 2  # one batch in each of the 2 epochs (22 without the fix)
    assert _g_iter(tmp_path / "run/checkpoints/last.ckpt") == 2


# ------------------------------------------------------------------------------------------ W&B after a failed fit
def test_a_failed_fit_closes_its_wandb_run_and_the_next_run_writes_its_own(tmp_path, capsys):
    failed = tmp_path / "failed"
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={failed}", *TINY,
                      "--trainer.max_epochs=1", "--trainer.limit_val_batches=0", "--trainer.log_every_n_steps=1",
                      "--model.init_args.optimizer_g.init_args.lr=1e6", "--model.init_args.optimizer_d.init_args.lr=1e6")
    assert code == 2 and "training diverged" in err
    failed_run = run_contents(next(failed.glob("wandb/offline-run-*/*.wandb")))
    assert failed_run["exit_code"] == 1  # marked failed
    ok = tmp_path / "ok"
    code, _ = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={ok}", *SHORT)
    assert code == 0
    files = list(ok.glob("wandb/offline-run-*/*.wandb"))
    assert len(files) == 1 and run_contents(files[0])["run"]["id"] != failed_run["run"]["id"]


# ------------------------------------------------------------------------------------------ end-of-fit summary
def test_checkpointing_off_trains_and_offers_no_resume(tmp_path, capsys):
    run = tmp_path / "run"
    code, out, err = _main_out(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *SHORT,
                               "--trainer.logger=false", "--trainer.enable_checkpointing=false")
    assert code == 0, err
    assert not (run / "checkpoints").exists() and (run / "samples/samples_final.png").is_file()
    assert "checkpoint: " not in out and "resume with" not in out and "no checkpoint written" in out


# ------------------------------------------------------------------------------------------ signals
def _fit_with_signal(tmp_path: Path, sig: str, at: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    overlay = tmp_path / "signal.yaml"
    overlay.write_text("trainer:\n  callbacks:\n    - class_path: lit_gans.callbacks.RunCheckpoint\n"
                       f"    - class_path: tests.kill_at.KillAt\n      init_args: {{g_iter: {at}, sig: {sig}}}\n")
    return _run(tmp_path, "fit", "--config", DIGITS, "--config", str(overlay), f"--trainer.default_root_dir={tmp_path / 'run'}",
                *SHORT, "--trainer.logger=false", env=env)


@pytest.mark.parametrize("sig,code", [("SIGTERM", 143)] + [  # the others 9-11 s each: `pytest -m slow`
    pytest.param(s, c, marks=pytest.mark.slow) for s, c in (("SIGINT", 130), ("SIGUSR2", 140), ("SIGUSR1", 138), ("SIGCONT", 0))])
def test_a_signal_during_fit_saves_the_step_and_exits_non_zero(sig, code, tmp_path):
    """What schedulers send: SIGTERM (SLURM's scancel / preemption / time limit, after SIGCONT), SIGINT (Ctrl+C),
    SIGUSR1/SIGUSR2 (warning signals; SIGUSR1 in a SLURM job is the requeue: tests/test_runs.py): last.ckpt holds
    the step at which the signal came, and the exit status is 128 + the signal's number. SIGCONT changes nothing."""
    done = _fit_with_signal(tmp_path, sig, 3)
    assert done.returncode == code, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = tmp_path / "run/checkpoints/last.ckpt"
    assert not list(last.parent.glob("last-v*.ckpt")) and not list(last.parent.glob(".*tmp"))
    if sig == "SIGCONT":
        assert _g_iter(last) == 6  # the whole epoch
        return
    assert _g_iter(last) == 3
    assert f"lit_gans: {sig}: stopped at generator iteration 3 and saved {last}" in done.stderr
    if sig != "SIGTERM":
        return
    # and it resumes from there to the end of the epoch
    again = _run(tmp_path, "fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path / 'run'}", *SHORT,
                 "--trainer.logger=false", "--ckpt_path", "last")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _g_iter(last) == 6


# ------------------------------------------------------------------------------------------ one fit per run folder
def test_a_second_fit_of_a_running_experiment_is_refused_and_a_killed_one_leaves_no_lock(tmp_path, capsys):
    run = tmp_path / "run"
    # another process holds the run folder as a running fit does (the lock of lit_gans.run.plan), then is killed
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from lit_gans.run.plan import lock_run_folder; lock_run_folder(Path(sys.argv[1]), 'fit'); "
                               "print('locked', flush=True); time.sleep(600)", str(run)],
                              env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *SHORT,
                          "--trainer.logger=false")
        assert code == 2 and "Traceback" not in err
        assert f"lit-gans: error: {run} is in use by another `lit-gans fit` (pid {holder.pid})" in err
        assert "--experiment" in err and not (run / "checkpoints").exists()
    finally:
        holder.kill()
        holder.wait()
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *SHORT, "--trainer.logger=false")
    assert code == 0, err
    assert _g_iter(run / "checkpoints/last.ckpt") == 6


def test_a_run_folder_that_is_a_file_is_named(tmp_path, capsys):
    afile = tmp_path / "run"
    afile.write_text("x")
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={afile}", *SHORT)
    assert code == 2 and f"the run folder {afile} is a file, not a folder" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ a moved run folder
def test_a_moved_run_folder_resumes_into_its_own_last_checkpoint(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "elsewhere/new"
    args = ["--config", DIGITS, *TINY, "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=0",
            "--trainer.logger=false"]
    LitGansCLI(args=["fit", *args, f"--trainer.default_root_dir={old}", "--trainer.max_epochs=1"])
    new.parent.mkdir()
    old.rename(new)
    cli = LitGansCLI(args=["fit", *args, f"--trainer.default_root_dir={new}", "--trainer.max_epochs=2", "--ckpt_path", "last"])
    assert cli.model.g_iter == 6
    # no last-v1.ckpt; the top-1 file of epoch 0 (a path under the old folder in the state) was replaced too
    assert sorted(p.name for p in (new / "checkpoints").glob("*.ckpt")) == ["epoch=1-step=12.ckpt", "last.ckpt"]
    assert _g_iter(new / "checkpoints/last.ckpt") == 6


# ------------------------------------------------------------------------------------------ options Lightning checks
@pytest.mark.parametrize("option,words", [
    ("max_epochs=-5", "must be a non-negative integer or -1"),
    ("max_steps=-5", "must be a non-negative integer or -1"),
    ("accelerator=gpu", "No supported gpu backend found"),
    ("val_check_interval=100", "must be less than or equal to the number of the training batches (3)"),
    ("strategy=foo", "invalid strategy name"),
    ("num_nodes=0", "must be a positive integer"),
    ("devices=0", "not a valid input"),
    ("max_time=abc", "is not a valid duration"),
    ("limit_val_batches=2.5", "has to be in [0.0, 1.0] or an int"),
    ("gradient_clip_algorithm=foo", "Allowed algorithms"),
])
def test_trainer_options_lightning_refuses_are_one_line_naming_the_option(option, words, tmp_path, capsys):
    if option == "accelerator=gpu" and torch.cuda.is_available():
        pytest.skip("a GPU is there")
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}", *TINY,
                      "--trainer.logger=false", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1",
                      "--trainer.max_epochs=1", f"--trainer.{option}")
    name = option.split("=")[0]
    assert code == 2 and "Traceback" not in err, err[-2000:]
    line = next(l for l in err.splitlines() if l.startswith("lit-gans: error: "))
    assert line.startswith(f"lit-gans: error: --trainer.{name}: Lightning refuses this setting: ") and words in line
    assert not (tmp_path / "checkpoints").exists()


def test_slurm_ntasks_without_ntasks_per_node_is_one_line(tmp_path, capsys, monkeypatch):
    for key, value in {"SLURM_NTASKS": "2", "SLURM_JOB_ID": "1", "SLURM_JOB_NAME": "dcgan", "SLURM_NODELIST": "localhost",
                       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("SLURM_NTASKS_PER_NODE", raising=False)
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}", *SHORT, "--trainer.logger=false")
    assert code == 2 and "Traceback" not in err
    assert "lit-gans: error: the SLURM job's settings: Lightning refuses them: You set `--ntasks=2`" in err
    assert "--ntasks-per-node=2" in err


def test_sigusr1_under_slurm_without_scontrol_says_so(tmp_path):
    env = _env(PATH=str(Path(sys.executable).parent) + ":/usr/bin:/bin", SLURM_NTASKS="1", SLURM_JOB_ID="4242",
               SLURM_JOB_NAME="dcgan", SLURM_NODELIST="localhost", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_NODEID="0")
    done = _fit_with_signal(tmp_path, "SIGUSR1", 3, env=env)
    assert "Traceback" not in done.stderr and "FileNotFoundError" not in done.stderr, done.stderr[-3000:]
    assert "scontrol requeue 4242 failed" in done.stderr and "scontrol is not on PATH" in done.stderr
    assert _g_iter(tmp_path / "run/checkpoints/last.ckpt") == 3


# ------------------------------------------------------------------------------------------ config files
@pytest.mark.parametrize("text,words", [("", "is empty"), ("# only a comment\n", "is empty"), ("- a\n- b\n", "holds a YAML list")])
def test_an_empty_config_file_is_named(text, words, tmp_path, capsys):
    config = tmp_path / "exp.yaml"
    config.write_text(text)
    code, err = _main(capsys, "fit", "--config", str(config))
    assert code == 2 and f"lit-gans: error: --config {config} {words}" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------ resuming another config
@pytest.mark.parametrize("change,words", [
    (["--model.init_args.optimizer_g=torch.optim.SGD", "--model.init_args.optimizer_g.init_args.lr=0.01"],
     "optimizer 0 of the checkpoint is not a SGD (the config's): its settings lack ['dampening', 'momentum', 'nesterov']"),
    (["--model.init_args.generator.init_args.ngf=16"], "does not fit the model the config builds: size mismatch for generator."),
])
def test_resuming_with_another_optimizer_or_width_names_what_differs(change, words, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *SHORT, "--trainer.logger=false"]
    assert _main(capsys, *args)[0] == 0
    before = (run / "checkpoints/last.ckpt").read_bytes()
    code, err = _main(capsys, *args, "--trainer.max_epochs=2", "--ckpt_path=last", *change)
    assert code == 2 and "Traceback" not in err and "KeyError" not in err, err[-2000:]
    assert f"lit-gans: error: --ckpt_path {run / 'checkpoints/last.ckpt'}" in err and words in err
    assert (run / "checkpoints/last.ckpt").read_bytes() == before


# ------------------------------------------------------------------------------------------ full and read-only disks
@pytest.fixture
def mount(tmp_path):  # noqa: ANN201
    """A small tmpfs mounted in tmp_path (a real full or read-only filesystem; needs the right to mount)."""
    mounted = []

    def make(name: str, options: str) -> Path:
        path = tmp_path / name
        path.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(path)
        return path

    yield make
    for path in mounted:
        subprocess.run(["umount", str(path)], check=False)


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(mount, tmp_path, capsys):
    full = mount("full", "size=64k")
    overlay = tmp_path / "ckpt.yaml"
    overlay.write_text(f"trainer:\n  callbacks:\n    - class_path: lit_gans.callbacks.RunCheckpoint\n"
                       f"      init_args: {{dirpath: {full}}}\n")
    code, err = _main(capsys, "fit", "--config", DIGITS, "--config", str(overlay), f"--trainer.default_root_dir={tmp_path / 'run'}",
                      *SHORT, "--trainer.logger=false")
    assert code == 2 and "Traceback" not in err and "unexpected pos" not in err, err[-2000:]
    assert f"lit-gans: error: could not write the checkpoint {full}/" in err and "(the disk is full or the write failed" in err
    assert list(full.iterdir()) == []  # no partial file


def test_read_only_run_and_output_folders_are_one_line(mount, tmp_path, capsys):
    read_only = mount("ro", "ro,size=64k")
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={read_only}", *SHORT)
    assert code == 2 and "Traceback" not in err
    assert f"lit-gans: error: cannot write into the run folder {read_only} (Read-only file system)" in err
    run = tmp_path / "run"
    assert _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *SHORT, "--trainer.logger=false")[0] == 0
    code, err = _main(capsys, "predict", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--ckpt_path=last",
                      f"--writer.output_dir={read_only / 'pred'}", "--data.init_args.predict_samples=3")
    assert code == 2 and "Traceback" not in err
    assert f"--writer.output_dir {read_only / 'pred'}: cannot write into it (Read-only file system)" in err

"""The run layer as a user meets it: one folder and one W&B run per experiment, `--ckpt_path last` that finds
the run and continues it exactly (after a SIGKILL too), checkpoints that are never lost or mistaken, W&B media
that hold the images, and errors that say what to do."""

from __future__ import annotations

import csv
import errno
import glob
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from lit_gans.callbacks import AtomicCheckpointIO, CheckpointWriteError, RunCheckpoint
from lit_gans.cli import LitGansCLI, cli_main
from lit_gans.io.checkpoints import find_resume_checkpoint, read_checkpoint_info
from tests.wandb_records import run_contents

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))
TINY = [
    "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--model.init_args.metrics=null",
    "--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8",
    "--trainer.num_sanity_val_steps=0",
]
DIGITS = str(ROOT / "experiments/dcgan_digits.yaml")


class ParseOnly(LitGansCLI):
    """The CLI up to the run layer's decisions: parse, resolve the run folder and checkpoint; build nothing."""

    def instantiate_classes(self) -> None:
        pass

    def _run_subcommand(self, subcommand: str) -> None:
        pass


def _cli(*args: str) -> LitGansCLI:
    return LitGansCLI(args=list(args))


def _main(capsys, *args: str) -> tuple[int, str]:
    """Run the console entry point; return its exit status and what it printed to stderr."""
    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------------------ config level
@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_last_is_looked_up_where_the_checkpoint_is_written(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli = ParseOnly(args=["fit", "--config", str(config)])
    folder = Path("runs") / config.stem
    assert cli.run_info["folder"] == folder and cli.config.fit.trainer.default_root_dir == str(folder)
    callbacks = [cb for cb in cli.config.fit.trainer.callbacks if cb.class_path.endswith("RunCheckpoint")]
    assert len(callbacks) == 1, "one RunCheckpoint per experiment"
    ckpt = RunCheckpoint(**{k: v for k, v in vars(callbacks[0].init_args).items()})
    # written: the callback's folder; looked up: the CLI's `last` and Lightning's own `last` lookup
    assert Path(ckpt.dirpath) == (tmp_path / folder / "checkpoints").resolve()
    assert cli.run_info["ckpt_dir"] == folder / "checkpoints"
    (folder / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "epoch": 0}, folder / "checkpoints" / "last.ckpt")
    assert find_resume_checkpoint(folder, cli.run_info["ckpt_dir"]) == folder / "checkpoints" / "last.ckpt"
    assert ckpt.find_last_checkpoints(None) == {str((tmp_path / folder / "checkpoints" / "last.ckpt").resolve())}
    # the same folder on every invocation (no per-run random id in the path), and W&B's files in it
    again = ParseOnly(args=["fit", "--config", str(config), "--ckpt_path", "last"])
    assert again.run_info["ckpt_path"] == str(folder / "checkpoints" / "last.ckpt")
    logger = cli.config.fit.trainer.logger
    assert logger.init_args.save_dir == str(folder) and logger.dict_kwargs["group"] == config.stem
    # a stage-2 experiment starts from its stage 1's checkpoint, where stage 1 writes it
    stage1 = (yaml.safe_load(config.read_text())["model"].get("init_args") or {}).get("generator_ckpt")
    if stage1 and stage1.startswith("runs/"):
        name = Path(stage1).parts[1]
        assert (ROOT / "experiments" / f"{name}.yaml").is_file() and stage1 == f"runs/{name}/checkpoints/last.ckpt"


def test_integer_batch_limits_mean_batches(tmp_path):
    cli = ParseOnly(args=["fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}",
                          "--trainer.limit_train_batches=1", "--trainer.limit_val_batches", "2",
                          "--trainer.limit_test_batches=1.0", "--trainer.limit_predict_batches=0.5"])
    t = cli.config.fit.trainer
    assert (t.limit_train_batches, t.limit_val_batches) == (1, 2)
    assert type(t.limit_train_batches) is int and type(t.limit_test_batches) is float and t.limit_test_batches == 1.0
    assert t.limit_predict_batches == 0.5


def test_plain_ddp_maps_to_the_public_find_unused_strategy(tmp_path):
    cli = ParseOnly(args=["fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}", "--trainer.strategy=ddp"])
    assert cli.config.fit.trainer.strategy == "ddp_find_unused_parameters_true"


def test_help_names_models_and_experiments(capsys):
    with pytest.raises(SystemExit):
        LitGansCLI(args=["--help"])
    out = capsys.readouterr().out
    assert "lit_gans.models.noise.DCGAN" in out and "lit_gans.models.cyclegan.CycleGAN" in out
    assert "experiments/<name>.yaml" in out and "dcgan_digits" in out and "esrgan_div2k" in out


# ------------------------------------------------------------------------------------------ W&B
def test_wandb_run_holds_real_images_curves_on_g_iter_and_the_best_metric(tmp_path, capsys):
    run = tmp_path / "run"
    cli = _cli("fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY[:-4], "--trainer.num_sanity_val_steps=0",
               "--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8",
               "--trainer.max_epochs=2", "--trainer.check_val_every_n_epoch=1", "--trainer.log_every_n_steps=5")
    out = capsys.readouterr().out
    files = sorted(glob.glob(str(run / "wandb/offline-run-*/files/media/images/samples/*.png")))
    assert files, "no image logged to W&B"
    for f in files:
        pixels = np.asarray(Image.open(f))
        assert pixels.dtype == np.uint8 and pixels.std() > 10 and len(np.unique(pixels)) > 20, f"blank W&B image {f}"
    final = np.asarray(Image.open(run / "samples/samples_final.png"))
    assert any(np.array_equal(np.asarray(Image.open(f)), final) for f in files), "W&B image != the PNG written"
    assert oct(os.stat(run / "samples/samples_final.png").st_mode & 0o777) == oct(0o666 & ~_umask())

    contents = run_contents(next(run.glob("wandb/offline-run-*/*.wandb")))
    assert contents["run"]["group"] == "dcgan_digits" and contents["run"]["job_type"] == "fit"
    assert contents["metrics"]["train/*"] == "g_iter" and contents["metrics"]["val/*"] == "g_iter"
    losses = [row for row in contents["history"] if "train/g_loss" in row]
    assert losses and all("g_iter" in row for row in losses)
    fids = [(row["g_iter"], row["val/fid359_digitscnn_val"]) for row in contents["history"] if "val/fid359_digitscnn_val" in row]
    assert len(fids) == 2
    best_iter, best = min(fids, key=lambda r: r[1])
    summary = contents["summary"]
    assert summary["best/metric"] == "val/fid359_digitscnn_val"
    assert summary["best/val/fid359_digitscnn_val"] == pytest.approx(best)
    assert summary["best/val/fid359_digitscnn_val_g_iter"] == cli.model.g_iter if best_iter == fids[-1][0] else best_iter
    assert "lit_gans: final validation: " in out and "val/fid359_digitscnn_val" in out
    assert f"checkpoint: {(run / 'checkpoints/last.ckpt').resolve()}" in out
    # the progress bar showed the main metric of the first validation during the epoch after it
    assert cli.trainer.progress_bar_metrics["fid359_digitscnn_val"] == pytest.approx(fids[0][1])
    # the W&B run id is RunTracker's checkpoint state (no longer the model's)
    saved = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert saved["callbacks"]["RunTracker"]["wandb_run_id"] == contents["run"]["id"]
    assert "wandb_run_id" not in saved["lit_gans"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_validate_logs_into_the_group_and_predict_opens_no_run(tmp_path, capsys):
    run = tmp_path / "run"
    _cli("fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--trainer.max_steps=4",
         "--trainer.limit_val_batches=0", "--trainer.logger.init_args.log_model=true")
    _cli("validate", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--ckpt_path=last")
    _cli("predict", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--ckpt_path=last",
         f"--writer.output_dir={tmp_path / 'pred'}", "--data.init_args.predict_samples=3")
    contents = [run_contents(f) for f in sorted(run.glob("wandb/offline-run-*/*.wandb"))]
    runs = [c["run"] for c in contents]
    assert sorted(r["job_type"] for r in runs) == ["fit", "validate"]
    # log_model=true: the checkpoint is a W&B artifact of the fit run (off by default: no artifact otherwise)
    fit = next(c for c in contents if c["run"]["job_type"] == "fit")
    assert fit["artifacts"] and all(a["type"] == "model" for a in fit["artifacts"])
    assert {r["group"] for r in runs} == {"dcgan_digits"} and len({r["id"] for r in runs}) == 2
    configs = sorted(p.name for p in run.glob("config*.yaml"))
    assert configs[0] == "config.yaml" and any(c.startswith("config_validate_") for c in configs)
    assert any(c.startswith("config_predict_") for c in configs)


# ------------------------------------------------------------------------------------------ resume
KILL_OVERLAY = """
trainer:
  max_epochs: 3
  log_every_n_steps: 1
  limit_val_batches: 0
  logger:
    - class_path: lightning.pytorch.loggers.WandbLogger
      init_args: {{project: lit_gans}}
    - class_path: lightning.pytorch.loggers.CSVLogger
      init_args: {{save_dir: {csv}}}
  callbacks:
    - class_path: lit_gans.callbacks.RunCheckpoint
      init_args: {{every_n_g_iters: 4}}
{kill}
model:
  init_args:
    ema_decay: 0.9
    scheduler_g: {{class_path: torch.optim.lr_scheduler.ExponentialLR, init_args: {{gamma: 0.9}}}}
    scheduler_d: {{class_path: torch.optim.lr_scheduler.ExponentialLR, init_args: {{gamma: 0.8}}}}
"""


def _fit_process(tmp_path: Path, name: str, kill_at: int | None, *extra: str) -> subprocess.CompletedProcess:
    kill = f"    - class_path: tests.kill_at.KillAt\n      init_args: {{g_iter: {kill_at}}}" if kill_at else ""
    overlay = tmp_path / f"{name}.yaml"
    overlay.write_text(KILL_OVERLAY.format(csv=tmp_path / f"csv_{name}", kill=kill))
    env = {**_own_wandb_service(), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "lit_gans", "fit", "--config", DIGITS, "--config", str(overlay),
           f"--trainer.default_root_dir={tmp_path / name}", *TINY, *extra]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def _own_wandb_service() -> dict[str, str]:
    """This process's environment without WANDB_SERVICE: a test process that used W&B exports its service's
    address, and a child would log through that service, which still holds a SIGKILLed child's run as active
    ("run ID is in use"). Each command a user starts has its own service."""
    return {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}


def _losses(folder: Path) -> dict[int, tuple[str, str]]:
    rows = {}
    for path in sorted(folder.glob("**/metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("train/g_loss"):
                    rows[int(float(row["g_iter"]))] = (row["train/g_loss"], row["train/d_loss"])
    return rows


def test_sigkill_mid_epoch_then_resume_continues_exactly_in_the_same_wandb_run(tmp_path):
    straight = _fit_process(tmp_path, "straight", None)
    assert straight.returncode == 0, straight.stderr[-3000:]
    killed = _fit_process(tmp_path, "resumed", 35)
    assert killed.returncode == -9, killed.stderr[-3000:]
    last = tmp_path / "resumed/checkpoints/last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["lit_gans"]["g_iter"] == 32 and saved["epoch"] == 1  # every 4 g_iters; mid-epoch 2 (22 per epoch)
    assert not list(last.parent.glob(".*tmp"))

    resumed = _fit_process(tmp_path, "resumed", None, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # the same W&B run, continued
    killed_file, resumed_file = sorted((tmp_path / "resumed").glob("wandb/offline-run-*/*.wandb"))  # by start time
    ids = {run_contents(killed_file, timeout=0)["run"]["id"], run_contents(resumed_file)["run"]["id"]}
    assert len(ids) == 1 and saved["callbacks"]["RunTracker"]["wandb_run_id"] in ids
    # the loss sequence of the interrupted + resumed run is the uninterrupted one, step for step
    a, b = _losses(tmp_path / "csv_straight"), _losses(tmp_path / "csv_resumed")
    assert max(a) == 66 and sorted(a) == sorted(b)
    assert a == b
    # and so is the final state: weights, EMA, optimizers, schedulers, counters
    sa = torch.load(tmp_path / "straight/checkpoints/last.ckpt", weights_only=True)
    sb = torch.load(last, weights_only=True)
    assert sa["epoch"] == sb["epoch"] == 2 and sa["lit_gans"]["g_iter"] == sb["lit_gans"]["g_iter"] == 66
    assert sa["lit_gans"]["d_iter"] == sb["lit_gans"]["d_iter"] == 66
    assert any(k.startswith("generator_ema.") for k in sa["state_dict"])
    for k in sa["state_dict"]:
        assert torch.equal(sa["state_dict"][k], sb["state_dict"][k]), k
    assert sa["lr_schedulers"] == sb["lr_schedulers"]
    for oa, ob in zip(sa["optimizer_states"], sb["optimizer_states"]):
        for k, state in oa["state"].items():
            assert all(torch.equal(state[n], ob["state"][k][n]) for n in state)


def test_last_checkpoint_is_written_every_epoch_whether_or_not_validation_ran(tmp_path, capsys):
    run = tmp_path / "run"
    cli = _cli("fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--trainer.max_epochs=3",
               "--trainer.check_val_every_n_epoch=2", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1")
    ckpt = torch.load(run / "checkpoints/last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 2 and ckpt["lit_gans"]["g_iter"] == cli.model.g_iter == 9
    assert f"checkpoint: {(run / 'checkpoints/last.ckpt').resolve()}" in capsys.readouterr().out


def test_fast_dev_run_writes_nothing_into_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _cli("fit", "--config", DIGITS, *TINY, "--trainer.max_steps=2", "--trainer.limit_val_batches=0")
    before = {p: p.stat().st_mtime_ns for p in Path("runs").rglob("*") if p.is_file() and "wandb" not in p.parts}
    _cli("fit", "--config", DIGITS, *TINY, "--trainer.fast_dev_run=true")
    after = {p: p.stat().st_mtime_ns for p in Path("runs").rglob("*") if p.is_file() and "wandb" not in p.parts}
    assert before == after


def test_atomic_checkpoint_survives_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)
    good = path.read_bytes()

    def full_disk(obj, f, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        f.write(b"partial" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError, match="No space left on device.*previous file.*intact"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    assert path.read_bytes() == good and sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


# ------------------------------------------------------------------------------------------ mistakes
@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # noqa: ANN201
    run = tmp_path_factory.mktemp("trained") / "run"
    _cli("fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY, "--trainer.max_steps=4",
         "--trainer.limit_val_batches=0", "--trainer.logger=false")
    return run


def test_checkpoint_of_another_model_is_refused_naming_both(trained, tmp_path, capsys):
    code, err = _main(capsys, "fit", "--config", str(ROOT / "experiments/wgan_gp_digits.yaml"),
                      f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={trained / 'checkpoints/last.ckpt'}")
    assert code == 2 and "lit_gans.models.noise.DCGAN" in err and "lit_gans.models.noise.WGANGP" in err
    assert "Traceback" not in err


def test_last_without_a_checkpoint_names_the_folder(tmp_path, capsys):
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path / 'empty'}", "--ckpt_path=last")
    assert code == 2 and f"no checkpoint in {tmp_path / 'empty' / 'checkpoints'}" in err and "Traceback" not in err
    code, err = _main(capsys, "predict", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path / 'empty'}", "--ckpt_path=last")
    assert code == 2 and "no checkpoint in" in err


def test_a_file_that_is_not_a_checkpoint_says_so(tmp_path, capsys):
    bad = tmp_path / "weights.ckpt"
    bad.write_text("not a checkpoint")
    code, err = _main(capsys, "validate", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={bad}")
    assert code == 2 and "is not a checkpoint" in err and "weights_only" not in err


def test_fresh_fit_into_an_existing_run_is_refused(trained, capsys):
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={trained}")
    assert code == 2 and "already holds a run" in err and "--ckpt_path last" in err and "--experiment" in err


def test_predict_without_checkpoint_warns_untrained_and_never_overwrites(trained, tmp_path, capsys):
    out = tmp_path / "pred"
    args = ["predict", "--config", DIGITS, f"--trainer.default_root_dir={trained}", *TINY, f"--writer.output_dir={out}",
            "--data.init_args.predict_samples=3"]
    code, err = _main(capsys, *args)
    assert code == 0 and "UNTRAINED" in err and len(list(out.glob("*.png"))) == 3
    first = {p.name: p.read_bytes() for p in out.glob("*.png")}
    code, err = _main(capsys, *args, "--ckpt_path=last")
    assert code == 2 and "already holds 3 PNG" in err and "--writer.overwrite=true" in err
    assert {p.name: p.read_bytes() for p in out.glob("*.png")} == first
    code, err = _main(capsys, *args, "--ckpt_path=last", "--writer.overwrite=true")
    assert code == 0 and {p.name: p.read_bytes() for p in out.glob("*.png")} != first
    afile = tmp_path / "afile"
    afile.write_text("x")
    code, err = _main(capsys, *args[:-2], f"--writer.output_dir={afile}", "--data.init_args.predict_samples=3")
    assert code == 2 and "is a file, not a folder" in err


def test_divergence_stops_with_the_step_the_term_and_the_last_good_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", *TINY,
                      "--trainer.max_epochs=3", "--trainer.limit_val_batches=0", "--trainer.log_every_n_steps=1",
                      "--model.init_args.optimizer_g.init_args.lr=1e6", "--model.init_args.optimizer_d.init_args.lr=1e6")
    assert code == 2 and "training diverged" in err and "generator iteration" in err and "Traceback" not in err
    assert "--model.init_args.on_nonfinite=skip" in err
    for path in run.glob("checkpoints/*.ckpt"):  # whatever was saved is finite
        sd = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point()), path


def test_negative_learning_rate_names_the_option(tmp_path, capsys):
    code, err = _main(capsys, "fit", "--config", DIGITS, f"--trainer.default_root_dir={tmp_path}", *TINY,
                      "--model.init_args.optimizer_g.init_args.lr=-0.1", "--trainer.logger=false")
    assert code == 2 and "--model.init_args.optimizer_g" in err and "Invalid learning rate" in err


# ------------------------------------------------------------------------------------------ SLURM requeue
def test_slurm_requeue_signal_saves_requeues_and_the_requeued_job_continues(tmp_path):
    """A one-task SLURM job: SIGUSR1 (sbatch --signal=SIGUSR1@90) at g_iter 30 -> last.ckpt at that step and
    `scontrol requeue <job id>` (a fake scontrol records its arguments); the same command started again with the
    same environment resumes from the saved counters into the same W&B run and ends where an uninterrupted run would."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol_calls.txt"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\n")
    scontrol.chmod(0o755)
    env = {**_own_wandb_service(), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONPATH": str(ROOT),
           "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_NTASKS": "1", "SLURM_JOB_ID": "4242",
           "SLURM_JOB_NAME": "dcgan", "SLURM_NODELIST": "localhost", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
           "SLURM_NODEID": "0"}
    overlay = tmp_path / "job.yaml"
    overlay.write_text(
        "trainer:\n  max_epochs: 2\n  limit_val_batches: 0\n  callbacks:\n"
        "    - class_path: lit_gans.callbacks.RunCheckpoint\n"
        "{kill}"
    )
    base = [sys.executable, "-m", "lit_gans", "fit", "--config", DIGITS, "--config", str(overlay),
            f"--trainer.default_root_dir={tmp_path / 'run'}", *TINY]
    overlay.write_text(overlay.read_text().format(
        kill="    - class_path: tests.kill_at.KillAt\n      init_args: {g_iter: 30, sig: SIGUSR1}\n"))
    first = subprocess.run(base, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    saved = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert saved["lit_gans"]["g_iter"] == 30 and saved["epoch"] == 1  # mid-epoch 2 (22 per epoch), not its end

    overlay.write_text("trainer:\n  max_epochs: 2\n  limit_val_batches: 0\n  callbacks:\n"
                       "    - class_path: lit_gans.callbacks.RunCheckpoint\n")
    second = subprocess.run(base, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "SLURM job: resuming from" in second.stderr
    final = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert final["lit_gans"]["g_iter"] == 44 and final["epoch"] == 1
    runs = [run_contents(f) for f in sorted((tmp_path / "run").glob("wandb/offline-run-*/*.wandb"))]
    assert len(runs) == 2 and len({r["run"]["id"] for r in runs}) == 1
    resumed_iters = [row["g_iter"] for row in runs[1]["history"] if "train/g_loss" in row]
    assert resumed_iters and min(resumed_iters) > 30


def test_timer_checkpoint_saves_mid_epoch(tmp_path):
    """every_n_minutes (30 in the paper-scale YAMLs): here a timer shorter than a step saves after every step."""
    run = tmp_path / "run"
    overlay = tmp_path / "timer.yaml"
    overlay.write_text("trainer:\n  callbacks:\n    - class_path: lit_gans.callbacks.RunCheckpoint\n"
                       "      init_args: {every_n_minutes: 0.00001}\n"
                       "    - class_path: tests.kill_at.KillAt\n      init_args: {g_iter: 7, sig: SIGUSR2}\n")
    import signal

    seen: list[int] = []
    previous = signal.signal(signal.SIGUSR2, lambda *a: seen.append(
        torch.load(run / "checkpoints/last.ckpt", weights_only=True)["lit_gans"]["g_iter"]))
    try:
        _cli("fit", "--config", DIGITS, "--config", str(overlay), f"--trainer.default_root_dir={run}", *TINY,
             "--trainer.max_epochs=1", "--trainer.limit_val_batches=0", "--trainer.logger=false")
    finally:
        signal.signal(signal.SIGUSR2, previous)
    assert seen == [6]  # at g_iter 7's batch end the timer checkpoint of the step before is there (mid-epoch)


def test_prediction_names_never_collide(tmp_path):
    """photo.png and photo.jpg map to one name: both are written, the second as photo_2.png, and counted."""
    import lightning as L

    from lit_gans.callbacks import PredictionWriter

    class Two(L.LightningModule):
        def predict_step(self, batch, batch_idx):  # noqa: ANN001, ANN201
            return {"images": batch[0], "names": ["photo"] * len(batch[0])}

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.rand(2, 3, 8, 8)), batch_size=1)
    writer = PredictionWriter(str(tmp_path / "out"))
    L.Trainer(accelerator="cpu", logger=False, callbacks=[writer], enable_progress_bar=False).predict(Two(), loader)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo.png", "photo_2.png"]
    assert writer.total == 2 and writer.renamed == [("photo", "photo_2")]


def test_lit_gans_data_dispatches_to_the_dataset_tool(capsys):
    try:
        cli_main(["data", "list"])
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out = capsys.readouterr().out
    assert code == 0 and "facades" in out and "div2k_train_hr" in out and "set5" in out


def test_slurm_job_without_ckpt_path_resumes_from_the_newest_checkpoint(tmp_path, monkeypatch):
    """What the sbatch scripts rely on: under SLURM, no --ckpt_path means the newest of last.ckpt and
    hpc_ckpt_N.ckpt in the run folder (none: a fresh start); the torchrun launcher keeps its own environment."""
    import time

    from lightning.fabric.plugins.environments import SLURMEnvironment

    for key, value in {"SLURM_NTASKS": "1", "SLURM_JOB_ID": "7", "SLURM_JOB_NAME": "gan", "SLURM_NODELIST": "localhost",
                       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}.items():
        monkeypatch.setenv(key, value)
    run = tmp_path / "run"
    args = ["fit", "--config", DIGITS, f"--trainer.default_root_dir={run}"]
    assert ParseOnly(args=args).run_info["ckpt_path"] is None  # first start
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {}, "lit_gans": {"model_class": "lit_gans.models.noise.DCGAN"}}, run / "checkpoints/last.ckpt")
    assert ParseOnly(args=args).run_info["ckpt_path"] == str(run / "checkpoints/last.ckpt")
    time.sleep(0.05)
    torch.save({"state_dict": {}, "lit_gans": {"model_class": "lit_gans.models.noise.DCGAN"}}, run / "hpc_ckpt_2.ckpt")
    assert ParseOnly(args=args).run_info["ckpt_path"] == str(run / "hpc_ckpt_2.ckpt")
    assert SLURMEnvironment.detect()


def test_readme_test_command_writes_the_results_in_the_run_folder(trained, capsys):
    """`lit-gans test --config ... --ckpt_path last`, as the README shows it (no callback to add by hand)."""
    code, _ = _main(capsys, "test", "--config", DIGITS, f"--trainer.default_root_dir={trained}", *TINY,
                    "--ckpt_path=last", "--trainer.logger=false", "--trainer.limit_test_batches=2")
    assert code == 0
    folders = sorted((trained / "test").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("last_")
    names = {p.name for p in folders[0].iterdir()}
    assert {"results.md", "results.csv", "results.json", "index.html"} <= names
    assert "fid" in (folders[0] / "results.md").read_text().lower()


# ------------------------------------------------------------------------------------------ older checkpoints
MAIN_80D8F7E = ROOT / "tests/fixtures/ckpt_main_80d8f7e_dcgan.ckpt"  # how it was made: the .md next to it


def test_checkpoint_of_main_80d8f7e_resumes(tmp_path):
    """A last.ckpt written before the run layer moved (its W&B run id under checkpoint["lit_gans"]) resumes
    with today's code: the same W&B run continues, the counters go on, and the new checkpoint keeps the run id."""
    import shutil

    import wandb

    if wandb.run is not None:  # a fit that raised earlier in this process left its run open: WandbLogger would reuse it
        wandb.finish()
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(MAIN_80D8F7E, run / "checkpoints/last.ckpt")
    old = torch.load(MAIN_80D8F7E, weights_only=True)
    assert old["lit_gans"]["wandb_run_id"] == "hhwkos0f" and old["lit_gans"]["g_iter"] == 3
    cli = _cli("fit", "--config", DIGITS, f"--trainer.default_root_dir={run}", "--ckpt_path", "last",
               "--trainer.max_epochs=2", "--trainer.log_every_n_steps=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=0",
               "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
               "--model.init_args.metrics=null", "--model.init_args.generator.init_args.ngf=4",
               "--model.init_args.discriminator.init_args.ndf=4", "--model.init_args.generator.init_args.latent_dim=8",
               "--trainer.num_sanity_val_steps=0")
    assert cli.run_info["ckpt_path"] == str(run / "checkpoints/last.ckpt")
    assert cli.run_info["wandb_resumed"] == "hhwkos0f" and cli.model.g_iter == 6
    (wandb_file,) = run.glob("wandb/offline-run-*-hhwkos0f/*.wandb")
    contents = run_contents(wandb_file)
    assert contents["run"]["id"] == "hhwkos0f"
    logged = [row["g_iter"] for row in contents["history"] if "g_iter" in row]
    assert logged and min(logged) > 3  # the continued run logs from where the checkpoint stopped
    # the fixture was written in another folder: the resume still writes into this folder's own last.ckpt
    # (RunCheckpoint.load_state_dict; Lightning alone wrote last-v1.ckpt beside it)
    newest = find_resume_checkpoint(run, run / "checkpoints")
    assert newest == run / "checkpoints/last.ckpt" and not list(run.glob("checkpoints/last-v*.ckpt"))
    new = torch.load(newest, weights_only=True)
    assert new["epoch"] == 1 and new["lit_gans"]["g_iter"] == 6
    assert read_checkpoint_info(newest)["wandb_run_id"] == "hhwkos0f"

"""What a user reads: the README quick start (`lit-gans fit --config experiments/dcgan_digits.yaml`) on a tiny budget,
then resume, validate, test and predict, each a real `python -m lit_gans` process, its stdout and stderr captured.
None of the known noise lines appear, a finished run says once which option to raise, `test` prints one table
with test-named metrics, and the run folder holds what the summary names (issue 24)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lit_gans.cli import cli_main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ["--config", str(ROOT / "experiments/dcgan_digits.yaml")]
BUDGET = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=3", "--trainer.limit_val_batches=1",
          "--trainer.limit_test_batches=2", "--trainer.limit_predict_batches=1", "--trainer.enable_progress_bar=false"]

#: Lines of other packages that must not reach the user (issue 24's list).
NOISE = (
    "Tip: For seamless cloud logging",             # Lightning's LitLogger advertisement
    "anonymous setting has no effect",             # W&B, for the anonymous=None Lightning passes
    "git root",                                    # W&B, for a run folder not created yet
    "isinstance(treespec, LeafSpec)",              # torch FutureWarning raised in Lightning's _pytree
    "exists and is not empty",                     # ModelCheckpoint on every resume
)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", WANDB_MODE="offline", HOME=str(tmp_path),
               WANDB_CONFIG_DIR=str(tmp_path / ".wandb_config"))
    return env


def _lit_gans(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "lit_gans", *args], cwd=tmp_path, env=env or _env(tmp_path),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def _no_noise(name: str, output: str) -> None:
    for line in NOISE:
        assert line not in output, f"{name}: {line!r} printed:\n{output[-3000:]}"


@pytest.mark.slow  # six CLI processes: about 60 s of CPU (144 s wall on a shared 2-core machine)
def test_quick_start_sequence_prints_no_noise(tmp_path):
    run = tmp_path / "runs/dcgan_digits"
    code, out = _lit_gans(tmp_path, "fit", *CONFIG, *BUDGET)
    assert code == 0, out[-3000:]
    _no_noise("fit", out)
    # last.ckpt and the epoch-end checkpoint it copies (explained in RunCheckpoint's docstring)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch=0-step=6.ckpt", "last.ckpt"]
    assert f"lit_gans: checkpoint: {(run / 'checkpoints/last.ckpt').resolve()}" in out
    assert "resume with: --ckpt_path last" in out

    # the same budget again: finished; one line says which option to raise (with its value), nothing is run
    wandb_runs = sorted((run / "wandb").glob("offline-run-*"))
    code, out = _lit_gans(tmp_path, "fit", *CONFIG, *BUDGET, "--ckpt_path", "last")
    assert code == 0, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    assert "is finished" in lines[0] and "--trainer.max_epochs=1" in lines[0] and "raise --trainer.max_epochs" in lines[0]
    assert "resume with" not in out and "`Trainer.fit` stopped" not in out
    assert sorted((run / "wandb").glob("offline-run-*")) == wandb_runs  # no new W&B run for nothing

    # raised: it resumes (one more epoch), without the "checkpoint directory is not empty" warning
    code, out = _lit_gans(tmp_path, "fit", *CONFIG, *BUDGET, "--trainer.max_epochs=2", "--ckpt_path", "last")
    assert code == 0, out[-3000:]
    _no_noise("resume", out)
    assert "Restored all states from the checkpoint" in out

    code, out = _lit_gans(tmp_path, "validate", *CONFIG, *BUDGET, "--ckpt_path", "last")
    assert code == 0, out[-3000:]
    _no_noise("validate", out)

    code, out = _lit_gans(tmp_path, "test", *CONFIG, *BUDGET, "--ckpt_path", "last")
    assert code == 0, out[-3000:]
    _no_noise("test", out)
    assert out.count("| set |") == 1 and "Test metric" not in out, out  # one table, the report's
    header = next(line for line in out.splitlines() if line.startswith("| set |"))
    assert re.search(r"\bfid\d+_digitscnn_test\b", header) and "_val" not in header, header
    (report,) = (run / "test").iterdir()
    images = sorted(p.name for p in (report / "images/digits_heldout").iterdir())
    assert "00000_real_test_set.png" in images and "00000_generated.png" in images
    assert not [name for name in images if "__" in name or name.endswith("_.png")], images

    code, out = _lit_gans(tmp_path, "predict", *CONFIG, *BUDGET, "--ckpt_path", "last", "--writer.output_dir", "out")
    assert code == 0, out[-3000:]
    _no_noise("predict", out)
    assert len(list((tmp_path / "out").glob("*.png"))) > 0


@pytest.mark.slow  # 29 s on 2 idle cores
def test_fast_dev_run_names_no_file_of_the_folder_it_removes(tmp_path):
    env = _env(tmp_path)
    del env["WANDB_MODE"]  # no key, no mode: a real run would print the offline notice and `wandb sync`
    env["NETRC"] = str(tmp_path / "none")
    code, out = _lit_gans(tmp_path, "fit", *CONFIG, "--trainer.fast_dev_run=true",
                          "--trainer.enable_progress_bar=false", env=env)
    assert code == 0, out[-3000:]
    _no_noise("fast_dev_run", out)
    for word in ("checkpoint:", "samples:", "resume with", "wandb sync", "W&B offline"):
        assert word not in out, (word, out[-3000:])
    assert "fast_dev_run: files go to" in out and not (tmp_path / "runs").exists()


def _main(capsys, *args: str) -> tuple[int, str]:
    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 0
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_print_config_shows_the_folder_the_run_uses(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    code, out = _main(capsys, "fit", *CONFIG, "--print_config")
    assert code == 0, out
    config = yaml.safe_load(out)
    assert config["experiment"] == "dcgan_digits"
    assert config["trainer"]["default_root_dir"] == "runs/dcgan_digits"
    (wandb,) = [lg for lg in [config["trainer"]["logger"]] if "WandbLogger" in lg["class_path"]]
    assert wandb["init_args"]["save_dir"] == "runs/dcgan_digits"
    checkpoints = [cb for cb in config["trainer"]["callbacks"] if cb["class_path"].endswith("RunCheckpoint")]
    assert checkpoints[0]["init_args"]["dirpath"] == "runs/dcgan_digits/checkpoints"
    assert not (tmp_path / "runs").exists()  # printing builds and writes nothing


def test_help_lists_runnable_models_with_whole_sentences(capsys):
    code, out = _main(capsys, "--help")
    assert code == 0 and out.startswith("usage: lit-gans ")
    models = out.split("models (")[1].split("\n\n")[0].splitlines()[1:]
    names = [line.split()[0].removeprefix("lit_gans.models.") for line in models]
    assert {"noise.DCGAN", "noise.GAN", "noise.WGANGP", "progan.ProGAN", "super_resolution.SRPretrain"} <= set(names)
    assert not {"base.GANModule", "base.GeneratorOnly", "noise.NoiseGAN"} & set(names), names
    for line in models:
        assert line.rstrip().endswith((".", ")")), line  # a whole sentence, not cut after "et al."
    sub = out.split("{fit,validate,test,predict}")[-1].split("\n\n")[0]
    assert " ".join(sub.split()).count(".") >= 4, sub  # each subcommand's help ends its sentence


def test_python_m_usage_names_the_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "lit_gans", "--help"], cwd=tmp_path, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: lit-gans "), proc.stdout[:200]


def test_data_list_prints_no_empty_mirror(capsys, monkeypatch):
    monkeypatch.delenv("LIT_GANS_DATA_MIRROR", raising=False)
    code, out = _main(capsys, "data", "list")
    assert code == 0 and "facades" in out
    assert not re.search(r"Mirror: \S*=\s*$", out, re.M), out
    monkeypatch.setenv("LIT_GANS_DATA_MIRROR", "file:///srv/mirror")
    code, out = _main(capsys, "data", "list")
    assert "Mirror: $LIT_GANS_DATA_MIRROR=file:///srv/mirror" in out

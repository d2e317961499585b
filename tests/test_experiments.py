"""Every YAML in experiments/ runs through the real LightningCLI (real WandbLogger, offline) for a couple
of optimizer steps on the embedded data, and prints its resolved config. A new YAML is picked up by its file
name alone: the options that make it run offline live in the YAML (``# smoke:`` lines, see :func:`smoke_args`)."""

import shlex
from pathlib import Path

import pytest
import yaml

from lit_gans.cli import LitGansCLI
from lit_gans.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
YAMLS = sorted(p.name for p in (ROOT / "experiments").glob("*.yaml"))
#: The comment that holds an experiment's offline smoke-test options (docs/architecture.md, "Adding a model").
SMOKE = "# smoke:"


def smoke_args(name: str) -> list[str]:
    """How the offline test runs an experiment, read from the experiment itself: the words of its ``# smoke:``
    comment lines (joined, shell-quoted), plus ``--model.init_args.metrics=null`` when the model sets
    ``metrics`` (the metric networks have their own tests). A YAML with no ``# smoke:`` line runs as it is
    (it must then use the embedded data, e.g. ``datamodules.digits.DigitsDataModule``); nothing to register."""
    text = (ROOT / "experiments" / name).read_text()
    args = [a for line in text.splitlines() if line.startswith(SMOKE) for a in shlex.split(line[len(SMOKE):])]
    model_args = ((yaml.safe_load(text) or {}).get("model") or {}).get("init_args") or {}
    return args + (["--model.init_args.metrics=null"] if "metrics" in model_args else [])



@pytest.mark.parametrize("name", YAMLS)
def test_yaml_runs_one_step(name, cli_args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    args = ["fit"] + cli_args(name) + smoke_args(name) + [
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]
    try:
        cli = LitGansCLI(args=args)
    except UserError as err:  # e.g. a data folder that is not there: the YAML needs a `# smoke:` line
        pytest.fail(f"experiments/{name} does not run offline ({err}); give it a `{SMOKE} --data.init_args...` "
                    "comment line with the options that make it run on the embedded data")
    assert cli.trainer.global_step >= 1
    assert any((tmp_path / "wandb").glob("offline-run-*")), "W&B run not written (offline)"


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_print_config(name, capsys):
    with pytest.raises(SystemExit) as exc:
        LitGansCLI(args=["fit", "--config", str(ROOT / "experiments" / name), "--print_config"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "class_path" in out and "optimizer_g" in out or "optimizer" in out


def test_smoke_args_come_from_the_yaml():
    """The options of a non-embedded experiment are read from its `# smoke:` lines (several lines join)."""
    assert smoke_args("progan_celeba.yaml") == ["--data.init_args.source=digits", "--data.init_args.num_workers=0",
                                                "--model.init_args.schedule.batch_size=4", "--model.init_args.metrics=null"]
    args = smoke_args("pix2pix_facades.yaml")
    assert args[0] == "--data.init_args.root=null" and args[-1] == "--model.init_args.generator.init_args.ngf=8" and len(args) == 6
    assert smoke_args("pix2pix_embedded.yaml") == []


def _printed(args: list[str], capsys) -> dict:  # noqa: ANN001
    with pytest.raises(SystemExit) as exc:
        LitGansCLI(args=args + ["--print_config"])
    assert exc.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_shared_defaults_apply_and_lists_replace(tmp_path, capsys):
    """A YAML with only a model and data gets lit_gans/configs/defaults.yaml (seed, logger, both callbacks) in
    every subcommand; a YAML's callbacks list replaces the defaults' list; dictionaries merge."""
    text = (ROOT / "experiments" / "lsgan_digits.yaml").read_text()
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(text[text.index("model:"):])  # model and data only
    for sub in ("fit", "validate", "test", "predict"):
        cfg = _printed([sub, "--config", str(minimal)], capsys)
        assert cfg["seed_everything"] == 0 and cfg["trainer"]["devices"] == 1
        if sub == "predict":  # --print_config shows what the run uses: predict opens no W&B run
            assert cfg["trainer"]["logger"] is False
        else:
            assert cfg["trainer"]["logger"]["class_path"] == "lightning.pytorch.loggers.WandbLogger"
            assert cfg["trainer"]["logger"]["init_args"]["project"] == "lit_gans"
        assert [c["class_path"] for c in cfg["trainer"]["callbacks"]] == ["lit_gans.callbacks.SampleGridLogger",
                                                                          "lit_gans.callbacks.RunCheckpoint"]
    own = tmp_path / "own.yaml"
    own.write_text("trainer:\n  callbacks:\n    - {class_path: lit_gans.callbacks.RunCheckpoint, init_args: {every_n_minutes: 5}}\n"
                   "  logger: {init_args: {project: other}}\n" + text[text.index("model:"):])
    cfg = _printed(["fit", "--config", str(own)], capsys)
    assert [(c["class_path"], c["init_args"]["every_n_minutes"]) for c in cfg["trainer"]["callbacks"]] == [
        ("lit_gans.callbacks.RunCheckpoint", 5)]
    assert cfg["trainer"]["logger"]["class_path"] == "lightning.pytorch.loggers.WandbLogger"
    assert cfg["trainer"]["logger"]["init_args"]["project"] == "other"
    assert cfg["trainer"]["accelerator"] == "auto"

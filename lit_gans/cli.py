"""``lit-gans``: LightningCLI over any lit_gans model and datamodule (``class_path`` in YAML).

    lit-gans fit --config experiments/dcgan_digits.yaml
    lit-gans fit --config experiments/dcgan_digits.yaml --ckpt_path last      # resume exactly, same W&B run
    lit-gans predict --config experiments/dcgan_digits.yaml --ckpt_path last --writer.output_dir out/
    lit-gans data download facades                                            # the tools: TOOLS below
    lit-gans interpolate --psnr A.ckpt --gan B.ckpt --alpha 0.8 --out C.pth
    lit-gans digit-classifier --dataset digits
    python -m lit_gans ...   (the same)

One experiment, one folder, one W&B run:

* The experiment's name is ``--experiment`` (default: the YAML's file name without ``.yaml``). Its folder is
  ``--trainer.default_root_dir`` (default ``runs/<experiment>``): checkpoints in ``checkpoints/`` (``last.ckpt``
  and ``epoch=E-step=S.ckpt``, the newest epoch end that ``last.ckpt`` was copied from: RunCheckpoint), sample grids
  in ``samples/``, the W&B files in ``wandb/``, the resolved config of each run, test results in ``test/``.
* ``--ckpt_path last`` takes the newest ``last*.ckpt`` of that folder (or a SLURM ``hpc_ckpt_N.ckpt``), and
  stops with a message naming the folder when there is none. A fresh ``fit`` into a folder that already holds
  checkpoints is refused (resume it, or pick another ``--experiment``): nothing is overwritten.
* Under SLURM, a requeued job (no ``--ckpt_path``) resumes from the newest checkpoint of its folder.
* The W&B run id is kept in the checkpoint (``RunTracker``'s state): a resumed fit continues the same run
  (``resume="allow"``). Runs
  are grouped by experiment (``group``) and typed by subcommand (``job_type``); ``validate``/``test`` log into
  the group as their own runs, ``predict`` opens no run.
* A checkpoint of another model class is refused, naming both. The checkpoint's hyperparameters do not
  replace the YAML's (Lightning's default): the YAML and the command line define the model, the checkpoint
  gives the weights and the training state.
* ``lit-gans test ... --ckpt_path a.ckpt,b.ckpt`` (or a quoted glob, ``'runs/x/checkpoints/*.ckpt'``) and/or
  ``--seeds 0,1,2`` run one test per checkpoint and seed, then a summary table: a row per run (which checkpoint,
  which seed) and ``mean ± std`` per metric (``sweep_test``).
* ``--trainer.fast_dev_run`` writes into a temporary folder that is removed afterwards, never into the run's.

Two optimizers are init arguments of the model (``optimizer_g`` / ``optimizer_d``), so the CLI's automatic
optimizer is switched off (``auto_configure_optimizers=False``; LightningCLI supports one optimizer: PL #12298).
W&B: with no API key or no network the run is offline and one line says how to sync later; it never prompts.
Errors in what the user gave (``lit_gans.errors.UserError``) print as one message, exit status 2.

The run layer itself lives in :mod:`lit_gans.run` (folder layout, the steps decided before anything is built,
callbacks, W&B); checkpoints are read and written by :mod:`lit_gans.io.checkpoints`.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Optional

import lightning as L

from lit_gans import smoke
from lit_gans.errors import ConfigError, MissingFileError, UserError
from lit_gans.run import plan
from lit_gans.run._lightning import LightningCLIHooks
from lit_gans.run.callbacks import PredictionWriter, RunConfigSaver, RunTracker, SampleGridLogger
from lit_gans.run.checkpoint import checkpoint_summary
from lit_gans.run.quiet import quiet_known_noise, quiet_wandb_logger
from lit_gans.run.wandb import finish_wandb
from lit_gans.utils.batches import BatchContract

#: The tool subcommands of ``lit-gans`` (anything else goes to LightningCLI: fit, validate, test, predict).
#: Each is ``"module:function"`` with ``function(argv: list[str], prog: str) -> int`` (the exit status).
TOOLS: dict[str, str] = {
    "data": "lit_gans.datasets:main",
    "interpolate": "lit_gans.interpolate:main",
    "digit-classifier": "lit_gans.metrics.digit_classifier:main",
    "export": "lit_gans.export:main",
    "weights": "lit_gans.io.weights_registry:main",
}


def first_sentence(doc: Optional[str]) -> str:
    """The first sentence of a docstring's first paragraph, whole (joined across its lines), without rst markup."""
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    paragraph = re.sub(r":(class|func|meth|mod):`~?", "`", paragraph).replace("`", "")
    match = re.match(r"(.+?[.!?])(?=\s+[A-Z]|\s*$)", paragraph)  # not "et al. 2016", "Sec. 4"
    return match.group(1) if match else paragraph


def _tools_help() -> str:
    lines = ["tools (lit-gans <tool> --help):"]
    for name, target in TOOLS.items():
        module = importlib.import_module(target.split(":")[0])
        lines.append(f"  {name:<17} {first_sentence(module.__doc__)}")
    return "\n".join(lines)


def runnable_models(experiments: list[Path]) -> dict[str, str]:
    """``{class path: first sentence of its docstring}`` of the models one can train: every public
    LightningModule of ``lit_gans.models`` that no other one subclasses (the base classes GANModule, GeneratorOnly,
    NoiseGAN... are left out), plus any class an experiment YAML names."""
    import pkgutil

    import lit_gans.models as models

    classes: dict[str, type] = {}
    for info in pkgutil.iter_modules(models.__path__):
        try:
            module = importlib.import_module(f"lit_gans.models.{info.name}")
        except Exception:  # noqa: BLE001 - help must not fail on an optional dependency
            continue
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, L.LightningModule) and obj.__module__ == module.__name__
                    and not obj.__name__.startswith("_")):
                classes[f"{obj.__module__}.{obj.__name__}"] = obj
    named = set()
    for path in experiments:
        named |= set(re.findall(r"class_path:\s*(lit_gans\.models\.[\w.]+)", path.read_text()))
    bases = {path for path, cls in classes.items() if any(o is not cls and issubclass(o, cls) for o in classes.values())}
    return {path: first_sentence(cls.__doc__) for path, cls in sorted(classes.items()) if path not in bases or path in named}


#: ``lit-gans --help``'s line for each LightningCLI subcommand (Lightning's is the first line of the Trainer
#: method's docstring, cut mid-sentence for test and predict).
SUBCOMMAND_HELP = {
    "fit": "Train (or resume with --ckpt_path last) the --config experiment into runs/<experiment>.",
    "validate": "One pass over the validation set: the validation metrics of a checkpoint.",
    "test": "The paper's test protocol: results table, images and page in runs/<experiment>/test/.",
    "predict": "Write the model's outputs as PNG files (--writer.output_dir).",
}


def set_subcommand_help(parser: argparse.ArgumentParser) -> None:
    """Replace the subcommands' one-line help in ``parser`` by :data:`SUBCOMMAND_HELP` (argparse keeps them on
    the subparsers action's ``_choices_actions``; no public setter)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = SUBCOMMAND_HELP.get(choice.dest, choice.help)


def _help_epilog() -> str:
    """Tools, models and experiments, for ``lit-gans --help`` (computed only when help is asked for)."""
    folders = [Path.cwd() / "experiments", Path(__file__).resolve().parents[1] / "experiments"]
    folder = next((f for f in folders if f.is_dir()), None)
    files = sorted(folder.glob("*.yaml")) if folder else []
    experiments = [p.stem for p in files]
    models = runnable_models(files)
    width = max(len(p) for p in models) + 2 if models else 0
    lines = [_tools_help(), "", "models (--model=<class path>; base classes not listed):"]
    lines += [f"  {p:<{width}}{d}" for p, d in models.items()]
    if folder:
        lines += ["", f"experiments (--config {os.path.relpath(folder)}/<name>.yaml):"]
        lines += ["  " + " ".join(experiments[i:i + 6]) for i in range(0, len(experiments), 6)]
    lines += ["", "datasets: lit-gans data list | lit-gans data download <name>",
              "quick start: lit-gans fit --config experiments/dcgan_digits.yaml"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- shared defaults
#: The trainer/logger/callbacks every experiment shares (an experiment YAML holds what differs). Inside the package,
#: so an installed lit_gans finds it; loaded before --config by every subcommand.
DEFAULTS_YAML = Path(__file__).resolve().parent / "configs" / "defaults.yaml"


def default_config_kwargs(run: bool = True) -> dict[str, Any]:
    """``parser_kwargs`` that load :data:`DEFAULTS_YAML` first (into each subcommand's parser; with ``run=False``
    there are no subcommands and the one parser takes it)."""
    if not run:
        return {"default_config_files": [str(DEFAULTS_YAML)]}
    return {sub: {"default_config_files": [str(DEFAULTS_YAML)]} for sub in ("fit", "validate", "test", "predict")}


class LitGansCLI(LightningCLIHooks):
    """LightningCLI with the run layer described in the module docstring."""

    def __init__(self, args: Optional[list[str]] = None, run: bool = True) -> None:
        argv = sys.argv[1:] if args is None else args
        quiet_known_noise()
        parser_kwargs: dict[str, Any] = {"prog": "lit-gans"}
        if any(a in ("-h", "--help") for a in argv):
            parser_kwargs.update(epilog=_help_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)
        parser_kwargs.update(default_config_kwargs(run))
        self.run_info: dict[str, Any] = {}
        self._argv = list(argv)
        plan.check_config_files(self._argv)
        super().__init__(
            model_class=L.LightningModule,
            datamodule_class=L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            auto_configure_optimizers=False,
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            parser_kwargs=parser_kwargs,
            args=args,
            run=run,
        )

    def setup_parser(self, add_subcommands: bool, main_kwargs: dict[str, Any], subparser_kwargs: dict[str, Any]) -> None:
        super().setup_parser(add_subcommands, main_kwargs, subparser_kwargs)
        if add_subcommands:
            set_subcommand_help(self.parser)

    def add_arguments_to_parser(self, parser) -> None:  # noqa: ANN001
        parser.add_lightning_class_args(PredictionWriter, "writer")
        parser.add_argument(
            "--experiment", type=Optional[str], default=None,
            help="Experiment name: W&B group and run name, and the run folder runs/<experiment> "
                 "(default: the --config file name without .yaml)",
        )

    # ------------------------------------------------------------------ the run layer
    def resolve_run(self) -> None:
        """Replaces Lightning's ``--ckpt_path`` handling (which lets a checkpoint's hyperparameters replace the
        YAML's model, even another model's): the steps of :mod:`lit_gans.run.plan`, in order. Without a
        subcommand (``run=False``: the caller runs the Trainer) the folder and names still apply, no checkpoint."""
        stage = self.config.get("subcommand")
        config = self.config[stage] if stage else self.config
        smoke.apply(config.trainer)  # LIT_GANS_SMOKE=1: tiny budgets (lit_gans/smoke.py), before any decision
        experiment = plan.name_experiment(config)
        folder = plan.choose_folder(config, experiment)
        ckpt_dir = plan.point_checkpoints(config, folder)
        plan.drop_checkpoints_when_off(config)
        batch_limits = plan.restore_batch_limits(config, self._argv)
        plan.find_unused_strategy(config)
        info: dict[str, Any] = {"experiment": experiment, "stage": stage, "folder": folder, "ckpt_dir": ckpt_dir,
                                "ckpt_path": None, "batch_limits": batch_limits}
        if stage is not None:
            plan.lock_run_folder(folder, stage, config.trainer.get("fast_dev_run"))
            info["ckpt_path"] = plan.start_checkpoint(config, stage, experiment, folder, ckpt_dir)
            ckpt_info = plan.check_checkpoint(config, info["ckpt_path"])
            if ckpt_info is not None:
                info["ckpt"] = ckpt_info
                stop_if_finished(config, stage, experiment, info["ckpt_path"], ckpt_info)
            one_results_table(config, stage, self._argv)
        resume_id = (info.get("ckpt") or {}).get("wandb_run_id")
        resumed = plan.configure_loggers(config, stage or "fit", experiment, folder, resume_id)
        if resumed:
            info["wandb_resumed"] = resumed
        self.run_info = info

    def parse_arguments(self, parser, args) -> None:  # noqa: ANN001
        """``--print_config`` prints the config the run will use (folder, experiment, W&B folder: what
        :meth:`resolve_run` decides), not the parser's raw defaults."""
        argv = list(sys.argv[1:] if args is None else args) if not isinstance(args, dict) else []
        flags = [a for a in argv if a == "--print_config" or a.startswith("--print_config=")]
        if not flags:
            return super().parse_arguments(parser, args)
        self.config = parser.parse_args([a for a in argv if a not in flags])
        print_resolved_config(self, flags[-1].partition("=")[2])

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        trainer_cfg = config.get("trainer", {})
        callbacks = list(trainer_cfg.get("callbacks") or [])
        if self.subcommand == "fit" and trainer_cfg.get("enable_checkpointing") is not False and not any(
            plan.is_subclass(plan.class_name(cb), plan.import_path("lightning.pytorch.callbacks.ModelCheckpoint"))
            for cb in callbacks
        ):
            from jsonargparse import Namespace

            folder = Path(trainer_cfg.default_root_dir)
            callbacks.append(Namespace(class_path="lit_gans.callbacks.RunCheckpoint",
                                       init_args=Namespace(dirpath=str(folder / "checkpoints"))))
            trainer_cfg.callbacks = callbacks

    def prepare_trainer(self, config: dict[str, Any], callbacks: list) -> list:
        from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment, TorchElasticEnvironment

        config.update(self.run_info.get("batch_limits") or {})  # the integers as written (plan.restore_batch_limits)
        plugins = config.get("plugins")
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else ([plugins] if plugins is not None else [])
        if (SLURMEnvironment.detect() and not TorchElasticEnvironment.detect()
                and not any(isinstance(p, ClusterEnvironment) for p in plugins)):
            # RunCheckpoint handles the requeue signal at a step boundary; Lightning's handler would save mid-step
            config["plugins"] = plugins + [SLURMEnvironment(auto_requeue=False)]
        quiet_loggers(config.get("logger"))
        extra = [RunTracker(), BatchContract()]  # BatchContract: the datamodule's batches fit the model (issue 21)
        if self.subcommand == "test":
            from lit_gans.evaluation import TestReport

            if not any(isinstance(cb, TestReport) for cb in list(config.get("callbacks") or []) + list(callbacks)):
                extra.append(TestReport())  # the results table, files and page of every `lit-gans test`
        return list(callbacks) + extra

    def on_run_error(self, error: BaseException) -> Optional[BaseException]:
        """A subcommand that stops with an error (a ``UserError`` such as ``TrainingDiverged``, a bug, a signal)
        still closes its W&B run, marked failed, so a later run in the same process writes its own. Lightning's
        checks of Trainer options made when fit starts (``val_check_interval`` past the epoch) become a
        ``ConfigError`` naming the option."""
        finish_wandb(self.trainer, exit_code=1)
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        if isinstance(error, SIGTERMException) and error.code is None:
            error.code = 143  # SIGTERM outside fit (RunCheckpoint sets it in fit): 128 + 15, not success
        return (plan.checkpoint_mismatch_error(error, self.run_info.get("ckpt_path"))
                or plan.trainer_option_error(error))

    def trainer_error(self, error: Exception) -> Exception:
        """Lightning's checks of the Trainer options (``max_epochs=-5``, ``accelerator=gpu`` without a GPU ...) as a
        ``ConfigError`` naming the option."""
        return plan.trainer_option_error(error) or error

    def after_validate(self) -> None:
        finish_wandb(self.trainer)

    def after_test(self) -> None:
        finish_wandb(self.trainer)

    def after_predict(self) -> None:
        finish_wandb(self.trainer)

    def after_fit(self) -> None:
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        finish_wandb(trainer)
        if trainer.fast_dev_run:
            return  # its files were in a temporary folder that is removed at exit: nothing to point to
        lines = []
        tracker = next((cb for cb in trainer.callbacks if isinstance(cb, RunTracker)), None)
        if tracker is not None and tracker.final_metrics:
            lines.append("final validation: " + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(tracker.final_metrics.items())))
            if tracker.best is not None:
                name, value, g_iter = tracker.best
                lines.append(f"best {name} = {value:.4g} at g_iter {g_iter}")
        lines += checkpoint_summary(trainer, self.run_info.get("experiment"))
        for cb in trainer.callbacks:
            if isinstance(cb, SampleGridLogger):
                lines += [f"samples: {p.resolve()}" for p in cb.last_paths]
        if lines:
            print("lit_gans: " + "\nlit_gans: ".join(lines))


# ---------------------------------------------------------------------------------------------- what the user sees
def stop_if_finished(config: Any, stage: str, experiment: str, ckpt_path: Optional[str], info: dict[str, Any]) -> None:
    """``fit --ckpt_path last`` of a run that already reached ``max_epochs``/``max_steps``: say which option to
    raise (with its value) and stop (exit status 0), instead of Lightning's "`Trainer.fit` stopped" and a new
    W&B run that trains nothing."""
    if stage != "fit":
        return
    trainer_cfg = config.trainer
    max_steps = trainer_cfg.get("max_steps")
    max_epochs = trainer_cfg.get("max_epochs")
    if max_epochs is None and max_steps in (None, -1):
        max_epochs = 1000  # Lightning's default when neither is set (Trainer docs: max_epochs)
    epochs, steps = info.get("epochs_done"), info.get("global_step")
    reason = None
    if max_steps not in (None, -1) and steps is not None and steps >= max_steps:
        reason = (f"it has run {steps} steps and --trainer.max_steps={max_steps}; raise --trainer.max_steps "
                  f"(e.g. --trainer.max_steps={2 * max_steps})")
    elif max_epochs not in (None, -1) and epochs is not None and epochs >= max_epochs:
        reason = (f"it has trained {epochs} epochs and --trainer.max_epochs={max_epochs}; raise "
                  f"--trainer.max_epochs (e.g. --trainer.max_epochs={2 * max_epochs})")
    if reason is None:
        return
    if int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")) or 0) == 0:
        print(f"lit-gans: experiment '{experiment}' is finished ({ckpt_path}): {reason} to train it further "
              "with --ckpt_path last", file=sys.stderr)
    sys.exit(0)


def one_results_table(config: Any, stage: Optional[str], argv: list[str]) -> None:
    """``lit-gans test`` prints the TestReport's table; Lightning's own copy of the same numbers is switched off
    (unless ``--verbose`` is given)."""
    if stage == "test" and not any(a == "--verbose" or a.startswith("--verbose=") for a in argv):
        config.verbose = False


def quiet_loggers(logger: Any) -> None:
    """The W&B loggers of a Trainer about to be built, before their run starts (:func:`quiet_wandb_logger`)."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in logger if isinstance(logger, (list, tuple)) else [logger]:
        if isinstance(lg, WandbLogger):
            quiet_wandb_logger(lg)


def print_resolved_config(cli: LitGansCLI, flags: str) -> None:
    """Print the parsed config with the run folder, experiment, checkpoint folder and W&B folder filled in as
    :meth:`LitGansCLI.resolve_run` will fill them, then exit (as jsonargparse's ``--print_config`` does)."""
    stage = cli.config.get("subcommand")
    config = cli.config[stage] if stage else cli.config
    experiment = plan.name_experiment(config)
    folder = plan.choose_folder(config, experiment)
    plan.point_checkpoints(config, folder)
    plan.restore_batch_limits(config, cli._argv)
    plan.find_unused_strategy(config)
    plan.configure_loggers(config, stage or "fit", experiment, folder, None)
    import yaml

    text = cli.parser.dump(cli.config, skip_none="skip_null" in flags, skip_check=True)
    if stage:  # the subcommand's part, as `lit-gans <subcommand> --print_config` shows it
        text = yaml.safe_dump(yaml.safe_load(text)[stage], sort_keys=False)
    print(text, end="")
    sys.exit(0)


def _user_error(err: BaseException) -> Optional[UserError]:
    """The UserError behind ``err`` (jsonargparse and Lightning wrap exceptions raised in ``__init__`` or hooks)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, UserError):
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


def run_tool(name: str, argv: list[str]) -> int:
    """Run the tool subcommand ``name`` (a key of ``TOOLS``) with ``argv``; returns its exit status."""
    module, _, function = TOOLS[name].partition(":")
    return int(getattr(importlib.import_module(module), function)(argv, prog=f"lit-gans {name}") or 0)


# ---------------------------------------------------------------------- test over several checkpoints / seeds
def _take_option(argv: list[str], name: str) -> tuple[Optional[str], list[str]]:
    """The value of ``--name V`` / ``--name=V`` in ``argv`` (the last one) and ``argv`` without it."""
    value, rest, i = None, [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == name and i + 1 < len(argv):
            value, i = argv[i + 1], i + 2
            continue
        if arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
        i += 1
    return value, rest


def _sweep_plan(argv: list[str]) -> Optional[tuple[list[str], list[Optional[int]], list[str]]]:
    """``lit-gans test`` with several checkpoints (``--ckpt_path a.ckpt,last`` or a glob) and/or ``--seeds 0,1,2``:
    (checkpoints, seeds, the other arguments); None for a plain ``test`` (one checkpoint, no ``--seeds``)."""
    if not argv or argv[0] != "test":
        return None
    ckpt, rest = _take_option(argv[1:], "--ckpt_path")
    seeds_text, rest = _take_option(rest, "--seeds")
    several = ckpt is not None and ("," in ckpt or any(c in ckpt for c in "*?["))
    if not several and seeds_text is None:
        return None
    import glob

    ckpts: list[str] = []
    for part in (ckpt.split(",") if ckpt else [""]):
        part = part.strip()
        if any(c in part for c in "*?["):
            found = sorted(glob.glob(os.path.expanduser(part)))
            if not found:
                raise MissingFileError(f"--ckpt_path {part}: no file matches")
            ckpts += found
        else:
            ckpts.append(part)
    try:
        seeds: list[Optional[int]] = [int(x) for x in seeds_text.split(",")] if seeds_text else [None]
    except ValueError:
        raise ConfigError(f"--seeds {seeds_text}: give integers separated by commas, e.g. --seeds 0,1,2") from None
    return ckpts, seeds, rest


def sweep_test(argv: list[str]) -> Optional[int]:
    """``lit-gans test`` over several checkpoints and/or seeds: one ordinary ``test`` per (checkpoint, seed), each
    with its own results folder, then a summary folder ``<run dir>/test/sweep_<UTC time>/`` whose table has a row
    per run and test set (which checkpoint, which seed) and a ``mean ± std`` row per test set and metric (std:
    sample standard deviation over the runs). None when ``argv`` is a plain test (the caller runs it)."""
    planned = _sweep_plan(argv)
    if planned is None:
        return None
    import datetime as _dt
    import math
    import statistics

    from lit_gans.evaluation import TestReport
    from lit_gans.evaluation.report import markdown_table, write_report

    ckpts, seeds, rest = planned
    runs: list[dict[str, Any]] = []
    folders: list[Path] = []
    for ckpt in ckpts:
        for seed in seeds:
            args = ["test", *rest] + (["--ckpt_path", ckpt] if ckpt else []) + ([f"--seed_everything={seed}"] if seed is not None else [])
            cli = LitGansCLI(args=args)
            report = next(cb for cb in cli.trainer.callbacks if isinstance(cb, TestReport))
            if not cli.trainer.is_global_zero:
                continue
            folders.append(report.last_folder)
            used = cli.run_info.get("ckpt_path") or "(no checkpoint: untrained weights)"
            for row in report.last_rows or []:
                runs.append({"run": len(folders), "checkpoint": str(used), "seed": "-" if seed is None else seed, **row})
    if not folders:
        return 0
    summary: list[dict[str, Any]] = []
    for name in dict.fromkeys(str(r["set"]) for r in runs):
        mine = [r for r in runs if str(r["set"]) == name]
        row: dict[str, Any] = {"run": f"mean ± std ({len(mine)} runs)", "checkpoint": "-", "seed": "-", "set": name}
        for key in mine[0]:
            values = [r.get(key) for r in mine]
            if key in row or not all(isinstance(v, (int, float)) and not math.isnan(v) for v in values):
                continue
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            row[key] = f"{statistics.fmean(values):.4f} ± {std:.4f}"
        summary.append(row)
    now = _dt.datetime.now(_dt.timezone.utc)
    meta = {
        "experiment": "sweep", "date": now.isoformat(timespec="seconds"), "checkpoints": ckpts, "seeds": seeds,
        "runs": [str(f) for f in folders],
        "notes": [f"run {i + 1}: {f}" for i, f in enumerate(folders)],
    }
    out = write_report(folders[0].parent / f"sweep_{now.strftime('%Y%m%d-%H%M%S')}", runs + summary, meta, {}, [])
    print("\n" + markdown_table(runs + summary))
    print(f"lit_gans: summary of {len(folders)} test runs in {out.resolve()}")
    return 0


def cli_main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``lit-gans`` and ``python -m lit_gans`` (returns None: a console script's exit status)."""
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv and argv[0] in TOOLS:
            sys.exit(run_tool(argv[0], argv[1:]))
        if sweep_test(argv) is not None:
            return
        LitGansCLI(args=args)
    except Exception as err:  # noqa: BLE001
        user = _user_error(err)
        if user is None:
            raise
        print(f"lit-gans: error: {user}", file=sys.stderr)
        sys.exit(2)

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
  ``--trainer.default_root_dir`` (default ``runs/<experiment>``): checkpoints in ``checkpoints/``, sample grids
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
import sys
from pathlib import Path
from typing import Any, Optional

import lightning as L

from lit_gans.errors import UserError
from lit_gans.run import plan
from lit_gans.run._lightning import LightningCLIHooks
from lit_gans.run.callbacks import PredictionWriter, RunConfigSaver, RunTracker, SampleGridLogger
from lit_gans.run.checkpoint import checkpoint_summary
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


def _tools_help() -> str:
    lines = ["tools (lit-gans <tool> --help):"]
    for name, target in TOOLS.items():
        module = importlib.import_module(target.split(":")[0])
        summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        lines.append(f"  {name:<17} {summary}")
    return "\n".join(lines)


def _help_epilog() -> str:
    """Tools, models and experiments, for ``lit-gans --help`` (computed only when help is asked for)."""
    import pkgutil

    import lit_gans.models as models

    classes = set()
    for info in pkgutil.iter_modules(models.__path__):
        try:
            module = importlib.import_module(f"lit_gans.models.{info.name}")
        except Exception:  # noqa: BLE001 - help must not fail on an optional dependency
            continue
        for obj in vars(module).values():  # every public LightningModule of lit_gans.models (GANs and pretraining)
            if (isinstance(obj, type) and issubclass(obj, L.LightningModule) and obj.__module__ == module.__name__
                    and not obj.__name__.startswith("_")):
                classes.add(f"{obj.__module__}.{obj.__name__}")
    folders = [Path.cwd() / "experiments", Path(__file__).resolve().parents[1] / "experiments"]
    folder = next((f for f in folders if f.is_dir()), None)
    experiments = sorted(p.stem for p in folder.glob("*.yaml")) if folder else []
    lines = [_tools_help(), "", "models (--model=<class path>):"] + [f"  {c}" for c in sorted(classes)]
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
        parser_kwargs: dict[str, Any] = {}
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
        resume_id = (info.get("ckpt") or {}).get("wandb_run_id")
        resumed = plan.configure_loggers(config, stage or "fit", experiment, folder, resume_id)
        if resumed:
            info["wandb_resumed"] = resumed
        self.run_info = info

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


def cli_main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``lit-gans`` and ``python -m lit_gans`` (returns None: a console script's exit status)."""
    argv = sys.argv[1:] if args is None else list(args)
    try:
        if argv and argv[0] in TOOLS:
            sys.exit(run_tool(argv[0], argv[1:]))
        LitGansCLI(args=args)
    except Exception as err:  # noqa: BLE001
        user = _user_error(err)
        if user is None:
            raise
        print(f"lit-gans: error: {user}", file=sys.stderr)
        sys.exit(2)

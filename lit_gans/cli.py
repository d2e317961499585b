"""``lit-gans``: LightningCLI over any lit_gans model and datamodule (``class_path`` in YAML).

    lit-gans fit --config experiments/dcgan_digits.yaml
    lit-gans fit --config experiments/dcgan_digits.yaml --ckpt_path last      # resume exactly, same W&B run
    lit-gans predict --config experiments/dcgan_digits.yaml --ckpt_path last --writer.output_dir out/
    lit-gans data download facades                                            # lit_gans.datasets
    python -m lit_gans ...   (the same)

One experiment, one folder, one W&B run:

* The experiment's name is ``--experiment`` (default: the YAML's file name without ``.yaml``). Its folder is
  ``--trainer.default_root_dir`` (default ``runs/<experiment>``): checkpoints in ``checkpoints/``, sample grids
  in ``samples/``, the W&B files in ``wandb/``, the resolved config of each run, test results in ``test/``.
* ``--ckpt_path last`` takes the newest ``last*.ckpt`` of that folder (or a SLURM ``hpc_ckpt_N.ckpt``), and
  stops with a message naming the folder when there is none. A fresh ``fit`` into a folder that already holds
  checkpoints is refused (resume it, or pick another ``--experiment``): nothing is overwritten.
* Under SLURM, a requeued job (no ``--ckpt_path``) resumes from the newest checkpoint of its folder.
* The W&B run id is kept in the checkpoint: a resumed fit continues the same run (``resume="allow"``). Runs
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
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlparse

import lightning as L
from lightning.pytorch.cli import LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import WandbLogger

from lit_gans.callbacks import PredictionWriter, RunCheckpoint, RunTracker, SampleGridLogger
from lit_gans import smoke
from lit_gans.errors import ConfigError, MissingFileError, UserError
from lit_gans.utils.files import atomic_path

#: Lightning strategy names whose DDP would not find the unused (other) network's parameters.
_FIND_UNUSED = {"ddp": "ddp_find_unused_parameters_true", "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
                "ddp_fork": "ddp_fork_find_unused_parameters_true", "ddp_notebook": "ddp_notebook_find_unused_parameters_true"}


#: Trainer options where an int is a number of batches and a float a fraction of them.
_BATCH_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                 "overfit_batches", "val_check_interval")


def _wandb_has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or ""
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return host in netrc.read_text()
    except OSError:
        return False


def _wandb_reachable(timeout: float = 3.0) -> bool:
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def configure_wandb_mode(save_dir: str = ".") -> Optional[str]:
    """Set ``WANDB_MODE=offline`` when there is no key or no network (unless the user set a mode).

    Returns the notice printed, if any.
    """
    if os.environ.get("WANDB_MODE"):
        return None
    reason = "no API key (set WANDB_API_KEY or run `wandb login`)" if not _wandb_has_key() else (
        "W&B server unreachable" if not _wandb_reachable() else None
    )
    if reason is None:
        return None
    os.environ["WANDB_MODE"] = "offline"
    notice = f"lit_gans: W&B offline ({reason}); sync later with `wandb sync {save_dir}/wandb/offline-run-*`"
    print(notice, file=sys.stderr)
    return notice


# ---------------------------------------------------------------------------------------------- checkpoints
def read_checkpoint_info(path: str | os.PathLike) -> dict[str, Any]:
    """The lit_gans part of a checkpoint (model class, W&B run id, counters), read without loading tensors
    into memory (``mmap``). Raises ``UserError`` for a file that is not a checkpoint."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"--ckpt_path {path}: no such file")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - zip errors, pickle errors, truncated files
        raise UserError(
            f"--ckpt_path {path} is not a checkpoint (or is damaged: {type(err).__name__}). Give a .ckpt written by "
            "lit-gans fit (runs/<experiment>/checkpoints/last.ckpt); official weight files go to the model's "
            "generator_ckpt option"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"--ckpt_path {path} is not a Lightning checkpoint (no 'state_dict'); official weight files "
                        "go to the model's generator_ckpt option (--model.init_args.generator_ckpt)")
    info = dict(ckpt.get("lit_gans") or {})
    info.pop("rng", None)
    info["epoch"] = ckpt.get("epoch")
    if "model_class" not in info:  # older lit_gans checkpoints: LightningCLI's hparams carry the class
        info["model_class"] = (ckpt.get("hyper_parameters") or {}).get("_class_path")
    return info


def find_resume_checkpoint(folder: Path, ckpt_dir: Path, slurm: bool = False) -> Optional[Path]:
    """The newest ``last*.ckpt`` in ``ckpt_dir`` (and, under SLURM, ``hpc_ckpt_N.ckpt`` in ``folder``)."""
    candidates = [p for p in ckpt_dir.glob("last*.ckpt") if p.is_file()] if ckpt_dir.is_dir() else []
    if slurm or (folder / "hpc_ckpt_1.ckpt").exists():
        candidates += [p for p in folder.glob("hpc_ckpt_*.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _class_name(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return getattr(value, "class_path", None) or (value.get("class_path") if hasattr(value, "get") else None)


def _import(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def _is_subclass(class_path: Optional[str], base: type) -> bool:
    if not class_path:
        return False
    try:
        cls = _import(class_path)
    except Exception:  # noqa: BLE001 - jsonargparse reports unknown classes itself
        return False
    return isinstance(cls, type) and issubclass(cls, base)


# ---------------------------------------------------------------------------------------------- config per run
class RunConfigSaver(SaveConfigCallback):
    """Writes the resolved config of each run into the run's folder (``config.yaml`` for the experiment's first
    fit, ``config_<stage>_<time>.yaml`` for later ones: resumes, validate, test, predict; never overwritten)
    and records it in the W&B run (Lightning does not: PL #19728)."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.already_saved or not trainer.is_global_zero:
            return
        stage = getattr(stage, "value", stage)
        folder = Path(trainer.default_root_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "config.yaml"
        if stage != "fit" or path.exists():
            path = folder / f"config_{stage}_{time.strftime('%Y%m%d-%H%M%S')}.yaml"
            k = 2
            while path.exists():
                path = path.with_name(f"{path.stem.rsplit('.', 1)[0]}_{k}.yaml")
                k += 1
        with atomic_path(path) as tmp:
            tmp.write_text(self.parser.dump(self.config, skip_none=False))
        self.config_path = path
        self.already_saved = True
        self.save_config(trainer, pl_module, stage)

    def save_config(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                import yaml

                config = yaml.safe_load(self.parser.dump(self.config, skip_none=False, skip_check=True))
                logger.experiment.config.update(config, allow_val_change=True)


def _help_epilog() -> str:
    """Models and experiments, for ``lit-gans --help`` (computed only when help is asked for)."""
    import importlib
    import pkgutil

    import lit_gans.models as models
    from lit_gans.models.base import GANModule

    classes = set()
    for info in pkgutil.iter_modules(models.__path__):
        try:
            module = importlib.import_module(f"lit_gans.models.{info.name}")
        except Exception:  # noqa: BLE001 - help must not fail on an optional dependency
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, L.LightningModule) and obj.__module__ == module.__name__ and (
                issubclass(obj, GANModule) or "Pretrain" in obj.__name__
            ) and not obj.__name__.startswith("_"):
                classes.add(f"{obj.__module__}.{obj.__name__}")
    folders = [Path.cwd() / "experiments", Path(__file__).resolve().parents[1] / "experiments"]
    folder = next((f for f in folders if f.is_dir()), None)
    experiments = sorted(p.stem for p in folder.glob("*.yaml")) if folder else []
    lines = ["models (--model=<class path>):"] + [f"  {c}" for c in sorted(classes)]
    if folder:
        lines += ["", f"experiments (--config {os.path.relpath(folder)}/<name>.yaml):"]
        lines += ["  " + " ".join(experiments[i:i + 6]) for i in range(0, len(experiments), 6)]
    lines += ["", "datasets: lit-gans data list | lit-gans data download <name>",
              "quick start: lit-gans fit --config experiments/dcgan_digits.yaml"]
    return "\n".join(lines)


class LitGansCLI(LightningCLI):
    """LightningCLI with the run layer described in the module docstring."""

    def __init__(self, args: Optional[list[str]] = None, run: bool = True) -> None:
        argv = sys.argv[1:] if args is None else args
        parser_kwargs: dict[str, Any] = {}
        if any(a in ("-h", "--help") for a in argv):
            import argparse

            parser_kwargs = {"epilog": _help_epilog(), "formatter_class": argparse.RawDescriptionHelpFormatter}
        self.run_info: dict[str, Any] = {}
        self._argv = list(argv)
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
    def _parse_ckpt_path(self) -> None:
        """Replaces Lightning's (which lets a checkpoint's hyperparameters replace the YAML's model, even another
        model's): resolve the run folder, ``last``, SLURM requeue, and check the checkpoint against the model."""
        if not self.config.get("subcommand"):  # run=False: the caller runs the Trainer; the folder and names still apply
            self._prepare_run(None, self.config)
            return
        self._prepare_run(self.config.subcommand, self.config[self.config.subcommand])

    def _prepare_run(self, stage: Optional[str], config: Any) -> None:
        """Decide the run folder, checkpoint folder, strategy name, batch limits, the checkpoint this run starts
        from and the W&B run (module docstring). ``stage`` None (``run=False``): no checkpoint is resolved."""
        from lightning.fabric.plugins.environments import SLURMEnvironment

        trainer_cfg = config.trainer
        smoke.apply(trainer_cfg)  # LIT_GANS_SMOKE=1: tiny budgets (lit_gans/smoke.py)
        experiment = config.get("experiment")
        if not experiment:
            paths = config.get("config") or []
            first = next((p for p in paths if p), None)
            experiment = Path(str(first)).stem if first else (_class_name(config.model) or "run").rsplit(".", 1)[-1].lower()
            config.experiment = experiment
        info: dict[str, Any] = {"experiment": experiment, "stage": stage}

        fast_dev_run = trainer_cfg.get("fast_dev_run")
        if fast_dev_run:
            folder = Path(tempfile.mkdtemp(prefix=f"lit_gans-fast_dev_run-{experiment}-"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            print(f"lit_gans: fast_dev_run: files go to {folder} (removed at exit), not to the experiment's folder",
                  file=sys.stderr)
        else:
            folder = Path(trainer_cfg.get("default_root_dir") or Path("runs") / experiment)
        trainer_cfg.default_root_dir = str(folder)
        info["folder"] = folder

        # checkpoints: every ModelCheckpoint writes into <folder>/checkpoints unless told otherwise
        from lightning.pytorch.callbacks import ModelCheckpoint

        callbacks = trainer_cfg.get("callbacks") or []
        ckpt_dir = None
        for cb in callbacks:
            if _is_subclass(_class_name(cb), ModelCheckpoint):
                if cb.init_args.get("dirpath") in (None, ""):
                    cb.init_args.dirpath = str(folder / "checkpoints")
                ckpt_dir = ckpt_dir or Path(cb.init_args.dirpath)
        if ckpt_dir is None:
            ckpt_dir = folder / "checkpoints"
        info["ckpt_dir"] = ckpt_dir

        self._restore_batch_limits(config)
        strategy = trainer_cfg.get("strategy")
        if isinstance(strategy, str) and strategy in _FIND_UNUSED:
            trainer_cfg.strategy = _FIND_UNUSED[strategy]

        info["ckpt_path"] = None
        if stage is None:
            self._configure_loggers(config, "fit", experiment, folder, info)
            self.run_info = info
            return

        # which checkpoint this run starts from
        ckpt_path = config.get("ckpt_path")
        slurm = SLURMEnvironment.detect()
        if ckpt_path == "last" or (ckpt_path is None and slurm and stage == "fit" and not fast_dev_run):
            found = find_resume_checkpoint(folder, ckpt_dir, slurm=slurm)
            if found is None and ckpt_path == "last":
                raise MissingFileError(
                    f"--ckpt_path last: no checkpoint in {ckpt_dir} (nor hpc_ckpt_*.ckpt in {folder}). "
                    f"Train first (lit-gans fit --config ...), or give --ckpt_path <file>; the experiment is "
                    f"'{experiment}' (--experiment) and its folder {folder} (--trainer.default_root_dir)"
                )
            if found is not None:
                if ckpt_path is None:
                    print(f"lit_gans: SLURM job: resuming from {found}", file=sys.stderr)
                ckpt_path = str(found)
                config.ckpt_path = ckpt_path
        elif ckpt_path in ("best", "hpc", "registry"):
            pass  # Lightning's own meanings
        elif ckpt_path is None and stage == "fit" and not fast_dev_run:
            existing = sorted(ckpt_dir.glob("*.ckpt")) if ckpt_dir.is_dir() else []
            if existing:
                raise ConfigError(
                    f"{folder} already holds a run ({existing[0]}): resume it with --ckpt_path last, start another "
                    f"experiment with --experiment <new name> (folder runs/<new name>), or delete {folder}"
                )
        elif ckpt_path is None and stage == "predict":
            print("lit_gans: WARNING: predict without --ckpt_path: the weights are UNTRAINED (random). "
                  "Pass --ckpt_path last (or a .ckpt file) to use a trained model.", file=sys.stderr)

        if ckpt_path not in (None, "best", "hpc", "registry", "last"):
            ckpt_info = read_checkpoint_info(ckpt_path)
            info["ckpt"] = ckpt_info
            model_class = _class_name(config.model)
            saved_class = ckpt_info.get("model_class")
            if saved_class and model_class and saved_class != model_class:
                raise ConfigError(
                    f"--ckpt_path {ckpt_path} holds a {saved_class} model, but the config builds a {model_class}: "
                    "give a checkpoint of this experiment, or the config that trained this checkpoint"
                )
        info["ckpt_path"] = ckpt_path

        self._configure_loggers(config, stage, experiment, folder, info)
        self.run_info = info

    def _configure_loggers(self, config: Any, stage: str, experiment: str, folder: Path, info: dict) -> None:
        """W&B: one run per experiment run; ``predict`` opens none."""
        trainer_cfg = config.trainer
        logger = trainer_cfg.get("logger")
        if stage == "predict" and logger not in (None, False):
            trainer_cfg.logger = False  # predict writes files and logs nothing: no W&B run
            return
        for lg in logger if isinstance(logger, list) else [logger]:
            if not isinstance(lg, bool) and lg is not None and "WandbLogger" in str(_class_name(lg)):
                self._configure_wandb(lg, stage, experiment, folder, config, info)

    @staticmethod
    def _configure_wandb(logger: Any, stage: str, experiment: str, folder: Path, config: Any, info: dict) -> None:
        """Folder, name, group, job type and tags of the W&B run; a resumed fit continues its run."""
        args = logger.init_args
        if args.get("save_dir") in (None, ".", ""):
            args.save_dir = str(folder)
        if not args.get("name"):
            args.name = experiment if stage == "fit" else f"{experiment}-{stage}"
        extra = dict(logger.get("dict_kwargs") or {})
        extra.setdefault("group", experiment)
        extra.setdefault("job_type", stage)
        model_name = (_class_name(config.model) or "").rsplit(".", 1)[-1]
        extra.setdefault("tags", [t for t in (experiment, model_name) if t])
        resume_id = (info.get("ckpt") or {}).get("wandb_run_id") if stage == "fit" else None
        if resume_id and not args.get("id"):
            args.id = resume_id
            extra.setdefault("resume", "allow")
            info["wandb_resumed"] = resume_id
        logger.dict_kwargs = extra
        configure_wandb_mode(str(args.save_dir))

    def _restore_batch_limits(self, config: Any) -> None:
        """``--trainer.limit_train_batches=1`` means one batch (Lightning: an int is a number of batches, a float
        a fraction), but the parser turns ``Union[int, float]`` values into floats (1 -> 1.0, all batches). Read
        the value as written (command line, else the YAML files) and give an integer back its type."""
        import yaml

        for key in _BATCH_LIMITS:
            value = config.trainer.get(key)
            if not isinstance(value, float) or not value.is_integer():
                continue
            raw = None
            for i, arg in enumerate(self._argv):
                if arg.startswith(f"--trainer.{key}="):
                    raw = arg.split("=", 1)[1]
                elif arg == f"--trainer.{key}" and i + 1 < len(self._argv):
                    raw = self._argv[i + 1]
            if raw is None:
                for path in config.get("config") or []:
                    try:
                        loaded = yaml.safe_load(Path(str(path)).read_text()) or {}
                    except OSError:
                        continue
                    if key in (loaded.get("trainer") or {}):
                        raw = loaded["trainer"][key]
            if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
                config.trainer[key] = int(value)

    def before_instantiate_classes(self) -> None:
        config = self.config.get(self.subcommand, self.config) if self.subcommand else self.config
        trainer_cfg = config.get("trainer", {})
        callbacks = list(trainer_cfg.get("callbacks") or [])
        if self.subcommand == "fit" and trainer_cfg.get("enable_checkpointing") is not False and not any(
            _is_subclass(_class_name(cb), _import("lightning.pytorch.callbacks.ModelCheckpoint")) for cb in callbacks
        ):
            from jsonargparse import Namespace

            folder = Path(trainer_cfg.default_root_dir)
            callbacks.append(Namespace(class_path="lit_gans.callbacks.RunCheckpoint",
                                       init_args=Namespace(dirpath=str(folder / "checkpoints"))))
            trainer_cfg.callbacks = callbacks

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list) -> L.Trainer:
        from lightning.fabric.plugins.environments import ClusterEnvironment, SLURMEnvironment

        plugins = config.get("plugins")
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else ([plugins] if plugins is not None else [])
        from lightning.fabric.plugins.environments import TorchElasticEnvironment

        if (SLURMEnvironment.detect() and not TorchElasticEnvironment.detect()
                and not any(isinstance(p, ClusterEnvironment) for p in plugins)):
            # RunCheckpoint handles the requeue signal at a step boundary; Lightning's handler would save mid-step
            config["plugins"] = plugins + [SLURMEnvironment(auto_requeue=False)]
        extra = [RunTracker()]
        if self.subcommand == "test":
            from lit_gans.evaluation import TestReport

            if not any(isinstance(cb, TestReport) for cb in list(config.get("callbacks") or []) + list(callbacks)):
                extra.append(TestReport())  # the results table, files and page of every `lit-gans test`
        return super()._instantiate_trainer(config, list(callbacks) + extra)

    def _finish_wandb(self) -> None:
        """One subcommand = one W&B run: close it so a later run in the same process starts its own."""
        for logger in self.trainer.loggers:
            if isinstance(logger, WandbLogger) and logger._experiment is not None:
                logger.experiment.finish()
                logger._experiment = None

    def after_validate(self) -> None:
        self._finish_wandb()

    def after_test(self) -> None:
        self._finish_wandb()

    def after_predict(self) -> None:
        self._finish_wandb()

    def after_fit(self) -> None:
        trainer = self.trainer
        if not trainer.is_global_zero:
            return
        self._finish_wandb()
        lines = []
        tracker = next((cb for cb in trainer.callbacks if isinstance(cb, RunTracker)), None)
        if tracker is not None and tracker.final_metrics:
            lines.append("final validation: " + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(tracker.final_metrics.items())))
            if tracker.best is not None:
                name, value, g_iter = tracker.best
                lines.append(f"best {name} = {value:.4g} at g_iter {g_iter}")
        ckpt = trainer.checkpoint_callback
        if ckpt is not None:
            path = getattr(ckpt, "last_model_path", "") or getattr(ckpt, "best_model_path", "")
            if path:
                lines.append(f"checkpoint: {Path(path).resolve()}")
                lines.append(f"resume with: --ckpt_path last (experiment '{self.run_info.get('experiment')}')")
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


def cli_main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``lit-gans`` and ``python -m lit_gans`` (returns None: a console script's exit status)."""
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] == "data":
        from lit_gans.datasets import main as data_main

        sys.exit(data_main(argv[1:], prog="lit-gans data"))
    try:
        LitGansCLI(args=args)
    except Exception as err:  # noqa: BLE001
        user = _user_error(err)
        if user is None:
            raise
        print(f"lit-gans: error: {user}", file=sys.stderr)
        sys.exit(2)

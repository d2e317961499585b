"""What ``lit-gans`` decides before anything is built, one named step each (``LitGansCLI.resolve_run`` runs
them in order on the subcommand's parsed config):

1. :func:`name_experiment`       ``--experiment``, default the first ``--config`` file's name
2. :func:`choose_folder`         ``runs/<experiment>`` or ``--trainer.default_root_dir``; fast_dev_run: a temp folder
3. :func:`point_checkpoints`     every ModelCheckpoint writes into ``<folder>/checkpoints`` unless told otherwise
   :func:`drop_checkpoints_when_off`  ``--trainer.enable_checkpointing=false``: no checkpoint callback
4. :func:`restore_batch_limits`  ``limit_*_batches=1`` means one batch, as written
5. :func:`find_unused_strategy`  ``ddp`` -> ``ddp_find_unused_parameters_true``
   :func:`lock_run_folder`  one ``fit`` per run folder at a time (a flock the system releases with the process)
6. :func:`start_checkpoint`      ``last``, the SLURM requeue, a fresh fit into a used folder, predict untrained
7. :func:`check_checkpoint`      the checkpoint's model class against the config's, its W&B run id
8. :func:`configure_loggers`     the W&B run (``predict`` opens none)
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from lit_gans.errors import ConfigError, MissingFileError
from lit_gans.io.checkpoints import find_resume_checkpoint, read_checkpoint_info, weights_option
from lit_gans.run.layout import checkpoint_dir, default_folder
from lit_gans.run.wandb import configure_wandb_logger

#: Lightning strategy names whose DDP would not find the unused (other) network's parameters.
FIND_UNUSED = {"ddp": "ddp_find_unused_parameters_true", "ddp_spawn": "ddp_spawn_find_unused_parameters_true",
               "ddp_fork": "ddp_fork_find_unused_parameters_true", "ddp_notebook": "ddp_notebook_find_unused_parameters_true"}

#: Trainer options where an int is a number of batches and a float a fraction of them.
BATCH_LIMITS = ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches",
                "overfit_batches", "val_check_interval")

#: ``--ckpt_path`` values that keep Lightning's own meaning.
LIGHTNING_CKPT_NAMES = ("best", "hpc", "registry")


def class_name(value: Any) -> Optional[str]:
    """The class path of a ``class_path`` config entry (or of a plain string)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return getattr(value, "class_path", None) or (value.get("class_path") if hasattr(value, "get") else None)


def import_path(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(__import__(module, fromlist=[name]), name)


def is_subclass(class_path: Optional[str], base: type) -> bool:
    if not class_path:
        return False
    try:
        cls = import_path(class_path)
    except Exception:  # noqa: BLE001 - jsonargparse reports unknown classes itself
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def model_weights_option(config: Any) -> str:
    """The config's model option that loads official generator weights (named in messages)."""
    path = class_name(config.model)
    try:
        return weights_option(import_path(path) if path else None)
    except Exception:  # noqa: BLE001 - an unknown class is reported by jsonargparse itself
        return weights_option(None)


# ---------------------------------------------------------------------------------------------- the steps
def name_experiment(config: Any) -> str:
    experiment = config.get("experiment")
    if not experiment:
        paths = config.get("config") or []
        first = next((p for p in paths if p), None)
        experiment = Path(str(first)).stem if first else (class_name(config.model) or "run").rsplit(".", 1)[-1].lower()
        config.experiment = experiment
    return experiment


def choose_folder(config: Any, experiment: str) -> Path:
    trainer_cfg = config.trainer
    if trainer_cfg.get("fast_dev_run"):
        folder = Path(tempfile.mkdtemp(prefix=f"lit_gans-fast_dev_run-{experiment}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        print(f"lit_gans: fast_dev_run: files go to {folder} (removed at exit), not to the experiment's folder",
              file=sys.stderr)
    else:
        folder = Path(trainer_cfg.get("default_root_dir") or default_folder(experiment))
    trainer_cfg.default_root_dir = str(folder)
    return folder


def point_checkpoints(config: Any, folder: Path) -> Path:
    """Every ModelCheckpoint without a ``dirpath`` writes into ``<folder>/checkpoints``; returns the folder that
    ``last`` is looked up in (the first ModelCheckpoint's)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    ckpt_dir = None
    for cb in config.trainer.get("callbacks") or []:
        if is_subclass(class_name(cb), ModelCheckpoint):
            if cb.init_args.get("dirpath") in (None, ""):
                cb.init_args.dirpath = str(checkpoint_dir(folder))
            ckpt_dir = ckpt_dir or Path(cb.init_args.dirpath)
    return ckpt_dir if ckpt_dir is not None else checkpoint_dir(folder)


def drop_checkpoints_when_off(config: Any) -> bool:
    """``--trainer.enable_checkpointing=false`` turns checkpointing off: the shared defaults' ``RunCheckpoint``
    (and any other ModelCheckpoint of the callbacks list) is left out (Lightning refuses the two together).
    Returns whether checkpointing is off."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    trainer_cfg = config.trainer
    if trainer_cfg.get("enable_checkpointing") is not False:
        return False
    callbacks = trainer_cfg.get("callbacks")
    if callbacks:
        trainer_cfg.callbacks = [cb for cb in callbacks if not is_subclass(class_name(cb), ModelCheckpoint)]
    return True


def restore_batch_limits(config: Any, argv: list[str]) -> dict[str, int]:
    """``--trainer.limit_train_batches=1`` means one batch (Lightning: an int is a number of batches, a float
    a fraction), but the parser turns ``Union[int, float]`` values into floats (1 -> 1.0, all batches). Read
    the value as written (command line, else the YAML files) and give an integer back its type.

    Returns the integers restored: jsonargparse turns ``1`` (only 1: the int equal to the float 1.0) into ``1.0``
    once more when it instantiates the Trainer's arguments, so the CLI sets them again on the Trainer's own
    arguments (``LitGansCLI.prepare_trainer``)."""
    import yaml

    restored: dict[str, int] = {}
    for key in BATCH_LIMITS:
        value = config.trainer.get(key)
        if not isinstance(value, float) or not value.is_integer():
            continue
        raw = None
        for i, arg in enumerate(argv):
            if arg.startswith(f"--trainer.{key}="):
                raw = arg.split("=", 1)[1]
            elif arg == f"--trainer.{key}" and i + 1 < len(argv):
                raw = argv[i + 1]
        if raw is None:
            for path in config.get("config") or []:
                try:
                    loaded = yaml.safe_load(Path(str(path)).read_text()) or {}
                except OSError:
                    continue
                if key in (loaded.get("trainer") or {}):
                    raw = loaded["trainer"][key]
        if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
            config.trainer[key] = restored[key] = int(value)
    return restored


def find_unused_strategy(config: Any) -> None:
    strategy = config.trainer.get("strategy")
    if isinstance(strategy, str) and strategy in FIND_UNUSED:
        config.trainer.strategy = FIND_UNUSED[strategy]


def start_checkpoint(config: Any, stage: str, experiment: str, folder: Path, ckpt_dir: Path) -> Optional[str]:
    """The checkpoint this run starts from: ``last`` (or, for a requeued SLURM fit, no ``--ckpt_path``) is the
    newest checkpoint of the run folder; a fresh fit into a folder that holds a run is refused."""
    from lightning.fabric.plugins.environments import SLURMEnvironment

    fast_dev_run = config.trainer.get("fast_dev_run")
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
    elif ckpt_path in LIGHTNING_CKPT_NAMES:
        pass
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
    return ckpt_path


def check_checkpoint(config: Any, ckpt_path: Optional[str]) -> Optional[dict[str, Any]]:
    """The lit_gans part of the checkpoint (None for Lightning's names); one of another model class is refused."""
    if ckpt_path in (None, "last", *LIGHTNING_CKPT_NAMES):
        return None
    info = read_checkpoint_info(ckpt_path, option=model_weights_option(config))
    model_class, saved_class = class_name(config.model), info.get("model_class")
    if saved_class and model_class and saved_class != model_class:
        raise ConfigError(
            f"--ckpt_path {ckpt_path} holds a {saved_class} model, but the config builds a {model_class}: "
            "give a checkpoint of this experiment, or the config that trained this checkpoint"
        )
    return info


#: The lock files this process holds ((device, inode) -> open file: the same file after the folder was moved): a fit,
#: and a later fit of the same folder in this process, hold it until the process ends; the system drops it then,
#: however the process ended.
_LOCKS: dict[tuple[int, int], Any] = {}
LOCK_NAME = ".lit_gans.lock"


def lock_run_folder(folder: Path, stage: str, fast_dev_run: Any = False) -> None:
    """One ``fit`` per run folder at a time: an exclusive ``fcntl.flock`` on ``<folder>/.lit_gans.lock`` (holding
    the pid), taken by rank 0 (other ranks of a DDP job share the run). A second ``fit`` of the folder is refused,
    naming the folder and the other process; a killed run leaves no stale lock (the system releases a flock with
    the process). Other subcommands only read the run and take no lock."""
    if stage != "fit" or fast_dev_run:
        return
    if any(os.environ.get(var, "0") != "0" for var in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "NODE_RANK")):
        return
    import fcntl

    if Path(folder).exists() and not Path(folder).is_dir():
        raise ConfigError(f"the run folder {folder} is a file, not a folder: move the file away, or give the run "
                          f"another folder with --experiment <name> or --trainer.default_root_dir <folder>")
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        handle = open(Path(folder) / LOCK_NAME, "a+")
    except OSError as err:
        raise ConfigError(f"cannot write into the run folder {folder} ({err.strerror}): make it writable, or give "
                          f"the run another folder with --trainer.default_root_dir <folder>") from None
    stat = os.fstat(handle.fileno())
    key = (stat.st_dev, stat.st_ino)
    if key in _LOCKS:  # this process holds it already
        handle.close()
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        other = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"{folder} is in use by another `lit-gans fit` (pid {other}): two runs would write the same "
            f"checkpoints. Wait for it to end (or stop it), or start this one as another experiment with "
            f"--experiment <new name>"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _LOCKS[key] = handle


def configure_loggers(config: Any, stage: str, experiment: str, folder: Path, resume_id: Optional[str]) -> Optional[str]:
    """W&B: one run per experiment run; ``predict`` opens none. Returns the W&B run id resumed, if any."""
    trainer_cfg = config.trainer
    logger = trainer_cfg.get("logger")
    if trainer_cfg.get("fast_dev_run"):
        return None  # Lightning swaps the loggers for a DummyLogger: no W&B run, nothing to set up or to sync
    if stage == "predict" and logger not in (None, False):
        trainer_cfg.logger = False  # predict writes files and logs nothing: no W&B run
        return None
    resumed = None
    model_name = (class_name(config.model) or "").rsplit(".", 1)[-1]
    for lg in logger if isinstance(logger, list) else [logger]:
        if not isinstance(lg, bool) and lg is not None and "WandbLogger" in str(class_name(lg)):
            resumed = configure_wandb_logger(lg, stage, experiment, folder, model_name, resume_id) or resumed
    return resumed


def check_config_files(argv: list[str]) -> None:
    """Each ``--config`` file must hold a mapping of options (jsonargparse says only "Unexpected config:" for an
    empty one, and nothing that names the file)."""
    import yaml

    for i, arg in enumerate(argv):
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
        elif arg == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
        else:
            continue
        try:
            text = Path(path).read_text()
        except OSError:
            continue  # a missing file: jsonargparse names it
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            continue  # a syntax error: jsonargparse names the file and the line
        if loaded is None:
            raise ConfigError(f"--config {path} is empty (or holds only comments): give an experiment YAML with at "
                              f"least model: and data: (e.g. --config experiments/dcgan_digits.yaml), or leave it out")
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {path} holds a YAML {type(loaded).__name__}, not a mapping of options "
                              f"(model:, data:, trainer: ...): see experiments/dcgan_digits.yaml for the layout")


#: Words of Lightning's messages that name a Trainer option in other terms.
_OPTION_WORDS = {"Timer(duration=": "max_time", "gpu backend": "accelerator", "accelerator": "accelerator",
                 "SLURM_NTASKS": "devices", "devices": "devices"}


def trainer_option_error(error: BaseException) -> Optional[ConfigError]:
    """Lightning's own check of a Trainer option (``MisconfigurationException``, or a ``ValueError`` that names a
    Trainer option: ``max_epochs=-5``, ``accelerator=gpu`` without a GPU, ``val_check_interval`` past the epoch,
    ``strategy=foo``, ``num_nodes=0`` ...) as a ``ConfigError`` naming the option (None: not such an error)."""
    import inspect

    from lightning.fabric.utilities.exceptions import MisconfigurationException
    from lightning.pytorch import Trainer

    if isinstance(error, ConfigError):
        return None
    message = " ".join(str(error).split())
    if isinstance(error, RuntimeError) and "SLURM" in message:  # Lightning's checks of the job's srun variables
        return ConfigError(f"the SLURM job's settings: Lightning refuses them: {message} (docs/cluster.md shows "
                           f"a working sbatch script)")
    if not isinstance(error, (MisconfigurationException, ValueError)):
        return None
    options = [p for p in inspect.signature(Trainer.__init__).parameters if p != "self"]
    named = sorted((message.find(p), p) for p in options if re.search(rf"\b{p}\b", message))
    option = named[0][1] if named else next((o for w, o in _OPTION_WORDS.items() if w in message), None)
    if option is None and not isinstance(error, MisconfigurationException):
        return None  # a ValueError about something else: a bug, kept with its traceback
    where = f"--trainer.{option}" if option else "the Trainer options"
    return ConfigError(f"{where}: Lightning refuses this setting: {message} (lit-gans fit --help lists the options)")


def checkpoint_mismatch_error(error: BaseException, ckpt_path: Optional[str]) -> Optional[ConfigError]:
    """A checkpoint whose tensors do not fit the model the config builds (another width, another network:
    torch's "Error(s) in loading state_dict" with a line per tensor) as a ``ConfigError`` naming the first few."""
    message = str(error)
    if not ckpt_path or not isinstance(error, RuntimeError) or "Error(s) in loading state_dict" not in message:
        return None
    details = [" ".join(line.split()) for line in message.splitlines()[1:] if line.strip()]
    shown = "; ".join(d[:300] for d in details[:3]) + (f"; ... ({len(details) - 3} more)" if len(details) > 3 else "")
    return ConfigError(
        f"--ckpt_path {ckpt_path} does not fit the model the config builds: {shown}. Give the network options the "
        f"checkpoint was trained with (the run folder's config.yaml holds them), or start a new run "
        f"(--experiment <new name>)"
    )

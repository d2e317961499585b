"""The one place that reads or writes a checkpoint or a weight file (``torch.load`` / ``torch.save``).

* One read policy: ``torch.load(weights_only=True)`` (tensors, numbers, strings and containers; no code runs
  from a file). A file that needs pickled Python objects is refused with a message saying how to re-save it.
* Atomic writes: a temporary file in the target's own folder, flushed, then renamed into place
  (:func:`save_atomic`, :func:`write_checkpoint`): a full disk or a kill mid-write leaves the previous file.
* ``--ckpt_path last``: :func:`find_resume_checkpoint` (the newest ``last*.ckpt``, or a SLURM ``hpc_ckpt_N.ckpt``).
* The lit_gans part of a checkpoint (model class, W&B run id, counters): :func:`read_checkpoint_info`.
* A generator's weights from a lit_gans ``.ckpt``, a pretraining ``.ckpt``, a plain state dict, a BasicSR file or
  an official release file: :func:`load_weights_into` (into a network) and :func:`generator_state_dict` (as a
  state dict in this project's layout).
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError, MissingFileError, UserError
from lit_gans.utils.files import atomic_path
from lit_gans.utils.weights import WeightsFileError, unwrap_param_key

#: The key of lit_gans's ``RunTracker`` callback state in ``checkpoint["callbacks"]`` (its class name: Lightning's
#: ``Callback.state_key``), where the W&B run id is kept since the run layer moved to ``lit_gans.run``.
RUN_TRACKER_STATE_KEY = "RunTracker"
#: The model option that loads generator weights, per model (the CLI names it in its messages).
WEIGHT_OPTIONS = ("generator_ckpt", "generator_weights")
_STAGE1 = re.compile(r"(?:^|/)(?:runs/([^/]+)/checkpoints|checkpoints/([^/]+))/[^/]+\.ckpt$")


class CheckpointWriteError(UserError, OSError):
    """A checkpoint could not be written (disk full, permissions); the previous file is intact."""


class UnsafeCheckpointError(UserError):
    """A file that ``torch.load(weights_only=True)`` refuses: it holds pickled Python objects beyond tensors."""


# ---------------------------------------------------------------------------------------------- reading
def read(path: str | os.PathLike, mmap: bool = False) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: the one read policy of the project.

    Raises ``UnsafeCheckpointError`` for a file that needs pickled objects (naming the file, what it holds and how
    to re-save it); other errors (not a torch file, truncated) propagate for the caller to word."""
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as err:
            if not mmap or "mmap" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # legacy (non-zip) files: no mmap
    except pickle.UnpicklingError as err:
        match = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if match is None:  # not a pickle of objects: garbage or a damaged file, for the caller to word
            raise
        raise UnsafeCheckpointError(
            f"{path} holds Python objects beyond tensors (e.g. {match.group(1)}); lit_gans reads checkpoints "
            "and weight files with torch.load(weights_only=True) and runs no code from a file. If you trust the file, "
            "re-save its tensors: python -c \"import torch; o = torch.load('IN', weights_only=False); "
            "torch.save(o.get('state_dict', o), 'OUT.pth')\" and give OUT.pth"
        ) from None


def find_resume_checkpoint(folder: Path, ckpt_dir: Path, slurm: bool = False) -> Optional[Path]:
    """``last``: the newest ``last*.ckpt`` in ``ckpt_dir`` (and, under SLURM, ``hpc_ckpt_N.ckpt`` in ``folder``)."""
    candidates = [p for p in ckpt_dir.glob("last*.ckpt") if p.is_file()] if ckpt_dir.is_dir() else []
    if slurm or (folder / "hpc_ckpt_1.ckpt").exists():
        candidates += [p for p in folder.glob("hpc_ckpt_*.ckpt") if p.is_file()]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def weights_option(model_class: Optional[type]) -> str:
    """The command-line option of ``model_class`` that loads generator weights (``generator_ckpt`` or, for
    CycleGAN and EnlightenGAN, ``generator_weights``)."""
    import inspect

    names = set(inspect.signature(model_class).parameters) if isinstance(model_class, type) else set()
    name = next((n for n in WEIGHT_OPTIONS if n in names), WEIGHT_OPTIONS[0])
    return f"--model.init_args.{name}"


def read_checkpoint_info(path: str | os.PathLike, option: str = "--model.init_args.generator_ckpt") -> dict[str, Any]:
    """The lit_gans part of a checkpoint (model class, W&B run id, counters), read without loading tensors into
    memory (``mmap``). Raises ``UserError`` for a file that is not a checkpoint; ``option`` is the model's option
    for official weight files, named in that message.

    The W&B run id is the ``RunTracker`` callback's (``checkpoint["callbacks"]["RunTracker"]["wandb_run_id"]``);
    a checkpoint written before that (lit_gans 80d8f7e and older) holds it in ``checkpoint["lit_gans"]``."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"--ckpt_path {path}: no such file")
    try:
        ckpt = read(path, mmap=True)
    except UnsafeCheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - zip errors, pickle errors, truncated files
        raise UserError(
            f"--ckpt_path {path} is not a checkpoint (or is damaged: {type(err).__name__}). Give a .ckpt written by "
            f"lit-gans fit (runs/<experiment>/checkpoints/last.ckpt); official weight files go to the model's "
            f"{option.rsplit('.', 1)[-1]} option ({option})"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise UserError(f"--ckpt_path {path} is not a Lightning checkpoint (no 'state_dict'); official weight files "
                        f"go to the model's {option.rsplit('.', 1)[-1]} option ({option})")
    info = dict(ckpt.get("lit_gans") or {})
    info.pop("rng", None)
    info["epoch"] = ckpt.get("epoch")
    info["global_step"] = ckpt.get("global_step")
    # epochs the fit loop finished (what Lightning compares with max_epochs when it resumes)
    progress = ((ckpt.get("loops") or {}).get("fit_loop") or {}).get("epoch_progress") or {}
    info["epochs_done"] = (progress.get("current") or {}).get("processed")
    tracker = (ckpt.get("callbacks") or {}).get(RUN_TRACKER_STATE_KEY) or {}
    if tracker.get("wandb_run_id"):
        info["wandb_run_id"] = tracker["wandb_run_id"]
    if "model_class" not in info:  # older lit_gans checkpoints: LightningCLI's hparams carry the class
        info["model_class"] = (ckpt.get("hyper_parameters") or {}).get("_class_path")
    return info


def check_lightning_checkpoint(path: str, option: str = "--model.init_args.generator_ckpt") -> None:
    """Raise ``ConfigError`` when ``path`` is not a Lightning checkpoint (e.g. a released generator weights file
    given as ``--ckpt_path``), naming ``option``, the model's option that loads official weights."""
    try:
        data = read(path, mmap=True)
    except UnsafeCheckpointError:
        raise
    except Exception as err:  # noqa: BLE001  (any unreadable file: say which and why)
        raise ConfigError(f"--ckpt_path {path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if isinstance(data, dict) and "state_dict" in data and "pytorch-lightning_version" in data:
        return
    raise ConfigError(
        f"--ckpt_path {path} is not a lit_gans (Lightning) checkpoint: it has no 'state_dict' / 'pytorch-lightning_version'. "
        f"To evaluate released official weights, give them to the model instead and leave --ckpt_path out: "
        f"lit-gans test --config <experiment>.yaml {option}={path} (docs/evaluation.md)"
    )


# ---------------------------------------------------------------------------------------------- weights
def missing_weights_message(file: Path, option: str = "--model.init_args.generator_ckpt") -> str:
    """What to do about a weights file that is not there: a stage-1 checkpoint (``runs/<stage 1>/checkpoints/
    *.ckpt``) is made by running stage 1; anything else is a file to give."""
    m = _STAGE1.search(file.as_posix())
    if m:
        stage = m.group(1) or m.group(2)
        return (
            f"{option}: {file} does not exist. It is the checkpoint of stage 1 ({stage}): run stage 1 first: "
            f"`lit-gans fit --config experiments/{stage}.yaml`, or pass {option} <file> (a lit_gans checkpoint "
            "or an official weights file)"
        )
    return (
        f"{option}: weights file {file} does not exist; pass {option} <file>: a lit_gans checkpoint, or an "
        "official weights file downloaded beforehand (runs here do not fetch weights)"
    )


def _read_weights(path: str | os.PathLike, option: str) -> tuple[Path, Any]:
    from lit_gans.io.weights_registry import resolve  # an official weights NAME -> its downloaded file

    file = Path(resolve(path, option)).expanduser()
    if not file.is_file():
        raise MissingFileError(missing_weights_message(file, option))
    try:
        return file, read(file)
    except UnsafeCheckpointError:
        raise
    except Exception as err:  # noqa: BLE001  (zip and EOF errors alike: the file is not a weights file)
        raise WeightsFileError(f"{file}: cannot be read as a PyTorch weights file ({type(err).__name__}: {err})") from err


def _prefixed(obj: Mapping, file: Path, prefix: str, hint: str = "") -> dict[str, Tensor]:
    sd = {k[len(prefix):]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
    if not sd:
        raise WeightsFileError(f"{file}: checkpoint has no keys under '{prefix}'{hint}")
    return sd


def load_weights_into(
    module: nn.Module,
    path: str,
    prefix: str = "generator.",
    param_key: Optional[str] = None,
    option: str = "--model.init_args.generator_ckpt",
) -> nn.Module:
    """Load ``path`` into ``module`` strictly and return it.

    ``path`` may be
    * a Lightning checkpoint of this project (``*.ckpt`` with a ``state_dict``, a GAN's or a pretraining stage's):
      the keys under ``prefix`` are taken (``generator.`` by default; use ``generator_ema.`` for EMA weights);
    * a plain state_dict in this project's layout;
    * a BasicSR file ``{'params': sd, 'params_ema': sd}``: ``params_ema`` when present, else ``params``
      (``param_key`` chooses; see ``lit_gans.utils.weights.BASICSR_PARAM_KEYS`` for why);
    * an official release file: the module's ``convert_official_state_dict(sd)`` staticmethod maps it
      (pix2pix/CycleGAN ``latest_net_G.pth``, EnlightenGAN ``200_net_G_A.pth``, ESRGAN ``RRDB_ESRGAN_x4.pth``,
      the colorization tutorial's ``MainModel`` state dict).
    Errors name the file (and ``option``, the config key that gave it): ``MissingFileError`` when it is not
    there (for a stage-1 checkpoint: run stage 1 first), ``WeightsFileError`` when it does not fit.
    """
    file, obj = _read_weights(path, option)
    if isinstance(obj, dict) and "state_dict" in obj:
        sd = _prefixed(obj, file, prefix)
    elif isinstance(obj, Mapping):
        sd = dict(unwrap_param_key(obj, file, param_key))
    else:
        raise WeightsFileError(f"{file}: expected a state_dict or a Lightning checkpoint, got {type(obj).__name__}")
    own = set(module.state_dict())
    if set(sd) != own and hasattr(module, "convert_official_state_dict"):
        try:
            sd = module.convert_official_state_dict(sd)
        except (KeyError, ValueError, IndexError, TypeError) as err:
            reason = err.args[0] if isinstance(err, KeyError) and err.args else err
            raise WeightsFileError(f"{file}: not weights of {type(module).__name__}: {reason}") from err
    try:
        result = module.load_state_dict(sd, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise WeightsFileError(f"{file} does not fit {type(module).__name__} (check widths/blocks/scale): {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise WeightsFileError(
            f"{file} does not fit {type(module).__name__}: missing keys {result.missing_keys[:8]}, "
            f"unexpected keys {result.unexpected_keys[:8]} (check the network options, e.g. widths/blocks/scale)"
        )
    return module


def generator_state_dict(path: str, ema: bool = False) -> dict[str, Tensor]:
    """A super-resolution generator's weights in this project's layout from a lit_gans checkpoint (``generator.*``
    or, with ``ema``, ``generator_ema.*``), a plain state dict, or an official RRDBNet file (converted)."""
    from lit_gans.networks.rrdb import convert_official_state_dict

    file, obj = _read_weights(path, "--psnr/--gan")
    if isinstance(obj, dict) and "state_dict" in obj:
        return _prefixed(obj, file, "generator_ema." if ema else "generator.", " (trained without EMA?)" if ema else "")
    if not isinstance(obj, Mapping):
        raise WeightsFileError(f"{file}: expected a checkpoint or a state dict, got {type(obj).__name__}")
    try:
        return convert_official_state_dict(obj)
    except KeyError:
        return dict(obj)


# ---------------------------------------------------------------------------------------------- writing
def save_atomic(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, flushed, then ``os.replace`` (never a half-written
    file; the previous file stays when the write fails)."""
    with atomic_path(path, durable=True) as tmp:
        torch.save(obj, tmp)


def write_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """:func:`save_atomic` for a training checkpoint: a failed write (full disk, permissions) raises
    ``CheckpointWriteError`` saying the previous file is intact and how to go on."""
    path = Path(path)
    try:
        with atomic_path(path, durable=True) as tmp, open(tmp, "wb") as f:
            torch.save(checkpoint, f)
    except (OSError, RuntimeError) as err:
        if isinstance(err, RuntimeError) and not _torch_write_failure(err):
            raise
        import shutil

        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:.0f} MiB free on its disk"
        except OSError:
            free = "its disk could not be queried"
        reason = err.strerror if isinstance(err, OSError) and err.strerror else (
            "the disk is full or the write failed" if isinstance(err, RuntimeError) else str(err))
        raise CheckpointWriteError(
            f"could not write the checkpoint {path} ({reason}; {free}); the previous file, if any, is "
            "intact. Free space or choose another folder (--trainer.default_root_dir), then resume with "
            "--ckpt_path last"
        ) from err


def _torch_write_failure(err: RuntimeError) -> bool:
    """torch.save's own report of a failed write (a full disk: "[enforce fail at inline_container.cc] . unexpected
    pos N vs M", or "PytorchStreamWriter failed writing file")."""
    text = str(err)
    return "unexpected pos" in text or "PytorchStreamWriter" in text or "file write failed" in text


__all__ = [
    "CheckpointWriteError", "RUN_TRACKER_STATE_KEY", "UnsafeCheckpointError", "WeightsFileError",
    "check_lightning_checkpoint", "find_resume_checkpoint", "generator_state_dict", "load_weights_into",
    "missing_weights_message", "read", "read_checkpoint_info", "save_atomic", "weights_option", "write_checkpoint",
]

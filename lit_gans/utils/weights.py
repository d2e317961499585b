"""Loading generator (or any network) weights from a lit_gans checkpoint or an official release."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from lit_gans.errors import DataError, MissingFileError
from lit_gans.utils.files import atomic_path

# BasicSR saves ``{'params': sd}`` and, for a run with an EMA generator, ``{'params': sd, 'params_ema': ema_sd}``
# (``BaseModel.save_network``). When both are there the project loads ``params_ema`` by default: it is the network
# that BasicSR's own validation evaluates for such a run, and the key BasicSR-based releases and recipes load
# (Real-ESRGAN's inference, its fine-tuning configs: ``param_key_g: params_ema``). BasicSR's ``load_network``
# defaults to ``params`` (its raw training weights); pass ``param_key="params"`` for those.
BASICSR_PARAM_KEYS = ("params_ema", "params")
_STAGE1 = re.compile(r"(?:^|/)(?:runs/([^/]+)/checkpoints|checkpoints/([^/]+))/[^/]+\.ckpt$")


class WeightsFileError(DataError, KeyError):
    """A weights file that does not fit the network (also a ``KeyError``, as these errors were before)."""

    __str__ = Exception.__str__  # KeyError would quote the whole message


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


def unwrap_param_key(obj: Mapping, file: object, param_key: Optional[str] = None) -> Mapping:
    """The state dict inside a BasicSR file (``params`` / ``params_ema``; see ``BASICSR_PARAM_KEYS`` for the
    default), or ``obj`` itself when it is not one. ``param_key`` picks an entry by name."""
    if param_key is not None:
        if not isinstance(obj.get(param_key), Mapping):
            raise WeightsFileError(
                f"{file}: no '{param_key}' entry to load (top-level keys: {list(obj)[:8]}); "
                f"choose one of those as the param key, or leave it unset"
            )
        return obj[param_key]
    for key in BASICSR_PARAM_KEYS:
        if isinstance(obj.get(key), Mapping):
            return obj[key]
    return obj


def load_weights_into(
    module: nn.Module,
    path: str,
    prefix: str = "generator.",
    param_key: Optional[str] = None,
    option: str = "--model.init_args.generator_ckpt",
) -> nn.Module:
    """Load ``path`` into ``module`` strictly and return it.

    ``path`` may be
    * a Lightning checkpoint of this project (``*.ckpt`` with a ``state_dict``): the keys under
      ``prefix`` are taken (``generator.`` by default; use ``generator_ema.`` for EMA weights);
    * a plain state_dict in this project's layout;
    * a BasicSR file ``{'params': sd, 'params_ema': sd}``: ``params_ema`` when present, else ``params``
      (``param_key`` chooses; see ``BASICSR_PARAM_KEYS`` for why);
    * an official release file: the module's ``convert_official_state_dict(sd)`` staticmethod maps it
      (pix2pix/CycleGAN ``latest_net_G.pth``, EnlightenGAN ``200_net_G_A.pth``, ESRGAN ``RRDB_ESRGAN_x4.pth``,
      the colorization tutorial's ``MainModel`` state dict).
    Errors name the file (and ``option``, the config key that gave it): ``MissingFileError`` when it is not
    there (for a stage-1 checkpoint: run stage 1 first), ``WeightsFileError`` when it does not fit.
    """
    from lit_gans.io.weights_registry import resolve  # an official weights NAME -> its downloaded file (issue 23)
    file = Path(resolve(path, option)).expanduser()
    if not file.is_file():
        raise MissingFileError(missing_weights_message(file, option))
    try:
        obj = torch.load(file, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001  (pickle, zip and EOF errors alike: the file is not a weights file)
        raise WeightsFileError(f"{file}: cannot be read as a PyTorch weights file ({type(err).__name__}: {err})") from err
    if isinstance(obj, dict) and "state_dict" in obj:
        sd = {k[len(prefix):]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not sd:
            raise WeightsFileError(f"{file}: checkpoint has no keys under '{prefix}'")
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


def save_atomic(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` (never a half-written file)."""
    with atomic_path(path, durable=True) as tmp:
        torch.save(obj, tmp)

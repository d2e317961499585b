"""Loading generator (or any network) weights from a lit_gans checkpoint or an official release."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn


def load_weights_into(module: nn.Module, path: str, prefix: str = "generator.") -> nn.Module:
    """Load ``path`` into ``module`` strictly and return it.

    ``path`` may be
    * a Lightning checkpoint of this project (``*.ckpt`` with a ``state_dict``): the keys under
      ``prefix`` are taken (``generator.`` by default; use ``generator_ema.`` for EMA weights);
    * a plain state_dict in this project's layout;
    * an official release file: the module's ``convert_official_state_dict(sd)`` staticmethod maps it
      (pix2pix/CycleGAN ``latest_net_G.pth``, EnlightenGAN ``200_net_G_A.pth``, ESRGAN ``RRDB_ESRGAN_x4.pth``,
      BasicSR ``params``/``params_ema``).
    Missing or unexpected keys raise an error that names the file.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(
            f"weights file {file} does not exist; download it on a machine with network access and pass its "
            "local path (offline runs cannot fetch weights)"
        )
    obj = torch.load(file, map_location="cpu", weights_only=False)
    if isinstance(obj, dict) and "state_dict" in obj:
        sd = {k[len(prefix):]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not sd:
            raise KeyError(f"{file}: checkpoint has no keys under '{prefix}'")
    elif isinstance(obj, dict):
        sd = obj
    else:
        raise TypeError(f"{file}: expected a state_dict or a Lightning checkpoint, got {type(obj).__name__}")
    own = set(module.state_dict())
    if set(sd) != own and hasattr(module, "convert_official_state_dict"):
        sd = module.convert_official_state_dict(sd)
    try:
        result = module.load_state_dict(sd, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise KeyError(f"{file} does not fit {type(module).__name__} (check widths/blocks/scale): {err}") from err
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(
            f"{file} does not fit {type(module).__name__}: missing keys {result.missing_keys[:8]}, "
            f"unexpected keys {result.unexpected_keys[:8]} (check the network options, e.g. widths/blocks/scale)"
        )
    return module


def save_atomic(obj: object, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace`` (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)

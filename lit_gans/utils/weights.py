"""BasicSR's weight-file layout (no file I/O here: files are read by ``lit_gans.io.checkpoints``, which loads a
generator's weights from a lit_gans checkpoint or an official release with ``load_weights_into``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

from lit_gans.errors import DataError

# BasicSR saves ``{'params': sd}`` and, for a run with an EMA generator, ``{'params': sd, 'params_ema': ema_sd}``
# (``BaseModel.save_network``). When both are there the project loads ``params_ema`` by default: it is the network
# that BasicSR's own validation evaluates for such a run, and the key BasicSR-based releases and recipes load
# (Real-ESRGAN's inference, its fine-tuning configs: ``param_key_g: params_ema``). BasicSR's ``load_network``
# defaults to ``params`` (its raw training weights); pass ``param_key="params"`` for those.
BASICSR_PARAM_KEYS = ("params_ema", "params")


class WeightsFileError(DataError, KeyError):
    """A weights file that does not fit the network (also a ``KeyError``, as these errors were before)."""

    __str__ = Exception.__str__  # KeyError would quote the whole message


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

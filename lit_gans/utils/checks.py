"""Range checks of the integer options of networks and datamodules (widths, sizes, counts).

``check_sizes(Class, "--model.init_args.generator", locals())`` as the first line of a constructor checks every
argument annotated ``int`` (also ``Optional[int]``, ``int | None``, ``Sequence[int]``, ``list[int]``,
``tuple[int, ...]``): each must be >= 1, or >= 0 for a count that may be empty (:data:`ZERO_OK`). A bad value
raises a ``ConfigError`` naming the option, the value, the allowed range and the default, at construction, rather
than a tensor error with a negative dimension (``ngf=-8``) or a zero-width layer failing in the first step.
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Mapping

from lit_gans.errors import ConfigError

#: Arguments for which 0 is a valid value (an empty count, or "off").
ZERO_OK = frozenset({
    "cond_dim", "num_classes", "n_blocks", "num_blocks", "n_layers", "mbstd_group_size", "halve_above_width",
    "num_workers", "samples_per_epoch", "overlap", "num_sample_images",
})
#: Integer arguments that are not sizes (any value is valid) or that their constructor checks itself.
SKIP = frozenset({"seed", "sample_seed", "crop", "batch_size", "val_batch_size", "predict_batch_size"})


def _is_int_annotation(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else str(annotation)
    return bool(re.search(r"\bint\b", text)) and not re.search(r"\b(float|str|Literal)\b", text)


def check_sizes(owner: type, prefix: str, values: Mapping[str, Any]) -> None:
    """Raise a ``ConfigError`` for the first integer argument of ``owner.__init__`` in ``values`` that is out of
    range. ``prefix`` is the option path of ``owner`` (``--model.init_args.generator``, ``--data``): the message
    names ``{prefix}.init_args.{argument}``."""
    for name, param in inspect.signature(owner.__init__).parameters.items():
        if name in SKIP or name not in values or not _is_int_annotation(param.annotation):
            continue
        value = values[name]
        if value is None:
            continue
        minimum = 0 if name in ZERO_OK else 1
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in items):
            continue
        default = "" if param.default is inspect.Parameter.empty else f" (default {param.default!r})"
        what = "integers" if isinstance(value, (list, tuple)) else "an integer"
        raise ConfigError(
            f"{prefix}.init_args.{name}={value!r}: {owner.__name__} needs {what} >= {minimum} for {name}{default}"
        )

"""The messages of other packages that ``lit-gans`` silences, each by its exact text and category, all here.

Nothing is filtered globally: each entry names one message that says nothing to a lit_gans user (or that lit_gans
says better itself), and why. Installed by :func:`quiet_known_noise` when the CLI starts; the W&B ones need the
logger itself (:func:`quiet_wandb_logger`, called before its run starts).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

#: (message regex, category, why it is silenced) for :func:`warnings.filterwarnings`.
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning,
     "torch 2.x deprecation raised inside Lightning's own lightning/pytorch/utilities/_pytree.py, not lit_gans code"),
    (r"Checkpoint directory .* exists and is not empty", UserWarning,
     "ModelCheckpoint on every resume; lit-gans refuses a fresh fit into a used folder itself (lit_gans.run.plan)"),
)

#: (logger name, message start, why) for Lightning's info lines.
KNOWN_LOG_LINES: tuple[tuple[str, str, str], ...] = (
    ("lightning.pytorch.utilities.rank_zero", "💡 Tip: For seamless cloud logging",
     "an advertisement for another logger on every run (lit-gans logs to W&B)"),
)


class _DropLines(logging.Filter):
    def __init__(self, starts: tuple[str, ...]) -> None:
        super().__init__()
        self.starts = starts

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(self.starts)


def quiet_known_noise() -> None:
    """Install the filters of :data:`KNOWN_WARNINGS` and :data:`KNOWN_LOG_LINES` (idempotent)."""
    for message, category, _ in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, start, _ in KNOWN_LOG_LINES:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) and start in f.starts for f in logger.filters):
            logger.addFilter(_DropLines((start,)))


def quiet_wandb_logger(logger: Any) -> None:
    """Before a WandbLogger starts its run: create its folder (W&B warns "git root <dir> does not exist" for a
    missing one) and drop the ``anonymous`` init argument Lightning always passes (W&B warns that the setting has
    no effect)."""
    from lit_gans.run._lightning import drop_wandb_init_arg

    save_dir = getattr(logger, "save_dir", None)
    if save_dir:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
    drop_wandb_init_arg(logger, "anonymous", unless_set=True)

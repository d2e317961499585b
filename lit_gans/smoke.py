"""``LIT_GANS_SMOKE=1``: the same commands with tiny budgets, to check that they run (tests/test_readme.py runs the
README's command blocks this way).

With ``LIT_GANS_SMOKE`` set to a non-empty value other than ``0``, every ``fit``/``validate``/``test``/``predict``
run keeps its config but trains and evaluates a sliver of it:

* epoch counts (``max_epochs``, ``min_epochs``, ``check_val_every_n_epoch``) are divided by ``EPOCH_DIVISOR``,
  rounded up, so that their order is kept (a run extended from ``max_epochs=60`` to ``80`` still trains more:
  3 epochs, then 4); ``max_steps`` likewise;
* each epoch runs at most ``BATCHES`` batches of training, validation, test and prediction data;
* no sanity-check validation before fitting.

Everything else (the run folder, checkpoints, resuming, W&B, the messages) is what the command does without it.
The models learn nothing useful in such runs; they are for checking commands, not results.
"""

from __future__ import annotations

import math
import os
from typing import Any

#: epoch counts are divided by this (rounded up) in a smoke run
EPOCH_DIVISOR = 20
#: batches per epoch (train, validation, test, predict) in a smoke run
BATCHES = 2


def enabled() -> bool:
    return os.environ.get("LIT_GANS_SMOKE", "") not in ("", "0")


def apply(trainer: Any) -> None:
    """Shrink the budgets of a parsed ``trainer`` config (a mapping with Lightning Trainer arguments) in place
    when ``LIT_GANS_SMOKE`` is set; otherwise do nothing."""
    if not enabled():
        return
    for key in ("max_epochs", "min_epochs", "check_val_every_n_epoch"):
        value = trainer.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            trainer[key] = math.ceil(value / EPOCH_DIVISOR)
    steps = trainer.get("max_steps")
    if isinstance(steps, int) and steps > 0:
        trainer["max_steps"] = math.ceil(steps / EPOCH_DIVISOR)
    for key in ("limit_train_batches", "limit_val_batches", "limit_test_batches", "limit_predict_batches"):
        value = trainer.get(key)
        if value is None or (value != 0 and (isinstance(value, float) or value > BATCHES)):  # 0 (off) stays off
            trainer[key] = BATCHES
    trainer["num_sanity_val_steps"] = 0

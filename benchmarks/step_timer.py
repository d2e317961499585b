"""Step time per epoch, to catch a training step that slows down as training goes on.

A run whose step time grows (the CPU denormal slowdown: float32 values drifting below 1.2e-38 are computed
10-100x slower by x86 CPUs unless flushed to zero) gives the right numbers but takes many times longer. The
benchmarks attach :class:`EpochStepTimer` and report the late-epochs / early-epochs ratio; above
:data:`GROWTH_WARN` they print a warning.

Used by ``benchmarks/noise_gans.py`` and ``benchmarks/denormals.py`` (imported as a sibling module: the
benchmarks run as scripts, so their folder is on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time
import warnings
from typing import Any, Optional

import lightning as L
import torch

#: late / early ms-per-step ratio above which a benchmark warns that the step time grows during training
GROWTH_WARN = 1.5


class EpochStepTimer(L.Callback):
    """Mean wall time per training step of every epoch (ms).

    A step is timed from the end of the previous batch to the end of this one, so it includes fetching the
    batch but not the first batch of an epoch (iterator start-up) nor validation. CUDA is synchronised at
    each boundary when the module is on a GPU.
    """

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose  # print each epoch's ms/step (e.g. when attached to a CLI run)
        self.epoch_ms: list[float] = []
        self._last: Optional[float] = None
        self._steps: list[float] = []

    def _now(self, pl_module: L.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._last, self._steps = None, []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        now = self._now(pl_module)
        if self._last is not None:
            self._steps.append(now - self._last)
        self._last = now

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._steps:
            self.epoch_ms.append(1e3 * statistics.fmean(self._steps))
            if self.verbose:
                print(f"epoch {trainer.current_epoch}: {self.epoch_ms[-1]:.1f} ms/step", flush=True)


def growth(epoch_ms: list[float], k: Optional[int] = None) -> dict[str, float]:
    """Early vs late step time: mean ms/step of epochs ``1..k`` (epoch 0 is warm-up) and of the last ``k``.

    ``k`` defaults to a tenth of the epochs, between 1 and 5. Returns ``early_ms``, ``late_ms`` and ``ratio``
    (NaN when there are fewer than two epochs to compare).
    """
    n = len(epoch_ms)
    if n < 2:
        return {"early_ms": float("nan"), "late_ms": float("nan"), "ratio": float("nan")}
    k = k or max(1, min(5, n // 10))
    first = 1 if n > k + 1 else 0  # skip the warm-up epoch when there are enough epochs
    early = statistics.fmean(epoch_ms[first:first + k])
    late = statistics.fmean(epoch_ms[-k:])
    return {"early_ms": early, "late_ms": late, "ratio": late / early}


def warn_if_growing(name: str, g: dict[str, float], limit: float = GROWTH_WARN) -> bool:
    """Warn (and return True) when the late / early step-time ratio exceeds ``limit``."""
    if g["ratio"] > limit:
        warnings.warn(
            f"{name}: the training step slowed down {g['ratio']:.2f}x during training "
            f"({g['early_ms']:.1f} -> {g['late_ms']:.1f} ms/step; limit {limit}). On a CPU, check for denormal "
            "floats (torch.set_flush_denormal(True)) or other per-step growth.",
            RuntimeWarning,
            stacklevel=2,
        )
        return True
    return False

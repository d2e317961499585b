"""A callback for tests that signals its own process (SIGKILL by default: a crash that no Python code can react to;
SIGUSR1: SLURM's requeue notice) at a given generator iteration: an exact, repeatable point of training."""

from __future__ import annotations

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    """Send ``sig`` to this process once, when the model reaches generator iteration ``g_iter``."""

    def __init__(self, g_iter: int, sig: str = "SIGKILL") -> None:
        self.g_iter, self.sig = g_iter, sig
        self.sent = False

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
        if pl_module.g_iter >= self.g_iter and not self.sent:
            self.sent = True
            os.kill(os.getpid(), getattr(signal, self.sig))

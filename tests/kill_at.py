"""A callback for tests that kills its own process with SIGKILL at a given generator iteration: a crash that
no Python code can react to (no finally, no atexit), at an exact, repeatable point of training."""

from __future__ import annotations

import os
import signal

from lightning.pytorch.callbacks import Callback


class KillAt(Callback):
    def __init__(self, g_iter: int, sig: str = "SIGKILL") -> None:
        self.g_iter, self.sig = g_iter, sig

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
        if pl_module.g_iter >= self.g_iter:
            os.kill(os.getpid(), getattr(signal, self.sig))

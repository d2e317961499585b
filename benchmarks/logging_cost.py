"""Per-step cost of the step logging (issue 17): the same 64 px DCGAN steps (width 8, batch 64, CPU, one thread)
with ``GANModule._record`` as it is and replaced by a no-op, at ``log_every_n_steps`` 50 (Lightning's default)
and 1 (every step, which is what every step cost before: three ``log_dict`` calls, 14 values).

    OMP_NUM_THREADS=1 python benchmarks/logging_cost.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules.digits import DigitsDataModule  # noqa: E402
from lit_gans.models.base import GANModule  # noqa: E402
from lit_gans.models.noise import DCGAN  # noqa: E402
from lit_gans.networks.dcgan import DCGANDiscriminator, DCGANGenerator  # noqa: E402


class StepTimer(L.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_batch_start(self, *args) -> None:  # noqa: ANN002
        self._start = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:  # noqa: ANN002
        self.times.append(time.perf_counter() - self._start)


def median_step_ms(logging: bool, every: int, steps: int = 60) -> float:
    original = GANModule._record
    if not logging:
        GANModule._record = lambda self, logs, batch_idx: None
    try:
        L.seed_everything(0, verbose=False)
        model = DCGAN(DCGANGenerator(100, 1, 64, 8), DCGANDiscriminator(1, 64, 8))
        timer = StepTimer()
        trainer = L.Trainer(
            accelerator="cpu", max_steps=2 * steps, logger=CSVLogger(tempfile.mkdtemp()), log_every_n_steps=every,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
            callbacks=[timer],
        )
        trainer.fit(model, DigitsDataModule(image_size=64, batch_size=64))
        return statistics.median(timer.times[10:]) * 1000  # the first steps warm up
    finally:
        GANModule._record = original


def main() -> None:
    torch.set_num_threads(1)
    for every in (50, 1):
        pairs = [(median_step_ms(True, every), median_step_ms(False, every)) for _ in range(3)]  # interleaved
        with_log = statistics.median(p[0] for p in pairs)
        without = statistics.median(p[1] for p in pairs)
        print(f"log_every_n_steps={every}: {with_log:.1f} ms/step with logging, {without:.1f} without: "
              f"logging costs {with_log - without:.2f} ms/step")


if __name__ == "__main__":
    main()

"""A callback that records, per rank, a draw of the noise stream and the final parameters (DDP tests)."""

from pathlib import Path

import lightning as L
import torch


class RankProbe(L.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.noise = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        if self.noise is None:
            state = torch.get_rng_state()
            self.noise = torch.randn(8)  # what this rank's generator input stream looks like
            torch.set_rng_state(state)  # leave the stream untouched

    def on_train_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        self.out_dir.mkdir(parents=True, exist_ok=True)
        params = {n: p.detach().clone() for n, p in pl_module.named_parameters()}
        torch.save(
            {"noise": self.noise, "params": params, "g_iter": pl_module.g_iter, "world_size": trainer.world_size},
            self.out_dir / f"rank{trainer.global_rank}.pt",
        )

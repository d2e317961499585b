"""Records what each DDP rank holds, for the DDP tests (tests/test_ddp.py, tests/test_ddp_families.py,
tests/test_multinode.py).

* ``RankProbe``: a callback that writes, per rank, a draw of the noise stream, the final parameters (every
  network, the EMA included), buffers and finite-checkable training metrics (``rank<r>.pt``), the validation
  metrics (``val_rank<r>.pt``) and the names that ``predict`` returned (``predict_rank<r>.pt``).
* ``python -m tests.ddp_probe [--fit-only] <out_dir> <CLI arguments of fit, no subcommand>``: the real
  ``LitGansCLI`` (``run=False``) and one ``Trainer`` run ``fit``, then save ``<out_dir>/final.ckpt``, then
  ``validate`` and ``predict`` from that checkpoint, in the same processes (one DDP launch instead of three:
  the processes start once). Lightning's subprocess launcher re-runs this module on every rank.
"""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch


class RankProbe(L.Callback):
    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.noise = None
        self.names: list[str] = []

    def _save(self, trainer: L.Trainer, what: str, obj: dict) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(obj, self.out_dir / f"{what}rank{trainer.global_rank}.pt")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201
        if self.noise is None:
            state = torch.get_rng_state()
            self.noise = torch.randn(8)  # what this rank's generator input stream looks like
            torch.set_rng_state(state)  # leave the stream untouched

    def on_train_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        params = {n: p.detach().clone() for n, p in pl_module.named_parameters()}
        buffers = {n: b.detach().clone() for n, b in pl_module.named_buffers()}
        metrics = {k: v.detach().clone() for k, v in trainer.callback_metrics.items() if k.startswith("train")}
        self._save(trainer, "", {
            "noise": self.noise, "params": params, "buffers": buffers, "metrics": metrics,
            "g_iter": pl_module.g_iter, "world_size": trainer.world_size,
            "images_seen": getattr(pl_module, "images_seen", None),
        })

    def on_validation_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        if trainer.sanity_checking:
            return
        metrics = {k: v.detach().clone() for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        self._save(trainer, "val_", {"metrics": metrics})

    def on_predict_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):  # noqa: ANN001, ANN201
        if isinstance(outputs, dict) and "names" in outputs:
            self.names += [str(n) for n in outputs["names"]]

    def on_predict_end(self, trainer, pl_module):  # noqa: ANN001, ANN201
        self._save(trainer, "predict_", {"names": self.names})


def build(out_dir: Path, args: list[str]):  # noqa: ANN201
    """The real CLI (no subcommand, ``run=False``) with a ``RankProbe`` writing to ``out_dir``."""
    from lit_gans.cli import LitGansCLI

    return LitGansCLI(args=[*args, "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={out_dir}"], run=False)


def main(argv: list[str]) -> None:
    fit_only = argv[0] == "--fit-only"
    argv = argv[1:] if fit_only else argv
    out_dir = Path(argv[0])
    cli = build(out_dir, argv[1:])
    trainer, model, data = cli.trainer, cli.model, cli.datamodule
    trainer.fit(model, datamodule=data)
    if fit_only:
        trainer.strategy.barrier("ddp_probe_done")
        return
    ckpt = out_dir / "final.ckpt"
    trainer.save_checkpoint(ckpt)  # every rank calls it; rank 0 writes
    trainer.validate(model, datamodule=data, ckpt_path=str(ckpt), verbose=False)
    trainer.predict(model, datamodule=data, ckpt_path=str(ckpt), return_predictions=False)
    # Lightning's launcher does not wait for the other ranks when rank 0 returns: wait here until every rank has
    # written its files (predict ends without a collective)
    trainer.strategy.barrier("ddp_probe_done")


if __name__ == "__main__":
    main(sys.argv[1:])

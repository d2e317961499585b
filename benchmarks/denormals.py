"""The CPU denormal slowdown of the README's main command, with and without ``torch.set_flush_denormal``.

``GANModule.setup`` flushes denormal floats to zero on every run. This script builds the same Trainer as
``lit-gans fit --config experiments/dcgan_digits.yaml`` (LitGansCLI on that YAML; no logger, no sample grids,
no validation) and turns the flush back off for the runs marked ``off`` (a callback calls
``torch.set_flush_denormal(False)`` at ``on_fit_start``, after the module's ``setup``):

1. trains ``--epochs`` epochs with the flush ``--train-flush`` (default off: the behaviour before the fix), printing
   ms per step at every epoch, and saves the last checkpoint;
2. resumes that checkpoint for ``--resume-epochs`` more epochs, alternately with the flush off and on,
   ``--repeats`` times each, and prints the wall time of each resumed run;
3. counts the subnormal float32 values in the checkpoint's weights and optimizer states.

    OMP_NUM_THREADS=1 python benchmarks/denormals.py                       # 50 epochs without the flush, then resume
    OMP_NUM_THREADS=1 python benchmarks/denormals.py --train-flush on      # the same with the fix
    OMP_NUM_THREADS=1 python benchmarks/denormals.py --ckpt runs/x/last.ckpt --epochs 0   # resume only

Run with one thread (``OMP_NUM_THREADS=1``) so that two runs side by side share the machine evenly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from lit_gans.cli import LitGansCLI
from step_timer import EpochStepTimer, growth

ROOT = Path(__file__).resolve().parents[1]
TINY = torch.finfo(torch.float32).tiny  # 1.18e-38: below it (and non-zero) a float32 is subnormal


class FlushDenormals(L.Callback):
    """Sets ``torch.set_flush_denormal(flush)`` once the module's own ``setup`` has run."""

    def __init__(self, flush: bool) -> None:
        self.flush = flush

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        torch.set_flush_denormal(self.flush)


def build(max_epochs: int, flush: bool, seed: int):  # noqa: ANN201
    args = [
        "--config", str(ROOT / "experiments" / "dcgan_digits.yaml"), f"--seed_everything={seed}",
        f"--trainer.max_epochs={max_epochs}", "--trainer.logger=false", "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false", "--trainer.check_val_every_n_epoch=100000",
        "--trainer.num_sanity_val_steps=0", "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]",
    ]
    cli = LitGansCLI(args=args, run=False)
    timer = EpochStepTimer()
    cli.trainer.callbacks.extend([FlushDenormals(flush), timer])
    return cli, timer


def subnormals(ckpt: Path) -> tuple[int, int]:
    """(subnormal float32 values, all float32 values) in the checkpoint's weights and optimizer states."""
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    tensors = [t for t in state["state_dict"].values() if t.dtype == torch.float32]
    for opt in state.get("optimizer_states", []):
        for s in opt["state"].values():
            tensors += [t for t in s.values() if torch.is_tensor(t) and t.dtype == torch.float32]
    torch.set_flush_denormal(False)  # count them as stored
    sub = sum(int(((t != 0) & (t.abs() < TINY)).sum()) for t in tensors)
    return sub, sum(t.numel() for t in tensors)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=50, help="training epochs before the checkpoint (0: use --ckpt)")
    ap.add_argument("--train-flush", choices=["on", "off"], default="off")
    ap.add_argument("--ckpt", type=Path, default=None, help="resume this checkpoint instead of training one")
    ap.add_argument("--resume-epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sys.argv = sys.argv[:1]  # LitGansCLI gets its arguments from build(), not from this command line
    tmp = Path(tempfile.mkdtemp(prefix="lit_gans_denormals_"))
    ckpt = args.ckpt
    print(f"threads: {torch.get_num_threads()}")
    if args.epochs:
        cli, timer = build(args.epochs, args.train_flush == "on", args.seed)
        start = time.perf_counter()
        cli.trainer.fit(cli.model, cli.datamodule)
        print(f"trained {args.epochs} epochs with the flush {args.train_flush}: {time.perf_counter() - start:.1f} s")
        print("ms/step per epoch: " + ", ".join(f"{m:.0f}" for m in timer.epoch_ms))
        g = growth(timer.epoch_ms)
        print(f"early {g['early_ms']:.1f} ms/step, late {g['late_ms']:.1f} ms/step, ratio {g['ratio']:.2f}")
        ckpt = tmp / f"epoch{args.epochs}_flush_{args.train_flush}.ckpt"
        cli.trainer.save_checkpoint(ckpt)
    sub, total = subnormals(ckpt)
    print(f"checkpoint {ckpt}: {sub} subnormal float32 values of {total}")
    rows = []
    for _ in range(args.repeats):
        for flush in (False, True):
            state = torch.load(ckpt, map_location="cpu", weights_only=False)
            progress = state["loops"]["fit_loop"]["epoch_progress"]["current"]
            # epochs finished: a ModelCheckpoint file written at an epoch's end counts it as started, not completed
            done = max(progress["completed"], progress["started"])
            epochs = done + args.resume_epochs
            cli, timer = build(epochs, flush, args.seed)
            start = time.perf_counter()
            cli.trainer.fit(cli.model, cli.datamodule, ckpt_path=str(ckpt))
            rows.append((flush, time.perf_counter() - start, timer.epoch_ms))
            print(f"resume {args.resume_epochs} epochs, flush {'on' if flush else 'off'}: {rows[-1][1]:.1f} s "
                  f"(ms/step per epoch: {', '.join(f'{m:.0f}' for m in timer.epoch_ms)})", flush=True)
    off = sorted(s for f, s, _ in rows if not f)
    on = sorted(s for f, s, _ in rows if f)
    print(f"| resumed from | epochs | flush off (s) | flush on (s) | off / on |\n|---|---|---|---|---|\n"
          f"| {ckpt.name} | {args.resume_epochs} | {off[len(off) // 2]:.1f} | {on[len(on) // 2]:.1f} | "
          f"{off[len(off) // 2] / on[len(on) // 2]:.2f} |")


if __name__ == "__main__":
    main()

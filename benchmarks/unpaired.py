"""Learning benchmark of CycleGAN and EnlightenGAN on the embedded photos (offline, CPU).

    python benchmarks/unpaired.py                       # both, the step counts of the docs table
    python benchmarks/unpaired.py --model enlightengan --steps 300

Defined by a fixed number of generator iterations (not wall time), seeded, so CPU contention does not
change the numbers. Each model is built from its embedded YAML (experiments/*_embedded.yaml) through
the real CLI parser, with the reduced sizes below (stated in the printed table), and trained with the
paper's optimizers and losses.

* EnlightenGAN: mean brightness, SSIM and PSNR against the originals, and NIQE, of the darkened held-out
  photos (coffee, flower: never trained on; ``datamodules.lowlight``) before and after training,
  with the darkened input itself as the baseline. Success: brightness moves toward the originals'
  and SSIM rises above the dark input's.
* CycleGAN (dark <-> normal photo halves): the cycle-consistency L1 |F(G(A)) - A| and |G(F(B)) - B|,
  on training batches (mean of the first and of the last 20 iterations) and on the held-out photos.
  Success: it falls well below its start.

Prints a markdown table (and writes JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lightning as L  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

SETTINGS = {
    "cyclegan": [  # ngf = ndf = 16, 6 blocks, 64 px crops of 72 px resizes, batch 4
        "--data.init_args.load_size=72", "--data.init_args.crop_size=64", "--data.init_args.batch_size=4",
    ],
    "enlightengan": [  # base 8, ndf 16, 64 px crops, batch 4, 4 local patches of 32, random VGG16
        "--data.init_args.crop_size=64", "--data.init_args.batch_size=4",
    ],
}
YAML = {"cyclegan": "cyclegan_embedded.yaml", "enlightengan": "enlightengan_embedded.yaml"}
DEFAULT_STEPS = {"cyclegan": 200, "enlightengan": 300}  # the docs table


class TrainLog(L.Callback):
    """Keeps every logged ``train/*`` scalar of every generator iteration."""

    def __init__(self, every: int = 25) -> None:
        self.rows: list[dict[str, float]] = []
        self.every, self.t0 = every, time.time()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001, ANN201
        self.rows.append({k[6:]: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")})
        if len(self.rows) % self.every == 0:
            recent = self.rows[-self.every :]
            means = {k: np.mean([r[k] for r in recent]) for k in recent[0] if k not in ("g_iter", "d_iter")}
            print(f"  iter {len(self.rows)} ({time.time() - self.t0:.0f} s): " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()), flush=True)


def build(model: str, steps: int, seed: int):  # noqa: ANN201
    from lit_gans.cli import LitGansCLI

    args = [
        "--config", str(ROOT / "experiments" / YAML[model]), f"--seed_everything={seed}",
        "--trainer.logger=false", "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
        "--trainer.enable_checkpointing=false", "--trainer.callbacks=[]", "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0", "--trainer.accelerator=cpu", "--trainer.max_epochs=-1",
        f"--trainer.default_root_dir={tempfile.mkdtemp(prefix='lit_gans_bench_')}",  # config.yaml goes there
        # global_step counts the G and the D optimizer steps: 2 per generator iteration
        f"--trainer.max_steps={2 * steps}", "--data.init_args.num_workers=0", *SETTINGS[model],
    ]
    return LitGansCLI(args=args, run=False)


def heldout_pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:
    from datamodules.lowlight import embedded_lowlight_root

    root = embedded_lowlight_root()
    pairs = []
    for low in sorted((root / "low").glob("*.png")):
        load = lambda p: torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()).permute(2, 0, 1)[None].float() / 255.0  # noqa: E731
        pairs.append((load(low), load(root / "high" / low.name)))
    return pairs


@torch.no_grad()
def eval_enlightengan(model, pairs) -> dict[str, float]:  # noqa: ANN001
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    from lit_gans.metrics.niqe import find_niqe_params, niqe

    model.eval()
    rows = []
    for low, high in pairs:
        out = ((model.enhance(low * 2 - 1) + 1) / 2).clamp(0, 1)
        rows.append({
            "brightness_in": low.mean().item(), "brightness_out": out.mean().item(), "brightness_target": high.mean().item(),
            "ssim_in": structural_similarity_index_measure(low, high, data_range=1.0).item(),
            "ssim_out": structural_similarity_index_measure(out, high, data_range=1.0).item(),
            "psnr_in": peak_signal_noise_ratio(low, high, data_range=1.0).item(),
            "psnr_out": peak_signal_noise_ratio(out, high, data_range=1.0).item(),
            **({"niqe_in": niqe(low), "niqe_out": niqe(out), "niqe_target": niqe(high)} if find_niqe_params() else {}),
        })
    model.train()
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


@torch.no_grad()
def eval_cyclegan(model, pairs) -> dict[str, float]:  # noqa: ANN001
    model.eval()
    cyc_a, cyc_b = [], []
    for low, high in pairs:  # domain A = dark, B = normal
        a, b = low * 2 - 1, high * 2 - 1
        cyc_a.append(F.l1_loss(model.generator_ba(model.generator(a)), a).item())
        cyc_b.append(F.l1_loss(model.generator(model.generator_ba(b)), b).item())
    model.train()
    return {"heldout_cycle_a_l1": float(np.mean(cyc_a)), "heldout_cycle_b_l1": float(np.mean(cyc_b))}


def run(model_name: str, steps: int, seed: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    cli = build(model_name, steps, seed)
    model, dm, trainer = cli.model, cli.datamodule, cli.trainer
    log = TrainLog()
    trainer.callbacks.append(log)
    pairs = heldout_pairs()
    evaluate = eval_enlightengan if model_name == "enlightengan" else eval_cyclegan
    before = evaluate(model, pairs)
    t0 = time.time()
    trainer.fit(model, dm)
    seconds = time.time() - t0
    after = evaluate(model, pairs)
    result = {"model": model_name, "steps": model.g_iter, "seed": seed, "seconds": seconds, "before": before, "after": after,
              "settings": SETTINGS[model_name], "yaml": YAML[model_name]}
    if model_name == "cyclegan":
        k = min(20, len(log.rows) // 2)
        for name in ("cycle_a", "cycle_b"):  # logged weighted by lambda = 10: report the plain L1
            result[f"train_{name}_l1_first"] = float(np.mean([r[name] for r in log.rows[:k]])) / model.lambda_a
            result[f"train_{name}_l1_last"] = float(np.mean([r[name] for r in log.rows[-k:]])) / model.lambda_a
            result[f"train_{name}_l1_curve"] = [  # mean per window of 25 iterations
                float(np.mean([r[name] for r in log.rows[i : i + 25]])) / model.lambda_a for i in range(0, len(log.rows), 25)
            ]
    else:
        result["train_curve"] = {  # mean per window of 25 iterations of every logged loss
            key: [float(np.mean([r[key] for r in log.rows[i : i + 25]])) for i in range(0, len(log.rows), 25)]
            for key in log.rows[0]
            if key not in ("g_iter", "d_iter")
        }
    return result


def table(results: list[dict]) -> str:
    lines = ["| model | setting | metric | before | after | target / baseline |", "|---|---|---|---|---|---|"]
    for r in results:
        setting = f"{r['steps']} G iters, seed {r['seed']}, `{r['yaml']}` + {', '.join(s.split('.')[-1] for s in r['settings'])}"
        b, a = r["before"], r["after"]
        if r["model"] == "enlightengan":
            lines.append(f"| EnlightenGAN | {setting} | mean brightness | {b['brightness_out']:.3f} | {a['brightness_out']:.3f} | originals {a['brightness_target']:.3f}, dark input {a['brightness_in']:.3f} |")
            lines.append(f"| | | SSIM vs original | {b['ssim_out']:.3f} | {a['ssim_out']:.3f} | dark input {a['ssim_in']:.3f} |")
            lines.append(f"| | | PSNR vs original (dB) | {b['psnr_out']:.2f} | {a['psnr_out']:.2f} | dark input {a['psnr_in']:.2f} |")
            if "niqe_out" in a:
                lines.append(f"| | | NIQE (lower is better) | {b['niqe_out']:.2f} | {a['niqe_out']:.2f} | originals {a['niqe_target']:.2f}, dark input {a['niqe_in']:.2f} |")
        else:
            lines.append(f"| CycleGAN | {setting} | train cycle L1 A->B->A (first/last 20 iters) | {r['train_cycle_a_l1_first']:.4f} | {r['train_cycle_a_l1_last']:.4f} | |")
            lines.append(f"| | | train cycle L1 B->A->B | {r['train_cycle_b_l1_first']:.4f} | {r['train_cycle_b_l1_last']:.4f} | |")
            lines.append(f"| | | held-out cycle L1 A->B->A | {b['heldout_cycle_a_l1']:.4f} | {a['heldout_cycle_a_l1']:.4f} | |")
            lines.append(f"| | | held-out cycle L1 B->A->B | {b['heldout_cycle_b_l1']:.4f} | {a['heldout_cycle_b_l1']:.4f} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=["cyclegan", "enlightengan", "both"], default="both")
    parser.add_argument("--steps", type=int, default=None, help="generator iterations (default: 200 CycleGAN, 300 EnlightenGAN)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=str, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: steadiest on a shared machine)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names = ["cyclegan", "enlightengan"] if args.model == "both" else [args.model]
    results = []
    for name in names:
        results.append(run(name, args.steps or DEFAULT_STEPS[name], args.seed, args.threads))
        if args.json:  # after each model, so a long run keeps what it has
            Path(args.json).write_text(json.dumps(results, indent=2))
        print(table(results[-1:]), flush=True)
    print(table(results))
    for r in results:
        print(f"{r['model']}: {r['steps']} generator iterations in {r['seconds']:.0f} s wall (CPU, {args.threads} thread(s))")


if __name__ == "__main__":
    main()

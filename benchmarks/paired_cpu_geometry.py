"""Where the Pix2Pix training geometry (resize 286, random crop 256, flip) costs time when training on the CPU.

The facades configuration (``experiments/pix2pix_facades.yaml``: 256x256 photos, ``resize_and_crop`` 286 -> 256,
flips, batch 1) on a temporary folder of JPEG pairs. Per pair, interleaved, median of ``--pairs`` pairs, one thread:

* decode: ``PairedFiles[i]`` (what a DataLoader worker does in both paths);
* device path: the batch of one through ``on_after_batch_transfer``, which on a CPU trainer runs in the training
  process, between two steps (``train_geometry='device'``);
* worker path: ``GeometryInWorkers[i]`` minus the decode (runs in the DataLoader workers, in parallel with the
  step; ``train_geometry='auto'`` on a CPU trainer), and what is left in the training process for that batch.

    OMP_NUM_THREADS=1 python benchmarks/paired_cpu_geometry.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datamodules.paired import PairedDataModule, collate_images  # noqa: E402
from throughput import side_by_side  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        side_by_side(Path(tmp) / "train", 8, (256, 256), 0)
        kw = dict(preprocess="resize_and_crop", load_size=286, crop_size=256, flip=True, batch_size=1, num_workers=0, direction="BtoA")
        device, workers = PairedDataModule(tmp, train_geometry="device", **kw), PairedDataModule(tmp, train_geometry="workers", **kw)
        device.setup("fit")
        workers.setup("fit")
        device.trainer = workers.trainer = SimpleNamespace(training=True)
        t = {"decode": [], "device path (training process)": [], "worker path (in the workers)": [], "worker path (training process)": []}
        for i in range(args.pairs + 2):
            j = i % len(device.train_set)
            s0 = time.perf_counter()
            item = device.train_set[j]
            s1 = time.perf_counter()
            device.on_after_batch_transfer(collate_images([item]), 0)
            s2 = time.perf_counter()
            witem = workers.train_set[j]
            s3 = time.perf_counter()
            workers.on_after_batch_transfer(collate_images([witem]), 0)
            s4 = time.perf_counter()
            if i >= 2:  # warm-up
                t["decode"].append(s1 - s0)
                t["device path (training process)"].append(s2 - s1)
                t["worker path (in the workers)"].append(s3 - s2 - (s1 - s0))
                t["worker path (training process)"].append(s4 - s3)
    print(f"| facades pair, 286 -> 256, 1 thread, {args.pairs} pairs | median ms per pair |\n|---|---|")
    for k, v in t.items():
        print(f"| {k} | {1e3 * statistics.median(v):.2f} |")


if __name__ == "__main__":
    main()

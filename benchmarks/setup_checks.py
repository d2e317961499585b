"""Setup cost of the truncated-file check (datamodules.images.image_modes: header + last 4 KiB of each PNG/JPEG)
against a header-only pass, PIL's verify() and a full decode, on 1000 small files (64x64) and 40 large ones
(2040x1356, DIV2K-sized) per format. Files are written once under the given folder; times are warm-cache.

    PYTHONPATH=. python benchmarks/setup_checks.py /tmp/setup_checks

Prints markdown rows: format, size, method, time for all files.
"""
import sys
import time
from pathlib import Path
import numpy as np
from PIL import Image
from datamodules.images import image_modes
root = Path(sys.argv[1])
def smooth(rng, h, w):
    small = rng.random((max(2, h // 16), max(2, w // 16), 3))
    return np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))


for ext, (n, h, w) in [(e, c) for e in ("png", "jpg") for c in ((1000, 64, 64), (40, 1356, 2040))]:
    d = root / f"{ext}_{w}"
    if not d.exists():
        d.mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(n):
            Image.fromarray(smooth(rng, h, w)).save(d / f"{i:04d}.{ext}")
    files = sorted(d.iterdir())
    def header(files):
        for p in files:
            with Image.open(p) as im: im.mode
    def verify(files):
        for p in files:
            with Image.open(p) as im: im.verify()
    def decode(files):
        for p in files:
            with Image.open(p) as im: im.load()
    for name, fn in [("header only (before)", header), ("header + tail check (image_modes)", lambda f: image_modes(f)), ("PIL verify()", verify), ("full decode", decode)]:
        fn(files)  # warm the page cache
        t = time.perf_counter(); fn(files); dt = time.perf_counter() - t
        print(f"| {ext} | {n} x {w}x{h} | {name} | {dt * 1000:.0f} ms |")

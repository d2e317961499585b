"""NIQE of lit_gans against BasicSR 1.4.2's ``calculate_niqe`` on 20 images (reference values of tests/test_niqe.py).

Four skimage photos (astronaut, chelsea, coffee, rocket) x clean / noisy (sigma 20) / blurred (sigma 2) /
dark (0.15 x) / JPEG quality 20. BasicSR is imported file by file (its package ``__init__`` imports the whole
training stack); it needs ``pip install --no-deps --target <dir> basicsr==1.4.2 opencv-python-headless``:

    PYTHONPATH=.:<dir> python benchmarks/niqe_vs_basicsr.py <dir>

Prints one markdown row per image: BasicSR (it casts its input to float32), ours (float64), relative difference.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
import types

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data

from lit_gans.metrics import niqe as N


def basicsr_calculate_niqe(target: str):  # noqa: ANN201
    root = os.path.join(target, "basicsr")
    for name in ["basicsr", "basicsr.metrics", "basicsr.utils"]:
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split(".")[1:])]
        sys.modules[name] = module
    registry = types.ModuleType("basicsr.utils.registry")

    class _Registry:
        def register(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
            return args[0] if args and callable(args[0]) else (lambda f: f)

    registry.METRIC_REGISTRY = _Registry()
    sys.modules["basicsr.utils.registry"] = registry

    def load(name: str, path: str):  # noqa: ANN202
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    load("basicsr.utils.matlab_functions", f"{root}/utils/matlab_functions.py")
    sys.modules["basicsr.utils"].bgr2ycbcr = load("basicsr.utils.color_util", f"{root}/utils/color_util.py").bgr2ycbcr
    load("basicsr.metrics.metric_util", f"{root}/metrics/metric_util.py")
    return load("basicsr.metrics.niqe", f"{root}/metrics/niqe.py").calculate_niqe


def variants(img: np.ndarray):  # noqa: ANN201
    rs = np.random.RandomState(0)
    yield "clean", img
    yield "noisy", np.clip(img + rs.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    yield "blur", np.stack([gaussian_filter(img[..., c].astype(float), 2) for c in range(3)], -1).round().astype(np.uint8)
    yield "dark", (img.astype(np.float64) * 0.15).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=20)
    yield "jpeg20", np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def main() -> None:
    target = sys.argv[1]
    params = os.path.join(target, "basicsr", "metrics", "niqe_pris_params.npz")
    calculate_niqe = basicsr_calculate_niqe(target)
    print("| image | BasicSR | ours | rel. diff |\n|---|---|---|---|")
    worst = 0.0
    for name in ["astronaut", "chelsea", "coffee", "rocket"]:
        for kind, x in variants(getattr(data, name)()):
            ref = float(calculate_niqe(x[..., ::-1], 0, input_order="HWC", convert_to="y"))  # BasicSR takes BGR
            ours = N.niqe(x, params=params)
            worst = max(worst, abs(ours - ref) / ref)
            print(f"| {name} {kind} | {ref:.6f} | {ours:.6f} | {abs(ours - ref) / ref:.1e} |")
    print(f"\nlargest relative difference: {worst:.1e}")


if __name__ == "__main__":
    main()

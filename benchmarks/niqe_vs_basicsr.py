"""NIQE of lit_gans against BasicSR 1.4.2's ``calculate_niqe`` (the reference values of tests/test_niqe.py).

Images (``check_images()``, regenerated deterministically by the tests): four skimage photos (astronaut,
chelsea, coffee, rocket) x clean / noisy (sigma 20) / blurred (sigma 2) / dark (0.15 x) / JPEG quality 20;
text and graphics (skimage page, text, logo, camera, brick, moon, binary blobs, and JPEG q20 of page and
logo); dark astronaut (0.05 x); a bright flat area beside texture; and the images where NIQE is undefined
(constant, horizontal ramp, vertical stripes). BasicSR is imported file by file (its package ``__init__``
imports the whole training stack); it needs ``pip install --no-deps --target <dir> basicsr==1.4.2
opencv-python-headless``:

    PYTHONPATH=.:<dir> python benchmarks/niqe_vs_basicsr.py <dir>

Prints one markdown row per image: BasicSR (``uint8`` input, its float32 pipeline), ours, relative difference;
"n/a" where a side raises (BasicSR: numpy's ``LinAlgError``) or returns NaN (ours, with its reason).
"""

from __future__ import annotations

import importlib.util
import io
import math
import os
import sys
import types
from collections.abc import Iterator

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


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Through Pillow's libjpeg at ``quality`` and back (RGB or grey kept)."""
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())))


def photo_variants(img: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    rs = np.random.RandomState(0)
    yield "clean", img
    yield "noisy", np.clip(img + rs.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
    yield "blur", np.stack([gaussian_filter(img[..., c].astype(float), 2) for c in range(3)], -1).round().astype(np.uint8)
    yield "dark", (img.astype(np.float64) * 0.15).round().astype(np.uint8)
    yield "jpeg20", jpeg(img, 20)


def check_images() -> Iterator[tuple[str, np.ndarray]]:
    """(name, uint8 image [H, W, 3] RGB or [H, W] grey), deterministic."""
    for name in ["astronaut", "chelsea", "coffee", "rocket"]:
        for kind, x in photo_variants(getattr(data, name)()):
            yield f"{name} {kind}", x
    yield "astronaut very dark (0.05x)", (data.astronaut().astype(np.float64) * 0.05).round().astype(np.uint8)
    logo = np.ascontiguousarray(data.logo()[..., :3])
    for name, img in [("page", data.page()), ("text", data.text()), ("logo", logo), ("camera", data.camera()),
                      ("brick", data.brick()), ("moon", data.moon())]:
        yield name, img
    yield "page jpeg20", jpeg(data.page(), 20)
    yield "logo jpeg20", jpeg(logo, 20)
    yield "binary blobs", (data.binary_blobs(length=256, rng=1) * 255).astype(np.uint8)
    half = data.camera().copy()
    half[:, :256] = 240  # a bright flat half beside texture
    yield "bright flat half", half
    yield "constant (n/a)", np.full((192, 192), 128, np.uint8)
    yield "ramp (n/a)", np.tile(np.linspace(0, 255, 288).round().astype(np.uint8), (192, 1))
    yield "stripes (n/a)", np.tile((np.arange(288) // 4 % 2 * 255).astype(np.uint8), (192, 1))


def main() -> None:
    target = sys.argv[1]
    params = os.path.join(target, "basicsr", "metrics", "niqe_pris_params.npz")
    calculate_niqe = basicsr_calculate_niqe(target)
    print("| image | BasicSR | ours | rel. diff |\n|---|---|---|---|")
    worst = 0.0
    for name, x in check_images():
        try:
            if x.ndim == 3:  # BasicSR takes BGR
                ref = float(calculate_niqe(x[..., ::-1], 0, input_order="HWC", convert_to="y"))
            else:
                ref = float(calculate_niqe(x, 0, input_order="HW"))
            ref_cell = f"{ref:.6f}"
        except np.linalg.LinAlgError as err:
            ref, ref_cell = math.nan, f"n/a (LinAlgError: {err})"
        result = N.niqe_result(x, params=params)
        diff = abs(result.value - ref) / ref if not (math.isnan(ref) or math.isnan(result.value)) else math.nan
        if not math.isnan(diff):
            worst = max(worst, diff)
        print(f"| {name} | {ref_cell} | {result.cell(6)} | {'-' if math.isnan(diff) else f'{diff:.1e}'} |")
    print(f"\nlargest relative difference: {worst:.1e}")


if __name__ == "__main__":
    main()

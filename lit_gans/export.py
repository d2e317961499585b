"""``lit-gans export``: a trained (or official) generator as an ONNX or TorchScript file.

    lit-gans export --config experiments/pix2pix_facades.yaml --ckpt_path last --format onnx
    lit-gans export --config experiments/esrgan_div2k.yaml --model.init_args.generator_ckpt=esrgan-x4 --format torchscript

The model is built from the YAML (and ``--model.*`` overrides) exactly as ``lit-gans fit/test`` build it
(:class:`lit_gans.cli.LitGansCLI` with ``run=False``), its weights come from ``--ckpt_path`` (``last``: the
newest ``last*.ckpt`` of the experiment's folder) or from the model's weight option (a file or an official
weights name, :mod:`lit_gans.io.weights_registry`). The generator that samples/predictions use is exported:
the EMA generator wherever the model keeps one. The graph holds the family's inference code, not just the
network (see :func:`describe`): the input conventions are those of the model's own ``predict``/``test``, and
each file carries them as metadata (ONNX ``metadata_props``; TorchScript extra file ``lit_gans.json``).

Checks: the exported file is run (onnxruntime, ``torch.jit.load``) on seeded sample inputs at two sizes (two
batch sizes where the input size is fixed) and compared with PyTorch; the maximum absolute difference is printed
and a file that differs by more than ``--tolerance`` (default :data:`TOLERANCE`) is not written (the file is
written to a temporary name and renamed only after the check: nothing is left behind).

Exporter: ONNX through ``torch.onnx.export(..., dynamo=False)`` (the TorchScript-based exporter): with torch
2.14 it gives dynamic batch/height/width graphs that onnxruntime runs at other sizes, in 0.2-1 s for
the tests' networks. The dynamo exporter (``dynamo=True``, needs onnxscript) took 4.5-13 s per network here and
failed on the U-Net's size check (a guard ``H == 32`` instead of ``H % 32 == 0``); it is not used.
TorchScript: ``torch.jit.trace``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from lit_gans.errors import ConfigError, DataError, MissingFileError, UserError
from lit_gans.utils.files import atomic_path

#: Largest accepted |exported - PyTorch| on the sample inputs, in the output's own units ([-1, 1] or [0, 1]
#: images, normalised ab): a quarter of one 8-bit level of a [0, 1] image (1/255 = 3.9e-3) and an eighth of
#: one of a [-1, 1] image. The tests' ONNX files differ by 9e-12 to 2.2e-6 (float32 rounding; TorchScript: 0).
TOLERANCE = 1e-3
OPSET = 17
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


class ExportMismatch(DataError):
    """The exported graph's output differs from PyTorch's beyond the tolerance (nothing was written)."""


@dataclass
class Graph:
    """What is exported: ``module(*inputs.values())`` -> ``outputs``; sample inputs at two sizes, the axes that
    stay dynamic, and the conventions (``metadata``)."""

    module: nn.Module
    inputs: dict[str, Tensor]
    second: dict[str, Tensor]
    outputs: list[str]
    dynamic: dict[str, dict[int, str]]
    metadata: dict[str, Any] = field(default_factory=dict)


class _Inference(nn.Module):
    """``fn(net, *inputs)``: the model's inference code around its generator. Only the generator is a submodule
    (the exported file holds no discriminator); ``fn`` is a bound method or closure of the model."""

    def __init__(self, net: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.net = net
        self.__dict__["_fn"] = fn

    def forward(self, *inputs: Tensor) -> Any:
        return self._fn(self.net, *inputs)


def _uniform(shape: tuple[int, ...], low: float, high: float, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * (high - low) + low


def _image_sizes(net: nn.Module, base: int = 32) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two sample sizes the network accepts, one with H != W. Networks that take any size (and pad inside, like
    EnlightenGAN's U-Net to 16) are traced at sides that are not multiples of 8 and checked at a square of 32."""
    m = int(getattr(net, "input_multiple", 1) or 1)
    side = max(base, int(getattr(net, "min_input_side", 0) or 0))
    side = -(-side // m) * m
    if m > 1:
        return (side, side), (2 * side, side)
    return (side + 4, side + 12), (side, side)  # traced at sides that need padding, checked at sides that do not


def _weights_name(model: nn.Module, net: nn.Module) -> str:
    ema = any(net is getattr(model, f"{t}_ema", None) for t in ("generator", getattr(model, "ema_target", "generator")))
    return "EMA generator" if ema else "generator"


def describe(model: nn.Module, datamodule: Any = None) -> Graph:
    """The exported graph of ``model``'s family: inputs, outputs and conventions (raises ConfigError for a model
    this tool does not know)."""
    from lit_gans.models.context_encoder import ContextEncoder
    from lit_gans.models.cyclegan import CycleGAN
    from lit_gans.models.enlightengan import EnlightenGAN
    from lit_gans.models.noise import NoiseGAN
    from lit_gans.models.pix2pix import PairedTranslationMixin
    from lit_gans.models.progan import ProGAN
    from lit_gans.models.super_resolution import _SuperResolution, run_generator

    meta: dict[str, Any] = {}
    if isinstance(model, ProGAN):
        net = model.sampling_generator
        stage, alpha = model.progress()
        state = model.schedule_at()
        z, z2 = torch.randn(2, net.latent_dim, generator=torch.Generator().manual_seed(0)), torch.randn(3, net.latent_dim)
        meta.update(family="progan", inputs={"z": f"[B, {net.latent_dim}] float32 ~ N(0, 1)"},
                    outputs={"image": f"[B, {net.channels}, {state.resolution}, {state.resolution}], about [-1, 1] (linear "
                                       "to-RGB output, not clamped: clamp for display)"},
                    input_range="N(0, 1)", output_range="about [-1, 1] (not clamped)", colour_space="rgb" if net.channels == 3 else "gray",
                    stage=stage, alpha=alpha, resolution=state.resolution, final_resolution=model.resolution,
                    kimg=model.images_seen / 1000.0,
                    note="the generator at the checkpoint's point of the schedule (stage and fade-in alpha baked in); "
                         "samples/predict upscale it to the final resolution (nearest)")
        graph = Graph(_Inference(net, lambda n, z: n(z, stage, alpha)), {"z": z}, {"z": z2}, ["image"], {"z": {0: "batch"}, "image": {0: "batch"}})
    elif isinstance(model, NoiseGAN):
        net = model.sampling_generator
        g = torch.Generator().manual_seed(0)
        z, z2 = torch.randn(2, net.latent_dim, generator=g), torch.randn(3, net.latent_dim, generator=g)
        meta.update(family="noise", input_range="N(0, 1)", output_range="[-1, 1]")
        shape = "[B, C, H, W]"
        if model.num_classes:
            k = model.num_classes
            inputs = {"z": z, "labels": torch.tensor([0, k - 1])}
            second = {"z": z2, "labels": torch.arange(3) % k}
            meta["inputs"] = {"z": f"[B, {net.latent_dim}] float32 ~ N(0, 1)", "labels": f"[B] int64 class in [0, {k})"}
            fn = lambda n, z, labels: model.G(z, labels, n)  # noqa: E731
        else:
            inputs, second = {"z": z}, {"z": z2}
            meta["inputs"] = {"z": f"[B, {net.latent_dim}] float32 ~ N(0, 1)"}
            fn = lambda n, z: n(z)  # noqa: E731
        meta["outputs"] = {"image": f"{shape} in [-1, 1] (tanh)"}
        graph = Graph(_Inference(net, fn), inputs, second, ["image"], {**{k: {0: "batch"} for k in inputs}, "image": {0: "batch"}})
    elif isinstance(model, PairedTranslationMixin):
        net = model.sampling_generator.eval()
        (h, w), (h2, w2) = _image_sizes(net)
        if model.color_space == "lab":
            meta.update(family="colorization", colour_space="lab",
                        inputs={"L": "[B, 1, H, W]: L*/50 - 1 (CIE Lab lightness, D65, in [-1, 1])"},
                        outputs={"ab": "[B, 2, H, W]: (a*, b*)/110; RGB = lab_to_rgb(L*, a*, b*) (lit_gans.utils.lab)"},
                        input_range="[-1, 1]", output_range="about [-1, 1] (not clamped)", output="ab (not RGB)")
            name_in, name_out, c_in = "L", "ab", 1
        else:
            c_in = int(getattr(net, "in_channels", 3))
            meta.update(family="image-to-image", colour_space="rgb", inputs={"A": "[B, C, H, W] in [-1, 1]"},
                        outputs={"B": "[B, C, H, W] in [-1, 1]"}, input_range="[-1, 1]", output_range="[-1, 1]")
            name_in, name_out = "A", "B"
        m = int(getattr(net, "input_multiple", 1) or 1)
        meta["input_multiple"] = m
        if model.inference_mode == "paper":
            meta["inference_mode"] = ("eval: running BatchNorm statistics, no dropout (the model's 'paper' mode "
                                      "uses the batch's statistics and dropout, which a fixed graph cannot reproduce)")
        else:
            meta["inference_mode"] = "eval"
        graph = Graph(_Inference(net, lambda n, a: n(a)), {name_in: _uniform((2, c_in, h, w), -1, 1, 0)},
                      {name_in: _uniform((1, c_in, h2, w2), -1, 1, 1)}, [name_out],
                      {name_in: {0: "batch", 2: "H", 3: "W"}, name_out: {0: "batch", 2: "H", 3: "W"}})
    elif isinstance(model, EnlightenGAN):
        net = model.sampling_generator.eval()
        (h, w), (h2, w2) = _image_sizes(net)
        meta.update(family="low-light", colour_space="rgb", inputs={"low_light": "[B, 3, H, W] RGB in [-1, 1]"},
                    outputs={"enhanced": "[B, 3, H, W] in [-1, 1] (clamped)"}, input_range="[-1, 1]", output_range="[-1, 1]",
                    note="the self-regularised attention map (1 - luminance) is computed inside the graph; the input "
                         "is padded to a multiple of 16 inside the graph")
        halve = getattr(net, "halve_above_width", None)
        if halve is not None:
            meta["note"] += (f"; halve_above_width={halve}: the graph keeps the branch of the sample width "
                             f"({w} px: {'halved' if w > halve else 'not halved'}) for every width")
        graph = Graph(_Inference(net, lambda n, x: model.enhance(x, n)), {"low_light": _uniform((2, 3, h, w), -1, 1, 0)},
                      {"low_light": _uniform((1, 3, h2, w2), -1, 1, 1)}, ["enhanced"],
                      {"low_light": {0: "batch", 2: "H", 3: "W"}, "enhanced": {0: "batch", 2: "H", 3: "W"}})
    elif isinstance(model, CycleGAN):
        net = (model.generator if model.predict_direction == "AtoB" else model.generator_ba).eval()
        (h, w), (h2, w2) = _image_sizes(net)
        meta.update(family="image-to-image (unpaired)", colour_space="rgb", direction=model.predict_direction,
                    inputs={"A": "[B, 3, H, W] RGB in [-1, 1]"}, outputs={"B": "[B, 3, H, W] in [-1, 1]"},
                    input_range="[-1, 1]", output_range="[-1, 1]",
                    note=f"the {model.predict_direction} generator (--model.init_args.predict_direction)")
        graph = Graph(_Inference(net, lambda n, a: n(a)), {"A": _uniform((2, 3, h, w), -1, 1, 0)},
                      {"A": _uniform((1, 3, h2, w2), -1, 1, 1)}, ["B"],
                      {"A": {0: "batch", 2: "H", 3: "W"}, "B": {0: "batch", 2: "H", 3: "W"}})
    elif isinstance(model, _SuperResolution):
        net = model.sampling_generator.eval()
        s = model.scale
        (h, w), (h2, w2) = _image_sizes(net, base=16)
        meta.update(family="super-resolution", colour_space="rgb", scale=s, inputs={"lr": "[B, 3, h, w] RGB in [0, 1]"},
                    outputs={"sr": f"[B, 3, {s}h, {s}w], about [0, 1] (not clamped: clamp for display)"},
                    input_range="[0, 1]", output_range="[0, 1] (not clamped)",
                    note="whole-image inference (no tiling); inputs are padded to the network's multiple inside the graph")
        graph = Graph(_Inference(net, lambda n, lr: run_generator(n, lr, s)), {"lr": _uniform((2, 3, h, w), 0, 1, 0)},
                      {"lr": _uniform((1, 3, h2, w2), 0, 1, 1)}, ["sr"],
                      {"lr": {0: "batch", 2: "h", 3: "w"}, "sr": {0: "batch", 2: "H", 3: "W"}})
    elif isinstance(model, ContextEncoder):
        from lit_gans.utils.masks import center_mask, fill_hole

        net = model.sampling_generator.eval()
        fill = tuple(getattr(datamodule, "fill", None) or ())
        if len(fill) != 3:
            raise ConfigError("the Context Encoder export needs the datamodule's hole fill (--data.init_args.fill); "
                              "use the experiment's YAML with its datamodule")
        fill_value = torch.tensor(fill) * 2.0 - 1.0  # the datamodule's _fill: [0, 1] -> [-1, 1]
        size = model.image_size

        def inpaint(n: nn.Module, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
            return model.inpaint(fill_hole(image, mask, fill_value), image, mask, n)

        def sample(batch: int, seed: int) -> dict[str, Tensor]:
            return {"image": _uniform((batch, 3, size, size), -1, 1, seed), "mask": center_mask(batch, size, getattr(datamodule, "overlap", model.overlap))}

        meta.update(family="inpainting", colour_space="rgb",
                    inputs={"image": f"[B, 3, {size}, {size}] RGB in [-1, 1]", "mask": f"[B, 1, {size}, {size}] float, 1 = hole"},
                    outputs={"prediction": f"[B, 3, {size}, {size}] in [-1, 1] (network output, pasted into the input)",
                             "composite": f"[B, 3, {size}, {size}] in [-1, 1] (known pixels kept exactly)"},
                    input_range="[-1, 1]", output_range="[-1, 1]", fill=list(fill), image_size=size, output_kind=model.output,
                    note=f"the hole is filled with the datamodule's fill {list(fill)} inside the graph; fixed size {size} px")
        graph = Graph(_Inference(net, inpaint), sample(2, 0), sample(3, 1), ["prediction", "composite"],
                      {"image": {0: "batch"}, "mask": {0: "batch"}, "prediction": {0: "batch"}, "composite": {0: "batch"}})
    else:
        raise ConfigError(f"lit-gans export does not know {type(model).__name__}: it exports the generator families of "
                          "lit_gans.models (noise GANs, ProGAN, Pix2Pix/colorization, CycleGAN, EnlightenGAN, SR, Context Encoder)")
    net = graph.module.net
    meta.setdefault("outputs", {})
    meta.update(model_class=f"{type(model).__module__}.{type(model).__qualname__}",
                generator_class=f"{type(net).__module__}.{type(net).__qualname__}", weights=_weights_name(model, net))
    graph.metadata = meta
    graph.module.eval()
    return graph


# ---------------------------------------------------------------------------------------------- export + check
def _flat(out: Any) -> list[Tensor]:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _reference(graph: Graph, inputs: dict[str, Tensor]) -> list[Tensor]:
    with torch.no_grad():
        return [t.detach() for t in _flat(graph.module(*inputs.values()))]


def _max_diff(expected: list[Tensor], got: list[Any]) -> float:
    worst = 0.0
    for e, g in zip(expected, got, strict=True):
        g = torch.as_tensor(g)
        if tuple(g.shape) != tuple(e.shape):
            raise ExportMismatch(f"exported output has shape {tuple(g.shape)}, PyTorch gives {tuple(e.shape)}")
        worst = max(worst, float((g.float() - e.float()).abs().max()))
    return worst


def _write_onnx(graph: Graph, path: Path, metadata: dict[str, str], opset: int) -> None:
    import warnings

    import onnx

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings
        torch.onnx.export(graph.module, tuple(graph.inputs.values()), str(path), dynamo=False, opset_version=opset,
                          input_names=list(graph.inputs), output_names=graph.outputs, dynamic_axes=graph.dynamic,
                          do_constant_folding=True)
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.doc_string = f"lit_gans export of {metadata.get('model_class')}: see metadata_props"
    onnx.save(proto, str(path))


def _run_onnx(path: Path, inputs: dict[str, Tensor]) -> list[Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})


def _write_torchscript(graph: Graph, path: Path, metadata: dict[str, str]) -> None:
    import warnings

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph.module, tuple(graph.inputs.values()), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"lit_gans.json": json.dumps(metadata, indent=1)})


def _run_torchscript(path: Path, inputs: dict[str, Tensor]) -> list[Any]:
    with torch.no_grad():
        return _flat(torch.jit.load(str(path), map_location="cpu")(*inputs.values()))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The conventions stored in an exported file (either format)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    extra = {"lit_gans.json": ""}
    torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra["lit_gans.json"])


def export(graph: Graph, fmt: str, output: str | Path, tolerance: float = TOLERANCE, opset: int = OPSET,
           extra: Optional[dict[str, Any]] = None) -> float:
    """Write ``graph`` as ``fmt`` to ``output`` if it matches PyTorch within ``tolerance`` on both sample inputs;
    returns the maximum absolute difference. ``ExportMismatch`` (and no file) otherwise."""
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {sorted(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as err:
            raise ConfigError(f"--format onnx needs the onnx and onnxruntime packages ({err}): pip install 'lit-gans[export]'") from None
    meta = {**graph.metadata, **(extra or {})}
    meta.update(format=fmt, tolerance=tolerance, exporter=(f"torch {torch.__version__} " + (
        f"torch.onnx.export(dynamo=False), opset {opset}" if fmt == "onnx" else "torch.jit.trace")))
    samples = [graph.inputs, graph.second]
    expected = [_reference(graph, s) for s in samples]
    output = Path(output)
    with atomic_path(output) as tmp:
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
        if fmt == "onnx":
            _write_onnx(graph, tmp, flat, opset)
            got = [_run_onnx(tmp, s) for s in samples]
        else:
            _write_torchscript(graph, tmp, meta)
            got = [_run_torchscript(tmp, s) for s in samples]
        diffs = [_max_diff(e, g) for e, g in zip(expected, got)]
        sizes = ", ".join(" ".join(f"{k} {tuple(v.shape)}" for k, v in s.items()) for s in samples)
        print(f"lit_gans: export {fmt}: max |exported - PyTorch| = {max(diffs):.3g} on {sizes} (tolerance {tolerance:g})")
        if max(diffs) > tolerance:
            raise ExportMismatch(
                f"the exported {fmt} graph differs from PyTorch by {max(diffs):.3g} > --tolerance {tolerance:g}; "
                f"{output} was not written"
            )
    return max(diffs)


# ---------------------------------------------------------------------------------------------- model + weights
def load_checkpoint(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """The one place this module reads a checkpoint (through ``lit_gans.io.checkpoints``, the project's one read
    policy). Restores ``model`` as a run from this checkpoint would (``on_load_checkpoint``: EMA generator, ProGAN
    progress; then the state_dict, strict). Returns the checkpoint's lit_gans info (model class, counters)."""
    from lit_gans.io.checkpoints import read, read_checkpoint_info

    info = read_checkpoint_info(path)
    ckpt = read(path)
    model.on_load_checkpoint(ckpt)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return info


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _weight_option(model: nn.Module) -> tuple[Optional[str], Optional[str]]:
    for attr in ("generator_ckpt", "generator_weights"):
        value = (getattr(model, "hparams", {}) or {}).get(attr) or getattr(model, attr, None)
        if value:
            return attr, str(value)
    return None, None


def build(cli_args: list[str], ckpt_path: Optional[str]) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(model with its weights, datamodule, provenance) from the YAML and overrides, as the CLI builds them."""
    from lit_gans.cli import LitGansCLI
    from lit_gans.io.checkpoints import find_resume_checkpoint

    cli = LitGansCLI(args=[*cli_args, "--trainer.logger=false"], run=False)
    model, info = cli.model, cli.run_info
    model_class = f"{type(model).__module__}.{type(model).__qualname__}"
    prov: dict[str, Any] = {"experiment": info.get("experiment"), "folder": str(info.get("folder"))}
    if ckpt_path == "last":
        found = find_resume_checkpoint(Path(info["folder"]), Path(info["ckpt_dir"]))
        if found is None:
            raise MissingFileError(
                f"--ckpt_path last: no checkpoint in {info['ckpt_dir']}: train first (lit-gans fit --config ...), or "
                f"give --ckpt_path <file>; the experiment is '{info['experiment']}' (--experiment)"
            )
        ckpt_path = str(found)
    option, value = _weight_option(model)
    if ckpt_path is not None:
        ckpt_info = load_checkpoint(model, ckpt_path)
        saved = ckpt_info.get("model_class")
        if saved and saved != model_class:
            raise ConfigError(f"--ckpt_path {ckpt_path} holds a {saved} model, but the config builds a {model_class}: "
                              "give a checkpoint of this experiment, or the config that trained it")
        prov.update(checkpoint=str(Path(ckpt_path).resolve()), checkpoint_sha256=_sha256(Path(ckpt_path)),
                    g_iter=ckpt_info.get("g_iter"), epoch=ckpt_info.get("epoch"))
    elif value:
        from lit_gans.models.pix2pix import PairedTranslationMixin
        from lit_gans.io.checkpoints import load_weights_into

        if isinstance(model, PairedTranslationMixin) and not getattr(model, "_generator_loaded", False):
            load_weights_into(model.generator, value, prefix="generator.")  # what Pix2Pix.setup does without --ckpt_path
            model._generator_loaded = True
        from lit_gans.io.weights_registry import WEIGHTS, local_path

        file = Path(str(local_path(WEIGHTS[value]))) if value in WEIGHTS and not Path(value).exists() else Path(value)
        prov.update(weights_option=option, weights_name=value)
        if file.is_file():
            prov.update(checkpoint=str(file.resolve()), checkpoint_sha256=_sha256(file))
    else:
        raise ConfigError(
            "no weights to export: give --ckpt_path last (or a .ckpt file) or the model's weight option "
            "(--model.init_args.generator_ckpt / generator_weights: a file or an official weights name, "
            "`lit-gans weights list`)"
        )
    return model.eval(), cli.datamodule, prov


def main(argv: list[str], prog: str = "lit-gans export") -> int:
    """``lit-gans export --config X.yaml [--ckpt_path last|FILE] --format onnx|torchscript [--output FILE]``; the
    other options (``--model.*``, ``--data.*``, ``--experiment``) go to the config as for ``lit-gans fit``."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Export an experiment's generator (EMA when kept) as ONNX or TorchScript, checked "
        "against PyTorch. Other options (--config, --model.*, --data.*, --experiment) build the model as `lit-gans fit` does.")
    parser.add_argument("--format", required=True, choices=sorted(FORMATS))
    parser.add_argument("--ckpt_path", default=None, help="last (the experiment's newest last*.ckpt) or a .ckpt file; "
                        "without it, the model's weight option (generator_ckpt / generator_weights) gives the weights")
    parser.add_argument("--output", default=None, help="the file to write (default runs/<experiment>/export/<experiment>.onnx|.pt)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest accepted max |exported - PyTorch| (default %(default)s)")
    parser.add_argument("--opset", type=int, default=OPSET, help="ONNX opset (default %(default)s)")
    args, rest = parser.parse_known_args(argv)
    if not any(a == "--config" or a.startswith("--config=") for a in rest):
        parser.error("--config <experiment YAML> is required")
    grad_was = torch.is_grad_enabled()  # restored below: main() may run inside a caller's process (tests, notebooks)
    try:
        torch.set_grad_enabled(False)
        model, datamodule, prov = build(rest, args.ckpt_path)
        graph = describe(model, datamodule)
        from lit_gans import __version__

        extra = {"lit_gans_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "config": [a.split("=", 1)[1] if "=" in a else rest[i + 1] for i, a in enumerate(rest) if a.split("=")[0] == "--config"],
                 **{k: v for k, v in prov.items() if v is not None and k != "folder"}}
        output = Path(args.output) if args.output else Path(prov["folder"]) / "export" / f"{prov['experiment']}{FORMATS[args.format]}"
        diff = export(graph, args.format, output, args.tolerance, args.opset, extra)
        print(f"lit_gans: wrote {output} ({graph.metadata['weights']} of {graph.metadata['model_class'].rsplit('.', 1)[-1]}; "
              f"inputs {', '.join(graph.inputs)}; max diff {diff:.3g})")
        return 0
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    finally:
        torch.set_grad_enabled(grad_was)

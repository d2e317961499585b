"""``lit-gans export`` (lit_gans.export): every generator family, from a real checkpoint, through ONNX
(onnxruntime) and TorchScript (``torch.jit.load``), compared with the model's own inference code at two input
sizes that differ from the ones the export traced and checked at.

Checkpoints are written by Lightning's own ``Trainer.save_checkpoint`` from the experiment's YAML-built model
(random weights: the graphs, not the training, are under test); models that keep an EMA generator get EMA weights
that differ from the trained generator's, so exporting the wrong network is caught.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from lit_gans import export
from lit_gans.cli import LitGansCLI
from lit_gans.utils.masks import center_mask, fill_hole

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("onnxruntime")


def _u(shape, low=-1.0, high=1.0, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * (high - low) + low


def _noise(m, dm):
    lat = m.generator.latent_dim
    z = [torch.randn(n, lat, generator=torch.Generator().manual_seed(n)) for n in (1, 5)]
    if getattr(m, "num_classes", 0):
        return [{"z": z[0], "labels": torch.tensor([3])}, {"z": z[1], "labels": torch.tensor([0, 9, 2, 2, 7])}]
    return [{"z": z[0]}, {"z": z[1]}]


def _image(c, sizes, low=-1.0, high=1.0, name="A"):
    return lambda m, dm: [{name: _u((b, c, h, w), low, high, seed=h * w)} for b, (h, w) in zip((1, 3), sizes)]


def _ce_samples(m, dm):
    out = []
    for b in (1, 4):
        image = _u((b, 3, m.image_size, m.image_size), seed=b)
        out.append({"image": image, "mask": center_mask(b, m.image_size, dm.overlap)})
    return out


# name: (experiment, extra options, samples(model, datamodule), reference(model, datamodule, inputs) -> outputs)
FAMILIES = {
    "dcgan": ("dcgan_digits", [], _noise, lambda m, dm, x: [m.G(x["z"], None, m.sampling_generator)]),
    "cgan": ("cgan_digits", [], _noise, lambda m, dm, x: [m.G(x["z"], x["labels"], m.sampling_generator)]),
    "progan": ("progan_digits", [], _noise,
               lambda m, dm, x: [m.sampling_generator(x["z"], *m.progress())]),  # unclamped, like the network
    "pix2pix": ("pix2pix_embedded", ["--model.init_args.inference_mode=eval"], _image(3, [(64, 128), (128, 64)]),
                lambda m, dm, x: [m.translate(x["A"])]),
    "colorization": ("colorization_embedded", [], _image(1, [(128, 64), (64, 192)], name="L"),
                     lambda m, dm, x: [m.translate(x["L"])]),
    "cyclegan": ("cyclegan_embedded", [], _image(3, [(40, 56), (64, 36)]),
                 lambda m, dm, x: [m.generator(x["A"])]),
    "enlightengan": ("enlightengan_embedded", [], _image(3, [(50, 38), (48, 64)], name="low_light"),
                     lambda m, dm, x: [m.enhance(x["low_light"])]),
    "srresnet": ("srresnet_embedded", [], _image(3, [(12, 20), (24, 16)], 0.0, 1.0, name="lr"),
                 lambda m, dm, x: [m.super_resolve(x["lr"])]),
    "esrgan_ema": ("esrgan_embedded", [], _image(3, [(12, 20), (24, 16)], 0.0, 1.0, name="lr"),
                   lambda m, dm, x: [m.super_resolve(x["lr"])]),
    "context_encoder": ("context_encoder_embedded", [], _ce_samples,
                        lambda m, dm, x: list(m.inpaint(fill_hole(x["image"], x["mask"], dm._fill(x["image"])), x["image"], x["mask"]))),
}


def _args(experiment: str, extra: list[str], folder: Path) -> list[str]:
    return ["--config", str(ROOT / "experiments" / f"{experiment}.yaml"), "--trainer.default_root_dir", str(folder), *extra]


def _mid_fade(model) -> None:
    """Move a ProGAN model into a fade-in (stage >= 1, 0 < alpha < 1)."""
    for nimg in range(0, 50_000_000, 1000):
        state = model.schedule.at(nimg, model.resolution)
        if state.stage >= 1 and 0.2 < state.alpha < 0.8:
            model.images_seen = nimg
            return
    raise AssertionError("no fade-in found in the schedule")


def save_checkpoint(args: list[str], folder: Path):
    """The YAML's model with random weights (EMA made different), saved by Lightning as <folder>/checkpoints/last.ckpt."""
    cli = LitGansCLI(args=[*args, "--trainer.logger=false"], run=False)
    model = cli.model
    torch.manual_seed(1)
    if getattr(model, "ema_decay", None):
        model._ensure_ema()
        with torch.no_grad():
            for p in model.sampling_generator.parameters():
                p.add_(torch.randn_like(p) * 0.01)
    if hasattr(model, "schedule"):
        _mid_fade(model)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, accelerator="cpu", devices=1,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(folder / "checkpoints" / "last.ckpt")
    return model.eval(), cli.datamodule


def _run(path: Path, inputs: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    if path.suffix == ".onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == list(inputs)
        return [torch.from_numpy(o) for o in session.run(None, {k: v.numpy() for k, v in inputs.items()})]
    with torch.no_grad():
        out = torch.jit.load(str(path))(*inputs.values())
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_exports_and_matches_pytorch_at_two_sizes(name, tmp_path, capsys):
    experiment, extra, samples, reference = FAMILIES[name]
    folder = tmp_path / "run"
    args = _args(experiment, extra, folder)
    model, dm = save_checkpoint(args, folder)
    ckpt = folder / "checkpoints" / "last.ckpt"
    for fmt in ("onnx", "torchscript"):
        out = tmp_path / f"{name}{export.FORMATS[fmt]}"
        assert export.main([*args, "--ckpt_path", "last", "--format", fmt, "--output", str(out)], "lit-gans export") == 0
        printed = capsys.readouterr().out
        assert f"export {fmt}: max |exported - PyTorch| = " in printed and f"wrote {out}" in printed
        meta = export.read_metadata(out)
        assert meta["model_class"] == f"{type(model).__module__}.{type(model).__qualname__}"
        assert meta["checkpoint"] == str(ckpt.resolve()) and meta["checkpoint_sha256"] == export._sha256(ckpt)
        assert meta["lit_gans_version"] and meta["format"] == fmt and float(meta["tolerance"]) == export.TOLERANCE
        assert meta["weights"] == ("EMA generator" if getattr(model, "ema_decay", None) else "generator")
        for inputs in samples(model, dm):
            with torch.no_grad():
                want = [w.float() for w in reference(model, dm, inputs)]
            got = _run(out, inputs)
            assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
            diff = max(float((g - w).abs().max()) for g, w in zip(got, want))
            assert diff <= export.TOLERANCE, (fmt, {k: tuple(v.shape) for k, v in inputs.items()}, diff)
            if model.__class__.__name__ == "ProGAN":  # the checkpoint's fade-in, at the current resolution
                assert 0 < float(meta["alpha"]) < 1 and int(meta["stage"]) >= 1
                assert got[0].shape[-1] == int(meta["resolution"]) <= model.resolution


def test_family_conventions_are_in_the_metadata(tmp_path):
    """What a user of the file needs: ranges, colour space, scale, and the 'ab, not RGB' of the colorizer."""
    conventions = {
        "srresnet_embedded": {"scale": "4", "input_range": "[0, 1]"},
        "colorization_embedded": {"colour_space": "lab", "output": "ab (not RGB)", "input_range": "[-1, 1]"},
    }
    for experiment, expected in conventions.items():
        folder = tmp_path / experiment
        args = _args(experiment, [], folder)
        save_checkpoint(args, folder)
        out = tmp_path / f"{experiment}.onnx"
        assert export.main([*args, "--ckpt_path", "last", "--format", "onnx", "--output", str(out)], "lit-gans export") == 0
        meta = export.read_metadata(out)
        assert {k: meta[k] for k in expected} == expected


def test_pix2pix_paper_mode_is_exported_in_eval_mode_and_says_so(tmp_path):
    folder = tmp_path / "run"
    args = _args("pix2pix_embedded", [], folder)  # inference_mode: paper
    save_checkpoint(args, folder)
    out = tmp_path / "p.pt"
    assert export.main([*args, "--ckpt_path", "last", "--format", "torchscript", "--output", str(out)], "x") == 0
    assert export.read_metadata(out)["inference_mode"].startswith("eval: running BatchNorm statistics, no dropout")


def test_beyond_tolerance_nothing_is_written_cli(tmp_path, capsys):
    """Through the command's entry point (``lit-gans export``): a stated tolerance the graph misses -> exit 2, one
    message, no file and no temporary file."""
    from lit_gans.cli import cli_main

    folder = tmp_path / "run"
    args = _args("cyclegan_embedded", [], folder)
    save_checkpoint(args, folder)
    out = tmp_path / "out" / "g.onnx"
    with pytest.raises(SystemExit) as exit_:
        cli_main(["export", *args, "--ckpt_path", "last", "--format", "onnx", "--output", str(out), "--tolerance", "1e-12"])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "max |exported - PyTorch| = " in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("lit-gans export: error: the exported onnx graph differs from PyTorch by") and "not written" in last
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_missing_checkpoint_and_missing_weights_are_refused(tmp_path, capsys):
    args = _args("dcgan_digits", [], tmp_path / "run")
    assert export.main([*args, "--ckpt_path", "last", "--format", "onnx"], "lit-gans export") == 2
    err = capsys.readouterr().err
    assert "--ckpt_path last: no checkpoint in" in err and str(tmp_path / "run" / "checkpoints") in err
    assert export.main([*args, "--format", "onnx"], "lit-gans export") == 2
    assert "no weights to export" in capsys.readouterr().err
    assert not (tmp_path / "run" / "export").exists()

"""The CLI end to end: predict writes PNGs, bad input fails at setup with the value and the fix,
W&B without a key runs offline without prompting, bf16-mixed trains."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch

from lit_gans.cli import LitGansCLI

ROOT = Path(__file__).resolve().parents[1]
SMALL = [
    "--trainer.max_steps=4", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
    "--model.init_args.metrics=null", "--trainer.logger=false",
]


def _fit(cli_args, config: str, *extra: str) -> LitGansCLI:
    return LitGansCLI(args=["fit"] + cli_args(config) + SMALL + list(extra))


def test_predict_writes_requested_pngs_per_class(cli_args, tmp_path):
    cli = _fit(cli_args, "cgan_digits.yaml")
    ckpt = cli.trainer.checkpoint_callback.last_model_path
    out = tmp_path / "pred"
    LitGansCLI(args=["predict"] + cli_args("cgan_digits.yaml") + [
        "--trainer.logger=false", f"--ckpt_path={ckpt}", f"--writer.output_dir={out}", "--data.init_args.predict_samples=30",
    ])
    files = sorted(out.glob("*.png"))
    assert len(files) == 30
    per_class = Counter(f.name.split("_")[0] for f in files)
    assert per_class == Counter({f"class{c}": 3 for c in range(10)})
    from PIL import Image

    assert Image.open(files[0]).size == (32, 32)


def test_predict_is_reproducible(cli_args, tmp_path):
    cli = _fit(cli_args, "dcgan_digits.yaml")
    ckpt = cli.trainer.checkpoint_callback.last_model_path
    outs = []
    for run in ("a", "b"):
        LitGansCLI(args=["predict"] + cli_args("dcgan_digits.yaml") + [
            "--trainer.logger=false", f"--ckpt_path={ckpt}", f"--writer.output_dir={tmp_path / run}", "--data.init_args.predict_samples=5",
        ])
        outs.append([p.read_bytes() for p in sorted((tmp_path / run).glob("*.png"))])
    assert len(outs[0]) == 5 and outs[0] == outs[1]


def test_sample_grid_and_checkpoint_are_written_and_printed(cli_args, capsys):
    cli = _fit(cli_args, "dcgan_digits.yaml")
    out = capsys.readouterr().out
    assert "lit_gans: checkpoint:" in out and "lit_gans: samples:" in out
    grid = Path(out.split("lit_gans: samples: ")[1].split()[0])
    assert grid.is_file() and grid.name == "samples_final.png"
    assert Path(cli.trainer.checkpoint_callback.last_model_path).is_file()


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--model.init_args.generator.init_args.image_size=48", "--model.init_args.discriminator.init_args.image_size=48"], "image_size=48"),
        (["--model.init_args.generator.init_args.out_channels=3"], "channels=3"),
        (["--data.init_args.image_size=64"], "image_size"),
    ],
)
def test_bad_model_data_combinations_fail_at_setup(cli_args, extra, match):
    with pytest.raises(ValueError, match=match) as err:
        _fit(cli_args, "dcgan_digits.yaml", *extra)
    assert "--data" in str(err.value) or "image_size" in str(err.value)


def test_missing_mnist_names_root_and_files(cli_args, tmp_path):
    from datamodules.images import DataError

    with pytest.raises(DataError, match="--data.root") as err:
        _fit(cli_args, "dcgan_mnist.yaml", f"--data.init_args.root={tmp_path / 'nowhere'}", "--data.init_args.download=false")
    assert "train-images-idx3-ubyte" in str(err.value)


def test_unknown_class_path_is_named(cli_args, capsys):
    with pytest.raises(SystemExit):
        _fit(cli_args, "dcgan_digits.yaml", "--model=lit_gans.models.noise.NoSuchGAN")
    assert "NoSuchGAN" in capsys.readouterr().err


def test_wandb_without_key_runs_offline_without_prompt(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), NETRC=str(tmp_path / "none"), WANDB_CONFIG_DIR=str(tmp_path / "cfg"))
    cmd = [sys.executable, "-m", "lit_gans", "fit", "--config", str(ROOT / "experiments/dcgan_digits.yaml"),
           "--trainer.max_steps=2", "--trainer.limit_val_batches=0", "--trainer.num_sanity_val_steps=0",
           "--model.init_args.metrics=null", "--trainer.enable_progress_bar=false",
           f"--trainer.logger.init_args.save_dir={tmp_path}", f"--trainer.default_root_dir={tmp_path}"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "W&B offline (no API key" in proc.stderr and "wandb sync" in proc.stderr
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    # offline, the run's config records live in the .wandb log (protobuf with JSON values)
    log = next(runs[0].glob("*.wandb")).read_bytes()
    assert b"lit_gans.models.noise.DCGAN" in log and b"DCGANGenerator" in log and b"RMSprop" not in log
    assert b"samples/samples" in log  # the sample grid was logged as an image


def test_bf16_mixed_trains(cli_args):
    cli = _fit(cli_args, "wgan_gp_digits.yaml", "--trainer.precision=bf16-mixed")
    assert cli.model.g_iter >= 0 and cli.trainer.global_step == 4
    assert all(torch.isfinite(p).all() for p in cli.model.parameters())


# ------------------------------------------------------------------------------------------ one command, its tools
def _run_main(capsys, *args: str) -> tuple[int, str, str]:
    from lit_gans.cli import cli_main

    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_tool_subcommand(capsys):
    from lit_gans.cli import TOOLS

    code, out, _ = _run_main(capsys, "--help")
    assert code == 0 and {"data", "interpolate", "digit-classifier"} <= set(TOOLS)
    tools = out.split("tools (lit-gans <tool> --help):")[1].split("\n\n")[0]
    assert [line.split()[0] for line in tools.strip().splitlines()] == list(TOOLS)
    for name in TOOLS:
        code, out, _ = _run_main(capsys, name, "--help")
        assert code == 0 and out.startswith(f"usage: lit-gans {name}"), (name, out[:200])


def _tiny_generator_ckpts(tmp_path: Path) -> tuple[Path, Path, dict, dict]:
    from lit_gans.networks.rrdb import RRDBNet

    torch.manual_seed(1)
    a, b = RRDBNet(4, num_feat=4, num_blocks=1, growth=2).state_dict(), RRDBNet(4, num_feat=4, num_blocks=1, growth=2).state_dict()
    for name, sd in (("gan", a), ("psnr", b)):  # lit_gans checkpoints: the generator under generator.*
        torch.save({"state_dict": {f"generator.{k}": v for k, v in sd.items()}, "epoch": 0}, tmp_path / f"{name}.ckpt")
    return tmp_path / "gan.ckpt", tmp_path / "psnr.ckpt", a, b


def test_interpolate_blends_two_checkpoints_into_a_file(tmp_path, capsys):
    gan, psnr, a, b = _tiny_generator_ckpts(tmp_path)
    out = tmp_path / "interp_08.pth"
    code, stdout, err = _run_main(capsys, "interpolate", "--psnr", str(psnr), "--gan", str(gan), "--alpha", "0.8",
                                  "--out", str(out))
    assert code == 0, err
    assert f"wrote {out} = 0.2 * {psnr} + 0.8 * {gan}" in stdout
    blended = torch.load(out, weights_only=True)
    assert blended.keys() == a.keys()
    for k, v in blended.items():
        torch.testing.assert_close(v, 0.8 * a[k] + 0.2 * b[k], rtol=0, atol=1e-7)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_interpolate_errors_are_one_line(tmp_path, capsys):
    gan, _, _, _ = _tiny_generator_ckpts(tmp_path)
    code, _, err = _run_main(capsys, "interpolate", "--psnr", str(tmp_path / "nope.ckpt"), "--gan", str(gan),
                             "--out", str(tmp_path / "o.pth"))
    assert code == 2 and "nope.ckpt does not exist" in err and "Traceback" not in err
    assert not (tmp_path / "o.pth").exists()


def test_digit_classifier_subcommand_trains_and_saves(tmp_path, capsys):
    out = tmp_path / "clf.pt"
    code, stdout, _ = _run_main(capsys, "digit-classifier", "--dataset", "digits", "--epochs", "1", "--out", str(out))
    assert code == 0 and f"-> {out}" in stdout and "held-out accuracy" in stdout
    saved = torch.load(out, weights_only=True)
    assert saved["meta"]["dataset"] == "digits" and saved["meta"]["accuracy"] == pytest.approx(
        float(stdout.split("held-out accuracy ")[1].split()[0]), abs=1e-4)


@pytest.mark.parametrize("module,moved", [("lit_gans.models.super_resolution", "lit-gans interpolate"),
                                          ("lit_gans.metrics.digit_classifier", "lit-gans digit-classifier")])
def test_old_python_m_entry_points_say_where_the_command_moved(module, moved):
    """``python -m <module>`` runs the module as ``__main__``: it exits non-zero with the new command."""
    import runpy
    import warnings

    with warnings.catch_warnings(), pytest.raises(SystemExit) as exit_:
        warnings.simplefilter("ignore", RuntimeWarning)  # "found in sys.modules": it is imported already
        runpy.run_module(module, run_name="__main__")
    assert isinstance(exit_.value.code, str) and moved in exit_.value.code


# ------------------------------------------------------------------------------------------ checkpoint messages
def test_weights_file_as_ckpt_path_names_the_models_own_option(tmp_path, capsys):
    """CycleGAN and EnlightenGAN load official generators through generator_weights, the others generator_ckpt."""
    from lit_gans.io.checkpoints import weights_option
    from lit_gans.models.cyclegan import CycleGAN
    from lit_gans.models.enlightengan import EnlightenGAN
    from lit_gans.models.pix2pix import Pix2Pix
    from lit_gans.models.super_resolution import ESRGAN

    assert weights_option(CycleGAN) == weights_option(EnlightenGAN) == "--model.init_args.generator_weights"
    assert weights_option(Pix2Pix) == weights_option(ESRGAN) == "--model.init_args.generator_ckpt"
    weights = tmp_path / "latest_net_G.pth"
    torch.save({"w": torch.zeros(2)}, weights)
    for config, option in (("cyclegan_embedded.yaml", "generator_weights"), ("pix2pix_embedded.yaml", "generator_ckpt")):
        code, _, err = _run_main(capsys, "test", "--config", str(ROOT / "experiments" / config),
                                 f"--trainer.default_root_dir={tmp_path / config}", f"--ckpt_path={weights}")
        assert code == 2 and f"--model.init_args.{option}" in err and "Traceback" not in err, err
        assert ("generator_ckpt" in err) == (option == "generator_ckpt")


def test_a_checkpoint_that_needs_pickles_is_refused_with_the_fix(tmp_path, capsys):
    import functools

    path = tmp_path / "odd.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"optimizer": functools.partial(torch.optim.Adam, lr=1)}}, path)
    code, _, err = _run_main(capsys, "validate", "--config", str(ROOT / "experiments/dcgan_digits.yaml"),
                             f"--trainer.default_root_dir={tmp_path}", f"--ckpt_path={path}")
    assert code == 2 and "holds Python objects beyond tensors (e.g. functools.partial)" in err
    assert "weights_only=True" in err and "re-save its tensors" in err and "Traceback" not in err

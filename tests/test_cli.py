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

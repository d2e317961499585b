"""The training core (lit_gans/models/base.py) as the pretraining stages, ProGAN and a Python user meet it: a
pretraining stage at lr 1e6 stops with the divergence message and trains at its YAML's lr; its resume continues
exactly; checkpoints written before the core (tests/fixtures/legacy, written by main at 80d8f7e with
tests/fixtures/legacy/make_legacy.py) load strict and continue their step count and LR schedule; hyperparameters
load with ``weights_only=True``; one class behind ``GAN``/``DCGAN``; ``g_iter`` on every trainable module."""

from __future__ import annotations

import csv
import functools
import importlib
import inspect
import json
import pkgutil
import shutil
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from lit_gans.cli import LitGansCLI, cli_main
from lit_gans.models.base import GANModule, GeneratorOnly

ROOT = Path(__file__).resolve().parents[1]
LEGACY = ROOT / "tests" / "fixtures" / "legacy"
QUIET = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false", "--trainer.logger=false",
         "--trainer.num_sanity_val_steps=0", "--trainer.limit_val_batches=0"]
#: The two pretraining YAMLs at tiny widths (the networks of the legacy fixtures), CPU-seconds per step.
STAGES = {
    "sr": ("rrdb_psnr_embedded.yaml", [
        "--model.init_args.generator.init_args.num_feat=4", "--model.init_args.generator.init_args.num_blocks=1",
        "--model.init_args.generator.init_args.growth=2", "--data.init_args.batch_size=2", "--data.init_args.hr_crop=32",
        "--data.init_args.num_workers=0",
    ]),
    "colorization": ("colorization_embedded_pretrain.yaml", [
        "--model.init_args.generator.init_args.ngf=2", "--model.init_args.generator.init_args.num_downs=5",
        "--data.init_args.batch_size=2", "--data.init_args.crop_size=32", "--data.init_args.epoch_repeats=1",
    ]),
}
#: The RRDB PSNR stage with EMA and BasicSR's per-iteration cosine restarts (T_0 shortened to see restarts).
SR_SCHEDULE = ["--model.init_args.ema_decay=0.9", "--model.init_args.scheduler=torch.optim.lr_scheduler.CosineAnnealingWarmRestarts",
               "--model.init_args.scheduler.init_args.T_0=4", "--model.init_args.scheduler.init_args.eta_min=1e-7",
               "--model.init_args.scheduler_interval=step"]


def _args(stage: str, run: Path, *extra: str) -> list[str]:
    yaml, small = STAGES[stage]
    return ["fit", "--config", str(ROOT / "experiments" / yaml), f"--trainer.default_root_dir={run}", *QUIET, *small, *extra]


def _main(capsys, args: list[str]) -> tuple[int, str]:
    try:
        cli_main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


# ------------------------------------------------------------------------------------ divergence and normal training
@pytest.mark.parametrize("stage", list(STAGES))
def test_pretraining_at_lr_1e6_stops_with_the_divergence_message(stage, tmp_path, capsys):
    run = tmp_path / "run"
    code, err = _main(capsys, _args(stage, run, "--trainer.max_steps=8", "--trainer.log_every_n_steps=2",
                                    "--model.init_args.optimizer.init_args.lr=1e6"))
    assert code == 2 and "Traceback" not in err, err[-2000:]
    line = next(l for l in err.splitlines() if l.startswith("lit-gans: error: training diverged"))
    assert "generator iteration" in line and "--model.init_args.optimizer)" in line  # the stage's own option
    assert "resume with" not in err
    for path in run.glob("checkpoints/*.ckpt"):  # whatever was saved is finite
        sd = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in sd.values() if v.is_floating_point()), path


@pytest.mark.parametrize("stage", list(STAGES))
def test_pretraining_trains_at_the_yaml_lr_and_its_checkpoint_loads_weights_only(stage, tmp_path):
    run = tmp_path / "run"
    extra = SR_SCHEDULE if stage == "sr" else []
    cli = LitGansCLI(args=_args(stage, run, "--trainer.max_steps=4", "--trainer.log_every_n_steps=1", *extra))
    model = cli.model
    assert isinstance(model, GeneratorOnly) and model.g_iter == cli.trainer.global_step == 4 and model.d_iter == 0
    loss = cli.trainer.callback_metrics["train/l1"]
    assert torch.isfinite(loss) and 0 < loss < 1
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)  # hparams are plain data
    assert ckpt["lit_gans"]["g_iter"] == 4 and len(ckpt["optimizer_states"]) == 1
    hp = ckpt["hyper_parameters"]
    assert hp["_class_path"] == type(model).__module__ + "." + type(model).__name__
    assert hp["generator"]["class_path"].startswith("lit_gans.networks.")  # the whole CLI config
    rebuilt = type(model).load_from_checkpoint(run / "checkpoints" / "last.ckpt")  # via Lightning's _instantiator
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), model.state_dict().values()))
    if stage == "sr":  # the paper's optimizer and BasicSR's schedule, unchanged by the core
        opt = cli.trainer.optimizers[0]
        assert opt.defaults["betas"] == (0.9, 0.99) and opt.defaults["lr"] == 1e-3  # rrdb_psnr_embedded.yaml
        sched = cli.trainer.lr_scheduler_configs[0].scheduler
        assert isinstance(sched, torch.optim.lr_scheduler.CosineAnnealingWarmRestarts)
        # iteration k trains at the LR after k - 1 scheduler steps (BasicSR, and Lightning's automatic optimisation)
        assert sched.last_epoch == 3 and any(k.startswith("generator_ema.") for k in ckpt["state_dict"])


# ------------------------------------------------------------------------------------ exact resume
class Crash(Exception):
    pass


class CrashAt(L.Callback):
    """Raise (a crash, in-process) once the model reaches generator iteration ``g_iter``."""

    def __init__(self, g_iter: int) -> None:
        self.g_iter = g_iter

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001, ANN002
        if pl_module.g_iter >= self.g_iter:
            raise Crash(f"crash at g_iter {pl_module.g_iter}")


OVERLAY = """
trainer:
  log_every_n_steps: 1
  limit_train_batches: 3
  logger:
    - class_path: lightning.pytorch.loggers.CSVLogger
      init_args: {{save_dir: {csv}}}
  callbacks:
    - class_path: lit_gans.callbacks.RunCheckpoint
      init_args: {{every_n_g_iters: 2}}
{crash}
"""


def _losses(folder: Path) -> dict[int, str]:
    rows = {}
    for path in sorted(folder.glob("**/metrics.csv")):
        with open(path) as f:
            for row in csv.DictReader(f):
                if row.get("train/l1"):
                    rows[int(float(row["g_iter"]))] = row["train/l1"]
    return rows


@pytest.mark.parametrize("stage", list(STAGES))
def test_pretraining_resume_after_a_crash_continues_exactly(stage, tmp_path):
    """7 iterations straight (3 batches per epoch) = a crash at iteration 3 (last checkpoint: iteration 2, mid-epoch),
    then ``--ckpt_path last`` to 7: the same losses step for step and the same final weights, EMA, optimizer state
    and LR schedule (as tests/test_runs.py checks for the GANs)."""
    def fit(name: str, crash: bool, *extra: str) -> LitGansCLI:
        overlay = tmp_path / f"{name}.yaml"
        hook = "    - class_path: tests.test_core.CrashAt\n      init_args: {g_iter: 3}" if crash else ""
        overlay.write_text(OVERLAY.format(csv=tmp_path / f"csv_{name}", crash=hook))
        args = _args(stage, tmp_path / name, "--config", str(overlay), "--trainer.max_steps=7",
                     *(SR_SCHEDULE if stage == "sr" else []), *extra)
        args.remove("--trainer.logger=false")
        return LitGansCLI(args=args)

    straight = fit("straight", False)
    with pytest.raises(Crash):
        fit("resumed", True)
    last = tmp_path / "resumed/checkpoints/last.ckpt"
    assert torch.load(last, weights_only=True)["lit_gans"]["g_iter"] == 2
    resumed = fit("resumed", False, "--ckpt_path", "last")
    assert straight.model.g_iter == resumed.model.g_iter == resumed.trainer.global_step == 7
    a, b = _losses(tmp_path / "csv_straight"), _losses(tmp_path / "csv_resumed")
    assert sorted(a) == list(range(1, 8)) and a == b
    sa = torch.load(tmp_path / "straight/checkpoints/last.ckpt", weights_only=True)
    sb = torch.load(last, weights_only=True)
    assert sa["state_dict"].keys() == sb["state_dict"].keys()
    for k in sa["state_dict"]:  # generator, EMA, BatchNorm statistics
        assert torch.equal(sa["state_dict"][k], sb["state_dict"][k]), k
    assert sa["lr_schedulers"] == sb["lr_schedulers"]
    for k, state in sa["optimizer_states"][0]["state"].items():
        assert all(torch.equal(state[n], sb["optimizer_states"][0]["state"][k][n]) for n in state)


# ------------------------------------------------------------------------------------ checkpoints written before the core
def _keys() -> dict[str, list[str]]:
    return json.loads((LEGACY / "core_state_dict_keys.json").read_text())


def test_state_dict_keys_are_those_of_main_before_the_core():
    from lit_gans.models.pix2pix import GeneratorPretraining
    from lit_gans.models.progan import ProGAN
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.progan import ProGANDiscriminator, ProGANGenerator
    from lit_gans.networks.rrdb import RRDBNet
    from lit_gans.networks.unet import UnetGenerator

    rrdb = lambda: RRDBNet(4, num_feat=8, num_blocks=1, growth=4)  # noqa: E731
    progan = lambda: ProGAN(ProGANGenerator(16, 1, fmap_base=64, fmap_max=16), ProGANDiscriminator(16, 1, fmap_base=64, fmap_max=16))  # noqa: E731
    configured = progan()
    configured.configure_model()
    now = {
        "SRPretrain": SRPretrain(rrdb()).state_dict(),
        "SRPretrain_ema": SRPretrain(rrdb(), ema_decay=0.9).state_dict(),
        "GeneratorPretraining": GeneratorPretraining(UnetGenerator(1, 2, num_downs=5, ngf=4)).state_dict(),
        "ProGAN": progan().state_dict(),
        "ProGAN_configured": configured.state_dict(),
    }
    before = _keys()
    for name, sd in now.items():
        assert sorted(sd) == before[name], name


@pytest.mark.parametrize("stage,fixture", [("sr", "legacy_srpretrain_rrdb_3steps.ckpt"),
                                           ("colorization", "legacy_generatorpretraining_unet_3steps.ckpt")])
def test_a_pretraining_checkpoint_of_main_before_the_core_resumes(stage, fixture, tmp_path):
    """Written under Lightning's automatic optimisation (no lit_gans state): loads strict, and the resumed run
    continues the step count (so max_steps holds), g_iter and the per-iteration LR schedule."""
    legacy = tmp_path / fixture
    shutil.copy(LEGACY / fixture, legacy)
    saved = torch.load(legacy, weights_only=True)
    assert "lit_gans" not in saved and saved["global_step"] == 3
    extra = SR_SCHEDULE if stage == "sr" else []
    straight = LitGansCLI(args=_args(stage, tmp_path / "a", "--trainer.max_steps=5", *extra))
    resumed = LitGansCLI(args=_args(stage, tmp_path / "b", "--trainer.max_steps=5", f"--ckpt_path={legacy}", *extra))
    assert resumed.model.g_iter == resumed.trainer.global_step == 5  # 3 before + 2, not 5 more
    b = torch.load(tmp_path / "b/checkpoints/last.ckpt", weights_only=True)
    assert b["state_dict"].keys() == saved["state_dict"].keys()  # strict: the same layout (EMA included)
    assert all(torch.isfinite(v).all() for v in b["state_dict"].values() if v.is_floating_point())
    if stage == "sr":
        a = torch.load(tmp_path / "a/checkpoints/last.ckpt", weights_only=True)
        assert a["lr_schedulers"] == b["lr_schedulers"]  # the schedule continues where it was
        assert a["optimizer_states"][0]["param_groups"][0]["lr"] == b["optimizer_states"][0]["param_groups"][0]["lr"]


# ------------------------------------------------------------------------------------ hyperparameters
def test_python_built_model_hparams_load_weights_only(tmp_path):
    """A CycleGAN built in Python with an optimizer callable: its checkpoint loads with ``weights_only=True``."""
    from lit_gans.models.cyclegan import CycleGAN
    from lit_gans.models.progan import ProGAN, ProGANSchedule
    from lit_gans.networks.progan import ProGANDiscriminator, ProGANGenerator
    from tests.test_cyclegan import tiny_model

    model = tiny_model(optimizer_g=functools.partial(torch.optim.Adam, lr=1e-4), pool_size=3)
    assert isinstance(model, CycleGAN)
    assert "optimizer_g" not in model.hparams and model.hparams["pool_size"] == 3
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, max_steps=0)
    trainer.strategy.connect(model)
    path = tmp_path / "cyclegan.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["hyper_parameters"]["pool_size"] == 3 and ckpt["state_dict"].keys() == model.state_dict().keys()

    schedule = ProGANSchedule(training_kimg=1, transition_kimg=1)
    progan = ProGAN(ProGANGenerator(16, 1, fmap_base=64, fmap_max=16), ProGANDiscriminator(16, 1, fmap_base=64, fmap_max=16), schedule)
    assert progan.hparams["schedule"]["training_kimg"] == 1 and progan.hparams_initial["schedule"] == schedule


# ------------------------------------------------------------------------------------ the core's API
def test_gan_and_dcgan_are_one_implementation_under_two_class_paths():
    from lit_gans.models.noise import DCGAN, GAN

    assert DCGAN.__mro__[1] is GAN
    assert set(vars(DCGAN)) <= {"__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__"}
    assert set(vars(GAN)) <= {"__module__", "__qualname__", "__doc__", "__firstlineno__", "__static_attributes__"}
    for yaml, path in (("gan_digits.yaml", "lit_gans.models.noise.GAN"), ("dcgan_digits.yaml", "lit_gans.models.noise.DCGAN")):
        argv, sys.argv = sys.argv, sys.argv[:1]
        try:
            cli = LitGansCLI(args=["--config", str(ROOT / "experiments" / yaml), "--trainer.logger=false",
                                   "--trainer.callbacks=[]", "--model.init_args.metrics=null"], run=False)
        finally:
            sys.argv = argv
        assert cli.model.hparams["_class_path"] == path  # what checkpoints record: old ones keep resuming


def test_every_trainable_module_is_on_the_core_with_a_public_g_iter():
    import lit_gans.models as models

    found = []
    for info in pkgutil.iter_modules(models.__path__):
        module = importlib.import_module(f"lit_gans.models.{info.name}")
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, L.LightningModule) and obj.__module__ == module.__name__:
                found.append(obj)
                assert issubclass(obj, GANModule), obj
    names = {c.__name__ for c in found}
    assert {"SRPretrain", "GeneratorPretraining", "ProGAN", "CycleGAN", "Pix2Pix"} <= names
    from lit_gans.models.super_resolution import SRPretrain
    from lit_gans.networks.rrdb import RRDBNet

    model = SRPretrain(RRDBNet(4, num_feat=8, num_blocks=1, growth=4))
    assert model.g_iter == 0 and model.optimizer_names == ("g",)
    with pytest.raises(ValueError, match=r"has optimizers \('g',\), not 'd'"):
        model.get_optimizer("d")


@pytest.mark.parametrize("stage", list(STAGES))
def test_pretraining_bf16_close_to_fp32(stage):
    from tests.test_bf16 import check_close, cli_model, train_losses

    yaml, small = STAGES[stage]
    model = cli_model(yaml, *[a for a in small if not a.startswith("--data.")])
    g = torch.Generator().manual_seed(0)
    if stage == "sr":
        hr = torch.rand(2, 3, 32, 32, generator=g)
        batch = {"lr": torch.nn.functional.avg_pool2d(hr, 4), "hr": hr}
    else:
        batch = {"A": torch.rand(2, 1, 32, 32, generator=g) * 2 - 1, "B": (torch.rand(2, 2, 32, 32, generator=g) - 0.5) * 0.4}
    check_close(train_losses(model, batch, "32-true"), train_losses(model, batch, "bf16-mixed"))


@pytest.mark.slow
def test_pretraining_ddp_two_cpu_processes(tmp_path):
    """``lit-gans fit --trainer.strategy=ddp`` of the RRDB PSNR stage on 2 CPU processes (gloo), EMA on: the weights
    and the EMA end identical on both ranks, the ranks draw different crops, g_iter counts the generator's steps."""
    import os
    import subprocess

    probe = tmp_path / "probe"
    args = [sys.executable, "-m", "lit_gans", *_args("sr", tmp_path / "run", "--model.init_args.ema_decay=0.9"),
            "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", "--trainer.max_steps=3",
            "--trainer.callbacks+=tests.ddp_probe.RankProbe", f"--trainer.callbacks.out_dir={probe}"]
    env = dict(os.environ, WANDB_MODE="offline", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["lit_gans"]["g_iter"] == 3 and ckpt["lit_gans"]["d_iter"] == 0
    r0, r1 = (torch.load(probe / f"rank{r}.pt") for r in (0, 1))
    assert r0["world_size"] == 2 and any(n.startswith("generator_ema.") for n in r0["params"])
    for name in r0["params"]:
        assert torch.equal(r0["params"][name], r1["params"][name]), f"{name} differs between ranks"
    assert not torch.equal(r0["noise"], r1["noise"])

"""bf16-mixed correctness on the CPU.

1. The parts that must stay in fp32 (Lab conversion, the gradient penalty's double backward, VGG/SFP perceptual
   features, NIQE, SWD, the image metrics) give the same float32 result inside ``torch.autocast("cpu",
   dtype=torch.bfloat16)`` as outside it: same dtype and equal values.
2. Every model trains a few steps under ``precision="bf16-mixed"`` with finite losses close to the same steps in
   fp32 (same initial weights, batch and noise).

Tolerance of 2: ``|bf16 - fp32| <= rel * |fp32| + abs`` on every logged value, with (rel, abs) = (0.05, 0.02)
at step 1 and (0.3, 0.15) at steps 2-3 (``TOL``). bf16 keeps 8 significant bits (rounding error 2^-9 = 0.2%
per value) and autocast rounds the inputs of every convolution and matmul, so a loss through 10-30 layers moves
by a few tenths of a percent to ~2% at step 1 (measured worst: 0.018 of ``|fp32| + 0.4``, ProGAN). The losses are
compared; the logged mean D outputs (``*_logit``, ``*_critic``: diagnostics, means of values of both signs that
nearly cancel) are only checked finite: one Context Encoder initialisation moved its mean fake logit by 0.055 on
-0.53 at step 1 while every loss stayed within 0.2%. The first Adam update is ~lr per weight
whatever the gradient's size, so weights whose fp32 gradient is near zero can move the other way under bf16, and
steps 2-3 drift more (measured worst: 0.146 of ``|fp32| + 0.5``, CycleGAN). Values near zero (gradient penalty, critic
outputs) need the absolute term. A loss in the wrong dtype, an overflow or a broken double backward gives
NaN/inf or differences of 100%+, far outside these bands.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import throughput as T  # noqa: E402

from lit_gans.cli import LitGansCLI  # noqa: E402

#: (relative, absolute) tolerance of the first step's logged values, and of the later steps' (see the module doc)
TOL = [(0.05, 0.02), (0.3, 0.15)]
STEPS = 3


def bf16_autocast() -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16)


def same_under_autocast(fn, *args):  # noqa: ANN001, ANN201
    """``fn(*args)`` outside and inside bf16 autocast (same RNG state): both outputs, flattened to tensors."""
    torch.manual_seed(1)
    ref = fn(*args)
    torch.manual_seed(1)
    with bf16_autocast():
        out = fn(*args)
    ref = ref if isinstance(ref, (tuple, list)) else [ref]
    out = out if isinstance(out, (tuple, list)) else [out]
    for r, o in zip(ref, out):
        assert r.dtype in (torch.float32, torch.float64), r.dtype
        assert o.dtype == r.dtype, f"{fn.__name__}: {o.dtype} under autocast, {r.dtype} without"
        torch.testing.assert_close(o, r, rtol=0, atol=0)
    return ref


# --------------------------------------------------------------------------------------------- fp32 parts
def test_lab_conversion_stays_fp32() -> None:
    from lit_gans.utils.lab import lab_normalized_to_rgb, rgb_to_lab_normalized

    rgb = torch.rand(2, 3, 16, 16)
    light, ab = same_under_autocast(rgb_to_lab_normalized, rgb)
    same_under_autocast(lab_normalized_to_rgb, light.bfloat16(), ab.bfloat16())  # bf16 inputs are cast up


def test_gradient_penalty_and_its_double_backward_stay_fp32() -> None:
    """The penalty computed inside bf16 autocast equals the fp32 one, and so do the critic's gradients from its
    double backward (``backward`` outside autocast, as PyTorch's AMP recipe and Lightning's automatic
    optimisation do; see :func:`test_gan_backward_runs_outside_autocast`)."""
    from lit_gans.losses.penalties import gradient_penalty

    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(8 * 8 * 8, 1))
    real, fake = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16).bfloat16()  # a bf16 fake from an autocast G

    def penalty_and_grads(autocast: bool) -> list[torch.Tensor]:
        critic.zero_grad()
        torch.manual_seed(1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            gp = gradient_penalty(critic, real, fake)
        gp.backward()  # the double backward
        return [gp.detach()] + [p.grad.clone() for p in critic.parameters() if p.grad is not None]

    ref, out = penalty_and_grads(False), penalty_and_grads(True)
    assert out[0].dtype == torch.float32 and len(out) == len(ref) == 4
    for r, o in zip(ref, out):
        torch.testing.assert_close(o, r, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["vgg19_conv5_4", "sfp_vgg16"])
def test_perceptual_features_stay_fp32(kind: str) -> None:
    from lit_gans.losses.perceptual import sfp_vgg
    from lit_gans.networks.vgg import VGGFeatures

    torch.manual_seed(0)
    net = VGGFeatures("vgg19", layers=["conv5_4"], weights="random") if kind == "vgg19_conv5_4" else sfp_vgg("random")
    x = torch.rand(1, 3, 32, 32)
    same_under_autocast(lambda t: list(net(t).values()), x)


def test_niqe_stays_fp64() -> None:
    from lit_gans.metrics import niqe as N

    if N.find_niqe_params() is None:
        pytest.skip("NIQE parameters absent: pip install --no-deps basicsr==1.4.2")
    torch.manual_seed(0)
    images = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12), size=(96, 192), mode="bilinear")
    (value,) = same_under_autocast(N.niqe_batch, images)
    assert value.dtype == torch.float64 and torch.isfinite(value).all()


def test_swd_stays_fp32() -> None:
    from lit_gans.metrics.swd import SlicedWassersteinDistance

    torch.manual_seed(0)
    real, fake = torch.rand(8, 3, 32, 32), torch.rand(8, 3, 32, 32)

    def swd():  # noqa: ANN202
        m = SlicedWassersteinDistance(resolution=32, patches_per_image=16, dirs_per_repeat=16)
        m.update(real, real=True)
        m.update(fake, real=False)
        return list(m.compute().values())

    values = same_under_autocast(swd)
    assert all(torch.isfinite(v) for v in values)


def test_image_metrics_stay_fp32() -> None:
    from lit_gans.metrics.masked import hole_l1, hole_psnr, hole_ssim
    from lit_gans.metrics.sr import psnr_y, ssim_y

    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1
    for fn in (hole_l1, hole_psnr, hole_ssim):
        same_under_autocast(fn, pred, target, mask)
    for fn in (psnr_y, ssim_y):
        same_under_autocast(fn, pred, target)


# --------------------------------------------------------------------------------------------- every model
class LossLog(L.Callback):
    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:  # noqa: ANN001
        self.steps.append({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/")
                           and k not in ("train/g_iter", "train/d_iter") and not k.startswith("train_epoch/")})


def train_losses(model: L.LightningModule, batch: dict, precision: str) -> list[dict[str, float]]:
    log = LossLog()
    L.seed_everything(0, verbose=False)
    m = T.fresh(model, T.VARIANTS["fp32"])
    # log_every_n_steps=1: the losses reach callback_metrics on logging steps only
    T.trainer(torch.device("cpu"), precision, STEPS, [log], log_every_n_steps=1).fit(m, train_dataloaders=T.Repeat(batch, STEPS))
    return log.steps


def check_close(fp32: list[dict[str, float]], bf16: list[dict[str, float]]) -> None:
    assert len(fp32) == len(bf16) == STEPS
    assert fp32[0], "no losses logged"
    for step, (a, b) in enumerate(zip(fp32, bf16)):
        assert a.keys() == b.keys()
        rel, tol = TOL[min(step, 1)]
        worst = max(abs(b[k] - a[k]) / (abs(a[k]) + tol / rel) for k in a if not k.endswith(("_logit", "_critic")))
        print(f"step {step}: worst |bf16 - fp32| / (|fp32| + {tol / rel:.2f}) = {worst:.4f} (limit {rel})")
        for k in a:
            assert math.isfinite(b[k]), f"step {step} {k}: {b[k]} under bf16"
            if k.endswith(("_logit", "_critic")):
                continue  # diagnostics, not losses (see the module doc)
            assert abs(b[k] - a[k]) <= rel * abs(a[k]) + tol, f"step {step} {k}: bf16 {b[k]:.5f} vs fp32 {a[k]:.5f}"


def cli_model(yaml: str, *overrides: str) -> L.LightningModule:
    argv, sys.argv = sys.argv, sys.argv[:1]
    try:
        cli = LitGansCLI(args=["--config", str(ROOT / "experiments" / yaml), "--trainer.logger=false",
                               "--trainer.callbacks=[]", *overrides], run=False)
    finally:
        sys.argv = argv
    return cli.model


def digits_batch(n: int = 8, size: int = 16) -> dict:
    g = torch.Generator().manual_seed(0)
    return {"image": torch.rand(n, 1, size, size, generator=g) * 2 - 1, "label": torch.arange(n) % 10, "index": torch.arange(n)}


NOISE = {
    "gan": ("gan_digits.yaml", ["--model.init_args.discriminator.init_args.hidden=[32, 32]"]),
    "dcgan": ("dcgan_digits.yaml", []),
    "wgan": ("wgan_digits.yaml", ["--model.init_args.critic_warmup_steps=null", "--model.init_args.n_critic=1"]),
    "wgan_gp": ("wgan_gp_digits.yaml", ["--model.init_args.n_critic=1"]),
    "cgan": ("cgan_digits.yaml", []),
}


@pytest.mark.parametrize("name", list(NOISE))
def test_noise_gan_bf16_close_to_fp32(name: str) -> None:
    yaml, extra = NOISE[name]
    size = ["--model.init_args.generator.init_args.image_size=16", "--model.init_args.discriminator.init_args.image_size=16"]
    widths = [] if name == "gan" else ["--model.init_args.generator.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8"]
    model = cli_model(yaml, "--model.init_args.metrics=null", *size, *widths, *extra)
    check_close(train_losses(model, digits_batch(), "32-true"), train_losses(model, digits_batch(), "bf16-mixed"))


def test_progan_bf16_close_to_fp32() -> None:
    model = cli_model("progan_digits.yaml", "--model.init_args.metrics=null")
    state = model.schedule_at()
    batch = digits_batch(state.batch_size, state.resolution)
    check_close(train_losses(model, batch, "32-true"), train_losses(model, batch, "bf16-mixed"))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:  # noqa: ANN001
    return tmp_path_factory.mktemp("bf16_data")


@pytest.mark.parametrize("name", [n for n in T.SPECS if n != "pix2pix_facades_b32"])
def test_image_model_bf16_close_to_fp32(name: str, data_root: Path) -> None:
    """Pix2Pix, Lab colorization, CycleGAN, SRGAN, ESRGAN, Context Encoder, EnlightenGAN: the paper YAMLs at
    tiny sizes (``benchmarks/throughput.py --quick``), one real preprocessed batch from the datamodule."""
    model, dm = T.build(T.SPECS[name], data_root / name, quick=True, device="cpu")
    batch = T.device_batch(model, dm, torch.device("cpu"))
    check_close(train_losses(model, batch, "32-true"), train_losses(model, batch, "bf16-mixed"))


# --------------------------------------------------------------------------------------------- backward
class _RecordAutocastInBackward(torch.autograd.Function):
    states: list[bool] = []

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        _RecordAutocastInBackward.states.append(torch.is_autocast_enabled("cpu"))
        return grad


class _Probe(nn.Module):
    def forward(self, x):  # noqa: ANN001, ANN201
        return _RecordAutocastInBackward.apply(x)


def test_gan_backward_runs_outside_autocast() -> None:
    """PyTorch's AMP recipe: backward outside autocast. Under autocast, the autograd engine dispatches the
    backward formulas through autocast too, so the gradient of a region computed in fp32 (autocast off) is
    computed in bf16 (measured: 0.2-0.5% relative gradient error on a 2-layer MLP, 0.4% on a gradient penalty)."""
    model = cli_model("dcgan_digits.yaml", "--model.init_args.metrics=null", "--model.init_args.generator.init_args.image_size=16",
                      "--model.init_args.discriminator.init_args.image_size=16", "--model.init_args.generator.init_args.ngf=8",
                      "--model.init_args.discriminator.init_args.ndf=8")
    model.discriminator = nn.Sequential(_Probe(), model.discriminator)
    _RecordAutocastInBackward.states.clear()
    train_losses(model, digits_batch(), "bf16-mixed")
    assert _RecordAutocastInBackward.states and not any(_RecordAutocastInBackward.states)

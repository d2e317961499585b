"""ESRGAN network interpolation: blend a PSNR-oriented and a GAN generator, (1 - alpha) * PSNR + alpha * GAN.

    lit-gans interpolate --psnr runs/rrdb_psnr_div2k/checkpoints/last.ckpt \\
        --gan runs/esrgan_div2k/checkpoints/last.ckpt --alpha 0.8 --out interp_08.pth

Wang et al., "ESRGAN", ECCV-W 2018, Sec. 3.4 (https://arxiv.org/abs/1809.00219); the official script is
xinntao/ESRGAN ``net_interp.py`` (alpha 0.8 in its README). Inputs: lit_gans checkpoints, plain state dicts or
official RRDBNet files (read by :func:`lit_gans.io.checkpoints.generator_state_dict`); the output is a state dict
in this project's layout, for ``--model.init_args.generator_ckpt``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from torch import Tensor

from lit_gans.errors import ConfigError, UserError
from lit_gans.io.checkpoints import generator_state_dict, save_atomic


def interpolate_weights(psnr: dict[str, Tensor], gan: dict[str, Tensor], alpha: float) -> dict[str, Tensor]:
    """ESRGAN network interpolation (Sec. 3.4, xinntao/ESRGAN ``net_interp.py``):
    ``theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN`` for every floating tensor; integer buffers
    (BatchNorm's ``num_batches_tracked``) are taken from the GAN model."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"alpha must be in [0, 1], got {alpha}")
    if set(psnr) != set(gan):
        diff = sorted(set(psnr) ^ set(gan))
        raise KeyError(f"the two generators have different layers (e.g. {diff[:5]}); they must be the same network")
    out = {}
    for key, theta_gan in gan.items():
        theta_psnr = psnr[key]
        if theta_psnr.shape != theta_gan.shape:
            raise ConfigError(f"{key}: shapes differ, {tuple(theta_psnr.shape)} vs {tuple(theta_gan.shape)}")
        out[key] = (1 - alpha) * theta_psnr + alpha * theta_gan if theta_gan.is_floating_point() else theta_gan.clone()
    return out


def main(argv: Optional[list[str]] = None, prog: str = "lit-gans interpolate") -> int:
    """``lit-gans interpolate --psnr A --gan B --alpha 0.8 --out C``; returns the exit status (2: a user error,
    printed as one line)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Blend a PSNR-oriented and a GAN generator (ESRGAN Sec. 3.4): (1 - alpha) * PSNR + alpha * GAN. "
        "Inputs: lit_gans checkpoints, plain state dicts, or official RRDBNet files. Output: a state dict for "
        "--model.init_args.generator_ckpt.",
    )
    parser.add_argument("--psnr", required=True, help="PSNR-oriented generator (e.g. the SRPretrain checkpoint, RRDB_PSNR_x4.pth)")
    parser.add_argument("--gan", required=True, help="GAN generator (e.g. the ESRGAN checkpoint, RRDB_ESRGAN_x4.pth)")
    parser.add_argument("--alpha", type=float, default=0.8, help="weight of the GAN model (0.8 in the ESRGAN README)")
    parser.add_argument("--out", required=True, help="output .pth (a plain state dict in this project's layout)")
    parser.add_argument("--ema", action="store_true", help="take generator_ema.* from lit_gans checkpoints")
    args = parser.parse_args(argv)
    try:
        blended = interpolate_weights(generator_state_dict(args.psnr, args.ema), generator_state_dict(args.gan, args.ema),
                                      args.alpha)
        out = Path(args.out)
        save_atomic(blended, out)
    except (UserError, KeyError) as err:
        print(f"{prog}: error: {err.args[0] if isinstance(err, KeyError) and err.args else err}", file=sys.stderr)
        return 2
    print(f"lit_gans: wrote {out} = {1 - args.alpha:g} * {args.psnr} + {args.alpha:g} * {args.gan}")
    return 0

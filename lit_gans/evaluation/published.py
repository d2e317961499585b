"""Published numbers, shown next to the measured ones (the "paper" column of ``lit-gans test``).

ONE table, keyed by (model, data set, metric). ``model`` is the key a protocol names
(:meth:`~lit_gans.evaluation.protocol.Protocol.paper_model`: the model's class name, refined by the generator for
super-resolution: ``SRPretrain/RRDBNet`` is the RRDB_PSNR model, ``SRPretrain/SRResNet`` the SRResNet, ``SRGAN``,
``ESRGAN``); ``data set`` is compared with the test set's name by :func:`set_key` (case, spaces and dashes ignored,
``BSDS100`` = ``BSD100``); ``metric`` is the column of the results table. Each value carries its source (a paper
table or an official repository's file, cited exactly) and the protocol that made it, because a number measured by
another protocol is not the same quantity (docs/evaluation.md).

Only numbers read in a public source are here. Left out, because no public text could be checked while writing
this table: the Context Encoder's Table 1 (Paris StreetView L1/L2/PSNR), SRGAN's Urban100 (not in its Table 2),
EnlightenGAN's Table 1 NIQE values, ProGAN's SWD/MS-SSIM tables and the DCGAN/WGAN papers (which publish no FID).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence


@dataclass(frozen=True)
class Published:
    value: float
    source: str  # where the number is printed (paper table / repository file), exactly
    protocol: str  # how it was measured, as far as the source says


_ESRGAN_README = "xinntao/ESRGAN README.md, RRDB_PSNR table ('RRDB(ours)', trained on DF2K)"
_ESRGAN_PROTOCOL = "x4, PSNR/SSIM on the Y channel, MATLAB bicubic LR (BasicSR's evaluation of the time)"
_SRGAN_TABLE2 = (
    "Ledig et al. 2017 (arXiv:1609.04802) Table 2, as quoted in adamvest/SRGAN README.md "
    "(SSIM to 3 digits there)"
)
_SRGAN_PROTOCOL = "x4, PSNR [dB] / SSIM on the Y channel, 4 border pixels removed (paper Sec. 3.2)"
_MMAGIC_CYCLEGAN = (
    "open-mmlab/mmagic CycleGAN README (configs/cyclegan, table row 'official horse2zebra', FID of junyanz's "
    "released model as measured by MMEditing; quoted in open-mmlab/mmagic pull request #595)"
)

PUBLISHED: dict[tuple[str, str, str], Published] = {}


def _add(model: str, source: str, protocol: str, metric_pairs: dict[str, tuple[float, ...]], metrics: Sequence[str]) -> None:
    for data_set, values in metric_pairs.items():
        for metric, value in zip(metrics, values):
            PUBLISHED[(model, set_key(data_set), metric)] = Published(value, source, protocol)


def set_key(name: str) -> str:
    """A data-set name as a key: lower case, letters and digits only; ``bsds100`` -> ``bsd100``."""
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    return {"bsds100": "bsd100", "b100": "bsd100"}.get(key, key)


# xinntao/ESRGAN README: "RRDB(ours) | DF2K | 32.73/0.9011 | 28.99/0.7917 | 27.85/0.7455 | 27.03/0.8153 | 31.66/0.9196"
_add(
    "SRPretrain/RRDBNet", _ESRGAN_README, _ESRGAN_PROTOCOL,
    {"Set5": (32.73, 0.9011), "Set14": (28.99, 0.7917), "BSD100": (27.85, 0.7455), "Urban100": (27.03, 0.8153),
     "Manga109": (31.66, 0.9196)},
    ("psnr_y", "ssim_y"),
)
# SRGAN Table 2 (as quoted by adamvest/SRGAN): SRResNet and SRGAN (SRGAN-VGG54) on Set5 / Set14 / BSD100
_add(
    "SRPretrain/SRResNet", _SRGAN_TABLE2, _SRGAN_PROTOCOL,
    {"Set5": (32.05, 0.902), "Set14": (28.49, 0.818), "BSD100": (27.58, 0.762)},
    ("psnr_y", "ssim_y"),
)
_add(
    "SRGAN", _SRGAN_TABLE2, _SRGAN_PROTOCOL,
    {"Set5": (29.40, 0.847), "Set14": (26.02, 0.740), "BSD100": (25.15, 0.669)},
    ("psnr_y", "ssim_y"),
)
# CycleGAN horse2zebra: G (horse -> zebra) FID of junyanz's released model, as measured by MMEditing
PUBLISHED[("CycleGAN", set_key("AtoB"), "fid")] = Published(
    62.111, _MMAGIC_CYCLEGAN, "MMEditing's FID of G(testA) against testB (its own Inception pipeline, not stated there)"
)


def lookup(model: Optional[str], data_set: str, metric: str, experiment: Optional[str] = None) -> Optional[Published]:
    """The published number for this row's metric, or None. CycleGAN's numbers are per direction (``AtoB``) and
    need the experiment to be horse2zebra (the experiment name or the data set's name contains it)."""
    if model is None:
        return None
    if model == "CycleGAN" and "horse2zebra" not in (experiment or "").lower():
        return None
    return PUBLISHED.get((model, set_key(data_set), metric))


def metric_name(column: str) -> str:
    """A results-table column as a metric key: FID columns (``fid120_inception_test``) -> ``fid``."""
    return "fid" if column.startswith("fid") and not column.endswith("_std") else column


def comparison_rows(rows: Sequence[dict[str, Any]], model: Optional[str], experiment: Optional[str] = None) -> list[dict[str, Any]]:
    """One row per (test set, metric) with a published number: set, metric, measured, paper, difference
    (measured - paper), source, protocol. Measured values that are not numbers (``n/a (...)``) give no row."""
    out = []
    for row in rows:
        data_set = str(row.get("set", ""))
        for column, measured in row.items():
            if column == "set" or not isinstance(measured, (int, float)):
                continue
            pub = lookup(model, data_set, metric_name(column), experiment)
            if pub is None:
                continue
            out.append({
                "set": data_set, "metric": column, "measured": float(measured), "paper": pub.value,
                "difference": float(measured) - pub.value, "source": pub.source, "paper protocol": pub.protocol,
            })
    return out

"""Evaluation by each paper's protocol: validation metrics, ``lit-gans test`` tables and pages, sample grids and
prediction, written once per task.

* :mod:`~lit_gans.evaluation.protocol`: :class:`Protocol` (the base) and :class:`EvaluationMixin` (the model side);
* one protocol per task: :mod:`~lit_gans.evaluation.generation` (noise GANs, ProGAN),
  :mod:`~lit_gans.evaluation.paired` (Pix2Pix, colorization, generator pretraining),
  :mod:`~lit_gans.evaluation.unpaired` (CycleGAN), :mod:`~lit_gans.evaluation.super_resolution` (SRPretrain, SRGAN,
  ESRGAN), :mod:`~lit_gans.evaluation.inpainting` (Context Encoder), :mod:`~lit_gans.evaluation.lowlight`
  (EnlightenGAN);
* :mod:`~lit_gans.evaluation.report`: :class:`TestReport`, the table and the page.

Layering: this package may import lightning, ``lit_gans.utils``/``metrics``/``networks`` and ``datamodules``, never
``lit_gans.models``. docs/evaluation.md describes the protocols.
"""

from lit_gans.evaluation.protocol import INCEPTION_NOTE, EvaluationMixin, Protocol, TestResults, TestState, inception_available
from lit_gans.evaluation.report import TestReport, csv_text, markdown_table, table_columns, write_report
from lit_gans.evaluation.generation import GenerationEvaluation, generated_sample_ids, seeded_noise
from lit_gans.evaluation.paired import PairedEvaluation, colourfulness
from lit_gans.evaluation.unpaired import UnpairedEvaluation
from lit_gans.evaluation.super_resolution import SuperResolutionEvaluation
from lit_gans.evaluation.inpainting import InpaintingEvaluation
from lit_gans.evaluation.lowlight import LowLightEvaluation

__all__ = [
    "INCEPTION_NOTE",
    "EvaluationMixin",
    "GenerationEvaluation",
    "InpaintingEvaluation",
    "LowLightEvaluation",
    "PairedEvaluation",
    "Protocol",
    "SuperResolutionEvaluation",
    "TestReport",
    "TestResults",
    "TestState",
    "UnpairedEvaluation",
    "colourfulness",
    "csv_text",
    "generated_sample_ids",
    "inception_available",
    "markdown_table",
    "seeded_noise",
    "table_columns",
    "write_report",
]

"""Colorization through the real CLI: one step (+ validation) of each YAML on the embedded photos, the L1
pretraining checkpoint loaded into the GAN stage, and prediction at the input's own (odd) size."""

from pathlib import Path

import lightning as L
import pytest
import torch

from tests.test_pix2pix_cli import fit_one_step, predict_folder

COCO_ON_EMBEDDED = [  # the COCO YAMLs on the embedded photos, tiny: 64 px crops, batch 2, no ImageNet download
    "--data.init_args.root=null", "--data.init_args.preprocess=crop", "--data.init_args.crop_size=64",
    "--data.init_args.batch_size=2", "--data.init_args.num_workers=0", "--data.init_args.subset=null",
]
DYN_RANDOM = ["--model.init_args.generator.init_args.pretrained=false"]
#: the ResNet18 Dynamic U-Net (31M parameters) takes ~40 s a step on a loaded 2-core CPU: marked slow
#: (``tests/test_experiments.py`` runs one step of every YAML in the default run).
COCO_CASES = [
    pytest.param("colorization_coco_pretrain.yaml", COCO_ON_EMBEDDED + DYN_RANDOM, marks=pytest.mark.slow),
    pytest.param(
        "colorization_coco.yaml",
        COCO_ON_EMBEDDED + DYN_RANDOM + ["--model.init_args.generator_ckpt=null", "--model.init_args.discriminator.init_args.ndf=8"],
        marks=pytest.mark.slow,
    ),
    pytest.param("colorization_coco_resunet.yaml", COCO_ON_EMBEDDED + ["--model.init_args.discriminator.init_args.ndf=8"]),
]


class GeneratorProbe(L.Callback):
    """Keeps a copy of the generator's weights when training starts (after ``generator_ckpt`` was loaded)."""

    def on_train_start(self, trainer, pl_module):  # noqa: ANN001, ANN201
        self.weights = {k: v.detach().clone() for k, v in pl_module.generator.state_dict().items()}


def _check_lab_metrics(cli) -> None:  # noqa: ANN001
    metrics = cli.trainer.callback_metrics
    assert {"val/psnr", "val/ssim", "val/ab_l1", "val/ab_l1_gray"} <= set(metrics)
    assert torch.isfinite(metrics["val/ab_l1"]) and cli.model.color_space == "lab"


@pytest.mark.parametrize("name,extra", COCO_CASES)
def test_coco_yaml_one_step_on_embedded(name, extra, tmp_path, monkeypatch):
    cli = fit_one_step(name, tmp_path, monkeypatch, extra)
    _check_lab_metrics(cli)
    assert list((tmp_path / "runs").glob("*/samples/translation_final.png"))


def test_embedded_pretraining_then_gan_then_predict(tmp_path, monkeypatch):
    """colorization_embedded_pretrain.yaml (one step), its checkpoint loaded by colorization_embedded.yaml
    (``generator_ckpt``; one GAN step), then ``predict`` at the inputs' own sizes."""
    pre = fit_one_step("colorization_embedded_pretrain.yaml", tmp_path, monkeypatch, [])
    _check_lab_metrics(pre)
    assert any((tmp_path / "runs").glob("*/wandb/offline-run-*"))
    ckpt = Path(pre.trainer.checkpoint_callback.last_model_path)
    pretrained = {k: v.clone() for k, v in pre.model.generator.state_dict().items()}
    extra = [
        "--trainer.logger=false", f"--model.init_args.generator_ckpt={ckpt}",
        "--trainer.callbacks+=tests.test_colorization_cli.GeneratorProbe",
    ]
    gan = fit_one_step("colorization_embedded.yaml", tmp_path, monkeypatch, extra)
    _check_lab_metrics(gan)
    assert gan.model.g_iter == 2
    probe = next(cb for cb in gan.trainer.callbacks if isinstance(cb, GeneratorProbe))
    assert all(torch.equal(probe.weights[k], v) for k, v in pretrained.items())  # started from the pretraining
    predict_folder("colorization_embedded.yaml", Path(gan.trainer.checkpoint_callback.last_model_path), tmp_path, [])

"""Every YAML in experiments/ runs through the real LightningCLI (real WandbLogger, offline) for a couple
of optimizer steps on the embedded data, and prints its resolved config."""

from pathlib import Path

import pytest

from lit_gans.cli import LitGansCLI

ROOT = Path(__file__).resolve().parents[1]
YAMLS = sorted(p.name for p in (ROOT / "experiments").glob("*.yaml"))

_DIGITS28 = ["--data=datamodules.digits.DigitsDataModule", "--data.init_args.image_size=28"]
_DIGITS32 = ["--data=datamodules.digits.DigitsDataModule", "--data.init_args.image_size=32"]

#: How to run a YAML on the embedded data (YAMLs on embedded data need nothing). A YAML missing here
#: and not embedded fails the test: every experiment must be runnable offline.
OVERRIDES: dict[str, list[str]] = {
    "gan_mnist.yaml": _DIGITS28,
    "cgan_mnist.yaml": _DIGITS28,
    "dcgan_mnist.yaml": _DIGITS32,
    "wgan_mnist.yaml": _DIGITS32,
    "wgan_gp_mnist.yaml": _DIGITS32,
}
_COCO = ["--data.init_args.root=null", "--data.init_args.preprocess=crop", "--data.init_args.crop_size=64",
         "--data.init_args.batch_size=2", "--data.init_args.num_workers=0", "--data.init_args.subset=null"]
OVERRIDES.update({
    "pix2pix_facades.yaml": ["--data.init_args.root=null", "--data.init_args.load_size=72", "--data.init_args.crop_size=64",
                             "--data.init_args.num_workers=0", "--model.init_args.generator.init_args.num_downs=6",
                             "--model.init_args.generator.init_args.ngf=8"],
    "colorization_coco_pretrain.yaml": _COCO + ["--model.init_args.generator.init_args.pretrained=false"],
    "colorization_coco.yaml": _COCO + ["--model.init_args.generator.init_args.pretrained=false", "--model.init_args.generator_ckpt=null"],
    "colorization_coco_resunet.yaml": _COCO,
    "context_encoder_paris.yaml": ["--data.init_args.root=null", "--data.init_args.val_root=null", "--data.init_args.load_size=160",
                                   "--data.init_args.batch_size=4", "--data.init_args.num_workers=0",
                                   "--model.init_args.generator.init_args.bottleneck_dim=64"],
    "cyclegan_horse2zebra.yaml": ["--data.init_args.root=null", "--data.init_args.load_size=72", "--data.init_args.crop_size=64",
                                  "--data.init_args.num_workers=0", "--model.init_args.generator.init_args.ngf=8",
                                  "--model.init_args.generator_ba.init_args.ngf=8", "--model.init_args.discriminator.init_args.ndf=8",
                                  "--model.init_args.discriminator_a.init_args.ndf=8"],
    "enlightengan.yaml": ["--data.init_args.root=null", "--data.init_args.crop_size=64", "--data.init_args.batch_size=2",
                          "--data.init_args.num_workers=0", "--model.init_args.vgg_weights=random",
                          "--model.init_args.vgg_input_norm=caffe_nomean", "--model.init_args.generator.init_args.base_channels=8",
                          "--model.init_args.discriminator.init_args.ndf=16", "--model.init_args.discriminator_local.init_args.ndf=16"],
})
#: Super-resolution: the embedded photos (no root), tiny networks, a random VGG (no ImageNet weights offline).
_SR = ["--data.init_args.root=null", "--data.init_args.val_root=null", "--data.init_args.batch_size=2",
       "--data.init_args.num_workers=0", "--model.init_args.generator.init_args.num_feat=8",
       "--model.init_args.generator.init_args.num_blocks=1"]
_SR_GAN = ["--model.init_args.discriminator.init_args.num_feat=8", "--model.init_args.vgg_weights=random",
           "--model.init_args.generator_ckpt=null"]
OVERRIDES.update({
    "srresnet_div2k.yaml": _SR,
    "srgan_div2k.yaml": _SR + _SR_GAN + ["--model.init_args.discriminator.init_args.dense_features=16"],
    "rrdb_psnr_div2k.yaml": _SR + ["--model.init_args.generator.init_args.growth=4"],
    "esrgan_div2k.yaml": _SR + _SR_GAN + ["--model.init_args.generator.init_args.growth=4"],
})
EMBEDDED = ("_digits.yaml", "_embedded.yaml")
_PROGAN = ["--data.init_args.source=digits", "--data.init_args.num_workers=0", "--model.init_args.schedule.batch_size=4"]
OVERRIDES["progan_celeba.yaml"] = OVERRIDES["progan_mnist.yaml"] = _PROGAN
#: Model options that keep one step cheap (the metric networks have their own tests).
CHEAP = {
    "lit_gans.models.noise": ["--model.init_args.metrics=null"],
    "lit_gans.models.progan": ["--model.init_args.metrics=null"],
}


def _cheap_args(name: str) -> list[str]:
    text = (ROOT / "experiments" / name).read_text()
    return [a for module, args in CHEAP.items() if module in text for a in args]


def _override(name: str) -> list[str]:
    if name in OVERRIDES:
        return OVERRIDES[name]
    if any(name.endswith(suffix) or suffix[:-5] in name for suffix in EMBEDDED):
        return []
    pytest.fail(f"experiments/{name} has no embedded-data override in tests/test_experiments.py::OVERRIDES")


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_runs_one_step(name, cli_args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/<experiment>/ relative to the working directory
    args = ["fit"] + cli_args(name) + _override(name) + _cheap_args(name) + [
        "--trainer.max_steps=2",
        "--trainer.limit_val_batches=0",
        "--trainer.num_sanity_val_steps=0",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
    ]
    cli = LitGansCLI(args=args)
    assert cli.trainer.global_step >= 1
    assert any((tmp_path / "wandb").glob("offline-run-*")), "W&B run not written (offline)"


@pytest.mark.parametrize("name", YAMLS)
def test_yaml_print_config(name, capsys):
    with pytest.raises(SystemExit) as exc:
        LitGansCLI(args=["fit", "--config", str(ROOT / "experiments" / name), "--print_config"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "class_path" in out and "optimizer_g" in out or "optimizer" in out

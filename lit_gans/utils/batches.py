"""The batch a model needs, checked against the batch its datamodule gives, before the model sees it.

A model declares its contract as a class attribute, keys per stage (``fit`` = training; ``validate`` / ``test``
default to ``fit``'s keys; ``predict`` has its own)::

    batch_keys = {"fit": ("image",), "predict": ("index",)}

A key written ``"A|rgb"`` is satisfied by either. :func:`check_batch` compares one batch with it; the CLI runs it
on the first batch of each loop (:class:`BatchContract`), so a datamodule that does not fit the model (DCGAN
with a paired datamodule) stops with a ``ConfigError`` naming the model, the datamodule and the keys, instead of
``KeyError: 'image'`` from inside a step after the loaders have started.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L

from lit_gans.errors import ConfigError

#: Lightning's loop names -> the stage of the contract (and the stage a missing one falls back to).
LOOPS = {"train": ("fit", "fit"), "validation": ("validate", "fit"), "test": ("test", "fit"), "predict": ("predict", "predict")}


def _class_path(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def required_keys(model: Any, loop: str) -> tuple[str, ...]:
    """The keys ``model`` declares for ``loop`` (``train``, ``validation``, ``test`` or ``predict``); () if none."""
    contract = getattr(model, "batch_keys", None)
    if not isinstance(contract, Mapping):
        return ()
    stage, fallback = LOOPS[loop]
    return tuple(contract.get(stage) or contract.get(fallback) or ())


def _fitting_datamodules(model_class: str) -> list[str]:
    """The datamodules of the shipped experiments that train ``model_class`` (for the message; [] if none found)."""
    import yaml

    found = set()
    for folder in (Path.cwd() / "experiments", Path(__file__).resolve().parents[2] / "experiments"):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                config = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError):
                continue
            model, data = config.get("model") or {}, config.get("data") or {}
            if isinstance(model, dict) and isinstance(data, dict) and model.get("class_path") == model_class and data.get("class_path"):
                found.add(data["class_path"])
        if found:
            break
    return sorted(found)


def check_batch(batch: Any, model: Any, datamodule: Any, loop: str) -> None:
    """Raise a ``ConfigError`` unless ``batch`` holds every key ``model`` needs in ``loop``."""
    required = required_keys(model, loop)
    if not required:
        return
    present = set(batch) if isinstance(batch, Mapping) else set()
    missing = [k for k in required if not any(alt in present for alt in k.split("|"))]
    if not missing:
        return
    model_class = _class_path(model)
    data = _class_path(datamodule) if datamodule is not None else "the dataloader given to the Trainer"
    gives = f"keys {sorted(present)}" if isinstance(batch, Mapping) else f"a {type(batch).__name__}, not a dict"
    fitting = _fitting_datamodules(model_class)
    hint = f" (the experiments of this model use {', '.join(fitting)})" if fitting else ""
    raise ConfigError(
        f"the datamodule does not fit the model: {model_class} needs {loop} batches with the keys "
        f"{list(required)}, but {data} gives {gives} (missing {missing}). Use a datamodule made for this "
        f"model with --data=<class path>{hint}, or a --config of an experiment of this model"
    )


class BatchContract(L.Callback):
    """Runs :func:`check_batch` on the first batch of each loop (training, validation incl. the sanity check,
    test, predict): one dictionary lookup per key, once per loop and run."""

    def __init__(self) -> None:
        self._checked: set[str] = set()

    def _check(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, loop: str) -> None:
        if loop not in self._checked:
            check_batch(batch, pl_module, getattr(trainer, "datamodule", None), loop)
            self._checked.add(loop)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int) -> None:
        self._check(trainer, pl_module, batch, "train")

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int,
                                  dataloader_idx: int = 0) -> None:
        self._check(trainer, pl_module, batch, "validation")

    def on_test_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int,
                            dataloader_idx: int = 0) -> None:
        self._check(trainer, pl_module, batch, "test")

    def on_predict_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int,
                               dataloader_idx: int = 0) -> None:
        self._check(trainer, pl_module, batch, "predict")


__all__ = ["BatchContract", "check_batch", "required_keys"]

"""Lightning's private API, as lit_gans relies on it: each name in ``lit_gans.run._lightning.PRIVATE`` exists in the
installed Lightning with the kind and signature used (an upgrade that changes one fails here, naming it and where
lit_gans uses it), and no other module of lit_gans touches a private Lightning attribute."""

from __future__ import annotations

import ast
import contextvars
import importlib
import inspect
from pathlib import Path

import lightning
import pytest

from lit_gans.run._lightning import PRIVATE

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = ROOT / "lit_gans/run/_lightning.py"

#: The parameters each private method is called or overridden with (``self`` first).
SIGNATURES = {
    "_parse_ckpt_path": ["self"],
    "_instantiate_trainer": ["self", "config", "callbacks"],
    "_run_subcommand": ["self", "subcommand"],
    "_save_checkpoint": ["self", "trainer", "filepath"],
    "_save_last_checkpoint": ["self", "trainer", "monitor_candidates"],
    "_monitor_candidates": ["self", "trainer"],
    "_should_skip_saving_checkpoint": ["self", "trainer"],
    "_find_last_checkpoints": ["self", "trainer"],
}


def _owner(path: str):  # noqa: ANN202
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return importlib.import_module(path)


def _instance(owner: type, tmp_path: Path):  # noqa: ANN202
    """A cheap instance of ``owner`` whose private instance attributes are checked."""
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import WandbLogger
    from lightning.pytorch.strategies import DDPStrategy

    if owner is LightningModule:
        return LightningModule()
    if owner is Trainer:
        return Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                       enable_model_summary=False, default_root_dir=str(tmp_path))
    if owner is DDPStrategy:
        return DDPStrategy(find_unused_parameters=True)
    if owner is WandbLogger:
        return WandbLogger(save_dir=str(tmp_path), offline=True)
    if owner is ModelCheckpoint:
        return ModelCheckpoint(dirpath=str(tmp_path))
    raise AssertionError(f"no instance recipe for {owner}")


@pytest.mark.parametrize("owner,name,kind,use", PRIVATE, ids=[f"{o.rsplit('.', 1)[-1]}.{n}" for o, n, _, _ in PRIVATE])
def test_private_name_exists_as_used(owner, name, kind, use, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    where = f"{owner}.{name} (lit_gans/run/_lightning.py: {use}); installed lightning {lightning.__version__}"
    obj = _owner(owner)
    if kind == "method":
        method = getattr(obj, name, None)
        assert callable(method), f"gone: {where}"
        params = list(inspect.signature(method).parameters)
        assert params == SIGNATURES[name], f"signature changed to {params}: {where}"
    elif kind == "attribute":
        instance = _instance(obj, tmp_path)
        assert name in vars(instance), f"gone: {where}"
    elif kind == "contextvar":
        assert isinstance(getattr(obj, name, None), contextvars.ContextVar), f"gone or not a ContextVar: {where}"
    else:
        raise AssertionError(kind)


def test_private_values_mean_what_lit_gans_reads(tmp_path, monkeypatch):
    """Beyond existence: the values behave as lit_gans assumes."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI
    from lightning.pytorch.strategies import DDPStrategy

    from lit_gans.run._lightning import attached_trainer, ddp_kwargs, should_update_logs

    module = LightningModule()
    with pytest.raises(RuntimeError):  # the public property raises: why attached_trainer reads _trainer
        module.trainer  # noqa: B018
    assert attached_trainer(module) is None
    trainer = _instance(Trainer, tmp_path)
    module.trainer = trainer
    assert attached_trainer(module) is trainer
    assert isinstance(type(trainer._logger_connector).should_update_logs, property)
    assert should_update_logs(None) is True
    assert ddp_kwargs(DDPStrategy(find_unused_parameters=True)) == {"find_unused_parameters": True}
    assert ModelCheckpoint(dirpath=str(tmp_path))._last_global_step_saved == 0
    # LightningCLI still calls the two steps lit_gans replaces, and ModelCheckpoint still writes through _save_checkpoint
    cli_source = inspect.getsource(LightningCLI)
    assert "self._parse_ckpt_path()" in cli_source and "self._instantiate_trainer(" in cli_source
    assert "self._save_checkpoint(" in inspect.getsource(ModelCheckpoint._save_last_checkpoint)


# ---------------------------------------------------------------------------------------------- nobody else
LIGHTNING_CLASSES = (
    "lightning.pytorch.Trainer", "lightning.pytorch.LightningModule", "lightning.pytorch.LightningDataModule",
    "lightning.pytorch.Callback", "lightning.pytorch.callbacks.ModelCheckpoint",
    "lightning.pytorch.callbacks.BasePredictionWriter", "lightning.pytorch.loggers.WandbLogger",
    "lightning.pytorch.loggers.TensorBoardLogger", "lightning.pytorch.loggers.CSVLogger",
    "lightning.pytorch.strategies.DDPStrategy", "lightning.pytorch.cli.LightningCLI",
    "lightning.pytorch.cli.SaveConfigCallback", "lightning.fabric.plugins.TorchCheckpointIO",
    "lightning.fabric.plugins.environments.SLURMEnvironment",
)


def _lightning_private_names() -> set[str]:
    names: set[str] = set()
    for path in LIGHTNING_CLASSES:
        for klass in _owner(path).__mro__:
            if not klass.__module__.startswith("lightning"):
                continue
            names |= {n for n in vars(klass) if n.startswith("_") and not n.startswith("__")}
            try:
                tree = ast.parse(inspect.getsource(klass).lstrip())
            except (OSError, TypeError, SyntaxError, IndentationError):
                continue
            for node in ast.walk(tree):  # instance attributes: self._x = ...
                if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                        and isinstance(node.value, ast.Name) and node.value.id == "self" and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    names.add(node.attr)
    for name in ("lightning.pytorch.core.mixins.hparams_mixin",):
        names |= {n for n in vars(importlib.import_module(name)) if n.startswith("_") and not n.startswith("__")}
    return names


def _offences(files: list[Path], root: Path) -> list[str]:
    private = _lightning_private_names()
    trees = {p: ast.parse(p.read_text()) for p in files}
    own: set[str] = set()  # private names lit_gans defines itself (its own attributes and helpers)
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self":
                own.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name not in private:
                own.add(node.name)
    offences = []
    for path, tree in trees.items():
        rel = path.relative_to(root)
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr in private - own:
                name = node.attr
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("getattr", "hasattr", "setattr") \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in private - own:
                name = node.args[1].value
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in private:
                name = f"def {node.name} (an override)"
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("lightning"):
                name = next((a.name for a in node.names if a.name.startswith("_")), None)
            if name:
                offences.append(f"{rel}:{node.lineno}: {name}")
    return offences


def test_no_module_but_run_lightning_touches_lightning_private_names():
    offences = _offences([p for p in sorted((ROOT / "lit_gans").rglob("*.py")) if p != ALLOWED], ROOT)
    assert not offences, ("Lightning's private API used outside lit_gans/run/_lightning.py (add a named function "
                          "there, listed in PRIVATE):\n" + "\n".join(offences))


def test_the_scan_catches_a_private_use(tmp_path):
    """The check above is not vacuous: the uses lit_gans once had are found."""
    module = tmp_path / "model.py"
    module.write_text(
        "from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters\n"
        "class M:\n"
        "    def _save_checkpoint(self, trainer, filepath):\n"
        "        dm = self.trainer.datamodule if self._trainer is not None else None\n"
        "        kwargs = getattr(self.trainer.strategy, '_ddp_kwargs', {})\n"
        "        self._own = trainer._logger_connector.should_update_logs\n"
    )
    found = [line.split(": ", 1)[1] for line in _offences([module], tmp_path)]
    assert sorted(found) == sorted(["_given_hyperparameters", "def _save_checkpoint (an override)", "_trainer",
                                    "_ddp_kwargs", "_logger_connector"])

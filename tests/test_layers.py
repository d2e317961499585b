"""The layers of docs/architecture.md, checked on the source: no lower layer imports a higher one, no import
cycle, and the rules of single layers (networks/losses without Lightning; datamodules without metrics and
without reading the model through the Trainer).

The import graph is read with ``ast`` from every ``.py`` file under ``lit_gans/`` and ``datamodules/``: every
``import`` statement counts, also one inside a function (a lazy import is still a dependency), except those
under ``if TYPE_CHECKING:``. A new top-level package of ``lit_gans`` must be given its layer in ``LAYERS``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lit_gans", "datamodules")

#: Layer of each part (the longest matching prefix wins). A module may import its own layer and lower ones.
LAYERS: dict[str, int] = {
    "lit_gans": 1,  # the package __init__ (version, thread environment): imports nothing of the project above 1
    "lit_gans.errors": 1,
    "lit_gans.utils": 1,
    "lit_gans.threads": 1,  # standard library only, run before torch loads
    "lit_gans.smoke": 1,  # standard library only (LIT_GANS_SMOKE budgets)
    "lit_gans.networks": 2,
    "lit_gans.losses": 2,
    "lit_gans.io": 3,
    "lit_gans.metrics": 3,
    "lit_gans.datasets": 3,
    "datamodules": 4,
    "lit_gans.evaluation": 5,
    "lit_gans.models": 6,
    "lit_gans.run": 7,
    # the one module using Lightning's private API imports only Lightning, so any layer may call it
    "lit_gans.run._lightning": 1,
    "lit_gans.callbacks": 7,  # re-export shim of lit_gans.run (class paths in users' YAMLs)
    "lit_gans.cli": 8,
    "lit_gans.export": 8,
    "lit_gans.interpolate": 8,
    "lit_gans.__main__": 8,
}
LAYER_NAMES = {1: "errors/utils", 2: "networks/losses", 3: "io/metrics/datasets", 4: "datamodules",
               5: "evaluation", 6: "models", 7: "run/callbacks", 8: "cli/tools"}
#: Third-party packages a layer may not import: plain nn.Modules and pure functions need no Lightning.
FORBIDDEN_THIRD_PARTY = {2: ("lightning", "pytorch_lightning", "lightning_fabric")}


class Import(NamedTuple):
    source: str  # importing module
    target: str  # imported module (a module of the project, or a third-party name)
    path: Path
    line: int


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path) -> dict[str, Path]:
    return {module_name(p, root): p for pkg in PACKAGES if (root / pkg).is_dir() for p in sorted((root / pkg).rglob("*.py"))}


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    """The imports of one file, each resolved to the most specific project module (``from a import b`` is the
    module ``a.b`` when that is a module, else ``a``), or to the top-level name of a third-party package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, _resolve(alias.name, modules), path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield Import(name, full if full in modules else _resolve(base, modules), path, node.lineno)


def _resolve(dotted: str, modules: dict[str, Path]) -> str:
    parts = dotted.split(".")
    if parts[0] not in PACKAGES:
        return parts[0]
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts) or dotted


def layer_of(module: str) -> int | None:
    """The layer of a module: of its longest prefix in ``LAYERS`` (``lit_gans`` alone names only the package's
    ``__init__``, so a new ``lit_gans.<package>`` has no layer until it is given one)."""
    best = max((p for p in LAYERS if module == p or (p != "lit_gans" and module.startswith(p + "."))), key=len, default=None)
    return LAYERS[best] if best is not None else None


@functools.lru_cache(maxsize=None)  # parsed once per tree and test session
def graph(root: Path) -> tuple[dict[str, Path], list[Import]]:
    modules = project_modules(root)
    return modules, [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]


def layer_violations(root: Path) -> list[str]:
    modules, edges = graph(root)
    found = sorted({".".join(m.split(".")[:2]) + ": no layer (give it one in tests/test_layers.py::LAYERS)"
                    for m in modules if layer_of(m) is None})
    for imp in edges:
        src, dst = layer_of(imp.source), layer_of(imp.target)
        where = f"{imp.path.relative_to(root)}:{imp.line}"
        if imp.target in modules and src is not None and dst is not None and dst > src:
            found.append(f"{where}: {imp.source} (layer {src}, {LAYER_NAMES[src]}) imports {imp.target} "
                         f"(layer {dst}, {LAYER_NAMES[dst]})")
        if src in FORBIDDEN_THIRD_PARTY and imp.target in FORBIDDEN_THIRD_PARTY[src]:
            found.append(f"{where}: {imp.source} ({LAYER_NAMES[src]}) imports {imp.target}")
        if imp.source.startswith("datamodules") and imp.target.startswith("lit_gans.metrics"):
            found.append(f"{where}: {imp.source} imports {imp.target} (datamodules never import metrics)")
    return found


def cycles(root: Path) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself) (Tarjan)."""
    modules, edges = graph(root)
    succ: dict[str, set[str]] = {m: set() for m in modules}
    for imp in edges:
        if imp.target in modules:
            succ[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(succ[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in succ[v]:
                out.append(sorted(component))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def model_reads(root: Path) -> list[str]:
    """Datamodules reading the model through the Trainer (``trainer.lightning_module`` / ``trainer.model``):
    what a datamodule needs from the model is given to it explicitly."""
    found = []
    for path in sorted((root / "datamodules").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("lightning_module", "model") and "trainer" in ast.unparse(node.value):
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return found


# ----------------------------------------------------------------------------------------------- the project
def test_no_lower_layer_imports_a_higher_one():
    found = layer_violations(ROOT)
    assert not found, "layer violations (docs/architecture.md, Layers):\n" + "\n".join(found)


def test_no_import_cycle():
    found = cycles(ROOT)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_datamodules_do_not_read_the_model_through_the_trainer():
    found = model_reads(ROOT)
    assert not found, "datamodules reading the model:\n" + "\n".join(found)


def test_every_module_is_seen():
    """The graph covers the packages (a parse error or a moved folder would make the other tests vacuous)."""
    modules, edges = graph(ROOT)
    assert {"lit_gans.models.base", "lit_gans.cli", "datamodules.digits", "lit_gans.utils.resize"} <= set(modules)
    assert len(modules) > 60 and len(edges) > 300
    assert layer_of("lit_gans.models.noise") == 6 and layer_of("lit_gans.utils.resize") == 1


# ----------------------------------------------------------------------------------------------- the checker
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


@pytest.mark.parametrize("text", [
    "from lit_gans.models.noise import DCGAN\n",
    "def f():\n    import lit_gans.models.noise\n",  # a lazy import counts
    "from ..models import noise\n",  # relative
])
def test_checker_finds_an_upward_import(tmp_path, text):
    root = _tree(tmp_path, {"lit_gans/utils/__init__.py": "", "lit_gans/utils/x.py": text,
                            "lit_gans/models/__init__.py": "", "lit_gans/models/noise.py": "DCGAN = 1\n"})
    found = layer_violations(root)
    assert len(found) == 1 and found[0].startswith("lit_gans/utils/x.py:") and "lit_gans.models.noise (layer 6" in found[0]


def test_checker_ignores_type_checking_and_downward_imports(tmp_path):
    root = _tree(tmp_path, {
        "lit_gans/utils/__init__.py": "",
        "lit_gans/utils/x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lit_gans.models import noise\n",
        "lit_gans/models/__init__.py": "", "lit_gans/models/noise.py": "from lit_gans.utils import x\nimport torch\n",
    })
    assert layer_violations(root) == [] and cycles(root) == []


def test_checker_finds_cycles_lightning_in_networks_and_model_reads(tmp_path):
    root = _tree(tmp_path, {
        "datamodules/a.py": "def f():\n    from datamodules.b import g\n",
        "datamodules/b.py": "from datamodules.a import f\nfrom lit_gans.metrics import sr\n",
        "datamodules/c.py": "def f(self):\n    return self.trainer.lightning_module.scale\n",
        "lit_gans/metrics/__init__.py": "", "lit_gans/metrics/sr.py": "",
        "lit_gans/networks/__init__.py": "", "lit_gans/networks/n.py": "import lightning as L\n",
        "lit_gans/newpkg/__init__.py": "",
    })
    assert cycles(root) == [["datamodules.a", "datamodules.b"]]
    found = layer_violations(root)
    assert any("datamodules never import metrics" in f for f in found)
    assert any(f.startswith("lit_gans/networks/n.py:1") and "imports lightning" in f for f in found)
    assert any(f.startswith("lit_gans.newpkg: no layer") for f in found)
    assert model_reads(root) == ["datamodules/c.py:2: self.trainer.lightning_module"]

"""Who may import whom (docs/architecture.md, DESIGN.md section 2), read from the source with ``ast``.

Nothing is imported: every ``import`` / ``from ... import`` statement of every module of the package is
resolved to the package module it names (relative imports included), wherever it stands: a function
body or ``if TYPE_CHECKING`` included, because an import moved into a function to dodge a circle is
still a dependency. Both the layering rules and the no-circle rule read that graph; a circle of eager
(module-level) imports is reported as such, since that is the kind that breaks a first import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "social_xlstm"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module, module: str, is_package: bool, modules=frozenset()):
    """Yield ``(imported name, eager)`` for every import statement; ``eager``: runs at first import."""
    base = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST, eager: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, eager
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    anchor = base.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    prefix = ".".join(anchor + ([child.module] if child.module else []))
                else:
                    prefix = child.module or ""
                # `from pkg import submodule` imports the submodule; `from pkg import name` the package
                for alias in child.names:
                    submodule = f"{prefix}.{alias.name}"
                    yield (submodule if submodule in modules else prefix), eager
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                yield from visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                yield from visit(child, False)
            else:
                yield from visit(child, eager)

    yield from visit(tree, True)


def _graph():
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    eager: dict[str, set[str]] = {m: set() for m in files}
    every: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for name, is_eager in _imports(tree, module, path.name == "__init__.py", files):
            if name in files and name != module:
                every[module].add(name)
                if is_eager:
                    eager[module].add(name)
    return files, eager, every


FILES, EAGER, EVERY = _graph()
EXTERNAL: dict[str, set[str]] = {}
for _module, _path in FILES.items():
    _tree = ast.parse(_path.read_text())
    EXTERNAL[_module] = {name.split(".")[0] for name, _ in _imports(_tree, _module, _path.name == "__init__.py")}


def _within(module: str, package: str) -> bool:
    name = f"{PACKAGE}.{package}"
    return module == name or module.startswith(name + ".")


def _violations(source: str, forbidden: tuple[str, ...], allow=lambda module, target: False) -> list[str]:
    return sorted(
        f"{module} imports {target}"
        for module, targets in EVERY.items()
        if _within(module, source)
        for target in targets
        if any(_within(target, f) for f in forbidden) and not allow(module, target)
    )


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every circle a depth-first walk meets, each as ``[a, b, ..., a]``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    circles: list[list[str]] = []

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                circles.append(path[path.index(target) :] + [target])
            elif target not in state:
                walk(target, path + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    return circles


def test_the_graph_was_read():
    # A reader that silently found nothing would pass every rule below.
    assert len(FILES) > 50
    assert f"{PACKAGE}.nn.forecaster" in EVERY[f"{PACKAGE}.network"]
    assert f"{PACKAGE}.ops.slstm" in EVERY[f"{PACKAGE}.nn.encoder"] or any(
        _within(t, "ops.slstm") for t in EVERY[f"{PACKAGE}.nn.encoder"]
    )
    # a lazy import (inside a function) is an edge too
    source = "def f():\n    from social_xlstm.nn import forecaster\n"
    found = list(_imports(ast.parse(source), "x", False, {"social_xlstm.nn.forecaster"}))
    assert found == [("social_xlstm.nn.forecaster", False)]


def test_the_circle_finder_finds_circles():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert _circles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_no_import_circle():
    circles = _circles(EVERY)
    eager = [c for c in circles if all(b in EAGER[a] for a, b in zip(c, c[1:], strict=False))]
    assert not circles, f"import circles ({len(eager)} of them at module level):\n" + "\n".join(
        " -> ".join(c) for c in circles
    )


def test_data_imports_no_model_or_training():
    # The datamodule alone reads a checkpoint's data facts (data.reference), through checkpoint.py, which is
    # file reading only (test_the_checkpoint_reader_is_file_io_only): no network is built for it.
    forbidden = ("nn", "ops", "training", "network", "checkpoint", "forecast", "bench", "cli", "experiment")

    def datamodule_reads_a_checkpoint(module: str, target: str) -> bool:
        return module == f"{PACKAGE}.data.datamodule" and target == f"{PACKAGE}.checkpoint"

    assert _violations("data", forbidden, allow=datamodule_reads_a_checkpoint) == []


def test_the_checkpoint_reader_is_file_io_only():
    assert "lightning" not in EXTERNAL[f"{PACKAGE}.checkpoint"]
    assert EVERY[f"{PACKAGE}.checkpoint"] <= {f"{PACKAGE}.errors"}


def test_data_imports_lightning_only_for_the_datamodule_base_class():
    users = sorted(m for m in FILES if _within(m, "data") and "lightning" in EXTERNAL[m])
    assert users == [f"{PACKAGE}.data.datamodule"]


def test_forecast_never_imports_training():
    assert _violations("forecast", ("training", "bench", "cli", "experiment", "demo")) == []


def test_only_the_cli_imports_bench():
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in EVERY.items()
        if not _within(module, "bench") and module != f"{PACKAGE}.cli"
        for target in targets
        if _within(target, "bench")
    )
    assert offenders == []


def test_ops_import_nothing_of_the_package():
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in EVERY.items()
        if _within(module, "ops")
        for target in targets
        if not _within(target, "ops")
    )
    assert offenders == []


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("nn", ("data", "training", "forecast", "bench", "cli", "experiment", "checkpoint", "network", "viz")),
        ("training", ("forecast", "bench", "cli", "experiment", "demo", "viz")),
        ("viz", ("training", "nn", "ops", "forecast", "bench", "experiment")),
        ("checkpoint", ("nn", "data", "training", "forecast", "network")),
    ],
)
def test_layers_import_only_downwards(layer, forbidden):
    assert _violations(layer, forbidden) == []

"""Every third-party package the code imports is declared in pyproject.toml (a dependency or an extra).

A module imported but not declared works here only because something else pulled it in (PyYAML came with
Lightning), and breaks the day that changes; this test names the module and the file that imports it.
"""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
# Import names of optional packages that may not be installed here, so their metadata cannot say it.
DISTRIBUTION_OF = {"tsl": "torch-spatiotemporal", "triton": "triton", "tables": "tables"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
    ]
    return {_normalise(re.match(r"[A-Za-z0-9_.\-]+", r).group()) for r in requirements}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports() -> dict[str, Path]:
    """Top-level module name -> one file of the package that imports it (absolute imports only)."""
    found: dict[str, Path] = {}
    for path in (ROOT / "social_xlstm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], path.relative_to(ROOT))
    return found


def test_every_imported_package_is_declared():
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    undeclared = []
    for module, path in sorted(_imports().items()):
        if module in sys.stdlib_module_names or module in ("social_xlstm", "__future__"):
            continue
        owners = {_normalise(d) for d in distributions.get(module, [DISTRIBUTION_OF.get(module, module)])}
        if not owners & declared:
            undeclared.append(f"{module} (imported by {path}; distribution {', '.join(sorted(owners))})")
    assert not undeclared, "imported but not declared in pyproject.toml: " + "; ".join(undeclared)

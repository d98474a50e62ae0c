"""The installed product: a wheel in a fresh venv runs `social-xlstm demo` from an empty directory.

This catches what a source checkout hides: configs that only exist beside the package, modules left out of
the wheel, paths computed from the repository root. The fresh venv gets the project's dependencies by a
path entry to this environment's site-packages (no download, no second torch), then the wheel without
dependencies; the editable install of the checkout is not visible to it (a plain path entry does not run
the ``.pth`` hooks that an editable install relies on), so the code under test is the wheel's.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``bin/`` of a fresh venv holding the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(REPO)],
        root,
    )
    wheel = next(root.glob("social_xlstm-*.whl"))
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], root)  # ensurepip: offline, from the bundled wheel
    purelib = next(venv.glob("lib/python*/site-packages"))
    (purelib / "project_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    bin_dir = venv / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], root)
    return bin_dir


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "CI": "1", "MPLBACKEND": "Agg"}


def test_wheel_carries_the_package_and_its_configs(installed, tmp_path):
    code = (
        "import social_xlstm, social_xlstm.demo as d; print(social_xlstm.__file__); print(d.config_path('demo.yaml'))"
    )
    out = _run([str(installed / "python"), "-c", code], tmp_path, _env()).stdout.splitlines()
    assert str(REPO) not in out[0], "the checkout, not the wheel, was imported"
    assert Path(out[1]).is_file() and Path(out[1]).name == "demo.yaml"


def test_demo_help_and_a_tiny_demo_from_an_empty_directory(installed, tmp_path):
    work = tmp_path / "empty"
    work.mkdir()
    help_text = _run([str(installed / "social-xlstm"), "demo", "--help"], work, _env()).stdout
    assert "--max-epochs" in help_text
    args = ["demo", "--out", "run", "--vds", "6", "--days", "3", "--max-epochs", "1"]
    _run([str(installed / "social-xlstm"), *args], work, _env())
    run = work / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["models"]) == {"social_xlstm", "persistence", "historical_average"}
    assert (run / "forecasts.parquet").stat().st_size > 0
    assert len(list((run / "plots").glob("*.png"))) == 6  # 3 plots x (flow, speed)

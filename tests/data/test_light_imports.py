"""``validate`` and ``ingest`` answer in about a second: a whole process never imports torch or Lightning.

Each command runs in a fresh interpreter (the test process has torch loaded already), through the same
``main`` as the console script, and reports which heavy modules ended up in ``sys.modules``.
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "lightning", "torch_geometric")
SCRIPT = f"""
import json, sys
from social_xlstm.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _run(*argv: str) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_validate_never_imports_torch(tiny_dataset):
    assert _run("validate", str(tiny_dataset)) == {"code": 0, "heavy": []}


def test_ingest_and_its_option_errors_never_import_torch(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("timestamp,s1\n2024-01-01T00:00:00Z,1\n2024-01-01T00:05:00Z,2\n")
    (tmp_path / "st.csv").write_text("vd_id,lat,lon\ns1,25.0,121.5\n")
    ok = ("ingest", "wide", str(wide), "--stations", str(tmp_path / "st.csv"), "--out", str(tmp_path / "ds"))
    assert _run(*ok) == {"code": 0, "heavy": []}
    bad_freq = ("ingest", "wide", str(wide), "--freq", "soon", "--out", str(tmp_path / "ds2"))
    assert _run(*bad_freq) == {"code": 2, "heavy": []}

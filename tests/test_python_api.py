"""The Python front door: ``import social_xlstm as sx`` offers every documented name, lazily, and
``sx.ingest`` is the ingest command (same options, same checks, same files)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import social_xlstm as sx
from social_xlstm.data.importers import IMPORTERS
from social_xlstm.errors import DataError, UserError

WIDE = "timestamp,A,B\n2024-01-01T00:00Z,1,2\n2024-01-01T00:05Z,3,4\n2024-01-01T00:10Z,5,6\n"
STATIONS = "vd_id,lat,lon\nA,25.0,121.5\nB,25.01,121.5\n"


def test_every_name_of_the_front_door_resolves():
    for name in sx.__all__:
        assert getattr(sx, name) is not None, name
    assert sx.Experiment.__module__ == "social_xlstm.experiment"
    assert sx.StreamingForecaster.__name__ == "StreamingForecaster"
    assert callable(sx.viz.plot_error_by_horizon) and "mae" in sx.METRICS
    assert set(sx.IMPORTERS) == set(IMPORTERS)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        sx.nope  # noqa: B018


def test_import_loads_neither_torch_nor_lightning():
    script = "import json, sys, social_xlstm as sx; sx.ingest; sx.load_dataset; sx.validate_dataset; " \
        "print(json.dumps([m for m in ('torch', 'lightning', 'matplotlib') if m in sys.modules]))"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_ingest_is_the_command_with_python_names(tmp_path):
    (tmp_path / "wide.csv").write_text(WIDE)
    (tmp_path / "st.csv").write_text(STATIONS)
    out = sx.ingest("wide", tmp_path / "wide.csv", out=tmp_path / "ds", variable="speed", unit="km/h",
                    stations=tmp_path / "st.csv", tz="UTC")  # fmt: skip
    dataset = sx.load_dataset(out)
    assert json.loads((out / "dataset.json").read_text())["variables"] == {"speed": "km/h"}
    assert sorted(pd.read_parquet(dataset.observation_files[0])["vd_id"].unique()) == ["A", "B"]
    assert sx.validate_dataset(out).ok
    # the same output checks as the command: an existing dataset needs overwrite=True
    with pytest.raises(UserError, match="exists"):
        sx.ingest("wide", tmp_path / "wide.csv", out=out, variable="speed", stations=tmp_path / "st.csv")
    again = sx.ingest("wide", [tmp_path / "wide.csv"], out=out, variable="flow", overwrite=True,
                      stations=tmp_path / "st.csv")  # fmt: skip
    assert json.loads((again / "dataset.json").read_text())["variables"] == {"flow": "unknown"}


def test_ingest_refuses_unknown_formats_options_and_values(tmp_path):
    (tmp_path / "wide.csv").write_text(WIDE)
    with pytest.raises(UserError, match=r"unknown format 'csv'; valid formats: metr-la"):
        sx.ingest("csv", tmp_path / "wide.csv", out=tmp_path / "ds")
    with pytest.raises(UserError, match=r"ingest wide: unknown option 'varable'; valid: .*variable"):
        sx.ingest("wide", tmp_path / "wide.csv", out=tmp_path / "ds", varable="speed")
    with pytest.raises(UserError, match=r"ingest wide: argument --edge-ids: invalid choice: 'rows'"):
        sx.ingest("wide", tmp_path / "wide.csv", out=tmp_path / "ds", edge_ids="rows")
    with pytest.raises(DataError, match=r"no coordinates"):
        sx.ingest("wide", tmp_path / "wide.csv", out=tmp_path / "ds", variable="speed")
    assert not (tmp_path / "ds").exists()

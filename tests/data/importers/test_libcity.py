"""LibCity importer: .geo/.rel/.dyna/config.json fixtures (PEMSD4-style mixed value columns)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from social_xlstm.data.importers import libcity
from social_xlstm.errors import DataError

from .conftest import namespace, no_output


def _release(tmp_path, config=None, dyna_rows=None):
    src = tmp_path / "PEMSD4"
    src.mkdir(parents=True)
    (src / "PEMSD4.geo").write_text(
        'geo_id,type,coordinates\n0,Point,"[-121.9, 37.3]"\n1,Point,"[-121.9, 37.31]"\n'
    )
    (src / "PEMSD4.rel").write_text(
        "rel_id,type,origin_id,destination_id,cost\n0,geo,0,1,352.6\n1,geo,1,0,352.6\n"
    )
    rows = dyna_rows or [
        "0,state,2018-01-01T00:00:00Z,0,62,0.05,65.1",
        "1,state,2018-01-01T00:05:00Z,0,60,0.04,64.0",
        "2,state,2018-01-01T00:00:00Z,1,30,0.02,66.0",
        "3,state,2018-01-01T00:05:00Z,1,31,0.03,67.5",
    ]
    (src / "PEMSD4.dyna").write_text(
        "dyna_id,type,time,entity_id,traffic_flow,traffic_occupancy,traffic_speed\n" + "\n".join(rows) + "\n"
    )
    cfg = config or {"info": {"data_col": ["traffic_flow"], "weight_col": "cost", "time_intervals": 300}}
    (src / "config.json").write_text(json.dumps(cfg))
    return src


def test_data_col_and_literal_utc(tmp_path):
    src = _release(tmp_path)
    out = libcity.run([str(src)], str(tmp_path / "ds"), namespace(libcity.add_arguments, "libcity"))
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs.columns.tolist() == ["timestamp", "vd_id", "flow"]
    assert obs["flow"].tolist() == [62, 60, 30, 31]
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2018-01-01 00:00", tz="UTC")
    stations = pd.read_parquet(out / "stations.parquet")
    assert stations[["lat", "lon"]].values.tolist() == [[37.3, -121.9], [37.31, -121.9]]
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges.values.tolist() == [["0", "1", 352.6], ["1", "0", 352.6]]
    assert json.loads((out / "dataset.json").read_text())["freq"] == "5min"


def test_mixed_columns_without_data_col_and_local_tz(tmp_path):
    src = _release(tmp_path, config={"time_intervals": 300})
    args = namespace(libcity.add_arguments, "libcity", tz="America/Los_Angeles")
    out = libcity.run([str(src)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs.columns.tolist() == ["timestamp", "vd_id", "flow", "occupancy", "speed"]
    # the 'Z' is a wall-clock label: 00:00 in Los Angeles (PST) = 08:00 UTC
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2018-01-01 08:00", tz="UTC")
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["timezone"] == "America/Los_Angeles" and list(meta["variables"]) == [
        "flow",
        "occupancy",
        "speed",
    ]


def test_errors_freq_duplicates_unknown_entity_misspelt_col(tmp_path):
    src = _release(tmp_path, config={"time_intervals": 600})
    with pytest.raises(DataError, match="--freq 10min does not match the data"):
        libcity.run([str(src)], str(tmp_path / "ds"), namespace(libcity.add_arguments, "libcity"))
    args = namespace(libcity.add_arguments, "libcity", data_col="traffic_flwo")
    with pytest.raises(DataError, match="did you mean 'traffic_flow'"):
        libcity.run([str(src)], str(tmp_path / "ds"), args)
    dup = _release(
        tmp_path / "d",
        dyna_rows=["0,state,2018-01-01T00:00:00Z,0,1,0,1", "1,state,2018-01-01T00:00:00Z,0,2,0,1"],
    )
    with pytest.raises(DataError, match=r"duplicate \(timestamp, vd_id\) .*rows \[0, 1\]"):
        libcity.run([str(dup)], str(tmp_path / "ds"), namespace(libcity.add_arguments, "libcity"))
    ghost = _release(
        tmp_path / "g",
        dyna_rows=["0,state,2018-01-01T00:00:00Z,7,1,0,1", "1,state,2018-01-01T00:05:00Z,7,2,0,1"],
    )
    with pytest.raises(DataError, match=r"'entity_id' names VDs absent from .*PEMSD4.geo \(e.g. \['7'\]\)"):
        libcity.run([str(ghost)], str(tmp_path / "ds"), namespace(libcity.add_arguments, "libcity"))
    assert no_output(tmp_path / "ds")


def test_bad_coordinates_json(tmp_path):
    src = _release(tmp_path)
    (src / "PEMSD4.geo").write_text('geo_id,type,coordinates\n0,Point,"[-121.9, 37.3"\n1,Point,"[]"\n')
    with pytest.raises(DataError, match=r"column 'coordinates' row 0"):
        libcity.run([str(src)], str(tmp_path / "ds"), namespace(libcity.add_arguments, "libcity"))
    assert no_output(tmp_path / "ds")

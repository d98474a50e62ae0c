"""long / wide importers: every user error of the issue, graph-only datasets, and the Oregon counts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import tabular
from social_xlstm.errors import DataError

from .conftest import namespace, no_output, shared_file

LONG = (
    "time,sensor,flow,speed\n2024-01-01 00:00,A,10,50.5\n2024-01-01 00:00,B,12,48.0\n2024-01-01 "
    "00:05,A,11,51.0\n2024-01-01 00:05,B,9,47.5\n"
)
STATIONS = "sensor,latitude,longitude\nA,25.0,121.5\nB,25.01,121.5\n"


def _long_args(tmp_path, **extra):
    (tmp_path / "st.csv").write_text(STATIONS)
    base = dict(
        time_col="time",
        id_col="sensor",
        value_cols="flow,speed",
        tz="Asia/Taipei",
        stations=str(tmp_path / "st.csv"),
    )
    return namespace(tabular.add_arguments, "long", **{**base, **extra})


def _run_long(tmp_path, text, **extra):
    f = tmp_path / "obs.csv"
    f.write_text(text)
    return tabular.run([str(f)], str(tmp_path / "ds"), _long_args(tmp_path, **extra))


def test_long_csv_end_to_end(tmp_path):
    out = _run_long(tmp_path, LONG, units="flow=veh/5min,speed=km/h")
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2023-12-31 16:00", tz="UTC")  # Taipei is UTC+8
    assert obs["flow"].tolist() == [10, 12, 11, 9] and obs["speed"].tolist() == [50.5, 48.0, 51.0, 47.5]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["freq"] == "5min" and meta["variables"] == {"flow": "veh/5min", "speed": "km/h"}
    assert pd.read_parquet(out / "stations.parquet")["lat"].tolist() == [25.0, 25.01]
    assert not (out / "edges.parquet").exists()


@pytest.mark.parametrize(
    ("text", "extra", "pattern"),
    [
        (LONG, {"value_cols": "flow,sped"}, r"column 'sped' not found \(did you mean 'speed'\?\)"),
        (LONG, {"time_col": "tme"}, r"column 'tme' not found \(did you mean 'time'\?\)"),
        (
            LONG.replace("48.0", "fast"),
            {},
            r"column 'speed' holds non-numeric values \(1 rows, e.g. row 1: 'fast'\)",
        ),
        (
            LONG.replace("2024-01-01 00:05,B", "soon,B"),
            {},
            r"column 'time' has unparsable timestamps .*row 3: 'soon'",
        ),
        (
            LONG.replace("2024-01-01 00:05,A", "2024-01-01T00:05:00+08:00,A"),
            {},
            r"column 'time' mixes time zones",
        ),
        (LONG.replace("00:05,B", "00:00,B").replace("00:00,B,12", "00:05,B,12"), {}, None),
        (
            LONG.replace("2024-01-01 00:05,B", "2024-01-01 00:00,B"),
            {},
            r"duplicate \(timestamp, vd_id\) .*'B'.*rows \[1, 3\]",
        ),
        (LONG, {"freq": "15min"}, r"--freq 15min does not match the data: .*mostly 5min apart"),
        (LONG.replace("A,", "C,"), {}, r"1 VDs have observations but no coordinates \(e.g. \['C'\]\)"),
        (LONG, {"tz": None}, r"without time zone .*pass --tz"),
        (LONG.replace("00:05,B", "00:05,"), {}, r"column\(s\) \['sensor'\] hold an empty VD id at row 3"),
    ],
)
def test_long_errors(tmp_path, text, extra, pattern):
    if pattern is None:  # a reordered file is fine
        _run_long(tmp_path, text, **extra)
        return
    with pytest.raises(DataError, match=pattern):
        _run_long(tmp_path, text, **extra)
    assert no_output(tmp_path / "ds")


def test_empty_and_truncated_parquet(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: file is empty"):
        tabular.run([str(tmp_path / "empty.csv")], str(tmp_path / "ds"), _long_args(tmp_path))
    (tmp_path / "header.csv").write_text("time,sensor,flow,speed\n")
    with pytest.raises(DataError, match="header.csv: no data rows"):
        tabular.run([str(tmp_path / "header.csv")], str(tmp_path / "ds"), _long_args(tmp_path))
    frame = pd.read_csv(pd.io.common.StringIO(LONG))
    frame.to_parquet(tmp_path / "obs.parquet")
    blob = (tmp_path / "obs.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(blob[: len(blob) - 20])
    with pytest.raises(DataError, match="cut.parquet: not a readable Parquet file"):
        tabular.run([str(tmp_path / "cut.parquet")], str(tmp_path / "ds"), _long_args(tmp_path))
    assert no_output(tmp_path / "ds")


def test_wide_with_edges_only_no_coordinates(tmp_path):
    (tmp_path / "wide.csv").write_text(
        "timestamp,s1,s2,s3\n2024-01-01T00:00:00Z,1,2,\n2024-01-01T00:15:00Z,4,5,6\n"
    )
    (tmp_path / "edges.csv").write_text("src,dst,distance\ns1,s2,500\ns2,s3,750\n")
    args = namespace(
        tabular.add_arguments, "wide", variable="flow", unit="veh/15min", edges=str(tmp_path / "edges.csv")
    )
    out = tabular.run([str(tmp_path / "wide.csv")], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs["vd_id"].tolist() == ["s1", "s2", "s3"] * 2
    np.testing.assert_array_equal(obs["flow"].to_numpy(), [1, 2, np.nan, 4, 5, 6])
    stations = pd.read_parquet(out / "stations.parquet")
    assert stations["lat"].isna().all()
    assert pd.read_parquet(out / "edges.parquet")["distance_m"].tolist() == [500.0, 750.0]
    meta = json.loads((out / "dataset.json").read_text())
    assert (
        meta["freq"] == "15min" and meta["variables"] == {"flow": "veh/15min"} and meta["timezone"] == "UTC"
    )


def test_wide_dense_matrix_without_distances_is_a_weights_only_graph(tmp_path):
    (tmp_path / "wide.csv").write_text(
        "timestamp,s1,s2\n2024-01-01T00:00:00Z,1,2\n2024-01-01T00:15:00Z,4,5\n"
    )
    (tmp_path / "adj.csv").write_text("s1,s2\n1,0.5\n0.5,1\n")
    args = namespace(tabular.add_arguments, "wide", edges=str(tmp_path / "adj.csv"))
    out = tabular.run([str(tmp_path / "wide.csv")], str(tmp_path / "ds"), args)
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges[["src", "dst"]].values.tolist() == [["s1", "s2"], ["s2", "s1"]]
    assert edges["weight"].tolist() == [0.5, 0.5] and edges["distance_m"].isna().all()


def test_wide_parquet_datetime_index_and_duplicate_time(tmp_path):
    index = pd.date_range("2024-01-01", periods=3, freq="5min", tz="UTC", name="ts")
    frame = pd.DataFrame({"s1": [1.0, 2.0, 3.0]}, index=index)
    frame.to_parquet(tmp_path / "wide.parquet")
    (tmp_path / "st.csv").write_text("vd_id,lat,lon\ns1,1.0,2.0\n")
    args = namespace(tabular.add_arguments, "wide", stations=str(tmp_path / "st.csv"))
    out = tabular.run([str(tmp_path / "wide.parquet")], str(tmp_path / "ds"), args)
    assert pd.read_parquet(out / "observations.parquet")["value"].tolist() == [1.0, 2.0, 3.0]
    (tmp_path / "dup.csv").write_text("timestamp,s1\n2024-01-01T00:00:00Z,1\n2024-01-01T00:00:00Z,2\n")
    with pytest.raises(DataError, match="duplicate timestamp 2024-01-01 00:00:00"):
        tabular.run([str(tmp_path / "dup.csv")], str(tmp_path / "ds2"), args)
    assert no_output(tmp_path / "ds2")


@pytest.mark.realdata
def test_real_oregon_counts(tmp_path):
    counts = shared_file("odot-intersection-counts", "sample_counts.parquet")
    raw = pd.read_parquet(counts)
    detectors = sorted(raw["detector"].unique())
    stations = pd.DataFrame(
        {"det": [f"85-{d}" for d in detectors], "y": 45.5, "x": -122.6 + np.arange(len(detectors)) * 1e-4}
    )
    stations.to_csv(tmp_path / "st.csv", index=False)
    args = namespace(
        tabular.add_arguments,
        "long",
        time_col="timestamp",
        id_col="intersection,detector",
        value_cols="flow=total",
        units="flow=veh/15min",
        tz="America/Los_Angeles",
        stations=str(tmp_path / "st.csv"),
        station_cols="vd_id=det,lat=y,lon=x",
    )
    out = tabular.run([str(counts)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert len(obs) == 54824 and obs["vd_id"].nunique() == 22 and obs["timestamp"].nunique() == 2492
    assert json.loads((out / "dataset.json").read_text())["freq"] == "15min"
    # a naive 2024-04-18 00:15 in Oregon (PDT, UTC-7) is 07:15 UTC; the count survives unchanged
    row = raw[(raw["timestamp"] == "2024-04-18 00:15") & (raw["detector"] == 22)]["total"].iloc[0]
    got = obs[(obs["timestamp"] == pd.Timestamp("2024-04-18 07:15", tz="UTC")) & (obs["vd_id"] == "85-22")][
        "flow"
    ]
    assert got.tolist() == [float(row)]
    assert obs["flow"].sum() == pytest.approx(float(raw["total"].sum()))

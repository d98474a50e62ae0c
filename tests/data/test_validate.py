"""validate_dataset: problems for unloadable data, hand-checked statistics and warnings otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.schema import DatasetMeta, write_dataset
from social_xlstm.data.validate import longest_gap, validate_dataset

META = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="UTC")


def _write(tmp_path, drop=(), stations=None, extra_rows=()):
    stamps = pd.date_range("2024-01-01", periods=10, freq="5min", tz="UTC")
    rows = [(s, v, 1.0, 2.0) for t, s in enumerate(stamps) for v in ("a", "b", "c") if (t, v) not in drop]
    rows += list(extra_rows)
    obs = pd.DataFrame(rows, columns=["timestamp", "vd_id", "flow", "speed"])
    if stations is None:
        stations = pd.DataFrame(
            {"vd_id": ["a", "b", "c", "d"], "lat": [0.0, 0.001, 0.002, 5.0], "lon": [0.0] * 4}
        )
    return write_dataset(tmp_path / "ds", obs, stations, META)


def test_statistics_and_warnings(tmp_path):
    # b misses steps 2-5 (an outage of 4), c misses step 9; d never reports and is far away
    drop = {(2, "b"), (3, "b"), (4, "b"), (5, "b"), (9, "c")}
    report = validate_dataset(_write(tmp_path, drop), max_neighbours=2)
    assert report.ok and report.problems == []
    s = report.summary
    assert (s["num_vds"], s["num_steps"], s["num_rows"], s["freq"]) == (4, 10, 25, "5min")
    assert s["start"] == "2024-01-01 00:00:00+00:00" and s["end"] == "2024-01-01 00:45:00+00:00"
    assert s["missing_per_variable"] == {"flow": 15 / 40, "speed": 15 / 40}
    assert s["worst_missing_vds"] == {"d": 1.0, "b": 0.4, "c": 0.1}
    assert s["longest_outage_steps"] == {"d": 10, "b": 4, "c": 1}
    assert s["vds_without_coordinates"] == 0 and s["duplicates"] == 0
    assert s["graph"]["components"] == 1  # d's nearest neighbour is c, so k=1 still links it
    assert any("1 VD(s) never report a value, e.g. ['d']" in w for w in report.warnings)
    text = report.render()
    assert "OK" in text and "4 VDs x 10 steps of 5min" in text and "b 4" in text


def test_problem_from_loader(tmp_path):
    extra = [(pd.Timestamp("2024-01-01 00:05", tz="UTC"), "a", 3.0, 4.0)]
    report = validate_dataset(_write(tmp_path, extra_rows=extra))
    assert not report.ok and report.summary == {}
    assert len(report.problems) == 1 and "duplicate (timestamp, vd_id)" in report.problems[0]
    assert "observations.parquet" in report.problems[0]
    assert "PROBLEMS FOUND" in report.render() and "ERROR" in report.render()


def test_disconnected_graph_is_a_warning(tmp_path):
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [0.0, 0.001, 10.0], "lon": [0.0] * 3})
    report = validate_dataset(_write(tmp_path, stations=stations), max_neighbours=2)
    assert report.ok and report.summary["graph"]["components"] == 1  # c -> b links it (directed, weakly)
    stations = pd.DataFrame(
        {"vd_id": ["a", "b", "c", "d"], "lat": [0.0, 0.001, 10.0, 10.001], "lon": [0.0] * 4}
    )
    report = validate_dataset(_write(tmp_path / "x", stations=stations), max_neighbours=2)
    assert report.summary["graph"]["components"] == 2
    assert any("2 connected components" in w for w in report.warnings)


def test_longest_gap():
    observed = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [0, 0, 1, 1], [1, 0, 0, 1]], dtype=bool)  # (T=4, N=4)
    np.testing.assert_array_equal(longest_gap(observed), [2, 4, 1, 0])


@pytest.mark.realdata
def test_los_loop_through_the_importer(tmp_path):
    shared = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    if not (shared / "los-loop" / "los_speed.csv").exists():
        pytest.skip("los-loop not found in ../shared/data")
    los_loop = pytest.importorskip("social_xlstm.data.importers.los_loop")
    out = los_loop.import_los_loop(
        shared / "los-loop" / "los_speed.csv",
        shared / "los-loop" / "los_adj.csv",
        tmp_path / "los",
        locations=shared / "dcrnn-sensor-graphs" / "graph_sensor_locations.csv",
    )
    report = validate_dataset(out)
    assert report.ok, report.render()
    s = report.summary
    assert (s["num_vds"], s["num_steps"], s["freq"]) == (207, 2016, "5min")
    assert s["missing_per_variable"] == {"speed": 0.0}  # the T-GCN release is gap-filled
    assert s["graph"]["source"] == "edges.parquet"

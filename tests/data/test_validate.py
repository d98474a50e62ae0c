"""validate_dataset: problems for unloadable data, hand-checked statistics and warnings otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.checks import DatasetProblems
from social_xlstm.data.format.consistency import unit_range
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.format.validate import longest_gap, validate_dataset
from social_xlstm.data.panel import load_panel
from social_xlstm.errors import DataError

META = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="UTC")


def _write(tmp_path, drop=(), stations=None, extra_rows=()):
    stamps = pd.date_range("2024-01-01", periods=10, freq="5min", tz="UTC")
    rows = [(s, v, 1.0, 2.0) for t, s in enumerate(stamps) for v in ("a", "b", "c") if (t, v) not in drop]
    rows += list(extra_rows)
    obs = pd.DataFrame(rows, columns=["timestamp", "vd_id", "flow", "speed"])
    if stations is None:
        stations = pd.DataFrame({"vd_id": ["a", "b", "c", "d"], "lat": [0.0, 0.001, 0.002, 5.0], "lon": [0.0] * 4})
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
    stations = pd.DataFrame({"vd_id": ["a", "b", "c", "d"], "lat": [0.0, 0.001, 10.0, 10.001], "lon": [0.0] * 4})
    report = validate_dataset(_write(tmp_path / "x", stations=stations), max_neighbours=2)
    assert report.summary["graph"]["components"] == 2
    assert any("2 connected components" in w for w in report.warnings)


def test_edge_counts_say_the_file_and_what_the_cap_keeps(tmp_path):
    # a dense published matrix: every ordered pair incl. the diagonal, 4 x 4 = 16 rows
    ids = ["a", "b", "c", "d"]
    edges = pd.DataFrame(
        [(s, d, None, 1.0 + i) for i, (s, d) in enumerate((s, d) for s in ids for d in ids)],
        columns=["src", "dst", "distance_m", "weight"],
    )
    stamps = pd.date_range("2024-01-01", periods=10, freq="5min", tz="UTC")
    obs = pd.DataFrame([(t, v, 1.0, 2.0) for t in stamps for v in ids], columns=["timestamp", "vd_id", "flow", "speed"])
    stations = pd.DataFrame({"vd_id": ids, "lat": [0.0, 0.001, 0.002, 0.003], "lon": [0.0] * 4})
    root = write_dataset(tmp_path / "ds", obs, stations, META, edges)
    report = validate_dataset(root, max_neighbours=2)
    g = report.summary["graph"]
    assert (g["edges_in_file"], g["edges"]) == (16, 8)  # the cap keeps the self loop + 1 in-edge per VD
    assert "16 edges in the file, 8 kept (incl. self loops, after the data.max_neighbours cap)" in report.render()
    coordinates = validate_dataset(_write(tmp_path / "c"), max_neighbours=2)
    assert coordinates.summary["graph"]["edges_in_file"] is None
    assert "in the file" not in coordinates.render()


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


# --- dataset.json contradicted by the data: every problem of one run reported ---------------------------


def _contradicting(tmp_path, meta, steps=10, every="5min", values=(1.0, 2.0), columns=None):
    """A dataset written as ``meta`` says, with rows every ``every`` and the given (flow, speed)."""
    stamps = pd.date_range("2024-01-01", periods=steps, freq=every, tz="UTC")
    obs = pd.DataFrame(
        [(s, v, *values) for s in stamps for v in ("a", "b", "c")], columns=["timestamp", "vd_id", "flow", "speed"]
    )
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [0.0, 0.001, 0.002], "lon": [0.0] * 3})
    root = write_dataset(tmp_path / "ds", obs, stations, meta)
    if columns is not None:  # rewrite the observations with other columns than dataset.json declares
        obs = obs.rename(columns=columns)
        obs.to_parquet(root / "observations.parquet", index=False)
    return root


def test_freq_declared_finer_than_every_timestamp_spacing(tmp_path):
    root = _contradicting(tmp_path, META, every="15min")
    report = validate_dataset(root)
    assert not report.ok and len(report.problems) == 1
    assert "'freq' '5min' is finer than the data" in report.problems[0]
    assert "2 of every 3 steps would be empty; declare 'freq': '15min'" in report.problems[0]
    with pytest.raises(DataError, match="finer than the data"):
        load_panel(root)  # the loader the datamodule uses refuses it too
    with pytest.raises(DataError, match="finer than the data"):
        load_dataset(root)  # and the reader's row check


def test_a_few_glitches_are_a_warning_not_a_wrong_unit(tmp_path):
    # one speed of 400 km/h among 3,000 readings (< 0.1 %) is a detector glitch, not a wrong unit
    stamps = pd.date_range("2024-01-01", periods=1000, freq="5min", tz="UTC")
    obs = pd.DataFrame(
        [(s, v, 1.0, 60.0) for s in stamps for v in ("a", "b", "c")], columns=["timestamp", "vd_id", "flow", "speed"]
    )
    obs.loc[7, "speed"] = 400.0
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [0.0, 0.001, 0.002], "lon": [0.0] * 3})
    root = write_dataset(tmp_path / "ds", obs, stations, META)
    report = validate_dataset(root)
    assert report.ok, report.problems
    assert any("'speed' is declared in 'km/h'" in w and "1 of 3000 reading(s)" in w for w in report.warnings)
    obs.loc[8:20, "speed"] = 400.0  # 14 of 3,000 (0.47 %): the unit itself is in doubt
    root = write_dataset(tmp_path / "ds2", obs, stations, META)
    assert any("14 of 3000 reading(s) lie outside" in p for p in validate_dataset(root).problems)


def test_freq_declared_coarser_than_the_data(tmp_path):
    meta = DatasetMeta("toy", "15min", {"flow": "veh/15min", "speed": "km/h"})
    report = validate_dataset(_contradicting(tmp_path, meta, every="5min"))
    assert len(report.problems) == 1
    assert "off the regular 15min grid" in report.problems[0] and "on a 5min grid" in report.problems[0]


def test_every_contradiction_in_one_run(tmp_path):
    # a time zone that does not exist, a speed of 1e4 km/h and a negative flow: three problems at once
    meta = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Mars/Base")
    root = _contradicting(tmp_path, meta, values=(-3.0, 1e4))
    report = validate_dataset(root)
    assert len(report.problems) == 3, report.problems
    tz, flow, speed = report.problems
    assert "'timezone' 'Mars/Base' is not an IANA zone" in tz
    assert "'flow' is declared in 'veh/5min' (plausible 0 .. 1666.67) but 30 of 30 reading(s) lie outside" in flow
    assert "'speed' is declared in 'km/h' (plausible 0 .. 300) but 30 of 30 reading(s) lie outside, from 10000" in speed
    assert all("dataset.json" in p for p in report.problems)
    with pytest.raises(DatasetProblems) as err:
        load_panel(root)
    assert err.value.problems == report.problems  # the loader raises one error listing the same three
    assert str(err.value).startswith("3 problems in the dataset:\n(1) ")


@pytest.mark.parametrize(
    ("unit", "value", "ok"),
    [("fraction", 0.5, True), ("fraction", 50.0, False), ("%", 50.0, True), ("%", 150.0, False), ("%", -1.0, False)],
)
def test_occupancy_range_follows_its_unit(tmp_path, unit, value, ok):
    meta = DatasetMeta("toy", "5min", {"flow": unit, "speed": "km/h"})  # the "flow" column holds occupancy here
    report = validate_dataset(_contradicting(tmp_path, meta, values=(value, 50.0)))
    assert report.ok is ok, report.problems
    if not ok:
        assert f"declared in {unit!r}" in report.problems[0]


def test_declared_variables_absent_and_undeclared_present(tmp_path):
    # the file has 'flow' and 'occupancy'; dataset.json declares 'flow' and 'speed'
    report = validate_dataset(_contradicting(tmp_path, META, columns={"speed": "occupancy"}))
    assert len(report.problems) == 2, report.problems
    assert "variable(s) ['speed'] declared in dataset.json 'variables' are not columns" in report.problems[0]
    assert "numeric column(s) ['occupancy'] are not declared" in report.problems[1]


def test_unit_vocabulary():
    assert unit_range("veh/5min") == (0.0, 20_000 / 12)
    assert unit_range("veh/15min") == (0.0, 5_000.0) and unit_range("veh/h") == (0.0, 20_000.0)
    assert unit_range("mph") == (0.0, 190.0) and unit_range("fraction") == (0.0, 1.0)
    assert unit_range("unknown") is None and unit_range("veh/fortnight") is None


def test_units_outside_the_vocabulary_are_a_warning(tmp_path):
    meta = DatasetMeta("toy", "5min", {"flow": "unknown", "speed": "km/h"})
    report = validate_dataset(_contradicting(tmp_path, meta, values=(-5.0, 50.0)))
    assert report.ok  # a unit the vocabulary does not know bounds nothing
    assert any("units {'flow': 'unknown'} are not in the unit vocabulary" in w for w in report.warnings)

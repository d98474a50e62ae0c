"""los-loop importer: a small fixture with the release's quirks, and the real folder when present."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import los_loop
from social_xlstm.errors import DataError

from .conftest import namespace, no_output, shared_file


def _fixture(tmp_path):
    """3 sensors, 4 steps, no timestamps; adjacency without header; DCRNN-style locations."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "los_speed.csv").write_text(
        "773869,767541,767542\n64.4,67.6,67.1\n62.0,68.0,1.0\n60.5,66.0,65.0\n61.0,65.5,64.0\n"
    )
    (src / "los_adj.csv").write_text("1,0.5,0\n0.5,1,0.25\n0,0.25,1\n")
    loc = tmp_path / "graph_sensor_locations.csv"
    loc.write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.0,-118.0\n1,767541,34.01,-118.0\n2,767542,34.02,-118.0\n"
    )
    return src, loc


def test_fixture_values_times_edges(tmp_path):
    src, loc = _fixture(tmp_path)
    args = namespace(los_loop.add_arguments, "los-loop", locations=str(loc))
    out = los_loop.run([str(src)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert len(obs) == 12
    assert obs["speed"].tolist()[3:6] == pytest.approx([62.0, 68.0, 1.0])
    # 2012-03-01 00:00 PST = 08:00 UTC, then every 5 minutes
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2012-03-01 08:00", tz="UTC")
    assert obs["timestamp"].iloc[-1] == pd.Timestamp("2012-03-01 08:15", tz="UTC")
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges[["src", "dst"]].values.tolist() == [
        ["773869", "767541"],
        ["767541", "773869"],
        ["767541", "767542"],
        ["767542", "767541"],
    ]
    assert edges["weight"].tolist() == [0.5, 0.5, 0.25, 0.25]
    # 0.01 degree of latitude = 1111.95 m
    assert edges["distance_m"].to_numpy() == pytest.approx(np.full(4, 1111.95), rel=1e-4)
    meta = (out / "dataset.json").read_text()
    assert '"speed": "mph"' in meta and '"timezone": "America/Los_Angeles"' in meta


def test_start_and_freq_options(tmp_path):
    src, loc = _fixture(tmp_path)
    out = los_loop.import_los_loop(
        src / "los_speed.csv",
        src / "los_adj.csv",
        tmp_path / "ds",
        locations=loc,
        start="2012-07-01 06:00",
        freq="15min",
    )
    ts = pd.read_parquet(out / "observations.parquet")["timestamp"].unique()
    assert list(ts) == [
        pd.Timestamp(t, tz="UTC")
        for t in ("2012-07-01 13:00", "2012-07-01 13:15", "2012-07-01 13:30", "2012-07-01 13:45")
    ]


def test_without_locations_the_weights_are_the_graph(tmp_path):
    src, _ = _fixture(tmp_path)
    out = los_loop.run([str(src)], str(tmp_path / "ds"), namespace(los_loop.add_arguments, "los-loop"))
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges["weight"].tolist() == [0.5, 0.5, 0.25, 0.25] and edges["distance_m"].isna().all()
    assert pd.read_parquet(out / "stations.parquet")["lat"].isna().all()


def test_sensor_missing_from_locations(tmp_path):
    src, loc = _fixture(tmp_path)
    loc.write_text("index,sensor_id,latitude,longitude\n0,773869,34.0,-118.0\n1,767541,34.01,-118.0\n")
    with pytest.raises(
        DataError, match=r"1 sensors of .*los_speed.csv have no coordinates \(e.g. \['767542'\]\)"
    ):
        los_loop.import_los_loop(src / "los_speed.csv", src / "los_adj.csv", tmp_path / "ds", locations=loc)
    assert no_output(tmp_path / "ds")


def test_non_numeric_speed_names_column_and_row(tmp_path):
    src, loc = _fixture(tmp_path)
    (src / "los_speed.csv").write_text("773869,767541,767542\n64.4,67.6,67.1\n62.0,n/a,1.0\n")
    with pytest.raises(DataError, match=r"column '767541' holds non-numeric values .*row 1: 'n/a'"):
        los_loop.import_los_loop(src / "los_speed.csv", src / "los_adj.csv", tmp_path / "ds", locations=loc)
    assert no_output(tmp_path / "ds")


@pytest.mark.realdata
def test_real_los_loop(tmp_path):
    speed = shared_file("los-loop", "los_speed.csv")
    loc = shared_file("dcrnn-sensor-graphs", "graph_sensor_locations.csv")
    args = namespace(los_loop.add_arguments, "los-loop", locations=str(loc))
    out = los_loop.run([str(speed.parent)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    raw = pd.read_csv(speed)
    assert obs["vd_id"].nunique() == 207 and obs["timestamp"].nunique() == 2016
    wide = obs.pivot(index="timestamp", columns="vd_id", values="speed")[list(raw.columns)]
    np.testing.assert_allclose(wide.to_numpy(), raw.to_numpy(dtype=np.float32), rtol=0, atol=0)
    stations = pd.read_parquet(out / "stations.parquet")
    assert stations["lat"].notna().all() and len(stations) == 207
    edges = pd.read_parquet(out / "edges.parquet")
    assert len(edges) == 2833 - 207  # non-zeros of los_adj.csv minus its diagonal
    assert edges["distance_m"].notna().all() and (edges["distance_m"] > 0).all()

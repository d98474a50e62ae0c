"""LargeST importer: a 5-sensor, 600-step fixture in the release's exact layout (h5 key 't', meta, rn_adj)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import largest
from social_xlstm.errors import DataError

from .conftest import namespace, no_output

pytest.importorskip("tables", reason="reading LargeST's HDF5 series needs PyTables (pip install tables)")

IDS = [716944, 717045, 717047, 717054, 717056]
META = (
    "ID,Lat,Lng,District,County,Fwy,Lane,Type,Direction,ID2\n"
    "716944,33.98,-118.39,7,Los Angeles,I-405,4,Mainline,S,0\n"
    "717045,34.15,-118.38,7,Los Angeles,US-101,5,Mainline,E,1\n"
    "717047,34.15,-118.37,7,Los Angeles,US-101,5,Mainline,E,2\n"
    "717054,34.16,-118.35,7,Los Angeles,US-101,4,Mainline,W,3\n"
    "717056,34.10,-118.25,7,Los Angeles,SR-2,3,Mainline,N,4\n"
)


def _fixture(tmp_path, str_columns=False, steps=600):
    """``sd_his_2019.h5`` as LargeST writes it: naive 5-minute index, one column per sensor id, key 't'."""
    src = tmp_path / "sd"
    src.mkdir()
    rng = np.random.default_rng(0)
    index = pd.date_range("2019-01-01 00:00", periods=steps, freq="5min")
    flow = rng.integers(0, 400, size=(steps, len(IDS))).astype(np.float64)
    flow[3, 1] = 0.0  # LargeST's fillna(0) gap, or a quiet road: kept as a reading by default
    cols = [str(i) for i in IDS] if str_columns else IDS
    # the series' columns come in another order than the meta file: the meta order wins
    frame = pd.DataFrame(flow, index=index, columns=cols)[cols[::-1]]
    frame.to_hdf(src / "sd_his_2019.h5", key="t", mode="w")
    (src / "sd_meta.csv").write_text(META)
    adj = np.eye(len(IDS), dtype=np.float32)
    adj[0, 1], adj[1, 2], adj[2, 1], adj[3, 4] = 0.9, 0.6, 0.6, 0.3
    np.save(src / "sd_rn_adj.npy", adj)
    return src, flow


@pytest.mark.parametrize("str_columns", [False, True])
def test_release_layout(tmp_path, str_columns):
    src, flow = _fixture(tmp_path, str_columns)
    out = largest.run([str(src)], str(tmp_path / "ds"), namespace(largest.add_arguments, "largest"))
    stations = pd.read_parquet(out / "stations.parquet")
    assert stations["vd_id"].tolist() == [str(i) for i in IDS]
    assert stations["road"].tolist()[:2] == ["I-405", "US-101"] and stations["direction"].iloc[3] == "W"
    obs = pd.read_parquet(out / "observations.parquet")
    assert len(obs) == 600 * 5
    first = obs[obs["timestamp"] == obs["timestamp"].min()].set_index("vd_id")["flow"]
    np.testing.assert_array_equal(first.loc[[str(i) for i in IDS]].to_numpy(), flow[0])
    assert obs["timestamp"].min() == pd.Timestamp("2019-01-01 08:00", tz="UTC")  # PST = UTC-8
    assert (obs["flow"] == 0).sum() >= 1  # zeros stay readings
    edges = pd.read_parquet(out / "edges.parquet")
    assert sorted(map(tuple, edges[["src", "dst"]].values.tolist())) == sorted(
        [("716944", "717045"), ("717045", "717047"), ("717047", "717045"), ("717054", "717056")]
    )
    assert (edges["distance_m"] > 0).all()  # haversine from Lat/Lng
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["name"] == "sd" and meta["freq"] == "5min" and meta["variables"] == {"flow": "veh/5min"}
    assert meta["timezone"] == "America/Los_Angeles" and meta["zero_is_missing"] == []


def test_zero_is_missing_option(tmp_path):
    src, _ = _fixture(tmp_path)
    args = namespace(largest.add_arguments, "largest", zero_is_missing="flow")
    out = largest.run([str(src)], str(tmp_path / "ds"), args)
    assert json.loads((out / "dataset.json").read_text())["zero_is_missing"] == ["flow"]


def test_sensor_mismatch_and_wrong_adjacency_leave_nothing(tmp_path):
    src, _ = _fixture(tmp_path)
    (src / "sd_meta.csv").write_text(META.replace("717056", "999999"))
    args = namespace(largest.add_arguments, "largest")
    with pytest.raises(DataError, match=r"sd_his_2019.h5: the columns must be the sensors of .*sd_meta.csv: 1 column"):
        largest.run([str(src)], str(tmp_path / "ds"), args)
    (src / "sd_meta.csv").write_text(META)
    np.save(src / "sd_rn_adj.npy", np.eye(4))
    with pytest.raises(DataError, match=r"sd_rn_adj.npy: adjacency is 4x4 but .*sd_meta.csv lists 5 sensors"):
        largest.run([str(src)], str(tmp_path / "ds"), args)
    assert no_output(tmp_path / "ds")

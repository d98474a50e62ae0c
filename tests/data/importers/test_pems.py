"""PEMS0X importer: small .npz fixtures with the releases' quirks (index endpoints, PEMS03 id file)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import pems
from social_xlstm.errors import DataError

from .conftest import namespace, no_output


def _pems04(tmp_path, n_time=4):
    src = tmp_path / "PEMS04"
    src.mkdir()
    data = np.arange(n_time * 3 * 3, dtype=np.float64).reshape(n_time, 3, 3)  # (T, N, C)
    np.savez_compressed(src / "pems04.npz", data=data)
    (src / "PEMS04.csv").write_text("from,to,cost\n0,1,352.6\n1,2,100.0\n")
    return src, data


def test_pems04_three_channels_index_edges(tmp_path):
    src, data = _pems04(tmp_path)
    out = pems.run([str(src)], str(tmp_path / "ds"), namespace(pems.add_arguments, "pems"))
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs.columns.tolist() == ["timestamp", "vd_id", "flow", "occupancy", "speed"]
    assert obs["vd_id"].tolist()[:3] == ["0", "1", "2"]
    np.testing.assert_array_equal(obs[["flow", "occupancy", "speed"]].to_numpy(), data.reshape(-1, 3))
    # default start of PEMS04: 2018-01-01 00:00 PST = 08:00 UTC
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2018-01-01 08:00", tz="UTC")
    stations = pd.read_parquet(out / "stations.parquet")
    assert stations["lat"].isna().all() and stations["vd_id"].tolist() == ["0", "1", "2"]
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges.values.tolist() == [["0", "1", 352.6], ["1", "2", 100.0]]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["variables"] == {"flow": "veh/5min", "occupancy": "fraction", "speed": "mph"}
    assert meta["name"] == "pems04"


def test_pems03_one_channel_with_ids(tmp_path):
    src = tmp_path / "PEMS03"
    src.mkdir()
    np.savez(src / "PEMS03.npz", data=np.ones((2, 3, 1)))
    (src / "PEMS03.txt").write_text("317842\n318711\n313344\n")
    (src / "PEMS03.csv").write_text("from,to,distance\n317842,318711,1\n318711,313344,1\n")
    args = namespace(pems.add_arguments, "pems", start="2018-09-01 06:00", cost_unit="km")
    out = pems.run([str(src)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs.columns.tolist() == ["timestamp", "vd_id", "flow"]
    assert obs["vd_id"].tolist()[:3] == ["317842", "318711", "313344"]
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2018-09-01 13:00", tz="UTC")  # PDT
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges["distance_m"].tolist() == [1000.0, 1000.0]


def test_missing_graph_and_bad_endpoints(tmp_path):
    src, _ = _pems04(tmp_path)
    (src / "PEMS04.csv").unlink()
    with pytest.raises(DataError, match="graph file .* is required"):
        pems.run([str(src)], str(tmp_path / "ds"), namespace(pems.add_arguments, "pems"))
    (src / "PEMS04.csv").write_text("from,to,cost\n0,7,1.0\n")
    with pytest.raises(DataError, match=r"endpoints are 0-based positions 0 \.\. 7, but there are 3 VDs"):
        pems.run([str(src)], str(tmp_path / "ds"), namespace(pems.add_arguments, "pems"))
    assert no_output(tmp_path / "ds")


def test_truncated_npz_and_wrong_key(tmp_path):
    src, _ = _pems04(tmp_path, n_time=50)
    blob = (src / "pems04.npz").read_bytes()
    (src / "pems04.npz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="pems04.npz: not a readable"):
        pems.run([str(src)], str(tmp_path / "ds"), namespace(pems.add_arguments, "pems"))
    np.savez(src / "pems04.npz", values=np.zeros((2, 3, 3)))
    with pytest.raises(DataError, match="no array 'data'"):
        pems.run([str(src)], str(tmp_path / "ds"), namespace(pems.add_arguments, "pems"))
    assert no_output(tmp_path / "ds")

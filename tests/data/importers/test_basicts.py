"""BasicTS importer: data.dat + desc.json (older) and *_data.npy + meta.json (newer) fixtures."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import basicts
from social_xlstm.errors import DataError

from .conftest import namespace, no_output


def _calendar(n_time, start="2012-03-01 00:00"):
    wall = pd.date_range(start, periods=n_time, freq="5min")
    return ((wall - wall.normalize()) / pd.Timedelta(days=1)).to_numpy(), wall.dayofweek.to_numpy() / 7


def _old_layout(tmp_path, n_time=6, n_vd=3):
    src = tmp_path / "METR-LA"
    src.mkdir()
    tod, dow = _calendar(n_time)
    data = np.zeros((n_time, n_vd, 3), dtype=np.float32)  # (L, N, C)
    data[:, :, 0] = np.arange(n_time * n_vd).reshape(n_time, n_vd)
    data[:, :, 1] = tod[:, None]
    data[:, :, 2] = dow[:, None]
    data.tofile(src / "data.dat")
    desc = {
        "name": "METR-LA",
        "shape": [n_time, n_vd, 3],
        "frequency (minutes)": 5,
        "feature_description": ["traffic speed", "time of day", "day of week"],
    }
    (src / "desc.json").write_text(json.dumps(desc))
    ids = ["a", "b", "c"][:n_vd]
    adj = np.array([[1, 0.5, 0], [0, 1, 0], [0.2, 0, 1]], dtype=np.float32)
    with open(src / "adj_mx.pkl", "wb") as fh:
        pickle.dump([ids, {i: k for k, i in enumerate(ids)}, adj], fh)
    (tmp_path / "dist.csv").write_text("from,to,cost\na,b,700\nc,a,900\n")
    return src, data


def test_old_layout_drops_calendar_channels(tmp_path):
    src, data = _old_layout(tmp_path)
    args = namespace(basicts.add_arguments, "basicts", distances=str(tmp_path / "dist.csv"))
    out = basicts.run([str(src)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    assert obs.columns.tolist() == ["timestamp", "vd_id", "speed"]
    np.testing.assert_array_equal(obs["speed"].to_numpy(), data[:, :, 0].ravel())
    assert obs["vd_id"].tolist()[:3] == ["a", "b", "c"]
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2012-03-01 08:00", tz="UTC")
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges.values.tolist() == [["a", "b", 700.0, 0.5], ["c", "a", 900.0, pytest.approx(0.2)]]
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["variables"] == {"speed": "mph"} and meta["zero_is_missing"] == ["speed"]


def test_wrong_start_caught_by_time_of_day_channel(tmp_path):
    src, _ = _old_layout(tmp_path)
    args = namespace(
        basicts.add_arguments, "basicts", distances=str(tmp_path / "dist.csv"), start="2012-03-01 01:00"
    )
    with pytest.raises(DataError, match=r"channel 1 \(time of day\) disagrees with --start"):
        basicts.run([str(src)], str(tmp_path / "ds"), args)
    assert no_output(tmp_path / "ds")


def test_weights_only_pickle_is_a_graph(tmp_path):
    """BasicTS publishes adj_mx.pkl alone: without distances or coordinates the weights are the graph."""
    src, _ = _old_layout(tmp_path)
    out = basicts.run([str(src)], str(tmp_path / "ds"), namespace(basicts.add_arguments, "basicts"))
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges[["src", "dst"]].values.tolist() == [["a", "b"], ["c", "a"]]
    assert edges["distance_m"].isna().all() and edges["weight"].tolist() == pytest.approx([0.5, 0.2])
    assert pd.read_parquet(out / "stations.parquet")["lat"].isna().all()


def test_truncated_dat(tmp_path):
    src, _ = _old_layout(tmp_path)
    (src / "data.dat").write_bytes((src / "data.dat").read_bytes()[:-8])
    with pytest.raises(DataError, match="data.dat: 208 bytes but desc.json's shape .* needs 216: truncated"):
        basicts.run([str(src)], str(tmp_path / "ds"), namespace(basicts.add_arguments, "basicts"))
    assert no_output(tmp_path / "ds")


def test_new_layout_npy_splits_with_stations(tmp_path):
    src = tmp_path / "PEMS08"
    src.mkdir()
    full = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2)  # (L, N, C): flow, time of day
    tod, _ = _calendar(5, "2016-07-01 00:00")
    full[:, :, 1] = tod[:, None]
    np.save(src / "train_data.npy", full[:3])
    np.save(src / "val_data.npy", full[3:4])
    np.save(src / "test_data.npy", full[4:])
    meta = {
        "name": "PEMS08",
        "frequency (minutes)": 5,
        "feature_description": ["traffic flow", "time of day"],
    }
    (src / "meta.json").write_text(json.dumps(meta))
    with open(src / "adj_mx.pkl", "wb") as fh:
        pickle.dump(np.array([[0, 1.0], [1.0, 0]]), fh)
    (tmp_path / "st.csv").write_text("vd_id,lat,lon\n0,37.0,-122.0\n1,37.01,-122.0\n")
    args = namespace(basicts.add_arguments, "basicts", stations=str(tmp_path / "st.csv"))
    out = basicts.run([str(src)], str(tmp_path / "ds"), args)
    obs = pd.read_parquet(out / "observations.parquet")
    np.testing.assert_array_equal(obs["flow"].to_numpy(), full[:, :, 0].ravel())
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2016-07-01 07:00", tz="UTC")  # PDT
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges["distance_m"].tolist() == pytest.approx([1111.95, 1111.95], rel=1e-4)

"""DCRNN (METR-LA / PEMS-BAY) importer: a tiny HDF5 written with pandas, real graph files when present."""

from __future__ import annotations

import builtins
import pickle

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers import dcrnn
from social_xlstm.errors import DataError, UserError

from .conftest import namespace, no_output, shared_file

pytest.importorskip("tables", reason="PyTables is needed to write the HDF5 fixture")


def _write_h5(path, ids, start="2012-03-01 00:00", periods=6):
    index = pd.date_range(start, periods=periods, freq="5min")
    values = np.arange(periods * len(ids), dtype=np.float64).reshape(periods, len(ids)) % 70
    values[1, 0] = 0.0  # no reading
    frame = pd.DataFrame(values, index=index, columns=[int(i) for i in ids])
    frame.to_hdf(path, key="df")
    return frame


def _small_release(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    ids = ["773869", "767541", "767542"]
    frame = _write_h5(src / "metr-la.h5", ids)
    (src / "graph_sensor_locations.csv").write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.0,-118.0\n1,767541,34.01,-118.0\n2,767542,34.02,-118.0\n"
    )
    adj = np.array([[1, 0.9, 0], [0, 1, 0.4], [0, 0, 1]], dtype=np.float32)
    with open(src / "adj_mx.pkl", "wb") as fh:
        pickle.dump([ids, {i: k for k, i in enumerate(ids)}, adj], fh, protocol=2)
    (src / "distances_la_2012.csv").write_text("from,to,cost\n773869,767541,1500.0\n999999,773869,10.0\n")
    return src, frame


def test_small_release_directory(tmp_path):
    src, frame = _small_release(tmp_path)
    out = dcrnn.run([str(src)], str(tmp_path / "ds"), namespace(dcrnn.add_arguments, "metr-la"))
    obs = pd.read_parquet(out / "observations.parquet")
    assert len(obs) == 18
    assert obs["timestamp"].iloc[0] == pd.Timestamp("2012-03-01 08:00", tz="UTC")  # PST
    assert obs["speed"].tolist()[:6] == pytest.approx(frame.to_numpy().ravel()[:6].tolist())
    assert obs.loc[(obs["vd_id"] == "773869"), "speed"].iloc[1] == 0.0  # zeros kept, flagged in meta
    meta = pd.read_json(out / "dataset.json", typ="series")
    assert meta["zero_is_missing"] == ["speed"] and meta["name"] == "metr-la" and meta["freq"] == "5min"
    edges = pd.read_parquet(out / "edges.parquet")
    assert edges[["src", "dst"]].values.tolist() == [["773869", "767541"], ["767541", "767542"]]
    assert edges["weight"].tolist() == pytest.approx([0.9, 0.4])
    # road distance from the distance file; the other from coordinates (0.01 deg lat = 1111.95 m)
    assert edges["distance_m"].tolist() == pytest.approx([1500.0, 1111.95], rel=1e-4)


def test_dst_gap_dropped_or_rejected(tmp_path):
    src, _ = _small_release(tmp_path)
    _write_h5(src / "metr-la.h5", ["773869", "767541", "767542"], start="2012-03-11 01:50", periods=16)
    with pytest.warns(UserWarning, match="12 rows fall in the hour skipped"):
        out = dcrnn.import_dcrnn(
            src / "metr-la.h5", tmp_path / "ds", locations=src / "graph_sensor_locations.csv"
        )
    ts = pd.read_parquet(out / "observations.parquet")["timestamp"].unique()
    # 01:50, 01:55 PST then 03:00, 03:05 PDT: contiguous in UTC
    assert list(ts) == [
        pd.Timestamp(t, tz="UTC")
        for t in ("2012-03-11 09:50", "2012-03-11 09:55", "2012-03-11 10:00", "2012-03-11 10:05")
    ]
    with pytest.raises(DataError, match="skipped by daylight saving"):
        dcrnn.import_dcrnn(
            src / "metr-la.h5",
            tmp_path / "ds2",
            dst_gap="raise",
            locations=src / "graph_sensor_locations.csv",
        )
    assert no_output(tmp_path / "ds2")


def test_corrupt_h5_and_missing_tables(tmp_path, monkeypatch):
    bad = tmp_path / "metr-la.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    with pytest.raises(DataError, match="metr-la.h5: not a readable pandas HDF5 file"):
        dcrnn.import_dcrnn(bad, tmp_path / "ds")
    assert no_output(tmp_path / "ds")
    real_import = builtins.__import__

    def no_tables(name, *args, **kwargs):
        if name == "tables":
            raise ImportError("No module named 'tables'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tables)
    with pytest.raises(UserError, match="pip install tables"):
        dcrnn.read_h5(bad)


def test_sensor_without_coordinates_or_graph(tmp_path):
    src, _ = _small_release(tmp_path)
    (src / "graph_sensor_locations.csv").write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.0,-118.0\n"
    )
    with pytest.raises(
        DataError, match=r"2 VDs have observations but no coordinates \(e.g. \['767541', '767542'\]\)"
    ):
        dcrnn.import_dcrnn(src / "metr-la.h5", tmp_path / "ds", locations=src / "graph_sensor_locations.csv")
    assert no_output(tmp_path / "ds")


@pytest.mark.realdata
def test_real_bay_graph_files(tmp_path):
    loc = shared_file("dcrnn-sensor-graphs", "graph_sensor_locations_bay.csv")
    pkl = shared_file("dcrnn-sensor-graphs", "adj_mx_bay.pkl")
    dist = shared_file("dcrnn-sensor-graphs", "distances_bay_2017.csv")
    ids = pd.read_csv(loc, header=None)[0].astype(str).tolist()
    _write_h5(tmp_path / "pems-bay.h5", ids, start="2017-01-01 00:00", periods=3)
    args = namespace(dcrnn.add_arguments, "pems-bay")
    out = dcrnn.run(
        [str(tmp_path / "pems-bay.h5"), str(loc), str(pkl), str(dist)], str(tmp_path / "ds"), args
    )
    stations = pd.read_parquet(out / "stations.parquet")
    assert len(stations) == 325 and stations.loc[0, "lat"] == pytest.approx(37.364085)
    edges = pd.read_parquet(out / "edges.parquet")
    _, _, adj = pickle.load(open(pkl, "rb"), encoding="latin1")
    assert len(edges) == int((adj > 0).sum() - (np.diag(adj) > 0).sum())
    assert edges["distance_m"].notna().all()
    road = pd.read_csv(dist, header=None, names=["src", "dst", "cost"], dtype={"src": str, "dst": str})
    pair = edges.iloc[0]
    match = road[(road["src"] == pair["src"]) & (road["dst"] == pair["dst"])]["cost"]
    assert len(match) == 1 and pair["distance_m"] == pytest.approx(match.iloc[0])


@pytest.mark.realdata
def test_real_la_pickle_and_locations(tmp_path):
    loc = shared_file("dcrnn-sensor-graphs", "graph_sensor_locations.csv")
    pkl = shared_file("dcrnn-sensor-graphs", "adj_mx.pkl")
    ids = pd.read_csv(loc)["sensor_id"].astype(str).tolist()
    _write_h5(tmp_path / "metr-la.h5", ids, periods=2)
    out = dcrnn.import_dcrnn(tmp_path / "metr-la.h5", tmp_path / "ds", locations=loc, adjacency=pkl)
    edges = pd.read_parquet(out / "edges.parquet")
    assert len(edges) == 1722 - 207  # non-zeros of adj_mx minus its unit diagonal
    assert edges["weight"].between(0, 1).all() and (edges["distance_m"] > 0).all()

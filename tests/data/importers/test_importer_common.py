"""Tests of the shared importer helpers against hand-computed values."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from social_xlstm.data.importers import common
from social_xlstm.errors import DataError


def test_suggest_names_close_column():
    assert common.suggest("timestmp", ["timestamp", "vd_id"]) == " (did you mean 'timestamp'?)"
    assert common.suggest("zzz", ["timestamp"]) == ""


def test_require_columns_message_suggests(tmp_path):
    with pytest.raises(DataError, match=r"x\.csv: column 'detecter' .*did you mean 'detector'"):
        common.require_columns(tmp_path / "x.csv", ["timestamp", "detector"], ["detecter"])


def test_haversine_one_degree_latitude():
    # one degree of latitude on a sphere of radius 6371008.8 m is 2*pi*R/360
    got = common.haversine_m(np.array([0.0]), np.array([0.0]), np.array([1.0]), np.array([0.0]))
    assert got[0] == pytest.approx(2 * np.pi * 6_371_008.8 / 360, rel=1e-9)
    # at 60 degrees north one degree of longitude is about half as long (the cos(latitude) factor)
    east = common.haversine_m(np.array([60.0]), np.array([0.0]), np.array([60.0]), np.array([1.0]))
    assert east[0] == pytest.approx(111_194.9 * 0.5, rel=2e-3)


def test_read_stations_dcrnn_header_and_headerless(tmp_path):
    la = tmp_path / "graph_sensor_locations.csv"
    la.write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.15497,-118.31829\n1,767541,34.11621,-118.23799\n"
    )
    bay = tmp_path / "graph_sensor_locations_bay.csv"
    bay.write_text("400001,37.364085,-121.901149\n400017,37.253303,-121.945440\n")
    a = common.read_stations(la)
    b = common.read_stations(bay)
    assert a["vd_id"].tolist() == ["773869", "767541"]
    assert a["lat"].tolist() == [34.15497, 34.11621]
    assert b["vd_id"].tolist() == ["400001", "400017"]
    assert b["lon"].tolist() == [-121.901149, -121.945440]


def test_read_stations_mapping_and_errors(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("name_of_vd,y_deg,x_deg\nA,25.0,121.5\nB,25.1,121.6\n")
    got = common.read_stations(f, {"vd_id": "name_of_vd", "lat": "y_deg", "lon": "x_deg"})
    assert got["vd_id"].tolist() == ["A", "B"] and got["lat"].tolist() == [25.0, 25.1]
    with pytest.raises(DataError, match="did you mean 'y_deg'"):
        common.read_stations(f, {"vd_id": "name_of_vd", "lat": "y_dg", "lon": "x_deg"})
    bad = tmp_path / "bad.csv"
    bad.write_text("vd_id,lat,lon\nA,north,121.5\nB,25.1,121.6\n")
    with pytest.raises(DataError, match=r"column 'lat' holds non-numeric values .*row 0: 'north'"):
        common.read_stations(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("vd_id,lat,lon\nA,25.0,121.5\nA,25.1,121.6\n")
    with pytest.raises(DataError, match="duplicate VD id 'A'"):
        common.read_stations(dup)


def test_read_edges_edge_list_with_and_without_header(tmp_path):
    la = tmp_path / "distances_la.csv"
    la.write_text("from,to,cost\n1,2,100.5\n2,1,80.0\n1,1,0.0\n")
    bay = tmp_path / "distances_bay.csv"
    bay.write_text("1,2,100.5\n2,1,80.0\n")
    weights = tmp_path / "w.csv"
    weights.write_text("src,dst,weight\n1,2,0.5\n")
    a = common.read_edges(la)
    assert a[["src", "dst"]].values.tolist() == [["1", "2"], ["2", "1"]]  # self-loop dropped
    assert a["distance_m"].tolist() == [100.5, 80.0]
    assert common.read_edges(bay)["distance_m"].tolist() == [100.5, 80.0]
    assert common.read_edges(bay, cost_unit="km")["distance_m"].tolist() == [100500.0, 80000.0]
    assert common.read_edges(weights)["weight"].tolist() == [0.5]


def test_read_edges_dense_matrix_csv_npy_pickle(tmp_path):
    adj = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.7], [0.0, 0.0, 1.0]])
    csv = tmp_path / "adj.csv"  # a 3-VD matrix names its VDs in the header (else it reads as an edge list)
    pd.DataFrame(adj, columns=["a", "b", "c"]).to_csv(csv, index=False)
    npy = tmp_path / "adj.npy"
    np.save(npy, adj)
    pkl = tmp_path / "adj_mx.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump([["a", "b", "c"], {"a": 0, "b": 1, "c": 2}, adj.astype(np.float32)], fh, protocol=2)
    for path in (csv, npy):
        got = common.read_edges(path, ids=["a", "b", "c"])
        assert got[["src", "dst"]].values.tolist() == [["a", "b"], ["b", "a"], ["b", "c"]]
        assert got["weight"].tolist() == pytest.approx([0.3, 0.3, 0.7])
    got = common.read_edges(pkl)
    assert got["weight"].tolist() == pytest.approx([0.3, 0.3, 0.7])
    with pytest.raises(DataError, match="3x3 but there are 2 VDs"):
        common.read_edges(npy, ids=["a", "b"])
    big = tmp_path / "big.csv"  # more than 3 columns without header: a matrix in the VD order given
    pd.DataFrame(np.eye(4) + np.eye(4, k=1) * 0.5).to_csv(big, header=False, index=False)
    got = common.read_edges(big, ids=["w", "x", "y", "z"])
    assert got[["src", "dst"]].values.tolist() == [["w", "x"], ["x", "y"], ["y", "z"]]


def test_adjacency_pickle_disagreeing_index(tmp_path):
    pkl = tmp_path / "adj_mx.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump([["a", "b"], {"a": 1, "b": 0}, np.eye(2)], fh)
    with pytest.raises(DataError, match="does not agree"):
        common.read_adjacency_pickle(pkl)


def test_finish_edges_haversine_and_missing_coordinates(tmp_path):
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [0.0, 1.0, np.nan], "lon": [0.0, 0.0, np.nan]})
    edges = pd.DataFrame({"src": ["a"], "dst": ["b"], "weight": [0.5]})
    got = common.finish_edges(edges, stations, tmp_path / "e.csv")
    assert got["distance_m"].iloc[0] == pytest.approx(2 * np.pi * 6_371_008.8 / 360)
    with pytest.raises(DataError, match="a -> c has no distance"):
        common.finish_edges(pd.DataFrame({"src": ["a"], "dst": ["c"]}), stations, tmp_path / "e.csv")
    with pytest.raises(DataError, match="names VD 'x'"):
        common.finish_edges(pd.DataFrame({"src": ["a"], "dst": ["x"]}), stations, tmp_path / "e.csv")


def test_parse_times_offsets_mixed_unparsable(tmp_path):
    f = tmp_path / "t.csv"
    got, naive = common.parse_times(
        pd.Series(["2024-01-01T08:00:00+08:00", "2024-01-01T00:05:00Z"]), f, "t", None
    )
    assert not naive and got.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 00:05", tz="UTC"),
    ]
    with pytest.raises(DataError, match=r"mixes time zones: row 0 .* row 1 '2024-01-01 00:05:00' has none"):
        common.parse_times(pd.Series(["2024-01-01T08:00:00+08:00", "2024-01-01 00:05:00"]), f, "t", "UTC")
    with pytest.raises(DataError, match=r"unparsable timestamps \(1 rows, e.g. row 1: 'yesterday'\)"):
        common.parse_times(pd.Series(["2024-01-01 00:00", "yesterday"]), f, "t", "UTC")
    with pytest.raises(DataError, match="pass --tz"):
        common.parse_times(pd.Series(["2024-01-01 00:00"]), f, "t", None)


def test_localise_ambiguous_and_skipped_hours(tmp_path):
    # 2012-11-04 01:30 occurs twice in Los Angeles: first PDT (-7), then PST (-8)
    naive = pd.Series(pd.to_datetime(["2012-11-04 01:30", "2012-11-04 01:30", "2012-11-04 01:30"]))
    keys = pd.Series(["a", "a", "b"])
    utc, keep = common.localise(naive, "America/Los_Angeles", tmp_path / "f", keys=keys)
    assert keep.all()
    assert list(utc) == [
        pd.Timestamp(t, tz="UTC") for t in ("2012-11-04 08:30", "2012-11-04 09:30", "2012-11-04 08:30")
    ]
    gap = pd.Series(pd.to_datetime(["2012-03-11 01:55", "2012-03-11 02:00", "2012-03-11 03:00"]))
    with pytest.raises(DataError, match=r"1 rows fall in the hour skipped .*row 1: 2012-03-11 02:00:00"):
        common.localise(gap, "America/Los_Angeles", tmp_path / "f")
    with pytest.warns(UserWarning, match="dropped"):
        utc, keep = common.localise(gap, "America/Los_Angeles", tmp_path / "f", gap="drop")
    assert keep.tolist() == [True, False, True]
    assert list(utc) == [
        pd.Timestamp("2012-03-11 09:55", tz="UTC"),
        pd.Timestamp("2012-03-11 10:00", tz="UTC"),
    ]


def test_check_freq_infers_and_rejects(tmp_path):
    f = tmp_path / "f.csv"
    times = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 01:00"], tz="UTC")
    assert common.check_freq(times, f, None) == "15min"  # the 45-minute hole is missing slots
    with pytest.raises(DataError, match="--freq 5min does not match the data.*15min apart"):
        common.check_freq(times, f, "5min")
    off = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:31"], tz="UTC")
    with pytest.raises(DataError, match="not on a regular 15min grid .*00:31"):
        common.check_freq(off, f, None)


def test_regular_times_across_dst_is_regular_in_utc():
    times = common.regular_times(pd.Timestamp("2012-03-11 01:50"), 3, "5min", "America/Los_Angeles")
    assert list(times) == [
        pd.Timestamp(t, tz="UTC") for t in ("2012-03-11 09:50", "2012-03-11 09:55", "2012-03-11 10:00")
    ]


def test_wide_to_long_order_and_parts(monkeypatch):
    values = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # (T, N, F)
    times = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    table = common.wide_to_long(values, times, ["a", "b", "c"], ["flow", "speed"])
    assert isinstance(table, pa.Table)
    frame = table.to_pandas()
    assert frame["vd_id"].tolist() == ["a", "b", "c", "a", "b", "c"]
    assert frame["flow"].tolist() == [0, 2, 4, 6, 8, 10] and frame["speed"].tolist() == [1, 3, 5, 7, 9, 11]
    assert frame["timestamp"].iloc[3] == times[1]
    monkeypatch.setattr(common, "ROWS_PER_PART", 3)  # one time step per part
    parts = list(common.wide_to_long(values, times, ["a", "b", "c"], ["flow", "speed"]))
    assert len(parts) == 2 and pa.concat_tables(parts).equals(table)


def test_corrupt_empty_truncated_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: file is empty"):
        common.read_table(empty)
    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": np.arange(100)}).to_parquet(good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(DataError, match="cut.parquet: not a readable Parquet file"):
        common.read_table(cut)
    npz = tmp_path / "x.npz"
    np.savez_compressed(npz, data=np.zeros((10, 3, 3)))
    cut_npz = tmp_path / "cut.npz"
    cut_npz.write_bytes(npz.read_bytes()[:-40])
    with pytest.raises(DataError, match="cut.npz: not a readable"):
        common.load_array(cut_npz, "data")
    with pytest.raises(DataError, match="no array 'dat' \\(did you mean 'data'\\?\\)"):
        common.load_array(npz, "dat")
    pkl = tmp_path / "adj.pkl"
    pkl.write_bytes(b"\x80\x02]q\x00(")
    with pytest.raises(DataError, match="adj.pkl: not a readable pickle"):
        common.load_pickle(pkl)

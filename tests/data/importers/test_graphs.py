"""Graph files: edge lists with and without header, dense matrices in every format, edge distances."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers.graphs import finish_edges, read_adjacency_pickle, read_edges
from social_xlstm.errors import DataError


def test_read_edges_edge_list_with_and_without_header(tmp_path):
    la = tmp_path / "distances_la.csv"
    la.write_text("from,to,cost\n1,2,100.5\n2,1,80.0\n1,1,0.0\n")
    bay = tmp_path / "distances_bay.csv"
    bay.write_text("1,2,100.5\n2,1,80.0\n")
    weights = tmp_path / "w.csv"
    weights.write_text("src,dst,weight\n1,2,0.5\n")
    a = read_edges(la)
    assert a[["src", "dst"]].values.tolist() == [["1", "2"], ["2", "1"]]  # self-loop dropped
    assert a["distance_m"].tolist() == [100.5, 80.0]
    assert read_edges(bay)["distance_m"].tolist() == [100.5, 80.0]
    assert read_edges(bay, cost_unit="km")["distance_m"].tolist() == [100500.0, 80000.0]
    assert read_edges(weights)["weight"].tolist() == [0.5]


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
        got = read_edges(path, ids=["a", "b", "c"])
        assert got[["src", "dst"]].values.tolist() == [["a", "b"], ["b", "a"], ["b", "c"]]
        assert got["weight"].tolist() == pytest.approx([0.3, 0.3, 0.7])
    got = read_edges(pkl)
    assert got["weight"].tolist() == pytest.approx([0.3, 0.3, 0.7])
    with pytest.raises(DataError, match="3x3 but there are 2 VDs"):
        read_edges(npy, ids=["a", "b"])
    big = tmp_path / "big.csv"  # more than 3 columns without header: a matrix in the VD order given
    pd.DataFrame(np.eye(4) + np.eye(4, k=1) * 0.5).to_csv(big, header=False, index=False)
    got = read_edges(big, ids=["w", "x", "y", "z"])
    assert got[["src", "dst"]].values.tolist() == [["w", "x"], ["x", "y"], ["y", "z"]]


def test_adjacency_pickle_disagreeing_index(tmp_path):
    pkl = tmp_path / "adj_mx.pkl"
    with open(pkl, "wb") as fh:
        pickle.dump([["a", "b"], {"a": 1, "b": 0}, np.eye(2)], fh)
    with pytest.raises(DataError, match="does not agree"):
        read_adjacency_pickle(pkl)


def test_finish_edges_haversine_and_missing_coordinates(tmp_path):
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [0.0, 1.0, np.nan], "lon": [0.0, 0.0, np.nan]})
    edges = pd.DataFrame({"src": ["a"], "dst": ["b"], "weight": [0.5]})
    got = finish_edges(edges, stations, tmp_path / "e.csv")
    assert got["distance_m"].iloc[0] == pytest.approx(2 * np.pi * 6_371_008.8 / 360)
    weights_only = finish_edges(pd.DataFrame({"src": ["a"], "dst": ["c"], "weight": [0.2]}), stations, "e.csv")
    assert np.isnan(weights_only["distance_m"].iloc[0]) and weights_only["weight"].iloc[0] == 0.2
    with pytest.raises(DataError, match="a -> c has no distance and no weight"):
        finish_edges(pd.DataFrame({"src": ["a"], "dst": ["c"]}), stations, tmp_path / "e.csv")
    with pytest.raises(DataError, match="name VDs without a station or series, e.g. VD 'x'"):
        finish_edges(pd.DataFrame({"src": ["a"], "dst": ["x"]}), stations, tmp_path / "e.csv")

"""Graph files: edge lists with and without header, dense matrices in every format, edge distances."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers.common.graphs import finish_edges, read_adjacency_pickle, read_edges
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


def test_edge_list_by_header_with_several_value_columns(tmp_path):
    """The issue's src,dst,distance,weight list: an edge list by its header, not a (E, 4) matrix."""
    both = tmp_path / "edges.csv"
    both.write_text("src,dst,distance,weight\na,b,1.5,0.9\nb,c,,0.4\nc,a,2.0,0.1\nd,a,3.0,0.7\n")
    got = read_edges(both, ids=list("abcd"), cost_unit="km")
    assert got[["src", "dst"]].values.tolist() == [["a", "b"], ["b", "c"], ["c", "a"], ["d", "a"]]
    assert got["weight"].tolist() == [0.9, 0.4, 0.1, 0.7]
    np.testing.assert_array_equal(got["distance_m"].to_numpy(), [1500.0, np.nan, 2000.0, 3000.0])
    reordered = tmp_path / "from_to.parquet"  # any column order, from/to names, Parquet
    pd.DataFrame({"weight": [0.5], "to": ["b"], "from": ["a"]}).to_parquet(reordered)
    assert read_edges(reordered).values.tolist() == [["a", "b", 0.5]]
    bare = tmp_path / "bare.csv"
    bare.write_text("from,to\na,b\n")
    assert read_edges(bare)["weight"].tolist() == [1.0]
    headerless = tmp_path / "headerless.csv"  # text ids and a number: data, not a header
    headerless.write_text("a,b,0.25\n")
    assert read_edges(headerless, value="weight")["weight"].tolist() == [0.25]


def test_dense_matrix_by_shape_with_no_edge_entries(tmp_path):
    adj = np.array([[1.0, 0.0, np.inf, 0.2], [0.5, 1.0, 0.0, 0.0], [0.0, np.nan, 1.0, 0.3], [0, 0, 0, 1]])
    npy = tmp_path / "adj.npy"
    np.save(npy, adj)
    got = read_edges(npy, ids=list("wxyz"))
    # 0, inf and NaN are no edge; the diagonal (the self loop) is left to the graph code
    assert got[["src", "dst"]].values.tolist() == [["w", "z"], ["x", "w"], ["y", "z"]]
    ids_header = tmp_path / "ids.csv"  # numeric sensor ids as the header (METR-LA style)
    pd.DataFrame(adj[:, :], columns=["101", "102", "103", "104"]).fillna(0).to_csv(ids_header, index=False)
    assert len(read_edges(ids_header, ids=["101", "102", "103", "104"])) == 3


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("e.npy", np.ones((6, 3)), r"e.npy: an array of shape \(6, 3\) is not a square \(N, N\) matrix; expected an "
         r"edge list with a header \(src\|from, dst\|to"),
        ("e.csv", "1,2,3,4\n5,6,7,8\n", r"e.csv: an array of shape \(2, 4\) is not a square"),
        ("e.csv", "origin,dest,weight\na,b,1\n", r"e.csv: the header \['origin', 'dest', 'weight'\] names no "
         r"src\|from\|origin_id\|source column"),
        ("e.csv", "src,dst,length\na,b,1\n", r"e.csv: column 'length' is not an edge-list column"),
        ("e.csv", "src,dst,weight\na,b,-1\nb,a,x\n", r"e.csv: column 'weight' holds non-numeric values .*row 1: 'x'"),
        ("e.csv", "src,dst,weight\na,b,-1\n", r"(?s)e.csv: column 'weight' must hold finite numbers >= 0 in every row; "
         r"1 row\(s\) do not, e.g.\n.*a +b +-1"),
        ("e.csv", "src,dst,distance\na,b,\n", r"column 'distance' must hold finite numbers >= 0 in every row"),
        ("e.csv", "a,b,c,d\n1,0,0,0\n0,1,0,0\n", r"e.csv: the header \['a', 'b', 'c', 'd'\] names no src\|from and "
         r"dst\|to columns, and the 2 x 4 table under it is not a square matrix"),
        ("e.csv", "src,dst,cost,distance\na,b,1,1\n", r"columns \['cost', 'distance'\] all name the distance"),
        ("e.npy", -np.eye(2), r"adjacency weights must be >= 0; 2 entries are negative, e.g. row 0, column 0"),
    ],
)
def test_malformed_graph_files(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
    with pytest.raises(DataError, match=message):
        read_edges(path, ids=["a", "b"])


def test_matrix_of_the_wrong_size_and_unknown_ids(tmp_path):
    npy = tmp_path / "adj.npy"
    np.save(npy, np.eye(5))
    with pytest.raises(DataError, match=r"adj.npy: adjacency matrix is 5x5 but there are 3 VDs \(rows and columns"):
        read_edges(npy, ids=["a", "b", "c"])
    stations = pd.DataFrame({"vd_id": ["a", "b"], "lat": [np.nan] * 2, "lon": [np.nan] * 2})
    edges = pd.DataFrame({"src": ["a", "q"], "dst": ["b", "a"], "weight": [1.0, 2.0]})
    with pytest.raises(DataError, match=r"e.csv: 1 edge\(s\) name VDs without a station or series, e.g. VD 'q' in\n"):
        finish_edges(edges, stations, "e.csv")


# --- edge lists as graph papers publish them: blank-separated, headerless, endpoints as positions ---------

IDS = ["773869", "767541", "767542", "717447"]


def _dense_list(base: int, sep: str = " ") -> str:
    """Every ordered pair incl. the diagonal, as ``i j w`` lines; 0 where there is no edge."""
    weights = {(0, 1): 0.5, (1, 2): 0.25, (3, 0): 1.0}
    lines = []
    for i in range(4):
        for j in range(4):
            w = 1.0 if i == j else weights.get((i, j), 0.0)
            lines.append(sep.join([str(i + base), str(j + base), f"{w:g}"]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("base, sep", [(0, " "), (1, " "), (0, "\t"), (1, "   "), (0, ";")])
def test_headerless_position_lists_of_any_separator_and_base(tmp_path, base, sep):
    path = tmp_path / "adj.txt"
    path.write_text(_dense_list(base, sep))
    edges = read_edges(path, IDS)
    # positions become ids, the value is a weight, zero weights and the diagonal are no edge
    got = sorted(zip(edges["src"], edges["dst"], edges["weight"], strict=True))
    assert got == sorted([("773869", "767541", 0.5), ("767541", "767542", 0.25), ("717447", "773869", 1.0)])
    assert "distance_m" not in edges


def test_positions_given_explicitly_and_checked_against_the_vd_count(tmp_path):
    path = tmp_path / "adj.txt"
    path.write_text("1 2 0.5\n2 3 0.5\n")  # neither 0 nor N=4 appears: the base cannot be told
    with pytest.raises(DataError, match=r"positions 1 \.\. 3 among 4 VDs.*--edge-base 0 or 1"):
        read_edges(path, IDS)
    one_based = read_edges(path, IDS, base=1)
    assert list(one_based["src"]) == ["773869", "767541"] and list(one_based["dst"]) == ["767541", "767542"]
    path.write_text("0 4 0.5\n")  # 0-based, but position 4 among 4 VDs
    with pytest.raises(DataError, match=r"0-based positions 0 \.\. 4, but there are 4 VDs"):
        read_edges(path, IDS, endpoints="index")
    path.write_text("0 x 0.5\n")
    with pytest.raises(DataError, match=r"endpoint 'x' \(row 0\) is not an integer position"):
        read_edges(path, IDS, endpoints="index")


def test_ids_stay_ids_and_edge_ids_id_never_reads_positions(tmp_path):
    path = tmp_path / "edges.txt"
    path.write_text("773869 767541 120.5\n767541 767542 80\n")  # DCRNN-style ids with a distance
    edges = read_edges(path, IDS)
    assert list(edges["src"]) == ["773869", "767541"] and list(edges["distance_m"]) == [120.5, 80.0]
    path.write_text("0 1 2.0\n")
    as_ids = read_edges(path, IDS, endpoints="id")  # kept as written; finish_edges names them unknown
    assert list(as_ids["src"]) == ["0"] and list(as_ids["distance_m"]) == [2.0]


def test_blank_separated_dense_matrix(tmp_path):
    path = tmp_path / "adj.txt"
    path.write_text("1 0.5 0 0\n0 1 0.25 0\n0 0 1 0\n1 0 0 1\n")
    edges = read_edges(path, IDS)
    got = sorted(zip(edges["src"], edges["dst"], edges["weight"], strict=True))
    assert got == sorted([("773869", "767541", 0.5), ("767541", "767542", 0.25), ("717447", "773869", 1.0)])

"""Graph construction: kNN against brute force, edge features on hand-made stations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.geo import haversine_m
from social_xlstm.data.graph import graph_from_coordinates, graph_from_edges
from social_xlstm.errors import DataError, UserError


def _brute_haversine(lat1, lon1, lat2, lon2):
    """One pair's distance in km, as the graph's distances (the formula itself: tests/data/test_geo.py)."""
    return float(haversine_m(lat1, lon1, lat2, lon2)) / 1000.0


def _random_stations(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "vd_id": [f"v{i}" for i in range(n)],
            "lat": rng.uniform(59.8, 60.4, n),
            "lon": rng.uniform(24.5, 25.5, n),
        }
    )


def _neighbours(graph):
    src, dst = graph.edge_index.numpy()
    out = {i: set() for i in range(graph.num_nodes)}
    for s, t in zip(src, dst, strict=True):
        if s != t:
            out[t].add(s)
    return out


@pytest.mark.parametrize("k,radius", [(4, None), (None, 8.0), (4, 8.0), (100, None)])
def test_neighbour_sets_match_brute_force(k, radius):
    st = _random_stations()
    graph = graph_from_coordinates(st, max_neighbours=None if k is None else k + 1, radius_km=radius)
    got = _neighbours(graph)
    for i in range(30):
        dist = sorted(
            (_brute_haversine(st.lat[i], st.lon[i], st.lat[j], st.lon[j]), j) for j in range(30) if j != i
        )
        chosen = dist if k is None else dist[:k]
        expected = {j for d, j in chosen if radius is None or d <= radius}
        assert got[i] == expected, i
    src, dst = graph.edge_index.numpy()
    attr = graph.edge_attr.numpy()
    names = graph.edge_attr_names
    # one self loop per node, distance 0, weight 1
    loops = src == dst
    assert loops.sum() == 30 and sorted(src[loops]) == list(range(30))
    assert (attr[loops, names.index("distance")] == 0).all() and (
        attr[loops, names.index("is_self")] == 1
    ).all()
    assert (attr[loops, names.index("weight")] == 1).all()
    # distance feature = haversine / scale
    brute = np.array(
        [_brute_haversine(st.lat[t], st.lon[t], st.lat[s], st.lon[s]) for s, t in zip(src, dst, strict=True)]
    )
    np.testing.assert_allclose(attr[:, 0] * graph.distance_scale_km, brute, rtol=1e-5)
    assert graph.distance_scale_km == pytest.approx(np.median(brute[~loops]), rel=1e-6)
    # no road column: same_road and road_offset are absent, not zeros
    assert names == ["distance", "bearing_sin", "bearing_cos", "is_self", "weight"]
    assert graph.edge_index.dtype.is_floating_point is False and graph.edge_attr.shape == (len(src), 5)


def test_bearing_road_and_offset_features():
    # dst "o" at the origin; "n" due north and "e" due east of it; n and o on road A northbound
    st = pd.DataFrame(
        {
            "vd_id": ["o", "n", "e", "s"],
            "lat": [0.0, 0.01, 0.0, -0.01],
            "lon": [0.0, 0.0, 0.01, 0.0],
            "road": ["A", "A", "B", "A"],
            "direction": ["N", "N", "N", "S"],
            "km": [10.0, 11.1, 3.0, 8.9],
        }
    )
    graph = graph_from_coordinates(st, max_neighbours=4)
    src, dst = graph.edge_index.numpy()
    attr = {(s, t): a for s, t, a in zip(src, dst, graph.edge_attr.numpy(), strict=True)}
    names = graph.edge_attr_names
    north, east, south = attr[(1, 0)], attr[(2, 0)], attr[(3, 0)]
    col = names.index
    np.testing.assert_allclose([north[col("bearing_sin")], north[col("bearing_cos")]], [0, 1], atol=1e-6)
    np.testing.assert_allclose([east[col("bearing_sin")], east[col("bearing_cos")]], [1, 0], atol=1e-4)
    assert north[col("same_road")] == 1 and east[col("same_road")] == 0
    assert south[col("same_road")] == 0  # same road, other carriageway
    assert north[col("road_offset")] == pytest.approx(1.1 / graph.distance_scale_km, rel=1e-5)
    assert attr[(0, 1)][col("road_offset")] == pytest.approx(-1.1 / graph.distance_scale_km, rel=1e-5)
    assert east[col("road_offset")] == 0 and south[col("road_offset")] == 0
    # weight is the Gaussian kernel of the scaled distance
    assert north[col("weight")] == pytest.approx(math.exp(-(north[col("distance")] ** 2)), rel=1e-5)


def test_graph_from_edges_without_coordinates():
    st = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [np.nan] * 3, "lon": [np.nan] * 3})
    edges = pd.DataFrame(
        {
            "src": ["a", "b", "c", "a"],
            "dst": ["b", "c", "a", "a"],
            "distance_m": [1000.0, 3000.0, 2000.0, 0.0],
            "weight": [0.5, 0.25, 0.75, 9.0],
        }
    )
    graph = graph_from_edges(st, edges)
    src, dst = graph.edge_index.numpy()
    pairs = list(zip(src.tolist(), dst.tolist(), strict=True))
    assert sorted(pairs) == sorted([(0, 1), (1, 2), (2, 0), (0, 0), (1, 1), (2, 2)])
    attr = {p: a for p, a in zip(pairs, graph.edge_attr.numpy(), strict=True)}
    assert graph.distance_scale_km == 2.0
    assert graph.edge_attr_names == ["distance", "is_self", "weight"]  # no coordinates: no bearing
    np.testing.assert_allclose(attr[(1, 2)], [1.5, 0, 0.25])
    np.testing.assert_allclose(attr[(0, 0)], [0, 1, 1.0])  # the file's self loop is replaced
    assert (graph.connected_components() == 0).all()
    with pytest.raises(DataError, match="without coordinates"):
        graph_from_coordinates(st)


def test_connected_components():
    st = pd.DataFrame({"vd_id": list("abcd"), "lat": [0.0, 0.001, 10.0, 10.001], "lon": [0.0] * 4})
    labels = graph_from_coordinates(st, max_neighbours=2).connected_components()
    assert labels[0] == labels[1] and labels[2] == labels[3] and labels[0] != labels[2]


def test_co_located_vds_have_no_bearing():
    st = pd.DataFrame({"vd_id": ["n", "s"], "lat": [1.0, 1.0], "lon": [2.0, 2.0]})
    graph = graph_from_coordinates(st, max_neighbours=2)
    cross = (graph.edge_index[0] != graph.edge_index[1]).numpy()
    np.testing.assert_array_equal(graph.edge_attr.numpy()[cross][:, :3], 0.0)  # distance, sin, cos
    assert np.isfinite(graph.edge_attr.numpy()).all()


def _in_neighbours(graph):
    src, dst = graph.edge_index_array
    return {int(t): sorted(int(s) for s, d in zip(src, dst, strict=True) if d == t) for t in set(dst.tolist())}


def test_max_neighbours_keeps_the_strongest_in_edges_of_a_weights_only_graph():
    """4 VDs, no coordinates, no distances: every VD reads the other three; the cap keeps the 2 heaviest."""
    st = pd.DataFrame({"vd_id": list("abcd"), "lat": [np.nan] * 4, "lon": [np.nan] * 4})
    w = np.array([[0, 0.9, 0.1, 0.5], [0.2, 0, 0.3, 0.3], [0.8, 0.7, 0, 0.6], [0.4, 0.1, 0.2, 0]])  # w[src, dst]
    src, dst = np.nonzero(w)
    edges = pd.DataFrame(
        {"src": st.vd_id[src].values, "dst": st.vd_id[dst].values, "distance_m": np.nan, "weight": w[src, dst]}
    )
    full = graph_from_edges(st, edges, max_neighbours=None)
    assert full.edge_attr_names == ["is_self", "weight"]  # neither distance nor bearing is known
    assert full.in_degree().tolist() == [4, 4, 4, 4]
    capped = graph_from_edges(st, edges, max_neighbours=3)
    # dense reference: per destination column, the 2 largest weights, plus the self loop
    expected = {t: sorted([*np.argsort(-w[:, t], kind="stable")[:2].tolist(), t]) for t in range(4)}
    assert _in_neighbours(capped) == expected
    assert capped.candidate_in_degree.tolist() == [4, 4, 4, 4] and capped.in_degree().tolist() == [3, 3, 3, 3]
    weights = {(s, t): a[-1] for s, t, a in zip(*capped.edge_index_array, capped.edge_attr_array, strict=True)}
    assert weights[(2, 0)] == pytest.approx(0.8) and weights[(0, 0)] == 1.0
    # max_neighbours=1: only the self loops, which are added although the file has none
    assert graph_from_edges(st, edges, max_neighbours=1).edge_index_array.tolist() == [[0, 1, 2, 3]] * 2


def test_max_neighbours_ties_and_weightless_files_by_distance():
    st = pd.DataFrame({"vd_id": list("abcd"), "lat": [np.nan] * 4, "lon": [np.nan] * 4})
    edges = pd.DataFrame(
        {"src": list("bcd"), "dst": list("aaa"), "distance_m": [300.0, 100.0, 200.0], "weight": [0.5, 0.5, 0.5]}
    )
    assert _in_neighbours(graph_from_edges(st, edges, max_neighbours=3))[0] == [0, 2, 3]  # tie: nearest c, d
    no_weight = edges.drop(columns="weight")
    graph = graph_from_edges(st, no_weight, max_neighbours=2)
    assert _in_neighbours(graph)[0] == [0, 2] and graph.edge_attr_names == ["distance", "is_self", "weight"]
    with pytest.raises(UserError, match="max_neighbours must be >= 1"):
        graph_from_edges(st, edges, max_neighbours=0)


def test_max_neighbours_counts_the_self_loop_on_coordinate_graphs():
    st = _random_stations(12)
    graph = graph_from_coordinates(st, max_neighbours=4)
    assert (graph.in_degree() == 4).all() and (graph.candidate_in_degree == 12).all()

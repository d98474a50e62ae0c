"""The spatial graph over VDs: from a road network (``edges.parquet``) or from coordinates (nearest VDs).

Edges follow PyG's convention: ``edge_index[0]`` is the source ``j``, ``edge_index[1]`` the destination
``i``; messages flow ``j -> i`` (VD ``i`` reads neighbour ``j``). Every VD has a self loop (distance 0,
weight 1).

Neighbour selection: each VD keeps at most ``max_neighbours`` in-edges, its self loop included
(``data.max_neighbours``, default 16). From coordinates these are the ``max_neighbours - 1`` nearest
VDs (optionally within a radius); from ``edges.parquet`` the ``max_neighbours - 1`` strongest in-edges by
``weight``, ties and weightless files by the smallest distance, then by the source's VD order. Published
adjacencies of city networks have in-degrees in the hundreds; the cap keeps the social fusion's cost
per VD bounded and reads the neighbours the publisher weighted highest, instead of thinning at random.

Edge features are those the data can give, in this order (a column is absent when the data lack it):

    distance      road (or great-circle) distance / distance_scale_km; only when every edge has one
    bearing_sin   sin of the initial bearing from dst to src (0 for the self loop and co-located VDs);
    bearing_cos   cos of that bearing; both only when some edge joins two VDs with coordinates
    same_road     1 when both VDs have the same ``road`` (and ``direction`` when both have one), self loop 1;
                  only when the stations have a ``road`` column
    road_offset   (km_src - km_dst) / distance_scale_km on the same road, else 0; with ``km`` growing along
                  the direction of travel (the simulator's convention) > 0 means the neighbour is downstream;
                  only with ``road`` and ``km`` columns
    is_self       1 for the self loop
    weight        ``weight`` from edges.parquet, else the Gaussian kernel exp(-(distance / scale)^2)

A weights-only graph without coordinates (how most benchmarks publish their networks) thus has the
features ``is_self, weight``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from social_xlstm.data.format.geo import bearing_rad, haversine_m
from social_xlstm.data.format.schema import EDGES, STATIONS
from social_xlstm.errors import DataError, UserError

if TYPE_CHECKING:
    import torch

EDGE_ATTR_NAMES = ["distance", "bearing_sin", "bearing_cos", "same_road", "road_offset", "is_self", "weight"]
"""Every edge feature, in column order; a graph carries the subset its data can give."""
DEFAULT_MAX_NEIGHBOURS = 16
"""In-edges per VD, self loop included, unless ``data.max_neighbours`` says otherwise."""
_ROW_CHUNK = 512


@dataclass
class Graph:
    """A static directed graph with edge features, held as numpy arrays.

    The graph is built and checked without torch (``social-xlstm validate`` never imports it); the
    tensors :attr:`edge_index` and :attr:`edge_attr` are views of the arrays, made on first use.

    Shapes:
        edge_index_array: (2, E) int64, rows ``[src, dst]``, self loops included.
        edge_attr_array: (E, Fe) float32, columns named by ``edge_attr_names``.
        candidate_in_degree: (N,) int64, in-degree incl. self loop before the ``max_neighbours`` cap.
    """

    edge_index_array: np.ndarray
    edge_attr_array: np.ndarray
    edge_attr_names: list[str]
    num_nodes: int
    distance_scale_km: float = 1.0
    """Distances and road offsets are divided by this (median neighbour distance), so features are O(1)."""
    candidate_in_degree: np.ndarray | None = None
    """In-edges of each VD (self loop included) the source offers: edges.parquet's, or every other VD
    (within the radius) for a graph from coordinates; None when unknown."""
    max_neighbours: int | None = None
    """The cap the graph was built with (None: every candidate kept)."""

    @property
    def num_edges(self) -> int:
        return self.edge_index_array.shape[1]

    @property
    def edge_index(self) -> torch.Tensor:
        """(2, E) int64 tensor sharing :attr:`edge_index_array`'s memory."""
        import torch

        return torch.from_numpy(self.edge_index_array)

    @property
    def edge_attr(self) -> torch.Tensor:
        """(E, Fe) float32 tensor sharing :attr:`edge_attr_array`'s memory."""
        import torch

        return torch.from_numpy(self.edge_attr_array)

    def in_degree(self) -> np.ndarray:
        """(N,) int64 number of in-edges of each VD, self loop included."""
        return np.bincount(self.edge_index_array[1], minlength=self.num_nodes).astype(np.int64)

    def connected_components(self) -> np.ndarray:
        """(N,) int64 component label of each node, ignoring edge direction."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        src, dst = self.edge_index_array
        adj = coo_matrix((np.ones(len(src)), (src, dst)), shape=(self.num_nodes, self.num_nodes))
        _, labels = connected_components(adj, directed=True, connection="weak")
        return labels.astype(np.int64)

    def __repr__(self) -> str:
        return f"Graph(nodes={self.num_nodes}, edges={self.num_edges}, edge_attr={self.edge_attr_names})"


def check_max_neighbours(max_neighbours: int | None) -> int | None:
    """``max_neighbours`` as given, after checking it counts at least the self loop."""
    if max_neighbours is not None and (isinstance(max_neighbours, bool) or int(max_neighbours) < 1):
        raise UserError(
            f"data.max_neighbours must be >= 1 (the self loop counts) or null for no cap, got {max_neighbours!r}"
        )
    return None if max_neighbours is None else int(max_neighbours)


def graph_from_coordinates(
    stations: pd.DataFrame, max_neighbours: int | None = DEFAULT_MAX_NEIGHBOURS, radius_km: float | None = None
) -> Graph:
    """Connect every VD to its nearest VDs by great-circle distance.

    Args:
        stations: one row per VD (panel order) with ``lat``, ``lon`` [, ``road``, ``direction``, ``km``].
        max_neighbours: in-edges per VD including its self loop, i.e. the ``max_neighbours - 1`` nearest
            other VDs (fewer when there are fewer VDs); None = no limit.
        radius_km: keep only neighbours within this distance; None = no limit.

    Returns:
        The :class:`Graph` with edges ``neighbour -> VD`` plus self loops.
    """
    max_neighbours = check_max_neighbours(max_neighbours)
    if max_neighbours is None and radius_km is None:
        raise UserError("graph: give max_neighbours and/or radius_km (a graph from coordinates needs a limit)")
    lat, lon = stations["lat"].to_numpy(np.float64), stations["lon"].to_numpy(np.float64)
    missing = np.flatnonzero(np.isnan(lat) | np.isnan(lon))
    if missing.size:
        raise DataError(
            f"{STATIONS}: columns 'lat'/'lon': {missing.size} VD(s) without coordinates, e.g. "
            f"{stations['vd_id'].iloc[missing[:5]].tolist()}; a graph from coordinates needs all "
            f"of them (or give {EDGES})"
        )
    n = len(stations)
    k_eff = n - 1 if max_neighbours is None else min(max_neighbours - 1, n - 1)
    candidates = np.full(n, n, dtype=np.int64)
    src_parts, dst_parts, dist_parts = [], [], []
    # Rows in chunks keep the distance matrix at (chunk, N) for networks of any size.
    for lo in range(0, n, _ROW_CHUNK):
        dst = np.arange(lo, min(lo + _ROW_CHUNK, n))
        d = haversine_m(lat[dst, None], lon[dst, None], lat[None, :], lon[None, :]) / 1000.0  # (c, N) km
        d[np.arange(len(dst)), dst] = np.inf
        if radius_km is not None:
            candidates[dst] = (d <= radius_km).sum(axis=1) + 1
        if k_eff <= 0:
            continue
        nearest = np.argpartition(d, k_eff - 1, axis=1)[:, :k_eff] if k_eff < n - 1 else np.argsort(d, axis=1)[:, :-1]
        near_d = np.take_along_axis(d, nearest, axis=1)  # (c, k)
        keep = np.isfinite(near_d) if radius_km is None else near_d <= radius_km
        rows, cols = np.nonzero(keep)
        src_parts.append(nearest[rows, cols])
        dst_parts.append(dst[rows])
        dist_parts.append(near_d[rows, cols])
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, np.int64)
    dist = np.concatenate(dist_parts) if dist_parts else np.zeros(0)
    graph = _build(stations, src, dst, dist, weight=None)
    graph.candidate_in_degree, graph.max_neighbours = candidates, max_neighbours
    return graph


def graph_from_edges(
    stations: pd.DataFrame, edges: pd.DataFrame, max_neighbours: int | None = DEFAULT_MAX_NEIGHBOURS
) -> Graph:
    """The graph of ``edges.parquet`` (``src, dst, distance_m [, weight]``) plus self loops, capped.

    Self loops in the file are replaced by the standard ones. Coordinates may be unknown (NaN; bearings
    are then absent or 0), and ``distance_m`` may be null when ``weight`` is given.

    Args:
        stations: one row per VD (panel order).
        edges: the edge table.
        max_neighbours: in-edges kept per VD including its self loop: the ``max_neighbours - 1``
            strongest by ``weight`` (ties, or no weight column: the nearest by ``distance_m``; then the
            lower source index); None keeps every edge.
    """
    max_neighbours = check_max_neighbours(max_neighbours)
    index = pd.Index(stations["vd_id"].astype(str))
    src = index.get_indexer(edges["src"].astype(str))
    dst = index.get_indexer(edges["dst"].astype(str))
    for col, idx in (("src", src), ("dst", dst)):
        if (idx < 0).any():
            bad = edges.iloc[np.flatnonzero(idx < 0)[:5]]
            raise DataError(f"{EDGES}: column {col!r} names VDs missing from {STATIONS}, e.g.\n{bad.to_string()}")
    keep = src != dst
    src, dst = src[keep].astype(np.int64), dst[keep].astype(np.int64)
    weight = edges["weight"].to_numpy(np.float64)[keep] if "weight" in edges else None
    dist = (
        edges["distance_m"].to_numpy(np.float64)[keep] / 1000.0 if "distance_m" in edges else np.full(len(src), np.nan)
    )
    candidates = np.bincount(dst, minlength=len(stations)).astype(np.int64) + 1
    if max_neighbours is not None:
        chosen = strongest_in_edges(src, dst, weight, dist, max_neighbours - 1)
        src, dst, dist = src[chosen], dst[chosen], dist[chosen]
        weight = None if weight is None else weight[chosen]
    graph = _build(stations, src, dst, dist, weight)
    graph.candidate_in_degree, graph.max_neighbours = candidates, max_neighbours
    return graph


def strongest_in_edges(
    src: np.ndarray, dst: np.ndarray, weight: np.ndarray | None, dist_km: np.ndarray, per_dst: int
) -> np.ndarray:
    """Positions of the ``per_dst`` strongest edges into each destination (self loops excluded).

    Strongest: largest ``weight``; ties (or ``weight`` None) by smallest distance (unknown = farthest),
    then by smaller ``src``, so the choice does not depend on the file's row order.

    Shapes:
        src, dst, dist_km: (E,); weight: (E,) or None. Returns (E',) int64 sorted positions.
    """
    strength = np.zeros(len(src)) if weight is None else -weight
    distance = np.where(np.isfinite(dist_km), dist_km, np.inf)
    order = np.lexsort((src, distance, strength, dst))  # by dst, then strongest first
    sorted_dst = dst[order]
    starts = np.searchsorted(sorted_dst, sorted_dst, side="left")
    rank = np.arange(len(order)) - starts
    return np.sort(order[rank < per_dst])


def _build(
    stations: pd.DataFrame, src: np.ndarray, dst: np.ndarray, dist_km: np.ndarray, weight: np.ndarray | None
) -> Graph:
    """Add self loops, compute the edge features the data can give and sort edges by (dst, src).

    ``dist_km`` is NaN where the distance is unknown (then ``weight`` is given).
    """
    n = len(stations)
    known_dist = np.isfinite(dist_km)
    positive = dist_km[known_dist & (dist_km > 0)]
    scale = float(np.median(positive)) if positive.size else 1.0
    loops = np.arange(n, dtype=np.int64)
    src = np.concatenate([src.astype(np.int64), loops])
    dst = np.concatenate([dst.astype(np.int64), loops])
    dist_km = np.concatenate([dist_km, np.zeros(n)])
    is_self = src == dst
    if weight is None:
        weight = np.exp(-((dist_km / scale) ** 2))
    else:
        weight = np.concatenate([weight, np.ones(n)])
    features: dict[str, np.ndarray] = {}
    if known_dist.all():
        features["distance"] = dist_km / scale

    lat, lon = stations["lat"].to_numpy(np.float64), stations["lon"].to_numpy(np.float64)
    bearing = bearing_rad(lat[dst], lon[dst], lat[src], lon[src])
    # co-located VDs (e.g. two carriageways at one site) have no bearing: leave both components 0
    apart = haversine_m(lat[dst], lon[dst], lat[src], lon[src]) > 1e-3
    known = np.isfinite(bearing) & ~is_self & apart
    if np.isfinite(bearing[~is_self]).any():
        features["bearing_sin"] = np.where(known, np.sin(bearing), 0.0)
        features["bearing_cos"] = np.where(known, np.cos(bearing), 0.0)

    if "road" in stations:
        road = stations["road"].to_numpy(dtype=object)
        road_known = pd.notna(road)
        same_road = road_known[src] & road_known[dst] & (road[src] == road[dst])
        if "direction" in stations:
            direction = stations["direction"].to_numpy(dtype=object)
            dir_known = pd.notna(direction)
            same_road &= ~(dir_known[src] & dir_known[dst]) | (direction[src] == direction[dst])
        same_road = same_road | is_self
        features["same_road"] = same_road.astype(np.float64)
        if "km" in stations:
            km = pd.to_numeric(stations["km"], errors="coerce").to_numpy(np.float64)
            along = same_road & np.isfinite(km[src]) & np.isfinite(km[dst]) & ~is_self
            offset = np.zeros(len(src))
            offset[along] = (km[src] - km[dst])[along] / scale
            features["road_offset"] = offset
    features["is_self"] = is_self.astype(np.float64)
    features["weight"] = weight

    names = [name for name in EDGE_ATTR_NAMES if name in features]
    attr = np.stack([features[name] for name in names], axis=1)  # (E, Fe)
    order = np.lexsort((src, dst))
    return Graph(
        edge_index_array=np.stack([src[order], dst[order]]),  # (2, E)
        edge_attr_array=attr[order].astype(np.float32),  # (E, Fe)
        edge_attr_names=names,
        num_nodes=n,
        distance_scale_km=scale,
    )

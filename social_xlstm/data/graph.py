"""The spatial graph over VDs: from a road network (``edges.parquet``) or from coordinates (k nearest).

Edges follow PyG's convention: ``edge_index[0]`` is the source ``j``, ``edge_index[1]`` the destination
``i``; messages flow ``j -> i`` (VD ``i`` reads neighbour ``j``). Every VD has a self loop (distance 0).
Edge features say where the neighbour is and whether it is up- or downstream on the same road:

    distance      great-circle (or road) distance / distance_scale_km
    bearing_sin   sin of the initial bearing from dst to src (0 when a coordinate is unknown or self loop)
    bearing_cos   cos of that bearing
    same_road     1 when both VDs have the same ``road`` (and ``direction`` when both have one), self loop 1
    road_offset   (km_src - km_dst) / distance_scale_km on the same road, else 0; with ``km`` growing along
                  the direction of travel (the simulator's convention) > 0 means the neighbour is downstream
    is_self       1 for the self loop
    weight        ``weight`` from edges.parquet, else the Gaussian kernel exp(-(distance / scale)^2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from social_xlstm.data.geo import bearing_rad, haversine_m
from social_xlstm.data.schema import EDGES, STATIONS
from social_xlstm.errors import DataError, UserError

if TYPE_CHECKING:
    import torch

EDGE_ATTR_NAMES = ["distance", "bearing_sin", "bearing_cos", "same_road", "road_offset", "is_self", "weight"]
_ROW_CHUNK = 512


@dataclass
class Graph:
    """A static directed graph with edge features, held as numpy arrays.

    The graph is built and checked without torch (``social-xlstm validate`` never imports it); the
    tensors :attr:`edge_index` and :attr:`edge_attr` are views of the arrays, made on first use.

    Shapes:
        edge_index_array: (2, E) int64, rows ``[src, dst]``, self loops included.
        edge_attr_array: (E, Fe) float32, columns named by ``edge_attr_names``.
    """

    edge_index_array: np.ndarray
    edge_attr_array: np.ndarray
    edge_attr_names: list[str]
    num_nodes: int
    distance_scale_km: float = 1.0
    """Distances and road offsets are divided by this (median neighbour distance), so features are O(1)."""

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


def graph_from_coordinates(
    stations: pd.DataFrame, k: int | None = 8, radius_km: float | None = None
) -> Graph:
    """Connect every VD to its nearest neighbours by great-circle distance.

    Args:
        stations: one row per VD (panel order) with ``lat``, ``lon`` [, ``road``, ``direction``, ``km``].
        k: number of nearest neighbours per VD (fewer when there are fewer VDs); None = no limit.
        radius_km: keep only neighbours within this distance; None = no limit.

    Returns:
        The :class:`Graph` with edges ``neighbour -> VD`` plus self loops.
    """
    if k is None and radius_km is None:
        raise UserError("graph: give k (nearest neighbours) and/or radius_km")
    if k is not None and k < 0:
        raise UserError(f"graph: k must be >= 0, got {k}")
    lat, lon = stations["lat"].to_numpy(np.float64), stations["lon"].to_numpy(np.float64)
    missing = np.flatnonzero(np.isnan(lat) | np.isnan(lon))
    if missing.size:
        raise DataError(
            f"{STATIONS}: columns 'lat'/'lon': {missing.size} VD(s) without coordinates, e.g. "
            f"{stations['vd_id'].iloc[missing[:5]].tolist()}; a graph from coordinates needs all "
            f"of them (or give {EDGES})"
        )
    n = len(stations)
    k_eff = n - 1 if k is None else min(k, n - 1)
    src_parts, dst_parts, dist_parts = [], [], []
    # Rows in chunks keep the distance matrix at (chunk, N) for networks of any size.
    for lo in range(0, n, _ROW_CHUNK):
        dst = np.arange(lo, min(lo + _ROW_CHUNK, n))
        d = haversine_m(lat[dst, None], lon[dst, None], lat[None, :], lon[None, :]) / 1000.0  # (c, N) km
        d[np.arange(len(dst)), dst] = np.inf
        if k_eff <= 0:
            continue
        nearest = (
            np.argpartition(d, k_eff - 1, axis=1)[:, :k_eff]
            if k_eff < n - 1
            else np.argsort(d, axis=1)[:, :-1]
        )
        near_d = np.take_along_axis(d, nearest, axis=1)  # (c, k)
        keep = np.isfinite(near_d) if radius_km is None else near_d <= radius_km
        rows, cols = np.nonzero(keep)
        src_parts.append(nearest[rows, cols])
        dst_parts.append(dst[rows])
        dist_parts.append(near_d[rows, cols])
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, np.int64)
    dist = np.concatenate(dist_parts) if dist_parts else np.zeros(0)
    return _build(stations, src, dst, dist, weight=None)


def graph_from_edges(stations: pd.DataFrame, edges: pd.DataFrame) -> Graph:
    """The graph of ``edges.parquet`` (``src, dst, distance_m [, weight]``) plus self loops.

    Self loops in the file are replaced by the standard ones. Coordinates may be unknown (NaN); bearings
    are then 0.
    """
    index = pd.Index(stations["vd_id"].astype(str))
    src = index.get_indexer(edges["src"].astype(str))
    dst = index.get_indexer(edges["dst"].astype(str))
    for col, idx in (("src", src), ("dst", dst)):
        if (idx < 0).any():
            bad = edges.iloc[np.flatnonzero(idx < 0)[:5]]
            raise DataError(
                f"{EDGES}: column {col!r} names VDs missing from {STATIONS}, e.g.\n{bad.to_string()}"
            )
    keep = src != dst
    weight = edges["weight"].to_numpy(np.float64)[keep] if "weight" in edges else None
    dist = edges["distance_m"].to_numpy(np.float64)[keep] / 1000.0
    return _build(stations, src[keep].astype(np.int64), dst[keep].astype(np.int64), dist, weight)


def _build(
    stations: pd.DataFrame, src: np.ndarray, dst: np.ndarray, dist_km: np.ndarray, weight: np.ndarray | None
) -> Graph:
    """Add self loops, compute the edge features and sort edges by (dst, src)."""
    n = len(stations)
    positive = dist_km[dist_km > 0]
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

    lat, lon = stations["lat"].to_numpy(np.float64), stations["lon"].to_numpy(np.float64)
    bearing = bearing_rad(lat[dst], lon[dst], lat[src], lon[src])
    # co-located VDs (e.g. two carriageways at one site) have no bearing: leave both components 0
    apart = haversine_m(lat[dst], lon[dst], lat[src], lon[src]) > 1e-3
    known = np.isfinite(bearing) & ~is_self & apart
    bearing_sin = np.where(known, np.sin(bearing), 0.0)
    bearing_cos = np.where(known, np.cos(bearing), 0.0)

    same_road = np.zeros(len(src), dtype=bool)
    if "road" in stations:
        road = stations["road"].to_numpy(dtype=object)
        road_known = pd.notna(road)
        same_road = road_known[src] & road_known[dst] & (road[src] == road[dst])
        if "direction" in stations:
            direction = stations["direction"].to_numpy(dtype=object)
            dir_known = pd.notna(direction)
            same_road &= ~(dir_known[src] & dir_known[dst]) | (direction[src] == direction[dst])
    same_road = same_road | is_self
    offset = np.zeros(len(src))
    if "km" in stations:
        km = pd.to_numeric(stations["km"], errors="coerce").to_numpy(np.float64)
        along = same_road & np.isfinite(km[src]) & np.isfinite(km[dst]) & ~is_self
        offset[along] = (km[src] - km[dst])[along] / scale

    attr = np.stack(
        [
            dist_km / scale,
            bearing_sin,
            bearing_cos,
            same_road.astype(np.float64),
            offset,
            is_self.astype(np.float64),
            weight,
        ],
        axis=1,
    )  # (E, Fe)
    order = np.lexsort((src, dst))
    return Graph(
        edge_index_array=np.stack([src[order], dst[order]]),  # (2, E)
        edge_attr_array=attr[order].astype(np.float32),  # (E, Fe)
        edge_attr_names=list(EDGE_ATTR_NAMES),
        num_nodes=n,
        distance_scale_km=scale,
    )

"""Graphs of a source: adjacency matrices (CSV, NPY/NPZ, pickles) and edge lists, to ``edges.parquet`` rows.

Edges never carry a NaN ``distance_m``: a distance comes from the source (a road distance, scaled to
metres by ``--cost-unit``) or is the haversine distance of the two stations' coordinates; when neither
exists :func:`finish_edges` raises. A non-zero entry ``adj[i, j]`` of a weight matrix is the edge
i -> j (DCRNN's convention) and keeps its ``weight``; self-loops are dropped (the graph code adds its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.checks import suggest
from social_xlstm.data.geo import haversine_m
from social_xlstm.data.importers.files import (
    check_file,
    first_line,
    is_number,
    is_parquet,
    load_array,
    load_pickle,
    read_csv,
    read_table,
    to_float,
)
from social_xlstm.data.importers.stations import normalise_ids, read_stations, stations_for
from social_xlstm.errors import DataError, UserError

COST_UNITS = {"m": 1.0, "km": 1000.0, "mi": 1609.344}
"""Multipliers from an edge-list cost unit to metres."""


def read_adjacency_pickle(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read DCRNN's ``adj_mx.pkl``: ``[sensor_ids, sensor_id_to_ind, adj_mx]``.

    Returns:
        ``(ids, adj)``: N ids (str) in matrix order and the (N, N) weight matrix.
    """
    raw = load_pickle(path)
    if not (isinstance(raw, (list, tuple)) and len(raw) == 3):
        raise DataError(
            f"{path}: expected a pickle of [sensor_ids, sensor_id_to_ind, adj_mx], got {type(raw).__name__}"
        )
    ids, id_to_ind, adj = raw
    adj = np.asarray(adj, dtype=np.float64)
    ids = [str(i) for i in ids]
    if adj.ndim != 2 or adj.shape != (len(ids), len(ids)):
        raise DataError(
            f"{path}: adj_mx has shape {adj.shape}, expected ({len(ids)}, {len(ids)}) for {len(ids)} ids"
        )
    order = sorted(((int(v), str(k)) for k, v in dict(id_to_ind).items()))
    if [k for _, k in order] != ids:
        raise DataError(f"{path}: sensor_id_to_ind does not agree with the order of sensor_ids")
    return ids, adj


def matrix_to_edges(adj: np.ndarray, ids: Sequence[str]) -> pd.DataFrame:
    """Non-zero off-diagonal entries of an (N, N) weight matrix as ``src, dst, weight`` rows.

    ``adj[i, j]`` is read as the edge i -> j (DCRNN's convention). Self-loops are dropped: the graph
    code adds its own, and a road distance of a VD to itself carries nothing.
    """
    adj = np.asarray(adj, dtype=np.float64)
    finite = np.where(np.isfinite(adj), adj, 0.0)
    np.fill_diagonal(finite, 0.0)
    src, dst = np.nonzero(finite)
    ids = np.asarray([str(i) for i in ids], dtype=object)
    return pd.DataFrame({"src": ids[src], "dst": ids[dst], "weight": finite[src, dst]})


def read_matrix(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """A dense (N, N) adjacency from CSV (optional header of ids), ``.npy``/``.npz`` or a pickle.

    Returns:
        ``(adj, ids)``; ``ids`` is None unless the file names them (CSV header, DCRNN pickle).
    """
    path = check_file(path, "adjacency file")
    suffix = path.suffix.lower()
    ids: list[str] | None = None
    if suffix in (".pkl", ".pickle"):
        raw = load_pickle(path)
        if isinstance(raw, (list, tuple)) and len(raw) == 3:
            ids, adj = read_adjacency_pickle(path)
            return adj, ids
        adj = np.asarray(raw)
    elif suffix in (".npy", ".npz"):
        adj = load_array(path)
    else:
        header = not all(map(is_number, first_line(path)))
        frame = read_csv(path, header=header)
        if header:
            ids = [str(c) for c in frame.columns]
        adj = np.column_stack([to_float(frame[c], path, str(c)) for c in frame.columns])
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise DataError(f"{path}: adjacency matrix must be square (N, N), got shape {adj.shape}")
    if np.isnan(adj).any():
        row, col = np.argwhere(np.isnan(adj))[0]
        raise DataError(f"{path}: adjacency matrix has an empty/NaN entry at row {row}, column {col}")
    return adj, ids


def read_edge_list(path: str | Path, value: str = "auto", cost_unit: str = "m") -> pd.DataFrame:
    """Read an edge list ``src,dst[,distance|cost|weight]`` (header optional, e.g. ``from,to,cost``).

    Args:
        path: CSV or Parquet file.
        value: what the third column is: ``"distance"`` (road distance, scaled by ``cost_unit`` to
            metres), ``"weight"``, or ``"auto"``: by its header name (``weight`` -> weight, else distance).
        cost_unit: unit of a distance column: ``m``, ``km`` or ``mi``.

    Returns:
        Frame ``src, dst`` (str) and ``distance_m`` and/or ``weight``; without a third column, weight 1.
    """
    path = check_file(path, "edges file")
    header = is_parquet(path) or not all(map(is_number, first_line(path)[2:3] or ["0"]))
    raw = read_table(path) if header else read_csv(path, header=False)
    cols = [str(c) for c in raw.columns]
    raw.columns = cols
    if len(cols) < 2:
        raise DataError(f"{path}: an edge list needs columns src,dst[,distance|cost|weight]; found {cols}")
    lower = [c.lower() for c in cols]
    src_col = next(
        (cols[i] for i, c in enumerate(lower) if c in ("src", "from", "origin_id", "source")), cols[0]
    )
    dst_col = next(
        (cols[i] for i, c in enumerate(lower) if c in ("dst", "to", "destination_id", "target")), cols[1]
    )
    rest = [c for c in cols if c not in (src_col, dst_col)]
    out = pd.DataFrame({"src": normalise_ids(raw[src_col]), "dst": normalise_ids(raw[dst_col])})
    if not rest:
        out["weight"] = 1.0
        return out
    val_col = next(
        (c for c in rest if c.lower() in ("distance_m", "distance", "cost", "dist", "weight")), rest[0]
    )
    vals = to_float(raw[val_col], path, val_col)
    if np.isnan(vals).any():
        row = int(np.flatnonzero(np.isnan(vals))[0])
        raise DataError(f"{path}: column {val_col!r} has an empty value at row {row}")
    kind = value if value != "auto" else ("weight" if val_col.lower() == "weight" else "distance")
    if kind == "weight":
        out["weight"] = vals
    else:
        if cost_unit not in COST_UNITS:
            raise UserError(f"--cost-unit {cost_unit!r}: valid units are {list(COST_UNITS)}")
        scale = 1.0 if val_col.lower() == "distance_m" else COST_UNITS[cost_unit]
        out["distance_m"] = vals * scale
        if (out["distance_m"] < 0).any():
            row = int(np.flatnonzero(out["distance_m"].to_numpy() < 0)[0])
            raise DataError(f"{path}: column {val_col!r} has a negative distance at row {row}")
    if "weight" in out and "weight" in cols and val_col != "weight":
        out["weight"] = to_float(raw["weight"], path, "weight")
    return out


def read_edges(
    path: str | Path, ids: Sequence[str] | None = None, value: str = "auto", cost_unit: str = "m"
) -> pd.DataFrame:
    """Read a graph file: an edge list, or a dense adjacency matrix (CSV/NPY/NPZ/pickle).

    A file is a dense matrix when it is ``.npy``/``.npz``/``.pkl``, or a CSV with more than 3 columns, or
    a CSV whose header is exactly the VD ids. A matrix without ids of its own takes ``ids``
    (the VD order of the series), as T-GCN's ``los_adj.csv`` follows the columns of ``los_speed.csv``.

    Returns:
        Frame ``src, dst`` and ``distance_m`` and/or ``weight``; self-loops dropped.
    """
    path = check_file(path, "edges file")
    suffix = path.suffix.lower()
    dense = suffix in (".npy", ".npz", ".pkl", ".pickle")
    if not is_parquet(path) and not dense:
        first = first_line(path)
        header = not all(map(is_number, first))
        # A header of VD ids, or more than 3 columns, is a matrix; a 2- or 3-column file without header
        # is read as an edge list (a 2- or 3-VD matrix must name its VDs in a header to be recognised).
        dense = len(first) > 3 or (header and ids is not None and set(first) == {str(i) for i in ids})
    if not dense:
        edges = read_edge_list(path, value, cost_unit)
        return edges[edges["src"] != edges["dst"]].reset_index(drop=True)
    adj, own_ids = read_matrix(path)
    if own_ids is None:
        if ids is None:
            raise DataError(f"{path}: a dense adjacency matrix without ids needs the VD order of the series")
        own_ids = [str(i) for i in ids]
    if len(own_ids) != adj.shape[0]:
        raise DataError(
            f"{path}: adjacency matrix is {adj.shape[0]}x{adj.shape[1]} but there are {len(own_ids)} VDs"
        )
    edges = matrix_to_edges(adj, own_ids)
    if value == "distance":
        edges = edges.rename(columns={"weight": "distance_m"})
        edges["distance_m"] *= COST_UNITS[cost_unit]
    return edges


def finish_edges(
    edges: pd.DataFrame, stations: pd.DataFrame, path: str | Path, drop_unknown: bool = False
) -> pd.DataFrame:
    """Check edge endpoints against the stations and fill ``distance_m`` where the source has none.

    A missing distance is the haversine distance of the endpoints' coordinates; when an endpoint has no
    coordinates the edge cannot get a distance and this raises (a NaN distance is never written).

    Args:
        edges: ``src, dst`` [, ``distance_m``] [, ``weight``].
        stations: the VDs (``vd_id, lat, lon``).
        path: file the edges came from (for messages).
        drop_unknown: drop edges touching unknown VDs (DCRNN distance files cover more sensors than the
            series) instead of raising.

    Returns:
        ``src, dst, distance_m`` [, ``weight``], duplicates rejected.
    """
    edges = edges.copy()
    known = set(stations["vd_id"])
    unknown = ~edges["src"].isin(known) | ~edges["dst"].isin(known)
    if unknown.any():
        if drop_unknown:
            edges = edges[~unknown]
        else:
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            bad = edges["src"].iloc[row] if edges["src"].iloc[row] not in known else edges["dst"].iloc[row]
            raise DataError(
                f"{path}: edge row {row} ({edges['src'].iloc[row]} -> {edges['dst'].iloc[row]}) names VD "
                f"{bad!r} "
                f"which has no station/series{suggest(bad, sorted(known))}; {int(unknown.sum())} such edges"
            )
    edges = edges.reset_index(drop=True)
    dup = edges.duplicated(["src", "dst"], keep=False)
    if dup.any():
        rows = list(np.flatnonzero(dup.to_numpy())[:3])
        raise DataError(
            f"{path}: duplicate edge {edges['src'].iloc[rows[0]]} -> {edges['dst'].iloc[rows[0]]} (rows "
            f"{rows})"
        )
    if "distance_m" not in edges:
        edges["distance_m"] = np.nan
    need = edges["distance_m"].isna().to_numpy()
    if need.any():
        where = stations.set_index("vd_id")
        lat1, lon1 = where.loc[edges["src"], "lat"].to_numpy(), where.loc[edges["src"], "lon"].to_numpy()
        lat2, lon2 = where.loc[edges["dst"], "lat"].to_numpy(), where.loc[edges["dst"], "lon"].to_numpy()
        dist = haversine_m(lat1, lon1, lat2, lon2)
        fill = need & np.isfinite(dist)
        edges.loc[fill, "distance_m"] = dist[fill]
        if (need & ~np.isfinite(dist)).any():
            row = int(np.flatnonzero(need & ~np.isfinite(dist))[0])
            raise DataError(
                f"{path}: edge {edges['src'].iloc[row]} -> {edges['dst'].iloc[row]} has no distance and "
                "its VDs "
                "have no coordinates; give a distance column (src,dst,distance) or a stations file"
            )
    cols = ["src", "dst", "distance_m"] + (["weight"] if "weight" in edges else [])
    return edges[cols]


def stations_and_edges(
    ids: list[str],
    where: str | Path,
    *,
    stations: str | Path | None,
    station_cols: dict[str, str] | None,
    edges: str | Path | None,
    edge_value: str,
    cost_unit: str,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Stations (in ``ids`` order) and finished edges from a stations file and/or a graph file.

    The options of :func:`~social_xlstm.data.importers.options.add_graph_arguments`: a dense matrix
    without ids of its own follows the stations file's order, else the sorted VD ids.

    Args:
        ids: the VDs of the series.
        where: the series' file(s), for messages.
        stations: ``--stations`` file, or None.
        station_cols: ``--station-cols`` mapping ``{"vd_id"|"lat"|"lon": column}``.
        edges: ``--edges`` file, or None.
        edge_value: ``--edge-value`` (``auto``, ``distance``, ``weight``).
        cost_unit: ``--cost-unit``.
    """
    coords = read_stations(stations, station_cols) if stations else None
    graph = None
    if edges:
        order = coords["vd_id"].tolist() if coords is not None else sorted(ids)
        graph = read_edges(edges, ids=order, value=edge_value, cost_unit=cost_unit)
    table = stations_for(ids, coords, graph, where)
    if graph is not None:
        graph = finish_edges(graph, table, edges)
    return table, graph

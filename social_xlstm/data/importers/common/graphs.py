"""Graphs of a source, as published: adjacency matrices and edge lists, to ``edges.parquet`` rows.

What a graph file is follows from its contents, never from its column count alone:

* **Edge list**: a table (CSV or Parquet) whose header names the endpoints, ``src|from|origin_id|source``
  and ``dst|to|destination_id|target``, whatever its number of columns. Its value columns are found by
  name, several at once: ``distance_m`` (metres), ``distance|cost|dist`` (in ``--cost-unit``) and
  ``weight``. A table of endpoints only gets weight 1. A headerless table of 2 or 3 columns (DCRNN's
  PEMS-BAY distance file, graph papers' whitespace-separated ``i j w`` lines) is ``src dst [value]``.
  Cells are split by commas, tabs, semicolons or runs of blanks (found from the first line).
* **Endpoints** are VD ids, or 0- or 1-based positions in the VD order (the stations file's, else the
  series'): ``--edge-ids auto`` takes ids when every endpoint is one, else positions when every endpoint
  is an integer in range (the base from the smallest and largest, or ``--edge-base``). A headerless
  value is a distance between ids and a weight between positions (an adjacency written out), unless
  ``--edge-value`` says. A zero weight is no edge; the diagonal is dropped (the graph code adds self loops).
* **Dense matrix**: a square numeric (N, N) array: ``.npy``/``.npz``, a pickle (bare, or DCRNN's
  ``[ids, id_to_ind, adj]``), a CSV without header (4 VDs or more) or with a header of VD ids. A
  non-zero, finite entry ``adj[i, j]`` is the edge i -> j (DCRNN's convention) with that ``weight``;
  0 and non-finite entries are no edge; the diagonal is the self loop, which the graph code adds
  itself (weight 1), so it is dropped here.
* Anything else (an (E, 3) array, a header naming no endpoints, a matrix whose size is not the number
  of VDs) is refused with a message saying what was expected.

Every edge has a weight, a distance or both. A missing distance is the haversine distance of the two
stations' coordinates when both are known; an edge with a weight but no distance keeps a null
``distance_m`` (docs/data-format.md); an edge with neither makes :func:`finish_edges` raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import examples, suggest
from social_xlstm.data.format.geo import haversine_m
from social_xlstm.data.importers.common.endpoints import resolve_endpoints
from social_xlstm.data.importers.common.files import (
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
from social_xlstm.data.importers.common.stations import normalise_ids, read_stations, stations_for
from social_xlstm.errors import DataError, UserError

COST_UNITS = {"m": 1.0, "km": 1000.0, "mi": 1609.344}
"""Multipliers from an edge-list cost unit to metres."""
SRC_NAMES = ("src", "from", "origin_id", "source")
DST_NAMES = ("dst", "to", "destination_id", "target")
DISTANCE_NAMES = ("distance_m", "distance", "cost", "dist")
WEIGHT_NAMES = ("weight",)
EXPECTED = (
    "expected an edge list with a header (src|from, dst|to, then any of distance|cost and weight) "
    "or a square (N, N) weight matrix"
)


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
        raise DataError(f"{path}: adj_mx has shape {adj.shape}, expected ({len(ids)}, {len(ids)}) for {len(ids)} ids")
    order = sorted(((int(v), str(k)) for k, v in dict(id_to_ind).items()))
    if [k for _, k in order] != ids:
        raise DataError(f"{path}: sensor_id_to_ind does not agree with the order of sensor_ids")
    return ids, adj


def matrix_to_edges(adj: np.ndarray, ids: Sequence[str]) -> pd.DataFrame:
    """Non-zero, finite off-diagonal entries of an (N, N) weight matrix as ``src, dst, weight`` rows.

    ``adj[i, j]`` is read as the edge i -> j (DCRNN's convention). The diagonal is dropped: the graph
    code adds its own self loops.
    """
    adj = np.asarray(adj, dtype=np.float64)
    finite = np.where(np.isfinite(adj), adj, 0.0)
    np.fill_diagonal(finite, 0.0)
    src, dst = np.nonzero(finite)
    ids = np.asarray([str(i) for i in ids], dtype=object)
    return pd.DataFrame({"src": ids[src], "dst": ids[dst], "weight": finite[src, dst]})


def _names_edge_columns(cells: Sequence[str]) -> bool:
    names = {*SRC_NAMES, *DST_NAMES, *DISTANCE_NAMES, *WEIGHT_NAMES}
    return any(c.strip().lower() in names for c in cells)


def _is_header(cells: Sequence[str]) -> bool:
    """A first line is a header when it names an edge-list column or holds no number at all."""
    return _names_edge_columns(cells) or not any(map(is_number, cells))


def read_matrix(path: str | Path, ids: Sequence[str] | None = None) -> tuple[np.ndarray, list[str] | None]:
    """A dense (N, N) adjacency from CSV (optional header of ids), ``.npy``/``.npz`` or a pickle.

    Non-finite entries become 0 (no edge); negative entries are refused. A CSV's first line is a header
    when it holds text, or when it lists exactly ``ids`` (numeric sensor ids such as METR-LA's).

    Returns:
        ``(adj, ids)``; ``ids`` is None unless the file names them (CSV header, DCRNN pickle).
    """
    path = check_file(path, "adjacency file")
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle"):
        raw = load_pickle(path)
        ids = None
        if isinstance(raw, (list, tuple)) and len(raw) == 3:
            ids, adj = read_adjacency_pickle(path)
        else:
            adj = np.asarray(raw)
    elif suffix in (".npy", ".npz"):
        adj, ids = load_array(path), None
    else:
        cells = first_line(path)
        header = _is_header(cells) or (ids is not None and set(cells) == {str(i) for i in ids})
        frame = read_csv(path, header=header)
        adj = np.column_stack([to_float(frame[c], path, str(c)) for c in frame.columns])
        if header and adj.shape[0] != adj.shape[1]:
            raise DataError(
                f"{path}: the header {cells[:6]} names no src|from and dst|to columns, and the "
                f"{adj.shape[0]} x {adj.shape[1]} table under it is not a square matrix; {EXPECTED}"
            )
        ids = list(normalise_ids(pd.Series([str(c) for c in frame.columns]))) if header else None
    if not np.issubdtype(np.asarray(adj).dtype, np.number):
        raise DataError(f"{path}: adjacency holds {np.asarray(adj).dtype} values, not numbers; {EXPECTED}")
    adj = np.asarray(adj, dtype=np.float64)
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise DataError(f"{path}: an array of shape {adj.shape} is not a square (N, N) matrix; {EXPECTED}")
    negative = np.argwhere(adj < 0)
    if negative.size:
        row, col = negative[0]
        raise DataError(
            f"{path}: adjacency weights must be >= 0; {len(negative)} entries are negative, e.g. row {row}, "
            f"column {col}: {adj[row, col]}"
        )
    return np.where(np.isfinite(adj), adj, 0.0), ids


def _pick_column(path: Path, cols: list[str], names: Sequence[str], role: str) -> str | None:
    hits = [c for c in cols if c.strip().lower() in names]
    if len(hits) > 1:
        raise DataError(f"{path}: columns {hits} all name the {role}; keep one")
    return hits[0] if hits else None


def read_edge_list(
    path: str | Path,
    value: str = "auto",
    cost_unit: str = "m",
    ids: Sequence[str] | None = None,
    endpoints: str = "auto",
    base: int | None = None,
) -> pd.DataFrame:
    """Read an edge list by its header, e.g. ``from,to,cost`` or ``src,dst,distance,weight``.

    Args:
        path: CSV, TSV, blank-separated text or Parquet file (a headerless one of 2 or 3 columns is
            ``src dst [value]``).
        value: ``"auto"``: columns mean what their names say (a headerless value is a distance between
            ids, a weight between positions); ``"distance"`` or ``"weight"``: the only value column is
            that, whatever its name.
        cost_unit: unit of a ``distance|cost|dist`` column: ``m``, ``km`` or ``mi`` (``distance_m`` is
            always metres).
        ids: the VD order that positions refer to; None: endpoints are ids.
        endpoints: ``--edge-ids`` (:data:`~.endpoints.EDGE_IDS`), see :func:`~.endpoints.resolve_endpoints`.
        base: ``--edge-base``: 0 or 1 for positions; None finds it.

    Returns:
        Frame ``src, dst`` (str ids) and ``distance_m`` and/or ``weight``; endpoints only: weight 1;
        rows of weight 0 dropped (no edge).

    Raises:
        DataError: no endpoint columns, an unknown column, empty ids, values that are not finite
            numbers >= 0, a row with neither a distance nor a weight, positions out of range.
    """
    if cost_unit not in COST_UNITS:
        raise UserError(f"--cost-unit {cost_unit!r}: valid units are {list(COST_UNITS)}")
    path = check_file(path, "edges file")
    header = is_parquet(path) or _is_header(first_line(path))
    raw = read_table(path, string_cols=()) if header else read_csv(path, header=False)
    cols = [str(c) for c in raw.columns]
    raw.columns = cols
    if header:
        src_col = _pick_column(path, cols, SRC_NAMES, "source VD")
        dst_col = _pick_column(path, cols, DST_NAMES, "destination VD")
        if src_col is None or dst_col is None:
            missing = "|".join(SRC_NAMES if src_col is None else DST_NAMES)
            raise DataError(
                f"{path}: the header {cols[:8]} names no {missing} column{suggest(cols[0], list(SRC_NAMES))}; "
                f"{EXPECTED}; e.g.\n{examples(raw)}"
            )
        dist_col = _pick_column(path, cols, DISTANCE_NAMES, "distance")
        weight_col = _pick_column(path, cols, WEIGHT_NAMES, "weight")
        unknown = [c for c in cols if c not in (src_col, dst_col, dist_col, weight_col)]
        if unknown:
            raise DataError(
                f"{path}: column {unknown[0]!r} is not an edge-list column; value columns are named "
                f"{'|'.join(DISTANCE_NAMES)} (a distance) or weight{suggest(unknown[0], [*DISTANCE_NAMES, 'weight'])}"
            )
        if value != "auto" and (dist_col is None) != (weight_col is None):
            only = dist_col or weight_col
            dist_col, weight_col = (only, None) if value == "distance" else (None, only)
    else:
        if len(cols) not in (2, 3):
            raise DataError(f"{path}: {len(cols)} columns without a header; {EXPECTED}")
        src_col, dst_col = cols[0], cols[1]
        value_col = cols[2] if len(cols) == 3 else None
        dist_col, weight_col = (None, value_col) if value == "weight" else (value_col, None)
    out = pd.DataFrame({"src": normalise_ids(raw[src_col]), "dst": normalise_ids(raw[dst_col])})
    for col in (src_col, dst_col):
        empty = raw[col].isna().to_numpy()
        if empty.any():
            rows = np.flatnonzero(empty)
            raise DataError(f"{path}: column {col!r} has {rows.size} empty VD id(s), e.g.\n{examples(raw, rows)}")
    out, positions = resolve_endpoints(out, ids, path, endpoints, base)
    if positions and not header and value == "auto" and dist_col is not None:
        dist_col, weight_col = None, dist_col  # an adjacency written out as (i, j, a_ij)
    if dist_col is None and weight_col is None:
        out["weight"] = 1.0
        return out
    if weight_col is not None:
        out["weight"] = _values(raw, weight_col, path, allow_empty=False)
    if dist_col is not None:
        scale = 1.0 if dist_col.strip().lower() == "distance_m" else COST_UNITS[cost_unit]
        out["distance_m"] = _values(raw, dist_col, path, allow_empty=weight_col is not None) * scale
    if weight_col is not None:
        out = out[out["weight"] != 0]  # a published dense list writes every pair, 0 for no edge
    return out.reset_index(drop=True)


def _values(raw: pd.DataFrame, col: str, path: Path, allow_empty: bool) -> np.ndarray:
    """A value column as float64: finite and >= 0; empty cells only where ``allow_empty``."""
    vals = to_float(raw[col], path, col)
    bad = (np.isnan(vals) & ~allow_empty) | np.isinf(vals) | (vals < 0)
    if bad.any():
        raise DataError(
            f"{path}: column {col!r} must hold finite numbers >= 0"
            + ("" if allow_empty else " in every row")
            + f"; {int(bad.sum())} row(s) do not, e.g.\n{examples(raw, np.flatnonzero(bad))}"
        )
    return vals


def read_edges(
    path: str | Path,
    ids: Sequence[str] | None = None,
    value: str = "auto",
    cost_unit: str = "m",
    endpoints: str = "auto",
    base: int | None = None,
) -> pd.DataFrame:
    """Read a graph file: an edge list or a dense adjacency matrix (see the module docstring).

    A matrix without ids of its own takes ``ids`` (the VD order of the series), as T-GCN's ``los_adj.csv``
    follows the columns of ``los_speed.csv``.

    Returns:
        Frame ``src, dst`` and ``distance_m`` and/or ``weight``; self loops dropped.
    """
    path = check_file(path, "edges file")
    dense = path.suffix.lower() in (".npy", ".npz", ".pkl", ".pickle")
    if not dense and not is_parquet(path):
        first = first_line(path)
        # A header naming an edge-list column is an edge list (read_edge_list says which endpoint it lacks);
        # any other header must be a matrix's VD ids; a headerless table of 2 or 3 columns is an edge
        # list, of more a matrix (checked square below).
        dense = not _names_edge_columns(first) if _is_header(first) else len(first) > 3
        dense = dense or (ids is not None and set(first) == {str(i) for i in ids})
    if not dense:
        edges = read_edge_list(path, value, cost_unit, ids, endpoints, base)
        return edges[edges["src"] != edges["dst"]].reset_index(drop=True)
    adj, own_ids = read_matrix(path, ids)
    if own_ids is None:
        if ids is None:
            raise DataError(f"{path}: a dense adjacency matrix without ids needs the VD order of the series")
        own_ids = [str(i) for i in ids]
    if len(own_ids) != adj.shape[0]:
        raise DataError(
            f"{path}: adjacency matrix is {adj.shape[0]}x{adj.shape[1]} but there are {len(own_ids)} VDs "
            "(rows and columns follow the stations file, else the series' VD order)"
        )
    edges = matrix_to_edges(adj, own_ids)
    if value == "distance":
        edges = edges.rename(columns={"weight": "distance_m"})
        edges["distance_m"] *= COST_UNITS[cost_unit]
    return edges


def finish_edges(
    edges: pd.DataFrame, stations: pd.DataFrame, path: str | Path, drop_unknown: bool = False
) -> pd.DataFrame:
    """Check edge endpoints against the stations and fill ``distance_m`` where coordinates allow.

    A missing distance is the haversine distance of the endpoints' coordinates; an edge that has a
    weight keeps a null distance when an endpoint has no coordinates; an edge with neither raises.

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
                f"{path}: {int(unknown.sum())} edge(s) name VDs without a station or series, e.g. VD "
                f"{bad!r}{suggest(bad, sorted(known))} in\n{examples(edges, np.flatnonzero(unknown.to_numpy()))}\n"
                f"    the VDs are e.g. {sorted(known)[:5]}"
            )
    edges = edges.reset_index(drop=True)
    dup = edges.duplicated(["src", "dst"], keep=False)
    if dup.any():
        raise DataError(
            f"{path}: {int(dup.sum())} rows repeat an edge (src, dst), e.g.\n"
            f"{examples(edges, np.flatnonzero(dup.to_numpy()))}"
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
        weightless = ~edges["weight"].notna().to_numpy() if "weight" in edges else np.ones(len(edges), bool)
        lost = need & ~np.isfinite(dist) & weightless
        if lost.any():
            row = int(np.flatnonzero(lost)[0])
            raise DataError(
                f"{path}: edge {edges['src'].iloc[row]} -> {edges['dst'].iloc[row]} has no distance and no "
                f"weight, and its VDs have no coordinates ({int(lost.sum())} such edges); give a weight or "
                "distance column (src,dst,weight or src,dst,distance) or a stations file"
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
    edge_ids: str = "auto",
    edge_base: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Stations (in ``ids`` order) and finished edges from a stations file and/or a graph file.

    The options of :func:`~social_xlstm.data.importers.common.options.add_graph_arguments`: a dense matrix
    without ids of its own follows the stations file's order, else ``ids`` (a wide table's column order;
    the sorted VD ids of a long table).

    Args:
        ids: the VDs of the series, in their order (wide: columns; long: sorted).
        where: the series' file(s), for messages.
        stations: ``--stations`` file, or None.
        station_cols: ``--station-cols`` mapping ``{"vd_id"|"lat"|"lon": column}``.
        edges: ``--edges`` file, or None.
        edge_value: ``--edge-value`` (``auto``, ``distance``, ``weight``).
        cost_unit: ``--cost-unit``.
        edge_ids: ``--edge-ids`` (``auto``, ``id``, ``index``).
        edge_base: ``--edge-base`` (0, 1; None: found).
    """
    coords = read_stations(stations, station_cols) if stations else None
    graph = None
    if edges:
        order = coords["vd_id"].tolist() if coords is not None else list(ids)
        graph = read_edges(edges, order, edge_value, cost_unit, edge_ids, edge_base)
    table = stations_for(ids, coords, graph, where)
    if graph is not None:
        graph = finish_edges(graph, table, edges)
    return table, graph

"""Importer for the PEMS03/04/07/08 releases of ASTGCN / STSGCN (format ``pems``).

Source files (in SRC, or a directory holding them):

* ``PEMS0X.npz`` with the array ``data`` of shape (T, N, C): C = 3 is (flow, occupancy, speed), C = 1 is
  flow (PEMS03, PEMS07). No timestamps inside.
* ``PEMS0X.csv``: the graph as ``from,to,cost`` (PEMS03: ``from,to,distance``), read by its header: a
  ``weight`` column (``from,to,weight`` or ``from,to,cost,weight``) is kept as the edge weight, and a
  weights-only graph is valid. Endpoints are row indices 0..N-1, except in PEMS03 whose endpoints are
  sensor ids.
* ``PEMS03.txt`` (``--ids``, or found next to the npz): one sensor id per line, line i = row i of the array.
  Without an id file the VD ids are the row indices ``"0".."N-1"``.

No coordinates are published: stations get null lat/lon and the graph file is required. The edge cost is
taken as a road distance in ``--cost-unit`` (default metres; the releases do not state the unit); a
headerless third column is a cost too.

Time: ``--start`` is the local wall-clock time of row 0 in ``--tz`` (default America/Los_Angeles);
defaults per dataset (from the papers): PEMS03 2018-09-01, PEMS04 2018-01-01, PEMS07 2017-05-01,
PEMS08 2016-07-01. Rows are ``--freq`` (5min) apart in absolute time.

Units (Caltrans PeMS): flow veh/5min, occupancy fraction (0..1), speed mph.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.endpoints import resolve_endpoints
from social_xlstm.data.importers.common.files import check_file, expand_sources, load_array, pick_file
from social_xlstm.data.importers.common.graphs import finish_edges, read_edge_list
from social_xlstm.data.importers.common.options import (
    add_cost_unit_argument,
    check_zero_is_missing,
    parse_freq,
    parse_list,
)
from social_xlstm.data.importers.common.stations import stations_for
from social_xlstm.data.importers.common.times import parse_start, regular_times
from social_xlstm.data.importers.common.writing import CALTRANS_UNITS, wide_to_long
from social_xlstm.errors import DataError, UserError

DEFAULT_STARTS = {
    "PEMS03": "2018-09-01",
    "PEMS04": "2018-01-01",
    "PEMS07": "2017-05-01",
    "PEMS08": "2016-07-01",
}
DEFAULT_TZ = "America/Los_Angeles"
CHANNELS = {3: ["flow", "occupancy", "speed"], 1: ["flow"]}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest pems``."""
    parser.add_argument("--ids", metavar="FILE", help="sensor id per array row, one per line (PEMS03.txt)")
    parser.add_argument(
        "--start",
        default=None,
        help="local time of row 0 (default by dataset name: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_STARTS.items())
        + ")",
    )
    parser.add_argument("--freq", default="5min", help="interval between rows (default: 5min)")
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of --start (default: {DEFAULT_TZ})")
    parser.add_argument(
        "--variables", default=None, help="names of the C channels, comma separated (default: by C, see docs)"
    )
    add_cost_unit_argument(parser, "the graph's cost")
    parser.add_argument(
        "--zero-is-missing",
        default="",
        help="variables whose 0 means no reading, comma separated (default: none)",
    )


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`import_pems` with the parsed options."""
    files = expand_sources(sources)
    return import_pems(
        pick_file(files, "series", "*.npz"),
        out,
        graph=pick_file(files, "graph", "*.csv", required=False),
        ids_file=args.ids or pick_file(files, "sensor ids", "*.txt", required=False),
        start=args.start,
        freq=args.freq,
        tz=args.tz,
        variables=parse_list(args.variables) or None,
        cost_unit=args.cost_unit,
        zero_is_missing=parse_list(args.zero_is_missing),
        overwrite=args.overwrite,
    )


def dataset_name(path: str | Path) -> str | None:
    """``PEMS04`` from ``.../pems04.npz``, or None when the name is not a PEMS0X name."""
    hit = re.search(r"pems0?([3478])", Path(path).stem, flags=re.IGNORECASE)
    return f"PEMS0{hit.group(1)}" if hit else None


def read_ids(path: str | Path) -> list[str]:
    """Sensor ids, one per line (blank lines ignored)."""
    path = check_file(path, "id file")
    ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: sensor ids repeat (e.g. {pd.Series(ids)[pd.Series(ids).duplicated()].iloc[0]!r})")
    return ids


def import_pems(
    npz: str | Path,
    out: str | Path,
    *,
    graph: str | Path | None,
    ids_file: str | Path | None = None,
    start: str | None = None,
    freq: str | Freq = "5min",
    tz: str = DEFAULT_TZ,
    variables: list[str] | None = None,
    cost_unit: str = "m",
    zero_is_missing: Sequence[str] = (),
    overwrite: bool = False,
) -> Path:
    """Convert a PEMS0X release to a canonical dataset.

    Args:
        npz: ``PEMS0X.npz`` holding ``data`` (T, N, C).
        out: output dataset directory.
        graph: ``PEMS0X.csv`` edge list (required: there are no coordinates).
        ids_file: sensor id per row of the array (PEMS03.txt).
        start: local time of row 0 (default by dataset name).
        freq: interval between rows.
        tz: time zone of ``start``.
        variables: names of the C channels (default flow/occupancy/speed for C=3, flow for C=1).
        cost_unit: unit of the graph's cost column.
        zero_is_missing: variables whose 0 means "no reading".
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory.
    """
    name = dataset_name(npz)
    if start is None:
        if name is None:
            raise UserError(f"{npz}: not a PEMS03/04/07/08 file name, so there is no default start: pass --start")
        start = DEFAULT_STARTS[name]
    start_ts = parse_start(start)
    freq = parse_freq(freq)
    data = load_array(npz, "data")
    if data.ndim == 2:
        data = data[:, :, None]  # (T, N) -> (T, N, 1)
    if data.ndim != 3:
        raise DataError(f"{npz}: array 'data' must be (T, N, C), got shape {data.shape}")
    n_time, n_vd, n_chan = data.shape
    if variables is None:
        if n_chan not in CHANNELS:
            raise DataError(f"{npz}: {n_chan} channels; name them with --variables (e.g. flow,occupancy,speed)")
        variables = CHANNELS[n_chan]
    if len(variables) != n_chan:
        raise UserError(f"--variables names {len(variables)} channels but {npz} has {n_chan}")
    if not np.issubdtype(data.dtype, np.number):
        raise DataError(f"{npz}: array 'data' has dtype {data.dtype}, expected numbers")
    ids = read_ids(ids_file) if ids_file is not None else [str(i) for i in range(n_vd)]
    if len(ids) != n_vd:
        raise DataError(f"{ids_file}: {len(ids)} ids but {npz} has N = {n_vd} sensors")
    if graph is None:
        raise DataError(f"{npz}: PEMS0X has no coordinates, so the graph file (PEMS0X.csv, from,to,cost) is required")
    edges = _index_edges(read_edge_list(graph, cost_unit=cost_unit), ids, graph)
    stations = stations_for(ids, None, edges, npz)
    edges = finish_edges(edges[edges["src"] != edges["dst"]], stations, graph)
    units = {v: CALTRANS_UNITS.get(v, "unknown") for v in variables}
    zero_is_missing = check_zero_is_missing(zero_is_missing, variables)
    meta = DatasetMeta(
        name=(name or Path(npz).stem).lower(),
        freq=freq,
        variables=units,
        timezone=tz,
        source=f"ASTGCN/STSGCN release {Path(npz).name} (Caltrans PeMS); start {start} assumed",
        licence="public research benchmark (Caltrans PeMS data); no explicit licence",
        zero_is_missing=zero_is_missing,
    )
    times = regular_times(start_ts, n_time, freq, tz)
    observations = wide_to_long(data, times, ids, variables)  # (T, N, C)
    return write_dataset(out, observations, stations, meta, edges, overwrite=overwrite)


def _index_edges(edges: pd.DataFrame, ids: list[str], path: str | Path) -> pd.DataFrame:
    """Map edge endpoints to VD ids: kept when they are ids (PEMS03), else read as 0-based row indices."""
    known = set(ids)
    if edges["src"].isin(known).all() and edges["dst"].isin(known).all():
        return edges
    return resolve_endpoints(edges, ids, path, "index", base=0)[0]

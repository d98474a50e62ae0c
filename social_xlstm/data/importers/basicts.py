"""Importer for BasicTS processed dataset folders (format ``basicts``).

What is assumed about BasicTS (github.com/GestaltCogTeam/BasicTS; its files carry no timestamps):

* Older layout: ``data.dat``, a raw float32 ``numpy.memmap`` of shape (L, N, C), and ``desc.json`` with
  ``"shape": [L, N, C]``, ``"feature_description"`` (one entry per channel, e.g. ``["traffic speed",
  "time of day", "day of week"]``), ``"frequency (minutes)"`` and ``"name"``.
* Newer layout: ``train_data.npy``, ``val_data.npy``, ``test_data.npy``, each (L_i, N, C) or (L_i, N),
  consecutive in time in that order, and ``meta.json`` with the same kind of keys (``shape`` is not needed).
* ``adj_mx.pkl``: DCRNN's ``[sensor_ids, sensor_id_to_ind, adj_mx]`` (METR-LA, PEMS-BAY: gives the VD ids)
  or a bare (N, N) matrix (PEMS0x: VD ids are then the row indices ``"0".."N-1"``).
* Channels whose description names a calendar feature (time of day, day of week/month/year) are
  BasicTS's own features, not data: they are dropped, after being used to check ``--start`` (the time of
  day / day of week of row 0 must agree with them). The remaining channels are the variables; without
  descriptions only channel 0 (BasicTS's target feature) is kept.

Time: ``--start`` is the local wall-clock time of row 0 (default by dataset name: METR-LA 2012-03-01,
PEMS-BAY 2017-01-01, PEMS03/04/07/08 as the ``pems`` format), rows ``frequency (minutes)`` apart in absolute
time, ``--tz`` America/Los_Angeles.

Graph and distances: the adjacency gives weights, which cannot be turned back into road distances, so
``distance_m`` comes from ``--distances`` (an edge list ``from,to,cost`` in metres, e.g. the original
``PEMS0X.csv`` or DCRNN's ``distances_*.csv``) or from the coordinates in ``--stations``. Without either,
the graph is the weights alone (``distance_m`` null), as BasicTS publishes it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.files import check_file, expand_sources, load_array, pick_file, read_json
from social_xlstm.data.importers.common.graphs import finish_edges, matrix_to_edges, read_edge_list, read_matrix
from social_xlstm.data.importers.common.options import parse_freq, parse_list
from social_xlstm.data.importers.common.stations import read_stations, stations_for
from social_xlstm.data.importers.common.times import parse_start, regular_times
from social_xlstm.data.importers.common.writing import CALTRANS_UNITS, wide_to_long
from social_xlstm.data.importers.pems import DEFAULT_STARTS as PEMS_STARTS
from social_xlstm.errors import DataError, UserError

DEFAULT_TZ = "America/Los_Angeles"
DEFAULT_STARTS = {"METR-LA": "2012-03-01", "PEMS-BAY": "2017-01-01", **PEMS_STARTS}
CALENDAR = ("time of day", "day of week", "day of month", "day of year")
SPLITS = ("train", "val", "test")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest basicts``."""
    parser.add_argument("--start", default=None, help="local time of row 0 (default by dataset name, see docs)")
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of --start (default: {DEFAULT_TZ})")
    parser.add_argument("--freq", default=None, help="interval between rows (default: from desc.json/meta.json)")
    parser.add_argument("--variables", default=None, help="names of the kept data channels, comma separated")
    parser.add_argument("--stations", metavar="FILE", help="coordinates per VD (edge distances by haversine)")
    parser.add_argument("--distances", metavar="FILE", help="road distances from,to,cost in metres")


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`import_basicts` with the parsed options."""
    return import_basicts(
        expand_sources(sources),
        out,
        start=args.start,
        tz=args.tz,
        freq=args.freq,
        variables=parse_list(args.variables) or None,
        stations=args.stations,
        distances=args.distances,
        overwrite=args.overwrite,
    )


def read_series(files: list[Path]) -> tuple[np.ndarray, dict, Path]:
    """The (L, N, C) array and the description of a BasicTS folder (either layout).

    Returns:
        ``(data, desc, path)``: a read-only memmap or array, the desc/meta dict, and the data file (messages).
    """
    dat = pick_file(files, "data", "data.dat", required=False)
    if dat is not None:
        desc_path = pick_file(files, "description", "desc.json")
        desc = read_json(desc_path)
        shape = desc.get("shape")
        if not (isinstance(shape, list) and len(shape) in (2, 3) and all(isinstance(s, int) for s in shape)):
            raise DataError(f"{desc_path}: key 'shape' must be [L, N, C]; got {shape!r}")
        expected = int(np.prod(shape)) * 4
        size = check_file(dat).stat().st_size
        if size != expected:
            raise DataError(
                f"{dat}: {size} bytes but desc.json's shape {shape} as float32 needs {expected}: truncated or corrupt"
            )
        data = np.memmap(dat, dtype=np.float32, mode="r", shape=tuple(shape))
        return (data if data.ndim == 3 else data[:, :, None]), desc, dat  # (L, N, C)
    parts = [pick_file(files, f"{s} split", f"{s}_data.npy") for s in SPLITS]
    desc = read_json(pick_file(files, "description", "meta.json", "desc.json"))
    arrays = [load_array(p) for p in parts]
    arrays = [a[:, :, None] if a.ndim == 2 else a for a in arrays]  # (L_i, N) -> (L_i, N, 1)
    for path, arr in zip(parts, arrays, strict=True):
        if arr.ndim != 3 or arr.shape[1:] != arrays[0].shape[1:]:
            raise DataError(f"{path}: shape {arr.shape} does not match {parts[0].name}'s {arrays[0].shape} in (N, C)")
    return np.concatenate(arrays, axis=0), desc, parts[0]  # (L, N, C)


def _variable_name(description: str) -> str:
    text = description.lower().replace("traffic", "").strip()
    for name in ("flow", "speed", "occupancy"):
        if name in text or (name == "occupancy" and "occup" in text):
            return name
    return re.sub(r"\W+", "_", text).strip("_") or "value"


def _check_calendar(data: np.ndarray, channels: list[str], start: pd.Timestamp, freq: Freq, path: Path) -> None:
    """Compare BasicTS's time-of-day / day-of-week channels at node 0 with the grid from ``start``."""
    steps = min(len(data), 2016)
    wall = pd.date_range(start, periods=steps, freq=freq.delta)  # naive wall clock, as BasicTS computed them
    expected = {
        "time of day": ((wall - wall.normalize()) / pd.Timedelta(days=1)).to_numpy(),
        "day of week": wall.dayofweek.to_numpy(dtype=float),
    }
    for c, desc in enumerate(channels):
        if desc not in expected:
            continue
        got = np.asarray(data[:steps, 0, c], dtype=np.float64)
        want = expected[desc]
        ok = np.allclose(got, want, atol=1e-3) or (desc == "day of week" and np.allclose(got, want / 7, atol=1e-3))
        if not ok:
            row = int(np.flatnonzero(~np.isclose(got, want, atol=1e-3))[0])
            raise DataError(
                f"{path}: channel {c} ({desc}) disagrees with --start {start} at row {row} "
                f"(file {got[row]:.4f}, expected {want[row]:.4f}); pass the right --start"
            )


def import_basicts(
    files: list[Path],
    out: str | Path,
    *,
    start: str | None = None,
    tz: str = DEFAULT_TZ,
    freq: str | Freq | None = None,
    variables: list[str] | None = None,
    stations: str | Path | None = None,
    distances: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert a BasicTS dataset folder to a canonical dataset (see the module docstring for assumptions).

    Args:
        files: the folder's files (``data.dat`` + ``desc.json`` or ``*_data.npy`` + ``meta.json``;
            ``adj_mx.pkl``).
        out: output dataset directory.
        start: local time of row 0 (default by dataset name).
        tz: time zone.
        freq: interval between rows (default from the description).
        variables: names of the kept data channels.
        stations: coordinates per VD.
        distances: road distances ``from,to,cost`` in metres.
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory.
    """
    data, desc, path = read_series(files)
    n_time, n_vd, n_chan = data.shape
    name = str(desc.get("name") or path.parent.name)
    described = [str(d).lower() for d in desc.get("feature_description") or []]
    if described and len(described) != n_chan:
        raise DataError(f"{path}: {n_chan} channels but feature_description lists {len(described)}")
    keep = [c for c, d in enumerate(described) if not any(k in d for k in CALENDAR)] if described else [0]
    if variables is None:
        variables = [_variable_name(described[c]) for c in keep] if described else ["value"]
    if len(variables) != len(keep):
        raise UserError(f"--variables names {len(variables)} channels but {path} has {len(keep)} data channels")
    if freq is None:
        minutes = desc.get("frequency (minutes)") or desc.get("frequency")
        if minutes is None:
            raise DataError(f"{path}: no 'frequency (minutes)' in the description; pass --freq")
        freq = Freq.parse(f"{int(minutes)}min", f"{path}: description 'frequency (minutes)'", DataError)
    freq = parse_freq(freq)
    if start is None:
        key = name.upper().replace("_", "-")
        if key not in DEFAULT_STARTS:
            raise UserError(f"{path}: dataset {name!r} has no known start date; pass --start")
        start = DEFAULT_STARTS[key]
    start_ts = parse_start(start)
    if described:
        _check_calendar(data, described, start_ts, freq, path)
    pkl = pick_file(files, "adjacency", "adj_mx*.pkl", "*.pkl", required=False)
    edges, ids = None, [str(i) for i in range(n_vd)]
    if pkl is not None:
        adj, pkl_ids = read_matrix(pkl)
        if adj.shape[0] != n_vd:
            raise DataError(f"{pkl}: adjacency is {adj.shape[0]}x{adj.shape[0]} but {path} has N = {n_vd}")
        ids = pkl_ids or ids
        edges = matrix_to_edges(adj, ids)
    coords = read_stations(stations) if stations is not None else None
    station_table = stations_for(ids, coords, edges, path)
    if edges is not None:
        if distances is not None:
            road = read_edge_list(distances, value="distance")
            road = road.drop_duplicates(["src", "dst"])
            edges = edges.merge(road[["src", "dst", "distance_m"]], on=["src", "dst"], how="left")
        edges = finish_edges(edges, station_table, pkl)
    meta = DatasetMeta(
        name=name.lower(),
        freq=freq,
        variables={v: CALTRANS_UNITS.get(v, "unknown") for v in variables},
        timezone=tz,
        source=f"BasicTS processed dataset {name} ({path.name}); start {start} assumed",
        licence="as the original dataset (public research benchmark); BasicTS code Apache-2.0",
        zero_is_missing=[v for v in variables if v == "speed" and name.upper() in ("METR-LA", "PEMS-BAY")],
    )
    times = regular_times(start_ts, n_time, freq, tz)
    # Only the data channels travel on; wide_to_long copies ROWS_PER_PART rows of the memmap at a time.
    values = data if keep == list(range(n_chan)) else _Channels(data, keep)  # (L, N, len(keep))
    observations = wide_to_long(values, times, ids, variables)
    return write_dataset(out, observations, station_table, meta, edges, overwrite=overwrite)


class _Channels:
    """A lazy channel selection of a (L, N, C) memmap: slicing rows reads only those rows."""

    def __init__(self, data: np.ndarray, keep: list[int]) -> None:
        self.data, self.keep = data, keep
        self.shape = (data.shape[0], data.shape[1], len(keep))

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(self.data[rows])[:, :, self.keep]  # (t, N, len(keep))

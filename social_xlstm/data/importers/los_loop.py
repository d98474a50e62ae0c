"""Importer for T-GCN's los-loop release (``los_speed.csv`` + ``los_adj.csv``).

What the files are (checked on the real release, see ``shared/data/los-loop/README.md``):

* ``los_speed.csv``: header row = 207 METR-LA sensor ids, then one row per 5-minute step of speed (mph),
  **no timestamp column** (already gap-filled: no zeros, no NaN).
* ``los_adj.csv``: dense 207 x 207 weighted adjacency, no header, rows/columns in the order of the speed
  columns (symmetric, Gaussian-kernel weights, diagonal 1).
* Coordinates are not in the release; they come from DCRNN's ``graph_sensor_locations.csv`` (``--locations``),
  matched on sensor id (los-loop's columns are METR-LA sensor ids). Without ``--locations`` the graph is
  the weights alone (null coordinates and distances; edge features ``is_self, weight``).

Timestamps: ``--start`` (default ``2012-03-01 00:00``, local time in ``--tz`` America/Los_Angeles; the week
start is inferred from the data, not published) and ``--freq`` (default ``5min``), regular in absolute time.

Edges: every non-zero off-diagonal entry of the adjacency becomes an edge with its ``weight``; its
``distance_m`` is the haversine distance between the two sensors when ``--locations`` gives them, else null:
a Gaussian-kernel weight cannot be turned back into a distance (the kernel's sigma and threshold are not
published).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.files import check_file, expand_sources, pick_file, read_csv, to_float
from social_xlstm.data.importers.common.graphs import finish_edges, matrix_to_edges, read_matrix
from social_xlstm.data.importers.common.options import parse_freq
from social_xlstm.data.importers.common.stations import normalise_ids, read_stations, stations_for
from social_xlstm.data.importers.common.times import parse_start, regular_times
from social_xlstm.data.importers.common.writing import wide_to_long
from social_xlstm.errors import DataError

DEFAULT_START = "2012-03-01 00:00"
DEFAULT_FREQ = "5min"
DEFAULT_TZ = "America/Los_Angeles"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest los-loop``."""
    parser.add_argument(
        "--locations",
        metavar="FILE",
        help=(
            "sensor coordinates, e.g. DCRNN's graph_sensor_locations.csv "
            "(index,sensor_id,latitude,longitude); edge distances and bearings are computed from them "
            "(without it the graph is the weights alone)"
        ),
    )
    parser.add_argument("--start", default=DEFAULT_START, help=f"local time of row 0 (default: {DEFAULT_START})")
    parser.add_argument("--freq", default=DEFAULT_FREQ, help=f"interval between rows (default: {DEFAULT_FREQ})")
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of --start (default: {DEFAULT_TZ})")


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`import_los_loop` with the parsed options."""
    files = expand_sources(sources)
    return import_los_loop(
        pick_file(files, "speed", "*speed*.csv"),
        pick_file(files, "adjacency", "*adj*.csv"),
        out,
        locations=args.locations,
        start=args.start,
        freq=args.freq,
        tz=args.tz,
        overwrite=args.overwrite,
    )


def import_los_loop(
    speed_csv: str | Path,
    adj_csv: str | Path,
    out: str | Path,
    *,
    locations: str | Path | None = None,
    start: str = DEFAULT_START,
    freq: str | Freq = DEFAULT_FREQ,
    tz: str = DEFAULT_TZ,
    overwrite: bool = False,
) -> Path:
    """Convert los-loop to a canonical dataset.

    Args:
        speed_csv: ``los_speed.csv`` (header of sensor ids, T rows of mph).
        adj_csv: ``los_adj.csv`` (N x N weights, no header, column order of ``speed_csv``).
        out: output dataset directory.
        locations: stations file with the sensors' coordinates (None: a weights-only graph).
        start: local wall-clock time of the first row.
        freq: interval between rows.
        tz: time zone of the road network.
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory. Shapes: observations T*N rows (T rows of the CSV, N sensor columns).
    """
    freq = parse_freq(freq)
    start_ts = parse_start(start)
    speed_csv = check_file(speed_csv, "speed file")
    frame = read_csv(speed_csv)
    ids = list(normalise_ids(frame.columns))
    dup = [i for i in set(ids) if ids.count(i) > 1]
    if dup:
        raise DataError(f"{speed_csv}: header names sensor {dup[0]!r} twice")
    values = np.column_stack([to_float(frame[c], speed_csv, str(c)) for c in frame.columns])  # (T, N)
    adj, _ = read_matrix(adj_csv)  # (N, N), rows and columns in the order of the speed columns
    if adj.shape[0] != len(ids):
        raise DataError(f"{adj_csv}: adjacency is {adj.shape[0]}x{adj.shape[1]} but {speed_csv} has {len(ids)} sensors")
    raw_edges = matrix_to_edges(adj, ids)
    stations = read_stations(locations) if locations is not None else None
    if stations is not None:
        missing = sorted(set(ids) - set(stations["vd_id"]))
        if missing:
            raise DataError(
                f"{locations}: {len(missing)} sensors of {speed_csv} have no coordinates (e.g. {missing[:3]}); "
                f"the locations file has ids such as {stations['vd_id'].head(3).tolist()}"
            )
    stations = stations_for(ids, stations, raw_edges, speed_csv)
    edges = finish_edges(raw_edges, stations, adj_csv)
    times = regular_times(start_ts, len(values), freq, tz)
    meta = DatasetMeta(
        name="los-loop",
        freq=freq,
        variables={"speed": "mph"},
        timezone=tz,
        source="T-GCN los-loop (github.com/lehaifeng/T-GCN data/los_speed.csv, los_adj.csv), "
        f"a gap-filled one-week slice of METR-LA; start {start} assumed",
        licence="research use; no explicit licence (METR-LA public benchmark)",
        zero_is_missing=[],
    )
    observations = wide_to_long(values[:, :, None], times, ids, ["speed"])  # (T, N, 1)
    return write_dataset(out, observations, stations, meta, edges, overwrite=overwrite)

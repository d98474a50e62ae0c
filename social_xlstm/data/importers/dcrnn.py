"""Importer for the DCRNN releases of METR-LA and PEMS-BAY (formats ``metr-la`` and ``pems-bay``).

Source files (given one by one in SRC, or as a directory holding them), recognised by name/extension:

* ``*.h5``: pandas HDF5 of a wide DataFrame: a naive DatetimeIndex at 5 minutes in local time (Los Angeles
  / Bay Area), one column per sensor id, speed in mph, ``0.0`` = no reading (recorded as
  ``zero_is_missing: ["speed"]``; the zeros are kept as they are). Reading needs PyTables (``tables``).
* ``graph_sensor_locations*.csv``: ``index,sensor_id,latitude,longitude`` (METR-LA) or headerless
  ``sensor_id,latitude,longitude`` (PEMS-BAY).
* ``*.pkl``: ``[sensor_ids, sensor_id_to_ind, adj_mx]`` (Python 2 pickle, read with ``encoding="latin1"``);
  ``adj_mx[i, j]`` is the weight of the edge i -> j (thresholded Gaussian kernel of road distance).
* ``distances*.csv``: ``from,to,cost`` road distances in metres (header in the LA file, none in the Bay one).

Graph: with a pickle, its non-zero off-diagonal entries are the edges (``weight``); their ``distance_m`` is
the road distance from ``distances*.csv`` when given, else the haversine distance of the coordinates.
Without a pickle, the distance file's pairs among the series' sensors are the edges. With neither, no
``edges.parquet`` is written (the graph then comes from coordinates).

Time: the naive timestamps are localised to ``--tz`` and stored in UTC. The releases are regular 5-minute
grids that ignore daylight saving, so they contain the hour skipped when clocks go forward (METR-LA
2012-03-11 02:00-02:55, PEMS-BAY 2017-03-12): those 12 rows per year do not exist in local time and are
dropped with a warning (``--dst-gap drop``, default) or rejected (``--dst-gap raise``). A wall-clock time
that occurs twice (clocks going back) is read as daylight time on its first and standard time on its
second occurrence.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.files import expand_sources, pick_file, to_float
from social_xlstm.data.importers.common.graphs import (
    finish_edges,
    matrix_to_edges,
    read_adjacency_pickle,
    read_edge_list,
)
from social_xlstm.data.importers.common.hdf5 import read_h5
from social_xlstm.data.importers.common.stations import normalise_ids, read_stations, stations_for
from social_xlstm.data.importers.common.times import check_freq, localise
from social_xlstm.data.importers.common.writing import wide_to_long
from social_xlstm.errors import DataError

DEFAULT_TZ = "America/Los_Angeles"
SOURCES = {
    "metr-la": "DCRNN release (github.com/liyaguang/DCRNN): metr-la.h5, LA County loop detectors, 2012",
    "pems-bay": "DCRNN release (github.com/liyaguang/DCRNN): pems-bay.h5, Caltrans PeMS Bay Area, 2017",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest metr-la|pems-bay``."""
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of the naive timestamps (default: {DEFAULT_TZ})")
    parser.add_argument(
        "--dst-gap",
        choices=("drop", "raise"),
        default="drop",
        help=("rows at local times skipped by daylight saving: drop them with a warning, or fail (default: drop)"),
    )
    parser.add_argument("--key", default=None, help="HDF5 key of the table (default: the only one in the file)")


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry of ``metr-la`` and ``pems-bay`` (``args.format``): :func:`import_dcrnn` with the options."""
    files = expand_sources(sources)
    h5 = pick_file(files, "HDF5 series", "*.h5", "*.hdf5", "*.hdf")
    return import_dcrnn(
        h5,
        out,
        name=args.format,
        locations=pick_file(files, "locations", "*locations*.csv", required=False),
        adjacency=pick_file(files, "adjacency pickle", "*.pkl", "*.pickle", required=False),
        distances=pick_file(files, "distances", "*distances*.csv", required=False),
        tz=args.tz,
        dst_gap=args.dst_gap,
        key=args.key,
        overwrite=args.overwrite,
    )


def index_to_utc(
    index: pd.DatetimeIndex, tz: str, path: str | Path, dst_gap: str
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """UTC times of an HDF5 table's index: an aware index converted, a naive one localised to ``tz``.

    Returns:
        ``(utc_times, keep)`` as :func:`~social_xlstm.data.importers.common.times.localise`.
    """
    if index.tz is not None:
        return index.tz_convert("UTC"), np.ones(len(index), dtype=bool)
    return localise(index, tz, path, column="index", gap=dst_gap)


def import_dcrnn(
    h5: str | Path,
    out: str | Path,
    *,
    name: str = "metr-la",
    locations: str | Path | None = None,
    adjacency: str | Path | None = None,
    distances: str | Path | None = None,
    tz: str = DEFAULT_TZ,
    dst_gap: str = "drop",
    key: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert a DCRNN release (METR-LA or PEMS-BAY) to a canonical dataset.

    Args:
        h5: the speed table (``metr-la.h5`` / ``pems-bay.h5``).
        out: output dataset directory.
        name: dataset name written to ``dataset.json``.
        locations: ``graph_sensor_locations*.csv`` (else a graph: ``adjacency``/``distances``).
        adjacency: ``adj_mx*.pkl``.
        distances: ``distances_*.csv`` (``from,to,cost`` in metres).
        tz: time zone of the naive timestamps.
        dst_gap: ``"drop"`` or ``"raise"`` for rows at non-existent local times (see module docstring).
        key: HDF5 key.
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory (observations: T*N rows, speed in mph).
    """
    frame = read_h5(h5, key)
    ids = list(normalise_ids(frame.columns))
    if len(set(ids)) != len(ids):
        raise DataError(f"{h5}: sensor ids repeat among the columns")
    if frame.index.has_duplicates:
        raise DataError(f"{h5}: duplicate timestamps in the index (e.g. {frame.index[frame.index.duplicated()][0]})")
    times, keep = index_to_utc(frame.index, tz, h5, dst_gap)
    values = np.column_stack([to_float(frame[c], h5, str(c)) for c in frame.columns])[keep]  # (T, N)
    stations = read_stations(locations) if locations is not None else None
    edges = _graph(ids, adjacency, distances)
    stations = stations_for(ids, stations, edges, h5)
    if edges is not None:
        edges = finish_edges(edges, stations, adjacency or distances)
    meta = DatasetMeta(
        name=name,
        freq=check_freq(times, h5, None, column="index"),
        variables={"speed": "mph"},
        timezone=tz,
        source=SOURCES.get(name, "DCRNN release (github.com/liyaguang/DCRNN)"),
        licence=("graph files MIT (c) 2017 Yaguang Li; speed data: public research benchmark, no explicit licence"),
        zero_is_missing=["speed"],
    )
    observations = wide_to_long(values[:, :, None], times, ids, ["speed"])  # (T, N, 1)
    return write_dataset(out, observations, stations, meta, edges, overwrite=overwrite)


def _graph(ids: list[str], adjacency: str | Path | None, distances: str | Path | None) -> pd.DataFrame | None:
    """Edges from the pickle and/or the distance file (see the module docstring)."""
    road = None
    if distances is not None:
        road = read_edge_list(distances, value="distance", cost_unit="m")
        known = set(ids)
        road = road[road["src"].isin(known) & road["dst"].isin(known) & (road["src"] != road["dst"])]
        road = road.drop_duplicates(["src", "dst"]).reset_index(drop=True)
    if adjacency is None:
        return road
    pkl_ids, adj = read_adjacency_pickle(adjacency)
    extra = sorted(set(pkl_ids) - set(ids))
    if extra:
        raise DataError(
            f"{adjacency}: {len(extra)} sensors of the adjacency are not columns of the series (e.g. {extra[:3]})"
        )
    edges = matrix_to_edges(adj, pkl_ids)
    if road is not None:
        edges = edges.merge(road[["src", "dst", "distance_m"]], on=["src", "dst"], how="left")
    return edges

"""Importer for the LargeST release (format ``largest``; github.com/liuxu77/LargeST, Kaggle ``liuxu77/largest``).

What the files are (LargeST's README and processing notebooks; CA, or its subsets GLA, GBA, SD):

* ``<name>_his_<year>.h5``: a pandas HDF5 table (key ``t``; any single key is accepted, ``--key`` names
  one), index = naive local timestamps (PeMS, Pacific time), 5 minutes apart, or 15 minutes after the
  optional ``resample('15T').mean()`` step; columns = sensor IDs (ints or strings); values = traffic flow.
  Several years (``--years`` in LargeST) are several files, concatenated in time order.
* ``<name>_meta.csv``: one row per sensor, ``ID, Lat, Lng, District, County, Fwy, Lane, Type, Direction,
  ID2`` (``ID2`` is the row in CA's matrix, used to cut the subsets).
* ``<name>_rn_adj.npy``: a dense (N, N) float adjacency built from road-network distances, rows and
  columns in the order of the meta file; 0 = no edge, the diagonal non-zero (the self loop).

Produces: ``flow`` in veh/5min (the 15-minute resampling averages 5-minute counts, so the unit stays
veh/5min), stations with ``road`` = Fwy, ``direction`` = Direction, ``lanes`` = Lane;
edges with the adjacency's ``weight`` and a haversine ``distance_m``. The VD order is the meta file's.

Zeros: LargeST's notebook fills missing readings with 0 (``fillna(0)``) before writing the ``.h5``, but a 0
is also a real count on a quiet road at night; zeros are kept as readings unless ``--zero-is-missing flow``.

Time: the naive index is localised to ``--tz`` (America/Los_Angeles) as in the DCRNN importer; the
regular grid holds the hour skipped by daylight saving, dropped with a warning (``--dst-gap drop``).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import require_columns
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.files import check_file, expand_sources, pick_file, read_csv, to_float
from social_xlstm.data.importers.common.graphs import finish_edges, matrix_to_edges, read_matrix
from social_xlstm.data.importers.common.hdf5 import read_h5
from social_xlstm.data.importers.common.options import check_zero_is_missing, parse_list
from social_xlstm.data.importers.common.stations import normalise_ids
from social_xlstm.data.importers.common.times import check_freq
from social_xlstm.data.importers.common.writing import CALTRANS_UNITS, wide_to_long
from social_xlstm.data.importers.dcrnn import index_to_utc
from social_xlstm.errors import DataError

DEFAULT_TZ = "America/Los_Angeles"
META_COLUMNS = ("ID", "Lat", "Lng")
STATION_COLUMNS = {"Fwy": "road", "Direction": "direction", "Lane": "lanes"}
"""Optional meta columns and the station columns they become."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest largest``."""
    parser.add_argument("--tz", default=DEFAULT_TZ, help=f"time zone of the naive timestamps (default: {DEFAULT_TZ})")
    parser.add_argument(
        "--dst-gap",
        choices=("drop", "raise"),
        default="drop",
        help="rows at local times skipped by daylight saving: drop them with a warning, or fail (default: drop)",
    )
    parser.add_argument("--key", default=None, help="HDF5 key of the table (default: the only one; LargeST: t)")
    parser.add_argument(
        "--zero-is-missing",
        default="",
        help="'flow' to read LargeST's zeros as missing (its notebook fills gaps with 0); default: readings",
    )


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`import_largest` with the files found in SRC."""
    files = expand_sources(sources)
    series = sorted(f for f in files if re.search(r"_his_.*\.h5$", f.name))
    if not series:
        raise DataError(f"no LargeST series file (<name>_his_<year>.h5) among {[str(f) for f in files]}")
    return import_largest(
        series,
        pick_file(files, "meta", "*_meta.csv"),
        out,
        adjacency=pick_file(files, "adjacency", "*_rn_adj.npy", "*adj*.npy", required=False),
        tz=args.tz,
        dst_gap=args.dst_gap,
        key=args.key,
        zero_is_missing=parse_list(args.zero_is_missing),
        overwrite=args.overwrite,
    )


def read_meta_csv(path: str | Path) -> pd.DataFrame:
    """``<name>_meta.csv`` -> stations ``vd_id, lat, lon [, road, direction, lanes, name]`` in file order."""
    path = check_file(path, "meta file")
    frame = read_csv(path, string_cols=["ID", "Fwy", "Direction"])
    require_columns(path, frame.columns, META_COLUMNS)
    stations = pd.DataFrame({"vd_id": normalise_ids(frame["ID"])})
    stations["lat"] = to_float(frame["Lat"], path, "Lat")
    stations["lon"] = to_float(frame["Lng"], path, "Lng")
    for col, name in STATION_COLUMNS.items():
        if col in frame:
            stations[name] = frame[col].to_numpy()
    dup = stations["vd_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)[:3].tolist()
        raise DataError(f"{path}: column 'ID' repeats sensor {stations['vd_id'][dup].iloc[0]!r} (rows {rows})")
    return stations


def import_largest(
    series: list[str | Path],
    meta: str | Path,
    out: str | Path,
    *,
    adjacency: str | Path | None = None,
    tz: str = DEFAULT_TZ,
    dst_gap: str = "drop",
    key: str | None = None,
    zero_is_missing: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Convert a LargeST (sub-)dataset to a canonical dataset.

    Args:
        series: ``<name>_his_<year>.h5`` files (one per year), concatenated in time order.
        meta: ``<name>_meta.csv``.
        out: output dataset directory.
        adjacency: ``<name>_rn_adj.npy`` (rows in meta order); None: the graph comes from coordinates.
        tz: time zone of the naive timestamps.
        dst_gap: ``"drop"`` or ``"raise"`` for rows at non-existent local times.
        key: HDF5 key (default: the only one).
        zero_is_missing: ``["flow"]`` to read zeros as missing.
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory (observations: T*N rows of flow).
    """
    stations = read_meta_csv(meta)
    ids = stations["vd_id"].tolist()
    frames = []
    for path in series:
        frame = read_h5(path, key)
        frame.columns = list(normalise_ids(pd.Series([str(c) for c in frame.columns])))
        unknown = sorted(set(frame.columns) - set(ids))
        absent = [i for i in ids if i not in set(frame.columns)]
        if unknown or absent:
            raise DataError(
                f"{path}: the columns must be the sensors of {meta}: {len(unknown)} column(s) are not in it "
                f"(e.g. {unknown[:3]}), {len(absent)} sensor(s) of it have no column (e.g. {absent[:3]})"
            )
        frames.append(frame[ids])
    frame = pd.concat(frames) if len(frames) > 1 else frames[0]
    frame = frame.sort_index(kind="stable")
    if frame.index.has_duplicates:
        raise DataError(
            f"{series[0]}: duplicate timestamps across the series files (e.g. "
            f"{frame.index[frame.index.duplicated()][0]}); give each year once"
        )
    times, keep = index_to_utc(frame.index, tz, series[0], dst_gap)
    where = Path(series[0])
    values = np.column_stack([to_float(frame[c], where, str(c)) for c in ids])[keep]  # (T, N)
    edges = None
    if adjacency is not None:
        adj, _ = read_matrix(adjacency)
        if adj.shape[0] != len(ids):
            raise DataError(
                f"{adjacency}: adjacency is {adj.shape[0]}x{adj.shape[1]} but {meta} lists {len(ids)} sensors "
                "(rows and columns follow the meta file)"
            )
        edges = finish_edges(matrix_to_edges(adj, ids), stations, adjacency)
    meta_out = DatasetMeta(
        name=re.sub(r"_meta$", "", Path(meta).stem).lower(),
        freq=check_freq(times, where, None, column="index"),
        variables={"flow": CALTRANS_UNITS["flow"]},
        timezone=tz,
        source=f"LargeST release (github.com/liuxu77/LargeST): {', '.join(Path(s).name for s in series)}",
        licence="CC BY-NC 4.0 (LargeST dataset); Caltrans PeMS data",
        zero_is_missing=check_zero_is_missing(zero_is_missing or [], ["flow"]),
    )
    observations = wide_to_long(values[:, :, None], times, ids, ["flow"])  # (T, N, 1)
    return write_dataset(out, observations, stations, meta_out, edges, overwrite=overwrite)

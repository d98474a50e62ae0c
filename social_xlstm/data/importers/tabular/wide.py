"""``ingest wide``: one table of a time column + one column per VD -> a canonical dataset.

The table is a CSV (or blank/tab separated text), a Parquet file, or a pandas HDF5 store of a wide
DataFrame (``key`` where it holds several). The time column is ``time_col``, else a column named
timestamp/time/datetime/date/date_time, else the first column; a DatetimeIndex (Parquet, HDF5) also works.
Every other column is a VD whose cells hold the one variable; empty cells are missing. Options and their
rules: :mod:`.tabular`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import require_columns
from social_xlstm.data.format.schema import check_variable_names
from social_xlstm.data.importers.common.files import check_file, read_table, to_float
from social_xlstm.data.importers.common.hdf5 import HDF5_SUFFIXES, read_h5
from social_xlstm.data.importers.common.kinds import file_kind
from social_xlstm.data.importers.common.stations import normalise_ids
from social_xlstm.data.importers.common.times import check_freq, to_utc
from social_xlstm.data.importers.common.writing import wide_to_long
from social_xlstm.data.importers.tabular.options import TableOptions
from social_xlstm.errors import DataError, UserError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "date_time")


def import_wide(
    path: str | Path,
    out: str | Path,
    *,
    time_col: str | None = None,
    variable: str = "value",
    unit: str = "unknown",
    key: str | None = None,
    **options,
) -> Path:
    """Convert a wide table (a time column + one column per VD) to a canonical dataset.

    Args:
        path: CSV, Parquet or pandas HDF5 file (by its first bytes or its ``.h5``/``.hdf5`` name).
        out: output dataset directory.
        time_col: the time column (default: found by name, else the first column).
        variable: name of the variable the cells hold.
        unit: its unit.
        key: the table of an HDF5 file that holds several (``/speed``); None: its only one.
        options: the keywords of :class:`~.options.TableOptions` (time zone, interval, stations, edges,
            name, licence, overwrite, ...), shared with the long importer.

    Returns:
        The dataset directory. Shapes: the (T, N) table becomes T*N observation rows.
    """
    check_variable_names([variable], "--variable")
    opts = TableOptions.of("import_wide", options)
    freq = opts.interval
    path = check_file(path)
    if file_kind(path) == "HDF5" or path.suffix.lower() in HDF5_SUFFIXES:
        frame = read_h5(path, key)
    elif key is not None:
        raise UserError(f"--key {key!r}: only an HDF5 table has keys; {path} is not HDF5")
    else:
        frame = read_table(path, string_cols=[time_col] if time_col else ())
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=time_col or "timestamp")
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    if time_col is None:
        time_col = next((c for c in cols if c.lower() in TIME_NAMES), cols[0])
    require_columns(path, cols, [time_col], "--time-col")
    vd_cols = [c for c in cols if c != time_col]
    if not vd_cols:
        raise DataError(f"{path}: no VD columns besides the time column {time_col!r}")
    ids = list(normalise_ids(pd.Series(vd_cols)))
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: VD column names repeat")
    utc, keep = to_utc(frame[time_col], path, time_col, tz=opts.tz, dst_gap=opts.dst_gap)
    if utc.has_duplicates:
        row = int(np.flatnonzero(np.asarray(utc.duplicated()))[0])
        raise DataError(
            f"{path}: column {time_col!r}: duplicate timestamp {utc[row]} (row {np.flatnonzero(keep)[row]})"
        )
    values = np.column_stack([to_float(frame[c], path, c) for c in vd_cols])[keep]  # (T, N)
    freq = check_freq(utc, path, freq, column=time_col)
    observations = wide_to_long(values[:, :, None], utc, ids, [variable])  # (T, N, 1)
    return opts.write(out, observations, ids, path, path.stem, freq, {variable: unit})

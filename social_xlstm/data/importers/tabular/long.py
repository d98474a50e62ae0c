"""``ingest long``: tables with one row per (timestamp, VD) -> a canonical dataset.

CSV sources are read whole into memory (convert a CSV larger than a few million rows to Parquet first);
when every source is Parquet the import streams in bounded memory (:mod:`.stream`). Both paths
give the same dataset and the same errors. Options and their rules: :mod:`.tabular`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import check_duplicates, require_columns
from social_xlstm.data.format.schema import ID_COL, TIME_COL
from social_xlstm.data.importers.common.files import check_file, column_names, is_parquet, read_table, to_float
from social_xlstm.data.importers.common.stations import normalise_ids
from social_xlstm.data.importers.common.times import check_freq
from social_xlstm.data.importers.tabular.options import TableOptions
from social_xlstm.data.importers.tabular.stream import KeyColumns, check_joined_ids, stream_long
from social_xlstm.errors import DataError, UserError


def import_long(
    files: Sequence[str | Path],
    out: str | Path,
    *,
    time_col: str,
    id_cols: list[str],
    value_cols: dict[str, str],
    units: dict[str, str] | None = None,
    stream: bool | None = None,
    **options,
) -> Path:
    """Convert long tables (one row per timestamp and VD) to a canonical dataset.

    Args:
        files: CSV/Parquet files with the same columns, concatenated.
        out: output dataset directory.
        time_col: timestamp column.
        id_cols: VD id column(s); several are joined with ``-``.
        value_cols: variable name -> source column.
        units: variable name -> unit (default ``"unknown"``).
        stream: stream the sources (:mod:`.stream`); None (default) streams when every file is
            Parquet.
        options: the keywords of :class:`~.options.TableOptions` (time zone, interval, stations, edges,
            name, licence, overwrite, ...), shared with the wide importer.

    Returns:
        The dataset directory.
    """
    opts = TableOptions.of("import_long", options)
    freq = opts.interval
    units = units or {}
    stray = [u for u in units if u not in value_cols]
    if stray:
        raise UserError(f"--units names {stray[0]!r}, which is not in --value-cols ({list(value_cols)})")
    files = [Path(f) for f in files]
    for path in files:
        check_file(path)
        require_columns(path, column_names(path), [time_col, *id_cols, *value_cols.values()])
    if stream is None:
        stream = all(map(is_parquet, files))
    if stream and not all(map(is_parquet, files)):
        raise UserError(f"streaming reads Parquet only; {next(f for f in files if not is_parquet(f))} is not")
    where = files[0] if len(files) == 1 else Path(f"{files[0]} (+{len(files) - 1} files)")
    keys = KeyColumns(time_col, list(id_cols), opts.tz, opts.dst_gap)
    if stream:
        table, freq, vd_ids = stream_long(files, keys, value_cols, freq, where)
    else:
        table = _read_long(files, keys, value_cols)
        check_duplicates(table, where)
        freq = check_freq(table[TIME_COL], where, freq, column=time_col)
        vd_ids = sorted(table[ID_COL].unique())
    return opts.write(out, table, vd_ids, where, files[0].stem, freq, {v: units.get(v, "unknown") for v in value_cols})


def _read_long(files: list[Path], keys: KeyColumns, value_cols: dict[str, str]) -> pd.DataFrame:
    """The in-memory path: every file read whole with pandas, checked and concatenated."""
    parts, joined = [], {}
    for path in files:
        wanted = [keys.time_col, *keys.id_cols, *value_cols.values()]
        frame = read_table(path, list(dict.fromkeys(wanted)), string_cols=[keys.time_col, *keys.id_cols])
        id_parts = pd.DataFrame({col: normalise_ids(frame[col]) for col in keys.id_cols})
        if len(keys.id_cols) > 1:
            check_joined_ids(id_parts, str(path), joined)
        ids = id_parts[keys.id_cols[0]]
        for col in keys.id_cols[1:]:
            ids = ids + "-" + id_parts[col]
        empty = frame[keys.id_cols].isna().any(axis=1).to_numpy() | (ids == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{path}: column(s) {keys.id_cols} hold an empty VD id at row {row}")
        utc, keep = keys.to_utc(frame[keys.time_col], path, ids)
        table = pd.DataFrame({TIME_COL: utc, ID_COL: ids[keep].to_numpy()})
        for name, col in value_cols.items():
            table[name] = to_float(frame[col], path, col)[keep]
        check_duplicates(table, path, rows=np.flatnonzero(keep))
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]

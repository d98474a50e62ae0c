"""Stream the observation rows of a dataset onto the regular (time step, VD) grid, checking every row.

The observations are the one part of a dataset that may not fit in memory, so they are read as record
batches of a few columns (``vd_id`` kept dictionary-encoded, as stored, so that each distinct id is
looked up once). :func:`iter_observations` maps every row to its time index ``(timestamp - first) //
freq`` and its VD index and checks it on the way: null keys, VDs without a station, timestamps off the
grid, and duplicate ``(timestamp, vd_id)`` pairs within and across files (one byte per grid cell, see
:class:`~social_xlstm.data.checks.CellGrid`). The reader's row check and the panel loader both consume
this stream, so they report the same errors.

The grid starts at the first observation: :func:`scan_time_range` takes (first, last) from the Parquet
row-group statistics when every row group has them, else from one pass over the timestamp column.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from social_xlstm.data.checks import MAX_EXAMPLES, CellGrid, examples, repeated_rows
from social_xlstm.data.consistency import data_spacing
from social_xlstm.data.schema import ID_COL, STATIONS, TIME_COL
from social_xlstm.errors import DataError

if TYPE_CHECKING:
    from social_xlstm.data.reader import Dataset

BATCH_ROWS = 1 << 20
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass
class ObservationBatch:
    """One record batch of observations mapped onto the panel grid."""

    path: Path
    """File the rows come from."""
    time_index: np.ndarray
    """(R,) int64 index into the regular time grid."""
    vd_index: np.ndarray
    """(R,) int64 index into ``Dataset.stations``."""
    values: list[np.ndarray]
    """One (R,) float32 array per requested variable (NaN where null)."""


def unreadable(path: Path, err: Exception) -> DataError:
    """The message for a Parquet file that pyarrow cannot open or decode."""
    return DataError(f"{path}: cannot read Parquet file, is it truncated or corrupt? ({err})")


def open_parquet(path: Path, read_dictionary: Sequence[str] | None = None) -> pq.ParquetFile:
    """``pq.ParquetFile`` of ``path``; a truncated or corrupt file raises :class:`DataError`."""
    try:
        return pq.ParquetFile(path, read_dictionary=read_dictionary)
    except (pa.ArrowException, OSError) as err:
        raise unreadable(path, err) from err


def read_batches(path: Path, columns: Sequence[str], batch_size: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` from one Parquet file; read errors become :class:`DataError`."""
    pfile = open_parquet(path, read_dictionary=[ID_COL] if ID_COL in columns else None)
    try:
        yield from pfile.iter_batches(batch_size=batch_size, columns=list(columns))
    except (pa.ArrowException, OSError) as err:
        raise unreadable(path, err) from err


def _frame(batch: pa.RecordBatch, row0: int, columns: Sequence[str] = (TIME_COL, ID_COL)) -> pd.DataFrame:
    """A batch as a DataFrame indexed by row number in its file (for error messages)."""
    return batch.select(list(columns)).to_pandas().set_axis(row0 + np.arange(batch.num_rows))


def _key_column(path: Path, batch: pa.RecordBatch, row0: int, name: str) -> pa.Array:
    """A key column of a batch; nulls raise, showing the rows' keys."""
    col = batch.column(name)
    if col.null_count:
        rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
        keys = [c for c in (TIME_COL, ID_COL) if c in batch.schema.names]
        raise DataError(
            f"{path}: column {name!r} has {col.null_count} null value(s), e.g. rows\n"
            f"{examples(_frame(batch, row0, keys), rows)}"
        )
    return col


def _time_ns(path: Path, batch: pa.RecordBatch, row0: int) -> np.ndarray:
    """(R,) int64 UTC nanoseconds of a batch's timestamp column; nulls raise."""
    col = _key_column(path, batch, row0, TIME_COL)
    return col.cast(pa.int64()).to_numpy() * _UNIT_NS[col.type.unit]


def _stats_time_range(path: Path) -> tuple[int, int] | None:
    """(min, max) UTC ns of a file's timestamps from the Parquet row-group statistics, or None if absent."""
    pfile = open_parquet(path)
    meta = pfile.metadata
    unit = _UNIT_NS[pfile.schema_arrow.field(TIME_COL).type.unit]
    lo, hi = None, None
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        if group.num_rows == 0:
            continue
        col = next(
            (group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == TIME_COL),
            None,
        )
        stats = None if col is None or col.physical_type != "INT64" else col.statistics
        if stats is None or not stats.has_min_max or not stats.has_null_count or stats.null_count:
            return None  # no usable statistics (or nulls, which the full read reports)
        lo = stats.min_raw * unit if lo is None else min(lo, stats.min_raw * unit)
        hi = stats.max_raw * unit if hi is None else max(hi, stats.max_raw * unit)
    return None if lo is None else (lo, hi)


def scan_time_range(files: Sequence[Path]) -> tuple[int, int]:
    """(first, last) observation timestamp of ``files`` as UTC nanoseconds since the epoch."""
    first, last = None, None
    for path in files:
        from_stats = _stats_time_range(path)
        if from_stats is not None:
            first = from_stats[0] if first is None else min(first, from_stats[0])
            last = from_stats[1] if last is None else max(last, from_stats[1])
            continue
        row0 = 0
        for batch in read_batches(path, [TIME_COL]):
            if batch.num_rows:
                ns = _time_ns(path, batch, row0)
                lo, hi = int(ns.min()), int(ns.max())
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
            row0 += batch.num_rows
    if first is None:
        raise DataError(f"{files[0].parent}: observations have no rows")
    return first, last


def iter_observations(
    dataset: Dataset, variables: Sequence[str] = (), batch_size: int = BATCH_ROWS
) -> Iterator[ObservationBatch]:
    """Stream all observation rows mapped onto the (time step, VD) grid, checking every row.

    Raises :class:`DataError` for null keys, VDs missing from the stations, timestamps off the regular grid
    and duplicate ``(timestamp, vd_id)`` pairs (within and across files).

    Args:
        dataset: from :func:`~social_xlstm.data.reader.load_dataset`.
        variables: value columns to return (each as float32, NaN where null).
        batch_size: rows per record batch; bounds the transient memory.

    Yields:
        One :class:`ObservationBatch` per record batch.
    """
    first, last = dataset.time_range_ns()
    freq = dataset.meta.freq
    grid = CellGrid(first, last, freq, len(dataset.stations), dataset.root)
    station_index = pd.Index(dataset.vd_ids)
    columns = [TIME_COL, ID_COL, *variables]
    for path in dataset.observation_files:
        row0 = 0
        for batch in read_batches(path, columns, batch_size):
            if batch.num_rows == 0:
                continue
            offset = _time_ns(path, batch, row0) - first
            off_grid = np.flatnonzero(offset % freq.ns)
            if off_grid.size:
                spacing = data_spacing(offset)
                raise DataError(
                    f"{path}: column {TIME_COL!r}: {off_grid.size} timestamp(s) off the regular "
                    f"{freq} grid starting {pd.Timestamp(first, tz='UTC')} (irregular sampling, or "
                    f"dataset.json 'freq' {freq.alias!r} is coarser than the data: these rows lie on a "
                    f"{spacing} grid), e.g.\n{examples(_frame(batch, row0), off_grid)}"
                )
            time_index = offset // freq.ns
            if time_index.min() < 0 or time_index.max() >= grid.num_steps:
                raise DataError(
                    f"{path}: column {TIME_COL!r}: timestamps outside the range given by the "
                    "file statistics; the Parquet metadata is inconsistent, rewrite the file"
                )
            vd_index = _vd_index(path, batch, row0, station_index)
            _check_duplicates(path, batch, row0, grid.cells(time_index, vd_index), grid)
            values = []
            for var in variables:
                col = batch.column(var)
                if not pa.types.is_float32(col.type):
                    col = pc.cast(col, pa.float32(), safe=False)
                values.append(col.fill_null(np.nan).to_numpy(zero_copy_only=False))
            yield ObservationBatch(path, time_index, vd_index, values)
            row0 += batch.num_rows


def _vd_index(path: Path, batch: pa.RecordBatch, row0: int, station_index: pd.Index) -> np.ndarray:
    col = _key_column(path, batch, row0, ID_COL)
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    # Look up each distinct id once, then broadcast through the dictionary codes.
    lookup = station_index.get_indexer(col.dictionary.to_pylist())
    vd_index = lookup[col.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    unknown = np.flatnonzero(vd_index < 0)
    if unknown.size:
        names = pd.unique(np.asarray(col.dictionary.to_pylist(), dtype=object)[lookup < 0])
        raise DataError(
            f"{path}: column {ID_COL!r}: {len(names)} VD(s) have no row in {STATIONS} "
            f"({', '.join(map(str, names[:MAX_EXAMPLES]))}{', ...' if len(names) > MAX_EXAMPLES else ''}), "
            f"e.g. rows\n{examples(_frame(batch, row0), unknown)}"
        )
    return vd_index


def _check_duplicates(path: Path, batch: pa.RecordBatch, row0: int, cell: np.ndarray, grid: CellGrid) -> None:
    repeat = repeated_rows(cell)
    if repeat.size:
        rows = np.flatnonzero(np.isin(cell, cell[repeat]))
        raise DataError(
            f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {repeat.size} duplicate "
            f"(timestamp, vd_id) row(s), e.g.\n{examples(_frame(batch, row0), rows)}"
        )
    again = grid.mark(cell)
    if again.size:
        raise DataError(
            f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {again.size} (timestamp, vd_id) pair(s) "
            f"already seen in an earlier batch or file (duplicates), e.g.\n"
            f"{examples(_frame(batch, row0), again)}"
        )

"""Parquet primitives of the observation files: open, read in record batches, key columns, time range.

Every pyarrow failure on a file becomes one :class:`~social_xlstm.errors.DataError` naming it, so the
reader, the row stream (:mod:`.observations`) and the panel loader never catch library exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from social_xlstm.data.format.checks import examples
from social_xlstm.data.format.schema import ID_COL, TIME_COL
from social_xlstm.errors import DataError

BATCH_ROWS = 1 << 20
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


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


def rows_frame(batch: pa.RecordBatch, row0: int, columns: Sequence[str] = (TIME_COL, ID_COL)) -> pd.DataFrame:
    """A batch as a DataFrame indexed by row number in its file (for error messages)."""
    return batch.select(list(columns)).to_pandas().set_axis(row0 + np.arange(batch.num_rows))


def key_column(path: Path, batch: pa.RecordBatch, row0: int, name: str) -> pa.Array:
    """A key column of a batch; nulls raise, showing the rows' keys."""
    col = batch.column(name)
    if col.null_count:
        rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
        keys = [c for c in (TIME_COL, ID_COL) if c in batch.schema.names]
        raise DataError(
            f"{path}: column {name!r} has {col.null_count} null value(s), e.g. rows\n"
            f"{examples(rows_frame(batch, row0, keys), rows)}"
        )
    return col


def time_ns(path: Path, batch: pa.RecordBatch, row0: int) -> np.ndarray:
    """(R,) int64 UTC nanoseconds of a batch's timestamp column; nulls raise."""
    col = key_column(path, batch, row0, TIME_COL)
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
                ns = time_ns(path, batch, row0)
                lo, hi = int(ns.min()), int(ns.max())
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
            row0 += batch.num_rows
    if first is None:
        raise DataError(f"{files[0].parent}: observations have no rows")
    return first, last

"""Stream the observation rows of a dataset onto the regular (time step, VD) grid, checking every row.

The observations are the one part of a dataset that may not fit in memory, so they are read as record
batches of a few columns (``vd_id`` kept dictionary-encoded, as stored, so that each distinct id is
looked up once). :func:`iter_observations` maps every row to its time index ``(timestamp - first) //
freq`` and its VD index and checks it on the way: null keys, VDs without a station, timestamps off the
grid, and duplicate ``(timestamp, vd_id)`` pairs within and across files (one byte per grid cell, see
:class:`~social_xlstm.data.format.checks.CellGrid`). The reader's row check and the panel loader both consume
this stream, so they report the same errors.

The grid starts at the first observation: :func:`~.parquet.scan_time_range` takes (first, last) from the Parquet
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

from social_xlstm.data.format.checks import MAX_EXAMPLES, CellGrid, examples, repeated_rows
from social_xlstm.data.format.consistency import data_spacing
from social_xlstm.data.format.parquet import BATCH_ROWS, key_column, read_batches, rows_frame, time_ns
from social_xlstm.data.format.schema import ID_COL, STATIONS, TIME_COL
from social_xlstm.errors import DataError

if TYPE_CHECKING:
    from social_xlstm.data.format.dataset import Dataset


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


def iter_observations(
    dataset: Dataset, variables: Sequence[str] = (), batch_size: int = BATCH_ROWS
) -> Iterator[ObservationBatch]:
    """Stream all observation rows mapped onto the (time step, VD) grid, checking every row.

    Raises :class:`DataError` for null keys, VDs missing from the stations, timestamps off the regular grid
    and duplicate ``(timestamp, vd_id)`` pairs (within and across files).

    Args:
        dataset: from :func:`~social_xlstm.data.format.reader.load_dataset`.
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
            offset = time_ns(path, batch, row0) - first
            off_grid = np.flatnonzero(offset % freq.ns)
            if off_grid.size:
                spacing = data_spacing(offset)
                raise DataError(
                    f"{path}: column {TIME_COL!r}: {off_grid.size} timestamp(s) off the regular "
                    f"{freq} grid starting {pd.Timestamp(first, tz='UTC')} (irregular sampling, or "
                    f"dataset.json 'freq' {freq.alias!r} is coarser than the data: these rows lie on a "
                    f"{spacing} grid), e.g.\n{examples(rows_frame(batch, row0), off_grid)}"
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
    col = key_column(path, batch, row0, ID_COL)
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
            f"e.g. rows\n{examples(rows_frame(batch, row0), unknown)}"
        )
    return vd_index


def _check_duplicates(path: Path, batch: pa.RecordBatch, row0: int, cell: np.ndarray, grid: CellGrid) -> None:
    repeat = repeated_rows(cell)
    if repeat.size:
        rows = np.flatnonzero(np.isin(cell, cell[repeat]))
        raise DataError(
            f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {repeat.size} duplicate "
            f"(timestamp, vd_id) row(s), e.g.\n{examples(rows_frame(batch, row0), rows)}"
        )
    again = grid.mark(cell)
    if again.size:
        raise DataError(
            f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {again.size} (timestamp, vd_id) pair(s) "
            f"already seen in an earlier batch or file (duplicates), e.g.\n"
            f"{examples(rows_frame(batch, row0), again)}"
        )

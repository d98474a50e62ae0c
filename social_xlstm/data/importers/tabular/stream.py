"""``ingest long`` from Parquet sources in bounded memory: two passes over the files, in pieces.

Pass 1 reads only the time and id columns, at most :data:`STREAM_ROWS` rows at a time: the distinct
timestamps (for the frequency check) and the distinct VD ids (for the stations). Pass 2 converts every
piece (timestamps to UTC, ids to strings as :func:`~social_xlstm.data.importers.common.stations.normalise_ids`
makes them, values to float32), checks it for duplicate ``(timestamp, vd_id)`` against one byte per cell
of the (time step, VD) grid (:class:`~social_xlstm.data.format.checks.CellGrid`), and yields canonical tables of
about :data:`STREAM_ROWS` rows, which the writer stores as ``observations/part-*.parquet``. Peak memory is
the grid (T * N bytes) plus a few pieces, independent of the number of rows.

Text or naive times are parsed per piece by the in-memory path's parser (offsets, ``--tz``, DST), so both
paths accept the same files and give the same errors; row numbers in messages count within the piece
named by its label.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from social_xlstm.data.format.checks import CellGrid, duplicate_error, repeated_rows
from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import ID_COL, TIME_COL, TIME_TYPE
from social_xlstm.data.importers.common.files import to_float
from social_xlstm.data.importers.common.stations import normalise_ids
from social_xlstm.data.importers.common.times import check_freq, to_utc
from social_xlstm.data.importers.common.writing import ROWS_PER_PART
from social_xlstm.errors import DataError

STREAM_ROWS = ROWS_PER_PART
"""Rows converted at a time when streaming Parquet, and the size of the observation parts written."""


@dataclass(frozen=True)
class KeyColumns:
    """Where a long table keeps its keys and how to read its times."""

    time_col: str
    """The timestamp column."""
    id_cols: list[str]
    """The VD id column(s); several are joined with ``-``."""
    tz: str | None
    """Zone of naive timestamps (``--tz``); None when every timestamp carries an offset."""
    dst_gap: str
    """``"raise"`` or ``"drop"`` for naive times in the hour skipped by daylight saving."""

    def to_utc(self, values: pd.Series, path: str | Path, keys: pd.Series | None):
        """:func:`~social_xlstm.data.importers.common.times.to_utc` of a time column with these options."""
        return to_utc(values, path, self.time_col, tz=self.tz, dst_gap=self.dst_gap, keys=keys)


def stream_long(
    files: list[Path], keys: KeyColumns, value_cols: dict[str, str], freq: Freq | None, where: Path
) -> tuple[pa.Table | Iterator[pa.Table], Freq, list[str]]:
    """The observations of Parquet ``files``: ``(table or parts, interval, sorted VD ids)``.

    One table when everything fits in one part (written as a single ``observations.parquet``), else an
    iterator of parts.
    """
    stamps, vd_ids, num_rows = _scan_keys(files, keys)
    freq = check_freq(stamps, where, freq, column=keys.time_col)
    parts = _stream_parts(files, stamps, vd_ids, freq, keys, value_cols, where)
    return (pa.concat_tables(list(parts)) if num_rows <= STREAM_ROWS else parts), freq, vd_ids


def _pieces(path: Path, columns: Sequence[str]) -> Iterator[tuple[str, pa.Table]]:
    """``(label, table)``: ``columns`` of one Parquet file in pieces of at most :data:`STREAM_ROWS` rows.

    ``label`` names the file, and the row range when the file is split, so that the row numbers in
    messages (counted within the piece) can be found. ``ParquetFile.iter_batches`` rather than a
    ``pyarrow.dataset`` scanner: the scanner reads ahead while the pieces are converted, which held
    2 GiB on a 52-million-row file even with its read-ahead options at 0; this reader holds one batch.
    """
    columns = list(dict.fromkeys(columns))
    try:
        source = pq.ParquetFile(path)
        total = source.metadata.num_rows
        if total == 0:
            raise DataError(f"{path}: no data rows")
        if total <= STREAM_ROWS:
            yield str(path), source.read(columns=columns)
            return
        row0 = 0
        for batch in source.iter_batches(batch_size=STREAM_ROWS, columns=columns):
            label = f"{path} (rows {row0} to {row0 + batch.num_rows - 1}, counted from 0)"
            yield label, pa.Table.from_batches([batch])
            row0 += batch.num_rows
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file, truncated or corrupt ({err})") from err


def _column(piece: pa.Table, name: str) -> pa.Array:
    column = piece.column(name)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _id_parts(piece: pa.Table, id_cols: list[str]) -> Iterator[pa.Array]:
    """Each id column as strings, as :func:`normalise_ids` makes them, normalising each distinct id once."""
    for col in id_cols:
        raw = _column(piece, col)
        codes = raw if pa.types.is_dictionary(raw.type) else pc.dictionary_encode(raw)
        names = normalise_ids(codes.dictionary.to_pandas()).to_numpy(dtype=object)
        yield pa.array(names, type=pa.string()).take(codes.indices)


def check_joined_ids(parts: pd.DataFrame, label: str, seen: dict[str, tuple]) -> None:
    """Refuse two different id tuples that join to one id (("A-B", "1") and ("A", "B-1") are both "A-B-1").

    Args:
        parts: the normalised id columns, one row per source row (or per distinct tuple).
        seen: each joined id met so far (in any file) -> the tuple it came from; updated.

    Raises:
        DataError: naming both tuples and ``label``.
    """
    for row in parts.drop_duplicates().itertuples(index=False):
        if any(not isinstance(p, str) for p in row):
            continue  # an empty id: the caller names it
        joined = "-".join(row)
        first = seen.setdefault(joined, tuple(row))
        if first != tuple(row):
            raise DataError(
                f"{label}: the id columns {list(parts.columns)} join two different detectors into one VD id "
                f"{joined!r}: {first} and {tuple(row)}; give each detector one id column, or ids without '-'"
            )


def _piece_ids(piece: pa.Table, label: str, id_cols: list[str], joined: dict[str, tuple] | None = None) -> pa.Array:
    """VD ids as strings, as :func:`normalise_ids` makes them, normalising each distinct id once.

    With ``joined`` (several id columns, the first pass), the distinct id tuples go through
    :func:`check_joined_ids` with it.
    """
    ids, empty = None, np.zeros(piece.num_rows, dtype=bool)
    parts = list(_id_parts(piece, id_cols))
    if joined is not None and len(id_cols) > 1:
        distinct = pa.table(dict(zip(id_cols, parts, strict=True))).group_by(id_cols).aggregate([])
        check_joined_ids(distinct.to_pandas(), label, joined)
    for part in parts:
        empty |= part.is_null().to_numpy(zero_copy_only=False)
        empty |= pc.equal(part.fill_null("-"), "").to_numpy(zero_copy_only=False)
        ids = part if ids is None else pc.binary_join_element_wise(ids, part, "-")
    if empty.any():
        raise DataError(f"{label}: column(s) {id_cols} hold an empty VD id at row {int(np.flatnonzero(empty)[0])}")
    return ids


def _piece_keys(
    piece: pa.Table, label: str, keys: KeyColumns, joined: dict[str, tuple] | None = None
) -> tuple[pa.Array, pa.Array, np.ndarray | None]:
    """``(utc, ids, kept)`` of a piece: UTC timestamps and ids of the kept rows, and the kept row numbers
    (None when every row is kept; rows in the hour skipped by DST go with ``--dst-gap drop``); ``joined``
    as in :func:`_piece_ids`."""
    ids = _piece_ids(piece, label, keys.id_cols, joined)
    times = _column(piece, keys.time_col)
    if pa.types.is_timestamp(times.type) and times.type.tz is not None:
        # Zoned Arrow timestamps hold UTC instants already: a cast, no pandas.
        if times.null_count:
            row = int(np.flatnonzero(times.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{label}: column {keys.time_col!r} has empty timestamps (e.g. row {row})")
        return times.cast(TIME_TYPE), ids, None
    utc, keep = keys.to_utc(times.to_pandas(), label, pd.Series(ids.to_pandas(), dtype=object))
    kept = None if keep.all() else np.flatnonzero(keep)
    if kept is not None:
        ids = ids.take(pa.array(kept))
    return pa.array(utc).cast(TIME_TYPE), ids, kept


def _scan_keys(files: list[Path], keys: KeyColumns) -> tuple[pd.DatetimeIndex, list[str], int]:
    """First pass: distinct UTC timestamps (sorted), distinct VD ids (sorted) and the number of rows."""
    stamps, ids, num_rows, joined = [], set(), 0, {}
    for path in files:
        for label, piece in _pieces(path, [keys.time_col, *keys.id_cols]):
            utc, vd, _ = _piece_keys(piece, label, keys, joined)
            stamps.append(np.unique(utc.to_numpy(zero_copy_only=False).astype("datetime64[us]")))
            ids.update(pc.unique(vd).to_pylist())
            num_rows += len(vd)
    unique = pd.DatetimeIndex(np.unique(np.concatenate(stamps))).tz_localize("UTC")
    return unique, sorted(ids), num_rows


def _float32(values: pa.Array, label: str, column: str) -> pa.Array:
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type) or pa.types.is_decimal(values.type):
        return values.cast(pa.float32(), safe=False)
    # Text (or anything else): the in-memory path's parser names the non-numeric rows.
    return pa.array(to_float(values.to_pandas(), label, column).astype(np.float32))


class _Cells(CellGrid):
    """The grid of the sources' distinct timestamps and VD ids, addressed by canonical tables' rows."""

    def __init__(self, stamps: pd.DatetimeIndex, vd_ids: list[str], freq: Freq, where: Path):
        super().__init__(stamps[0].value, stamps[-1].value, freq, len(vd_ids), where)
        self.index = pd.Index(vd_ids)

    def of(self, table: pa.Table) -> np.ndarray:
        """(rows,) int64 cell of every row of a canonical table (timestamps in microseconds)."""
        time_index = (_column(table, TIME_COL).cast(pa.int64()).to_numpy() * 1000 - self.first_ns) // self.step_ns
        codes = pc.dictionary_encode(_column(table, ID_COL))
        vd_index = self.index.get_indexer(codes.dictionary.to_pylist())[codes.indices.to_numpy()]
        return self.cells(time_index, vd_index)

    def add(self, table: pa.Table, label: str, kept: np.ndarray | None) -> bool:
        """Mark the rows' cells; raise on a repeat within the piece. Returns False when a row repeats a cell
        of an earlier piece (the caller names it)."""
        cell = self.of(table)
        repeat = repeated_rows(cell)
        if repeat.size:
            rows = np.flatnonzero(cell == cell[repeat[0]])
            _duplicate(table, label, rows, kept, f"{int(np.isin(cell, cell[repeat]).sum())} rows are duplicates")
        return self.mark(cell).size == 0


def _duplicate(
    table: pa.Table, label: str, rows: np.ndarray, kept: np.ndarray | None, what: str, tail: str = ""
) -> None:
    ts = _column(table, TIME_COL)[int(rows[0])].as_py()
    vd = _column(table, ID_COL)[int(rows[0])].as_py()
    raise duplicate_error(label, pd.Timestamp(ts), vd, what, kept[rows] if kept is not None else rows, tail)


def _stream_parts(
    files: list[Path],
    stamps: pd.DatetimeIndex,
    vd_ids: list[str],
    freq: Freq,
    keys: KeyColumns,
    value_cols: dict[str, str],
    where: Path,
) -> Iterator[pa.Table]:
    """Second pass: canonical tables of about :data:`STREAM_ROWS` rows, checked for duplicates."""
    grid = _Cells(stamps, vd_ids, freq, where)
    buffer, rows = [], 0
    for number, path in enumerate(files):
        for label, piece in _pieces(path, [keys.time_col, *keys.id_cols, *value_cols.values()]):
            utc, ids, kept = _piece_keys(piece, label, keys)
            arrays = [utc, ids]
            for col in value_cols.values():
                values = _float32(_column(piece, col), label, col)
                arrays.append(values if kept is None else values.take(pa.array(kept)))
            table = pa.Table.from_arrays(arrays, names=[TIME_COL, ID_COL, *value_cols])
            if not grid.add(table, label, kept):
                _earlier_duplicate(files[: number + 1], table, label, kept, grid, keys)
            buffer.append(table)
            rows += table.num_rows
            if rows >= STREAM_ROWS:
                yield pa.concat_tables(buffer)
                buffer, rows = [], 0
    if buffer:
        yield pa.concat_tables(buffer)


def _earlier_duplicate(
    files: list[Path], table: pa.Table, label: str, kept: np.ndarray | None, grid: _Cells, keys: KeyColumns
) -> None:
    """Raise for the rows of ``table`` whose cells an earlier piece holds, naming that piece and its row.

    Runs only on the error path: it reads the keys of the earlier pieces again to find the first repeat.
    """
    cell = grid.of(table)
    rows = np.flatnonzero(grid.seen[cell])
    what = f"{rows.size} rows repeat earlier rows"
    for path in files:
        for other, piece in _pieces(path, [keys.time_col, *keys.id_cols]):
            if other == label:  # pieces from here on are not in the grid yet
                _duplicate(table, label, rows, kept, what)
            utc, ids, other_kept = _piece_keys(piece, other, keys)
            hit = np.flatnonzero(grid.of(pa.table({TIME_COL: utc, ID_COL: ids})) == cell[rows[0]])
            if hit.size:
                row = int(other_kept[hit[0]] if other_kept is not None else hit[0])
                _duplicate(table, label, rows, kept, what, f"; the first is also {other} row {row}")
    _duplicate(table, label, rows, kept, what)

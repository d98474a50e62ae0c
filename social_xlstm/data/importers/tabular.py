"""Importers for generic tables: ``long`` (one row per timestamp and VD) and ``wide`` (one column per VD).

``long``: CSV or Parquet files with a time column (``--time-col``), a VD id column (``--id-col``; a comma
list such as ``intersection,detector`` joins several columns with ``-``) and value columns
(``--value-cols flow=total,speed``: ``name=column`` renames, a bare name keeps it). Several SRC files are
concatenated. When every SRC is Parquet (a file, several files or a directory of them) the import
streams: see :func:`import_long`. CSV sources are read whole into memory (convert a CSV larger than a few
million rows to Parquet first).

``wide``: one CSV/Parquet table whose time column (``--time-col``; default a column named timestamp/time/
datetime/date, else the first column; a Parquet DatetimeIndex also works) is followed by one column per
VD; the values are the variable ``--variable`` in ``--unit``.

Both:

* Timestamps with a UTC offset are exact; naive ones need ``--tz`` (the local zone; a repeated wall-clock
  hour reads as daylight time first, standard time second; a skipped one fails unless ``--dst-gap drop``).
  A column mixing naive and offset times is an error.
* ``--freq`` is checked against the data (every timestamp on the grid, the usual step equal to it);
  without it the interval is inferred. Missing slots are fine (they are missing observations).
* Coordinates come from ``--stations`` (id, lat, lon columns found by name or named by ``--station-cols``),
  the graph from ``--edges`` (an edge list, or a dense matrix whose rows follow the stations file, else
  the sorted VD ids; a CSV matrix may carry its ids as header). A VD with observations needs coordinates
  unless ``--edges`` is given (then missing coordinates are null and distances must be in the edge file).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from social_xlstm.data.checks import MAX_GRID_CELLS
from social_xlstm.data.importers import common
from social_xlstm.data.schema import ID_COL, TIME_COL, TIME_TYPE, DatasetMeta, write_dataset
from social_xlstm.errors import DataError, UserError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "date_time")
STREAM_ROWS = common.ROWS_PER_PART
"""Rows converted at a time when streaming Parquet, and the size of the observation parts written."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest long`` and ``social-xlstm ingest wide``."""
    parser.add_argument(
        "--time-col", default=None, help="timestamp column (long: required; wide: found by name)"
    )
    parser.add_argument(
        "--id-col", default=None, help="long: VD id column(s), comma separated (joined with '-')"
    )
    parser.add_argument("--value-cols", default=None, help="long: value columns, e.g. 'flow=total,speed'")
    parser.add_argument("--variable", default="value", help="wide: name of the variable (default: value)")
    parser.add_argument("--unit", default="unknown", help="wide: unit of the variable")
    parser.add_argument(
        "--units", default=None, help="long: units per variable, e.g. 'flow=veh/15min,speed=km/h'"
    )
    parser.add_argument(
        "--tz", default=None, help="time zone of naive timestamps (IANA name; required for them)"
    )
    parser.add_argument(
        "--dst-gap", choices=("raise", "drop"), default="raise", help="naive times in the hour skipped by DST"
    )
    parser.add_argument(
        "--freq", default=None, help="sampling interval, e.g. 15min (default: inferred and checked)"
    )
    parser.add_argument("--name", default=None, help="dataset name (default: the first file's stem)")
    parser.add_argument("--source", default="", help="where the data came from (dataset.json)")
    parser.add_argument("--licence", default="", help="licence of the data (dataset.json)")
    parser.add_argument(
        "--zero-is-missing", default="", help="variables whose 0 means no reading, comma separated"
    )
    common.add_graph_arguments(parser)


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    files = common.expand_sources(sources)
    options = {
        "tz": getattr(args, "tz", None),
        "dst_gap": getattr(args, "dst_gap", "raise"),
        "freq": getattr(args, "freq", None),
        "stations": getattr(args, "stations", None),
        "station_cols": common.parse_pairs(getattr(args, "station_cols", None), "--station-cols"),
        "edges": getattr(args, "edges", None),
        "edge_value": getattr(args, "edge_value", "auto"),
        "cost_unit": getattr(args, "cost_unit", "m"),
        "name": getattr(args, "name", None),
        "source": getattr(args, "source", ""),
        "licence": getattr(args, "licence", ""),
        "zero_is_missing": [v for v in (getattr(args, "zero_is_missing", "") or "").split(",") if v],
        "overwrite": getattr(args, "overwrite", False),
    }
    if getattr(args, "format", "long") == "wide":
        if len(files) != 1:
            raise UserError(f"wide: give exactly one table, got {len(files)} files")
        return import_wide(
            files[0], out, time_col=args.time_col, variable=args.variable, unit=args.unit, **options
        )
    if not args.time_col or not args.id_col or not args.value_cols:
        raise UserError("long: --time-col, --id-col and --value-cols are required")
    return import_long(
        files,
        out,
        time_col=args.time_col,
        id_cols=[c.strip() for c in args.id_col.split(",") if c.strip()],
        value_cols=common.parse_pairs(args.value_cols, "--value-cols"),
        units=common.parse_pairs(getattr(args, "units", None), "--units"),
        **options,
    )


def _columns(path: Path) -> list[str]:
    """Column names of a CSV/Parquet file without reading its data."""
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{path}: not a readable Parquet file, truncated or corrupt ({err})") from err
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return [c.strip().strip('"') for c in fh.readline().rstrip("\r\n").split(",")]


def _read(path: Path, columns: list[str], text_cols: list[str]) -> pd.DataFrame:
    """Only ``columns`` of a CSV/Parquet file; ``text_cols`` of a CSV stay text (parsed later)."""
    if path.suffix.lower() in (".parquet", ".pq"):
        return common.read_table(path, columns)
    convert = pacsv.ConvertOptions(
        include_columns=columns, column_types={c: pa.string() for c in text_cols}, null_values=[""]
    )
    try:
        frame = pacsv.read_csv(path, convert_options=convert).to_pandas()
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from err
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def _graph(ids: list[str], opts: dict, where: Path) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Stations (in ``ids`` order) and finished edges from the ``--stations`` / ``--edges`` options."""
    coords = common.read_stations(opts["stations"], opts["station_cols"]) if opts["stations"] else None
    edges = None
    if opts["edges"]:
        order = coords["vd_id"].tolist() if coords is not None else sorted(ids)
        edges = common.read_edges(
            opts["edges"], ids=order, value=opts["edge_value"], cost_unit=opts["cost_unit"]
        )
    stations = common.stations_for(ids, coords, edges, where)
    if edges is not None:
        edges = common.finish_edges(edges, stations, opts["edges"])
    return stations, edges


def _to_utc(times: pd.Series, path: Path, column: str, opts: dict, keys: pd.Series | None):
    parsed, naive = common.parse_times(times, path, column, opts["tz"])
    if naive:
        return common.localise(parsed, opts["tz"], path, column=column, keys=keys, gap=opts["dst_gap"])
    return pd.DatetimeIndex(parsed), np.ones(len(parsed), dtype=bool)


def _meta(name: str, freq: str, units: dict[str, str], opts: dict) -> DatasetMeta:
    unknown = [v for v in opts["zero_is_missing"] if v not in units]
    if unknown:
        raise UserError(f"--zero-is-missing {unknown[0]!r} is not a variable; variables are {list(units)}")
    return DatasetMeta(
        name=opts["name"] or name,
        freq=freq,
        variables=units,
        timezone=opts["tz"] or "UTC",
        source=opts["source"],
        licence=opts["licence"],
        zero_is_missing=opts["zero_is_missing"],
    )


def import_long(
    files: list[Path],
    out: str | Path,
    *,
    time_col: str,
    id_cols: list[str],
    value_cols: dict[str, str],
    units: dict[str, str] | None = None,
    stream: bool | None = None,
    **opts,
) -> Path:
    """Convert long tables (one row per timestamp and VD) to a canonical dataset.

    Parquet sources stream (``stream``): two passes over the files, each holding at most
    :data:`STREAM_ROWS` source rows at a time. The first reads only the time and id columns (distinct
    timestamps for the frequency check, distinct VD ids for the stations); the second converts every piece
    (timestamps to UTC, ids to strings, values to float32), checks it for duplicate ``(timestamp, vd_id)``
    against one byte per cell of the (time step, VD) grid, and hands it to :func:`write_dataset`, which
    writes one ``observations/part-*.parquet`` per :data:`STREAM_ROWS` rows (a single
    ``observations.parquet`` when everything fits in one part). Peak memory is the grid (T * N bytes)
    plus a few pieces, independent of the number of rows. CSV sources are read whole.

    Args:
        files: CSV/Parquet files with the same columns.
        out: output dataset directory.
        time_col: timestamp column.
        id_cols: VD id column(s); several are joined with ``-``.
        value_cols: variable name -> source column.
        units: variable name -> unit (default ``"unknown"``).
        stream: stream the sources; None (default) streams when every file is Parquet.
        **opts: ``tz, dst_gap, freq, stations, station_cols, edges, edge_value, cost_unit, name, source,
            licence, zero_is_missing, overwrite`` (see :func:`add_arguments`).

    Returns:
        The dataset directory.
    """
    units = units or {}
    stray = [u for u in units if u not in value_cols]
    if stray:
        raise UserError(f"--units names {stray[0]!r}, which is not in --value-cols ({list(value_cols)})")
    files = [Path(f) for f in files]
    wanted = [time_col, *id_cols, *value_cols.values()]
    for path in files:
        common.check_file(path)
        common.require_columns(path, _columns(path), wanted)
    if stream is None:
        stream = all(map(_is_parquet, files))
    if stream and not all(map(_is_parquet, files)):
        raise UserError(
            f"streaming reads Parquet only; {next(f for f in files if not _is_parquet(f))} is not"
        )
    where = Path(files[0]) if len(files) == 1 else Path(f"{files[0]} (+{len(files) - 1} files)")
    keys = {"time_col": time_col, "id_cols": id_cols, "opts": opts}
    if stream:
        stamps, vd_ids, num_rows = _scan_keys(files, **keys)
        freq = common.check_freq(stamps, where, opts["freq"], column=time_col)
        parts = _stream_parts(files, stamps, vd_ids, freq, value_cols=value_cols, **keys)
        table = pa.concat_tables(list(parts)) if num_rows <= STREAM_ROWS else parts
    else:
        table = _read_long(files, value_cols=value_cols, **keys)
        common.check_duplicates(table, where)
        freq = common.check_freq(table["timestamp"], where, opts["freq"], column=time_col)
        vd_ids = sorted(table["vd_id"].unique())
    stations, edges = _graph(vd_ids, opts, where)
    meta = _meta(files[0].stem, freq, {v: units.get(v, "unknown") for v in value_cols}, opts)
    return write_dataset(out, table, stations, meta, edges, overwrite=opts["overwrite"])


def _read_long(
    files: list[Path], time_col: str, id_cols: list[str], value_cols: dict[str, str], opts: dict
) -> pd.DataFrame:
    """The in-memory path: every file read whole with pandas, checked and concatenated."""
    parts = []
    for path in files:
        wanted = [time_col, *id_cols, *value_cols.values()]
        frame = _read(path, list(dict.fromkeys(wanted)), [time_col, *id_cols])
        ids = common.normalise_ids(frame[id_cols[0]])
        for col in id_cols[1:]:
            ids = ids + "-" + common.normalise_ids(frame[col])
        empty = frame[id_cols].isna().any(axis=1).to_numpy() | (ids == "").to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise DataError(f"{path}: column(s) {id_cols} hold an empty VD id at row {row}")
        utc, keep = _to_utc(frame[time_col], path, time_col, opts, ids)
        table = pd.DataFrame({"timestamp": utc, "vd_id": ids[keep].to_numpy()})
        for name, col in value_cols.items():
            table[name] = common.to_float(frame[col], path, col)[keep]
        common.check_duplicates(table, path, rows=np.flatnonzero(keep))
        parts.append(table)
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


# ------------------------------------------------------------------------------ streaming Parquet
def _is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


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


def _piece_ids(piece: pa.Table, label: str, id_cols: list[str]) -> pa.Array:
    """VD ids as strings, as :func:`common.normalise_ids` makes them, normalising each distinct id once."""
    ids, empty = None, np.zeros(piece.num_rows, dtype=bool)
    for col in id_cols:
        raw = _column(piece, col)
        codes = raw if pa.types.is_dictionary(raw.type) else pc.dictionary_encode(raw)
        names = common.normalise_ids(codes.dictionary.to_pandas()).to_numpy(dtype=object)
        part = pa.array(names, type=pa.string()).take(codes.indices)
        empty |= part.is_null().to_numpy(zero_copy_only=False)
        empty |= pc.equal(part.fill_null("-"), "").to_numpy(zero_copy_only=False)
        ids = part if ids is None else pc.binary_join_element_wise(ids, part, "-")
    if empty.any():
        raise DataError(
            f"{label}: column(s) {id_cols} hold an empty VD id at row {int(np.flatnonzero(empty)[0])}"
        )
    return ids


def _piece_keys(
    piece: pa.Table, label: str, time_col: str, id_cols: list[str], opts: dict
) -> tuple[pa.Array, pa.Array, np.ndarray | None]:
    """``(utc, ids, kept)`` of a piece: UTC timestamps and ids of the kept rows, and the kept row numbers
    (None when every row is kept; rows in the hour skipped by DST go with ``--dst-gap drop``)."""
    ids = _piece_ids(piece, label, id_cols)
    times = _column(piece, time_col)
    if pa.types.is_timestamp(times.type) and times.type.tz is not None:
        # Zoned Arrow timestamps hold UTC instants already: a cast, no pandas.
        if times.null_count:
            row = int(np.flatnonzero(times.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{label}: column {time_col!r} has empty timestamps (e.g. row {row})")
        return times.cast(TIME_TYPE), ids, None
    # Text or naive times take the in-memory path's parser (offsets, --tz, DST) on this piece only.
    keys = pd.Series(ids.to_pandas(), dtype=object)
    utc, keep = _to_utc(times.to_pandas(), label, time_col, opts, keys)
    kept = None if keep.all() else np.flatnonzero(keep)
    if kept is not None:
        ids = ids.take(pa.array(kept))
    return pa.array(utc).cast(TIME_TYPE), ids, kept


def _scan_keys(
    files: list[Path], time_col: str, id_cols: list[str], opts: dict
) -> tuple[pd.DatetimeIndex, list[str], int]:
    """First pass: distinct UTC timestamps (sorted), distinct VD ids (sorted) and the number of rows."""
    stamps, ids, num_rows = [], set(), 0
    for path in files:
        for label, piece in _pieces(path, [time_col, *id_cols]):
            utc, vd, _ = _piece_keys(piece, label, time_col, id_cols, opts)
            stamps.append(np.unique(utc.to_numpy(zero_copy_only=False).astype("datetime64[us]")))
            ids.update(pc.unique(vd).to_pylist())
            num_rows += len(vd)
    unique = pd.DatetimeIndex(np.unique(np.concatenate(stamps))).tz_localize("UTC")
    return unique, sorted(ids), num_rows


def _float32(values: pa.Array, label: str, column: str) -> pa.Array:
    if (
        pa.types.is_integer(values.type)
        or pa.types.is_floating(values.type)
        or pa.types.is_decimal(values.type)
    ):
        return values.cast(pa.float32(), safe=False)
    # Text (or anything else): the in-memory path's parser names the non-numeric rows.
    return pa.array(common.to_float(values.to_pandas(), label, column).astype(np.float32))


class _Cells:
    """The (time step, VD) cells already written, one byte each: duplicates found without sorting the table.

    Shapes:
        seen: (T * N,) bool, cell ``t * N + n``.
    """

    def __init__(self, stamps: pd.DatetimeIndex, vd_ids: list[str], freq: str, where: Path):
        self.first = int(stamps[0].value // 1000)
        self.step = int(common.freq_delta(freq).value // 1000)
        num_steps = (int(stamps[-1].value // 1000) - self.first) // self.step + 1
        if num_steps * len(vd_ids) > MAX_GRID_CELLS:
            raise DataError(
                f"{where}: column {TIME_COL!r}: timestamps from {stamps[0]} to {stamps[-1]} make {num_steps} "
                f"steps of {freq} x {len(vd_ids)} VDs; too large a grid, is a timestamp wrong?"
            )
        self.index = pd.Index(vd_ids)
        self.seen = np.zeros(num_steps * len(vd_ids), dtype=bool)

    def cells(self, table: pa.Table) -> np.ndarray:
        """(rows,) int64 cell of every row of a canonical table."""
        time_index = (_column(table, TIME_COL).cast(pa.int64()).to_numpy() - self.first) // self.step
        codes = pc.dictionary_encode(_column(table, ID_COL))
        vd_index = self.index.get_indexer(codes.dictionary.to_pylist())[codes.indices.to_numpy()]
        return time_index * len(self.index) + vd_index

    def add(self, table: pa.Table, label: str, kept: np.ndarray | None) -> bool:
        """Mark the rows' cells; raise on a repeat within the piece. Returns False when a row repeats a cell
        of an earlier piece (the caller names it)."""
        cell = self.cells(table)
        if cell.size > 1 and not (np.diff(cell) > 0).all():  # sorted input proves itself cheaply
            order = np.argsort(cell, kind="stable")
            repeat = order[1:][cell[order[1:]] == cell[order[:-1]]]
            if repeat.size:
                rows = np.flatnonzero(cell == cell[repeat[0]])
                _duplicate(
                    table, label, rows, kept, f"{int(np.isin(cell, cell[repeat]).sum())} rows are duplicates"
                )
        if self.seen[cell].any():
            return False
        self.seen[cell] = True
        return True


def _duplicate(
    table: pa.Table, label: str, rows: np.ndarray, kept: np.ndarray | None, what: str, tail: str = ""
) -> None:
    ts = _column(table, TIME_COL)[int(rows[0])].as_py()
    vd = _column(table, ID_COL)[int(rows[0])].as_py()
    src = kept[rows] if kept is not None else rows
    raise DataError(
        f"{label}: duplicate (timestamp, vd_id) ({pd.Timestamp(ts)}, {vd!r}): {what}, e.g. rows "
        f"{list(map(int, src[:4]))}{tail}"
    )


def _stream_parts(
    files: list[Path],
    stamps: pd.DatetimeIndex,
    vd_ids: list[str],
    freq: str,
    time_col: str,
    id_cols: list[str],
    value_cols: dict[str, str],
    opts: dict,
) -> Iterator[pa.Table]:
    """Second pass: canonical tables of about :data:`STREAM_ROWS` rows, checked for duplicates."""
    where = Path(files[0]) if len(files) == 1 else Path(f"{files[0]} (+{len(files) - 1} files)")
    grid = _Cells(stamps, vd_ids, freq, where)
    buffer, rows = [], 0
    for number, path in enumerate(files):
        for label, piece in _pieces(path, [time_col, *id_cols, *value_cols.values()]):
            utc, ids, kept = _piece_keys(piece, label, time_col, id_cols, opts)
            arrays = [utc, ids]
            for col in value_cols.values():
                values = _float32(_column(piece, col), label, col)
                arrays.append(values if kept is None else values.take(pa.array(kept)))
            table = pa.Table.from_arrays(arrays, names=[TIME_COL, ID_COL, *value_cols])
            if not grid.add(table, label, kept):
                _earlier_duplicate(files[: number + 1], table, label, kept, grid, time_col, id_cols, opts)
            buffer.append(table)
            rows += table.num_rows
            if rows >= STREAM_ROWS:
                yield pa.concat_tables(buffer)
                buffer, rows = [], 0
    if buffer:
        yield pa.concat_tables(buffer)


def _earlier_duplicate(
    files: list[Path],
    table: pa.Table,
    label: str,
    kept: np.ndarray | None,
    grid: _Cells,
    time_col: str,
    id_cols: list[str],
    opts: dict,
) -> None:
    """Raise for the rows of ``table`` whose cells an earlier piece holds, naming that piece and its row.

    Runs only on the error path: it reads the keys of the earlier pieces again to find the first repeat.
    """
    cell = grid.cells(table)
    rows = np.flatnonzero(grid.seen[cell])
    what = f"{rows.size} rows repeat earlier rows"
    for path in files:
        for other, piece in _pieces(path, [time_col, *id_cols]):
            if other == label:  # pieces from here on are not in the grid yet
                _duplicate(table, label, rows, kept, what)
            utc, ids, other_kept = _piece_keys(piece, other, time_col, id_cols, opts)
            hit = np.flatnonzero(grid.cells(pa.table({TIME_COL: utc, ID_COL: ids})) == cell[rows[0]])
            if hit.size:
                row = int(other_kept[hit[0]] if other_kept is not None else hit[0])
                _duplicate(table, label, rows, kept, what, f"; the first is also {other} row {row}")
    _duplicate(table, label, rows, kept, what)


def import_wide(
    path: str | Path,
    out: str | Path,
    *,
    time_col: str | None = None,
    variable: str = "value",
    unit: str = "unknown",
    **opts,
) -> Path:
    """Convert a wide table (a time column + one column per VD) to a canonical dataset.

    Args:
        path: CSV or Parquet file.
        out: output dataset directory.
        time_col: the time column (default: found by name, else the first column).
        variable: name of the variable the cells hold.
        unit: its unit.
        **opts: as :func:`import_long`.

    Returns:
        The dataset directory. Shapes: the (T, N) table becomes T*N observation rows.
    """
    path = common.check_file(path)
    frame = common.read_table(path, string_cols=[time_col] if time_col else ())
    if isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.reset_index(names=time_col or "timestamp")
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    if time_col is None:
        time_col = next((c for c in cols if c.lower() in TIME_NAMES), cols[0])
    common.require_columns(path, cols, [time_col], "--time-col")
    vd_cols = [c for c in cols if c != time_col]
    if not vd_cols:
        raise DataError(f"{path}: no VD columns besides the time column {time_col!r}")
    ids = list(common.normalise_ids(pd.Series(vd_cols)))
    if len(set(ids)) != len(ids):
        raise DataError(f"{path}: VD column names repeat")
    utc, keep = _to_utc(frame[time_col], path, time_col, opts, None)
    if utc.has_duplicates:
        row = int(np.flatnonzero(np.asarray(utc.duplicated()))[0])
        raise DataError(
            f"{path}: column {time_col!r}: duplicate timestamp {utc[row]} (row {np.flatnonzero(keep)[row]})"
        )
    values = np.column_stack([common.to_float(frame[c], path, c) for c in vd_cols])[keep]  # (T, N)
    freq = common.check_freq(utc, path, opts["freq"], column=time_col)
    stations, edges = _graph(ids, opts, path)
    meta = _meta(path.stem, freq, {variable: unit}, opts)
    observations = common.wide_to_long(values[:, :, None], utc, ids, [variable])  # (T, N, 1)
    return write_dataset(out, observations, stations, meta, edges, overwrite=opts["overwrite"])

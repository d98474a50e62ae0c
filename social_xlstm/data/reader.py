"""Open and check a canonical dataset directory (DESIGN.md section 3).

:func:`load_dataset` reads ``dataset.json``, ``stations.parquet`` and ``edges.parquet`` completely (they are
small) and checks the schema of every observation file; with ``check_rows`` it also streams the key columns
of all observations once to find duplicates, unknown VDs and off-grid timestamps. :func:`iter_observations`
is that stream; the panel loader consumes it with value columns, so both report the same errors.

Every problem raises :class:`~social_xlstm.errors.DataError` naming the file, the column and example rows.
"""

from __future__ import annotations

import difflib
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from social_xlstm.data.schema import (
    EDGE_REQUIRED,
    EDGES,
    ID_COL,
    OBSERVATIONS,
    OBSERVATIONS_DIR,
    STATION_REQUIRED,
    STATIONS,
    TIME_COL,
    DatasetMeta,
    read_meta,
)
from social_xlstm.errors import DataError

MAX_EXAMPLES = 5
BATCH_ROWS = 1 << 20
# A stray timestamp (e.g. 1970-01-01) would make the regular grid enormous; refuse before allocating.
MAX_GRID_CELLS = 2_000_000_000
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


@dataclass
class Dataset:
    """A checked dataset directory: metadata, station table, optional edge table, observation files."""

    root: Path
    """The dataset directory."""
    meta: DatasetMeta
    """Contents of ``dataset.json``."""
    stations: pd.DataFrame
    """One row per VD, in file order; ``vd_id`` str, ``lat``/``lon`` float (NaN allowed with edges)."""
    edges: pd.DataFrame | None
    """``src, dst, distance_m [, weight]`` or None when the graph comes from coordinates."""
    observation_files: list[Path]
    """``observations.parquet`` or the sorted files of ``observations/``."""
    _time_range: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def vd_ids(self) -> list[str]:
        return self.stations[ID_COL].tolist()

    @property
    def variables(self) -> list[str]:
        return list(self.meta.variables)

    @property
    def step_ns(self) -> int:
        """Sampling interval in nanoseconds."""
        return int(pd.Timedelta(pd.tseries.frequencies.to_offset(self.meta.freq)).value)

    def time_range_ns(self) -> tuple[int, int]:
        """(first, last) observation timestamp as UTC nanoseconds since the epoch (one pass, cached)."""
        if self._time_range is None:
            self._time_range = _scan_time_range(self.observation_files)
        return self._time_range

    @property
    def num_steps(self) -> int:
        first, last = self.time_range_ns()
        return (last - first) // self.step_ns + 1


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


def suggest(name: str, options: Sequence[str]) -> str:
    """A ' (did you mean ...?)' hint for a misspelt column or variable name, or ''."""
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def examples(frame: pd.DataFrame, rows: np.ndarray | Sequence[int] | None = None) -> str:
    """Up to :data:`MAX_EXAMPLES` rows of ``frame`` as indented text for an error message."""
    if rows is not None:
        frame = frame.iloc[np.asarray(rows)[:MAX_EXAMPLES]]
    text = frame.head(MAX_EXAMPLES).to_string()
    return "\n".join("    " + line for line in text.splitlines())


def _check_columns(path: Path, present: Sequence[str], required: Sequence[str]) -> None:
    for col in required:
        if col not in present:
            raise DataError(f"{path}: missing column {col!r}{suggest(col, present)}; found {list(present)}")


def _is_string(typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def _is_number(typ: pa.DataType) -> bool:
    return pa.types.is_floating(typ) or pa.types.is_integer(typ)


def _read_table(path: Path, what: str) -> pa.Table:
    if not path.exists():
        raise DataError(f"{path}: missing ({what})")
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read Parquet file, is it truncated or corrupt? ({err})") from err


def _check_number_column(path: Path, table: pa.Table, col: str) -> None:
    typ = table.schema.field(col).type
    if not _is_number(typ):
        raise DataError(
            f"{path}: column {col!r} must be numeric, found type {typ}; e.g.\n"
            f"{examples(table.select([col]).slice(0, MAX_EXAMPLES).to_pandas())}"
        )


def _check_string_column(path: Path, table: pa.Table, col: str) -> None:
    typ = table.schema.field(col).type
    if not _is_string(typ):
        raise DataError(
            f"{path}: column {col!r} must be a string column, found type {typ}; e.g.\n"
            f"{examples(table.select([col]).slice(0, MAX_EXAMPLES).to_pandas())}"
        )
    nulls = np.flatnonzero(table.column(col).is_null().to_numpy(zero_copy_only=False))
    if nulls.size:
        raise DataError(
            f"{path}: column {col!r} has {nulls.size} null value(s), e.g. rows\n"
            f"{examples(table.to_pandas(), nulls)}"
        )


def _read_stations(root: Path, has_edges: bool) -> pd.DataFrame:
    path = root / STATIONS
    table = _read_table(path, "one row per VD with vd_id, lat, lon")
    _check_columns(path, table.column_names, STATION_REQUIRED)
    _check_string_column(path, table, ID_COL)
    for col in ("lat", "lon", "km"):
        if col in table.column_names:
            _check_number_column(path, table, col)
    frame = table.to_pandas()
    frame[ID_COL] = frame[ID_COL].astype(str)
    for col in ("lat", "lon"):
        frame[col] = frame[col].astype("float64")
    if frame.empty:
        raise DataError(f"{path}: no stations")
    dup = frame[ID_COL].duplicated(keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"{path}: column 'vd_id' must be unique; {int(dup.sum())} rows share an id, e.g.\n"
            f"{examples(frame, np.flatnonzero(dup))}"
        )
    no_coord = (frame["lat"].isna() | frame["lon"].isna()).to_numpy()
    if no_coord.any() and not has_edges:
        raise DataError(
            f"{path}: columns 'lat'/'lon': {int(no_coord.sum())} VD(s) without coordinates and no "
            f"{EDGES} to give the graph, e.g.\n{examples(frame, np.flatnonzero(no_coord))}"
        )
    bad = ((frame["lat"].abs() > 90) | (frame["lon"].abs() > 180)).to_numpy()
    if bad.any():
        raise DataError(
            f"{path}: columns 'lat'/'lon' must be WGS84 degrees (|lat| <= 90, |lon| <= 180); "
            f"{int(bad.sum())} row(s) outside, e.g.\n{examples(frame, np.flatnonzero(bad))}"
        )
    return frame


def _read_edges(root: Path, vd_ids: pd.Index) -> pd.DataFrame | None:
    path = root / EDGES
    if not path.exists():
        return None
    table = _read_table(path, "the road graph")
    _check_columns(path, table.column_names, EDGE_REQUIRED)
    _check_string_column(path, table, "src")
    _check_string_column(path, table, "dst")
    for col in ("distance_m", "weight"):
        if col in table.column_names:
            _check_number_column(path, table, col)
    frame = table.to_pandas()
    for col in ("src", "dst"):
        frame[col] = frame[col].astype(str)
        unknown = ~frame[col].isin(vd_ids).to_numpy()
        if unknown.any():
            raise DataError(
                f"{path}: column {col!r}: {int(unknown.sum())} edge(s) name VDs missing from "
                f"{STATIONS}, e.g.\n{examples(frame, np.flatnonzero(unknown))}"
            )
    for col in ("distance_m", "weight"):
        if col in frame:
            frame[col] = frame[col].astype("float64")
            bad = ~(np.isfinite(frame[col].to_numpy()) & (frame[col].to_numpy() >= 0))
            if bad.any():
                raise DataError(
                    f"{path}: column {col!r} must be finite and >= 0; {int(bad.sum())} row(s) are "
                    f"not, e.g.\n{examples(frame, np.flatnonzero(bad))}"
                )
    dup = frame.duplicated(["src", "dst"], keep=False).to_numpy()
    if dup.any():
        raise DataError(
            f"{path}: columns 'src','dst': {int(dup.sum())} rows repeat an edge, e.g.\n"
            f"{examples(frame, np.flatnonzero(dup))}"
        )
    return frame


def _observation_files(root: Path) -> list[Path]:
    single, folder = root / OBSERVATIONS, root / OBSERVATIONS_DIR
    if single.exists() and folder.exists():
        raise DataError(f"{root}: has both {OBSERVATIONS} and {OBSERVATIONS_DIR}/; keep one")
    if single.exists():
        return [single]
    if folder.is_dir():
        files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
        if not files:
            raise DataError(f"{folder}: no *.parquet files")
        return files
    raise DataError(f"{root}: missing {OBSERVATIONS} (or a folder {OBSERVATIONS_DIR}/ of Parquet files)")


def _check_observation_schema(path: Path, variables: Sequence[str], timezone: list[str]) -> int:
    """Check one observation file's columns and types; returns its row count."""
    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read Parquet file, is it truncated or corrupt? ({err})") from err
    schema = pfile.schema_arrow
    _check_columns(path, schema.names, [TIME_COL, ID_COL, *variables])
    ts_type = schema.field(TIME_COL).type
    if not pa.types.is_timestamp(ts_type):
        raise DataError(f"{path}: column {TIME_COL!r} must be a timestamp (UTC), found type {ts_type}")
    if ts_type.tz is None:
        raise DataError(
            f"{path}: column {TIME_COL!r} has no time zone; store UTC timestamps "
            f"(pandas: .dt.tz_localize(local_zone).dt.tz_convert('UTC'))"
        )
    if timezone and timezone[0] != ts_type.tz:
        raise DataError(
            f"{path}: column {TIME_COL!r} has time zone {ts_type.tz!r} but earlier files use "
            f"{timezone[0]!r}; mixed time zones, store every file in UTC"
        )
    timezone[:] = [ts_type.tz]
    if not _is_string(schema.field(ID_COL).type):
        raise DataError(
            f"{path}: column {ID_COL!r} must be a string column, found {schema.field(ID_COL).type}"
        )
    for var in variables:
        typ = schema.field(var).type
        if not _is_number(typ):
            raise DataError(f"{path}: variable column {var!r} must be numeric (float), found type {typ}")
    return pfile.metadata.num_rows


def read_batches(
    path: Path, columns: Sequence[str], batch_size: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` from one Parquet file; read errors become :class:`DataError`."""
    try:
        # vd_id stays dictionary-encoded as stored, so ids are looked up once per distinct value.
        pfile = pq.ParquetFile(path, read_dictionary=[ID_COL] if ID_COL in columns else None)
        yield from pfile.iter_batches(batch_size=batch_size, columns=list(columns))
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read Parquet file, is it truncated or corrupt? ({err})") from err


def _time_ns(path: Path, batch: pa.RecordBatch, row0: int) -> np.ndarray:
    """(R,) int64 UTC nanoseconds of a batch's timestamp column; nulls raise."""
    col = batch.column(TIME_COL)
    if col.null_count:
        rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
        raise DataError(
            f"{path}: column {TIME_COL!r} has {col.null_count} null value(s), e.g. rows\n"
            f"{examples(batch.to_pandas().set_axis(row0 + np.arange(batch.num_rows)), rows)}"
        )
    return col.cast(pa.int64()).to_numpy() * _UNIT_NS[col.type.unit]


def _stats_time_range(path: Path) -> tuple[int, int] | None:
    """(min, max) UTC ns of a file's timestamps from the Parquet row-group statistics, or None if absent."""
    try:
        pfile = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise DataError(f"{path}: cannot read Parquet file, is it truncated or corrupt? ({err})") from err
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


def _scan_time_range(files: Sequence[Path]) -> tuple[int, int]:
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


def _frame(batch: pa.RecordBatch, row0: int, columns: Sequence[str] = (TIME_COL, ID_COL)) -> pd.DataFrame:
    """A batch as a DataFrame indexed by row number in its file (for error messages)."""
    return batch.select(list(columns)).to_pandas().set_axis(row0 + np.arange(batch.num_rows))


def iter_observations(
    dataset: Dataset, variables: Sequence[str] = (), batch_size: int = BATCH_ROWS
) -> Iterator[ObservationBatch]:
    """Stream all observation rows mapped onto the (time step, VD) grid, checking every row.

    Raises :class:`DataError` for null keys, VDs missing from the stations, timestamps off the regular grid
    and duplicate ``(timestamp, vd_id)`` pairs (within and across files).

    Args:
        dataset: from :func:`load_dataset`.
        variables: value columns to return (each as float32, NaN where null).
        batch_size: rows per record batch; bounds the transient memory.

    Yields:
        One :class:`ObservationBatch` per record batch.
    """
    first, last = dataset.time_range_ns()
    step = dataset.step_ns
    num_steps, num_vds = (last - first) // step + 1, len(dataset.stations)
    if num_steps * num_vds > MAX_GRID_CELLS:
        raise DataError(
            f"{dataset.root}: column {TIME_COL!r}: observations span {pd.Timestamp(first, tz='UTC')} to "
            f"{pd.Timestamp(last, tz='UTC')}, {num_steps} steps of {dataset.meta.freq} x {num_vds} VDs; "
            "too large a grid, is a timestamp wrong?"
        )
    station_index = pd.Index(dataset.vd_ids)
    # One bit per grid cell finds duplicates across files without sorting the whole table.
    seen = np.zeros(num_steps * num_vds, dtype=bool)
    columns = [TIME_COL, ID_COL, *variables]
    for path in dataset.observation_files:
        row0 = 0
        for batch in read_batches(path, columns, batch_size):
            if batch.num_rows == 0:
                continue
            offset = _time_ns(path, batch, row0) - first
            off_grid = np.flatnonzero(offset % step)
            if off_grid.size:
                raise DataError(
                    f"{path}: column {TIME_COL!r}: {off_grid.size} timestamp(s) off the regular "
                    f"{dataset.meta.freq} grid starting {pd.Timestamp(first, tz='UTC')} "
                    f"(irregular sampling), e.g.\n"
                    f"{examples(_frame(batch, row0), off_grid)}"
                )
            time_index = offset // step
            if time_index.min() < 0 or time_index.max() >= num_steps:
                raise DataError(
                    f"{path}: column {TIME_COL!r}: timestamps outside the range given by the "
                    "file statistics; the Parquet metadata is inconsistent, rewrite the file"
                )
            vd_index = _vd_index(path, batch, row0, station_index)
            cell = time_index * num_vds + vd_index
            _check_duplicates(path, batch, row0, cell, seen)
            values = []
            for var in variables:
                col = batch.column(var)
                if not pa.types.is_float32(col.type):
                    col = pc.cast(col, pa.float32(), safe=False)
                values.append(col.fill_null(np.nan).to_numpy(zero_copy_only=False))
            yield ObservationBatch(path, time_index, vd_index, values)
            row0 += batch.num_rows


def _vd_index(path: Path, batch: pa.RecordBatch, row0: int, station_index: pd.Index) -> np.ndarray:
    col = batch.column(ID_COL)
    if col.null_count:
        rows = np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))
        raise DataError(
            f"{path}: column {ID_COL!r} has {col.null_count} null value(s), e.g. rows\n"
            f"{examples(_frame(batch, row0), rows)}"
        )
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


def _check_duplicates(
    path: Path, batch: pa.RecordBatch, row0: int, cell: np.ndarray, seen: np.ndarray
) -> None:
    # Rows are usually sorted by (timestamp, vd); then a strictly increasing cell index proves no repeats.
    if cell.size > 1 and not (np.diff(cell) > 0).all():
        order = np.argsort(cell, kind="stable")
        repeat = order[1:][cell[order[1:]] == cell[order[:-1]]]
        if repeat.size:
            rows = np.flatnonzero(np.isin(cell, cell[repeat]))
            raise DataError(
                f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {repeat.size} duplicate "
                f"(timestamp, vd_id) row(s), e.g.\n{examples(_frame(batch, row0), rows)}"
            )
    again = np.flatnonzero(seen[cell])
    if again.size:
        raise DataError(
            f"{path}: columns {TIME_COL!r}, {ID_COL!r}: {again.size} (timestamp, vd_id) pair(s) "
            f"already seen in an earlier batch or file (duplicates), e.g.\n"
            f"{examples(_frame(batch, row0), again)}"
        )
    seen[cell] = True


def load_dataset(root: str | Path, *, check_rows: bool = True) -> Dataset:
    """Open a canonical dataset directory and check it.

    Args:
        root: the dataset directory.
        check_rows: also stream every observation row (key columns only) to find duplicates, VDs without
            a station, off-grid timestamps and null keys. :func:`~social_xlstm.data.panel.load_panel`
            passes False because its own single pass makes the same checks.

    Returns:
        The :class:`Dataset`.

    Raises:
        DataError: naming the file, the column and example rows.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a dataset directory (expected dataset.json, {STATIONS}, observations)")
    meta = read_meta(root)
    _check_meta(root, meta)
    has_edges = (root / EDGES).exists()
    stations = _read_stations(root, has_edges)
    edges = _read_edges(root, pd.Index(stations[ID_COL]))
    files = _observation_files(root)
    timezone: list[str] = []
    num_rows = sum(_check_observation_schema(path, list(meta.variables), timezone) for path in files)
    if num_rows == 0:
        raise DataError(
            f"{files[0] if len(files) == 1 else root / OBSERVATIONS_DIR}: observations have no rows"
        )
    dataset = Dataset(root, meta, stations, edges, files)
    if check_rows:
        for _ in iter_observations(dataset):
            pass
    return dataset


def _check_meta(root: Path, meta: DatasetMeta) -> None:
    path = root / "dataset.json"
    try:
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(meta.freq))
    except (ValueError, TypeError) as err:
        raise DataError(f"{path}: 'freq' {meta.freq!r} must be a fixed interval such as '5min'") from err
    if step <= pd.Timedelta(0):
        raise DataError(f"{path}: 'freq' {meta.freq!r} must be positive")
    try:
        zoneinfo.ZoneInfo(meta.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise DataError(
            f"{path}: 'timezone' {meta.timezone!r} is not an IANA zone such as 'America/Los_Angeles'"
        ) from err
    unknown = [v for v in meta.zero_is_missing if v not in meta.variables]
    if unknown:
        raise DataError(
            f"{path}: 'zero_is_missing' names {unknown}, not in 'variables' "
            f"{list(meta.variables)}{suggest(unknown[0], list(meta.variables))}"
        )

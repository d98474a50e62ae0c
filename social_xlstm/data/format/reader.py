"""Open and check a canonical dataset directory (docs/data-format.md).

:func:`load_dataset` reads ``dataset.json``, ``stations.parquet`` and ``edges.parquet`` completely (they are
small) and checks the schema of every observation file; with ``check_rows`` it also streams the key columns
of all observations once (:func:`~social_xlstm.data.format.observations.iter_observations`) to find duplicates,
unknown VDs and off-grid timestamps. The panel loader consumes the same stream with value columns, so both
report the same errors. Both also check ``dataset.json`` against the data on the way
(:mod:`social_xlstm.data.format.consistency`: the grid, the units, the declared variables).

Every problem is a :class:`~social_xlstm.errors.DataError` naming the file, the column and example rows.
One run reports every problem it finds, not just the first: the checks that do not depend on each other
(``dataset.json``, each table, each observation file's columns) all run, and the error lists them all
(:class:`~social_xlstm.data.format.checks.DatasetProblems`). A problem that leaves nothing to check further (no
stations, unreadable columns) ends the run with what was found so far.
"""

from __future__ import annotations

import warnings
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from social_xlstm.data.format.checks import MAX_EXAMPLES, Problems, examples, require_columns, suggest
from social_xlstm.data.format.consistency import ImplausibleReadings, StreamChecks
from social_xlstm.data.format.dataset import Dataset
from social_xlstm.data.format.observations import ObservationBatch, iter_observations
from social_xlstm.data.format.parquet import open_parquet, unreadable
from social_xlstm.data.format.schema import (
    EDGE_REQUIRED,
    EDGE_VALUES,
    EDGES,
    ID_COL,
    KEY_COLS,
    META,
    OBSERVATIONS,
    OBSERVATIONS_DIR,
    STATION_REQUIRED,
    STATIONS,
    TIME_COL,
    DatasetMeta,
    read_meta,
)
from social_xlstm.errors import DataError


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
        raise unreadable(path, err) from err


def _check_type(path: Path, table: pa.Table, col: str, ok: Callable[[pa.DataType], bool], what: str) -> None:
    typ = table.schema.field(col).type
    if not ok(typ):
        raise DataError(
            f"{path}: column {col!r} must be {what}, found type {typ}; e.g.\n"
            f"{examples(table.select([col]).slice(0, MAX_EXAMPLES).to_pandas())}"
        )


def _check_number_column(path: Path, table: pa.Table, col: str) -> None:
    _check_type(path, table, col, _is_number, "numeric")


def _check_string_column(path: Path, table: pa.Table, col: str) -> None:
    _check_type(path, table, col, _is_string, "a string column")
    nulls = np.flatnonzero(table.column(col).is_null().to_numpy(zero_copy_only=False))
    if nulls.size:
        raise DataError(
            f"{path}: column {col!r} has {nulls.size} null value(s), e.g. rows\n{examples(table.to_pandas(), nulls)}"
        )


def _read_stations(root: Path, has_edges: bool) -> pd.DataFrame:
    path = root / STATIONS
    table = _read_table(path, "one row per VD with vd_id, lat, lon")
    require_columns(path, table.column_names, STATION_REQUIRED)
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
    require_columns(path, table.column_names, EDGE_REQUIRED)
    if not any(col in table.column_names for col in EDGE_VALUES):
        raise DataError(
            f"{path}: needs a column 'distance_m' (metres) or 'weight' (or both); columns are {table.column_names}"
        )
    _check_string_column(path, table, "src")
    _check_string_column(path, table, "dst")
    for col in EDGE_VALUES:
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
    if "distance_m" not in frame:
        frame["distance_m"] = np.nan
    for col in EDGE_VALUES:
        if col in frame:
            frame[col] = frame[col].astype("float64")
            values = frame[col].to_numpy()
            # a null distance is allowed where the weight says how strong the edge is
            nullable = col == "distance_m" and "weight" in frame
            bad = ~((np.isfinite(values) & (values >= 0)) | (nullable & np.isnan(values)))
            if bad.any():
                rule = (
                    "finite and >= 0 (null only when 'weight' is given)"
                    if col == "distance_m"
                    else ("finite and >= 0, never null")
                )
                raise DataError(
                    f"{path}: column {col!r} must be {rule}; {int(bad.sum())} row(s) are "
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
    """Check one observation file's columns and types; returns its row count.

    Declared variables the file lacks and numeric columns it has but ``dataset.json`` does not declare
    are reported together (one message each), after the key columns are known to be usable.
    """
    pfile = open_parquet(path)
    schema = pfile.schema_arrow
    missing_keys = [c for c in KEY_COLS if c not in schema.names]
    if missing_keys:
        raise DataError(f"{path}: key column(s) {missing_keys} not found; columns are {schema.names}")
    problems = Problems()
    missing = [v for v in variables if v not in schema.names]
    if missing:
        others = [c for c in schema.names if c not in KEY_COLS]
        hint = "".join(suggest(v, others) for v in missing[:1])
        problems.add(
            f"{path}: variable(s) {missing} declared in {META} 'variables' are not columns{hint}; "
            f"columns are {schema.names}"
        )
    undeclared = [c for c in schema.names if c not in (*KEY_COLS, *variables) and _is_number(schema.field(c).type)]
    if undeclared:
        problems.add(
            f"{path}: numeric column(s) {undeclared} are not declared in {META} 'variables' "
            f"{list(variables)}: declare each with its unit, or drop the column"
        )
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
        raise DataError(f"{path}: column {ID_COL!r} must be a string column, found {schema.field(ID_COL).type}")
    for var in variables:
        if var in schema.names and not _is_number(schema.field(var).type):
            problems.add(
                f"{path}: variable column {var!r} must be numeric (float), found type {schema.field(var).type}"
            )
    problems.raise_all()
    return pfile.metadata.num_rows


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
    problems = Problems()
    meta_problems = _meta_problems(root, meta)
    problems.add(meta_problems)
    has_edges = (root / EDGES).exists()
    stations = edges = None
    with problems.collect():
        stations = _read_stations(root, has_edges)
    if stations is not None:
        with problems.collect():
            edges = _read_edges(root, pd.Index(stations[ID_COL]))
    files: list[Path] = []
    with problems.collect():
        files = _observation_files(root)
    timezone: list[str] = []
    num_rows = 0
    for path in files:
        with problems.collect():
            num_rows += _check_observation_schema(path, list(meta.variables), timezone)
    if files and num_rows == 0 and len(problems.found) == len(meta_problems):
        problems.add(f"{files[0] if len(files) == 1 else root / OBSERVATIONS_DIR}: observations have no rows")
    if len(problems.found) > len(meta_problems):
        problems.raise_all()  # the rows cannot be streamed: report what was found
    dataset = Dataset(root, meta, stations, edges, files, pending_problems=meta_problems)
    if check_rows:
        with problems.collect():
            for _ in checked_batches(dataset, dataset.variables, problems):
                pass
        problems.raise_all()
    return dataset


def checked_batches(dataset: Dataset, variables: Sequence[str], problems: Problems) -> Iterator[ObservationBatch]:
    """:func:`~social_xlstm.data.format.observations.iter_observations`, checking ``dataset.json`` on the way.

    A row problem ends the stream and goes into ``problems``; at the end the contradictions between
    ``dataset.json`` and the rows (:class:`~social_xlstm.data.format.consistency.StreamChecks`) join it.
    """
    units = [(var, dataset.meta.variables[var]) for var in variables]
    checks = StreamChecks(dataset.root / META, dataset.meta.freq, units)
    with problems.collect():
        for batch in iter_observations(dataset, variables):
            checks.update(batch.time_index, batch.values)
            yield batch
        checks.complete = True
    problems.add(checks.problems())
    for message in checks.glitches():
        warnings.warn(message, ImplausibleReadings, stacklevel=2)


def _meta_problems(root: Path, meta: DatasetMeta) -> list[str]:
    """The keys of ``dataset.json`` that :class:`DatasetMeta` cannot check alone ('freq' is parsed there)."""
    path = root / META
    found = []
    try:
        zoneinfo.ZoneInfo(meta.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        found.append(f"{path}: 'timezone' {meta.timezone!r} is not an IANA zone such as 'America/Los_Angeles'")
    unknown = [v for v in meta.zero_is_missing if v not in meta.variables]
    if unknown:
        found.append(
            f"{path}: 'zero_is_missing' names {unknown}, not in 'variables' "
            f"{list(meta.variables)}{suggest(unknown[0], list(meta.variables))}"
        )
    return found

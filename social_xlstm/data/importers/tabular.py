"""Importers for generic tables: ``long`` (one row per timestamp and VD) and ``wide`` (one column per VD).

``long``: CSV or Parquet files with a time column (``--time-col``), a VD id column (``--id-col``; a comma
list such as ``intersection,detector`` joins several columns with ``-``) and value columns
(``--value-cols flow=total,speed``: ``name=column`` renames, a bare name keeps it). Several SRC files are
concatenated.

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
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from social_xlstm.data.importers import common
from social_xlstm.data.schema import DatasetMeta, write_dataset
from social_xlstm.errors import DataError, UserError

TIME_NAMES = ("timestamp", "time", "datetime", "date", "date_time")


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
    **opts,
) -> Path:
    """Convert long tables (one row per timestamp and VD) to a canonical dataset.

    Args:
        files: CSV/Parquet files with the same columns.
        out: output dataset directory.
        time_col: timestamp column.
        id_cols: VD id column(s); several are joined with ``-``.
        value_cols: variable name -> source column.
        units: variable name -> unit (default ``"unknown"``).
        **opts: ``tz, dst_gap, freq, stations, station_cols, edges, edge_value, cost_unit, name, source,
            licence, zero_is_missing, overwrite`` (see :func:`add_arguments`).

    Returns:
        The dataset directory.
    """
    units = units or {}
    stray = [u for u in units if u not in value_cols]
    if stray:
        raise UserError(f"--units names {stray[0]!r}, which is not in --value-cols ({list(value_cols)})")
    parts = []
    for path in map(Path, files):
        common.check_file(path)
        wanted = [time_col, *id_cols, *value_cols.values()]
        common.require_columns(path, _columns(path), wanted)
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
    table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    where = Path(files[0]) if len(files) == 1 else Path(f"{files[0]} (+{len(files) - 1} files)")
    common.check_duplicates(table, where)
    freq = common.check_freq(table["timestamp"], where, opts["freq"], column=time_col)
    ids = sorted(table["vd_id"].unique())
    stations, edges = _graph(ids, opts, where)
    meta = _meta(Path(files[0]).stem, freq, {v: units.get(v, "unknown") for v in value_cols}, opts)
    return write_dataset(out, table, stations, meta, edges, overwrite=opts["overwrite"])


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

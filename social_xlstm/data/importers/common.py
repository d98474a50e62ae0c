"""Helpers shared by the importers: safe file reading, column checks, graphs, time zones, wide -> long.

Every helper turns a problem in a file into :class:`~social_xlstm.errors.DataError` whose message names
the file, the column and example rows, so an importer never has to catch library exceptions itself.

Conventions used by all importers:

* VD ids are strings (``773869``, not ``773869.0``).
* Station coordinates are WGS84 degrees; ``lat``/``lon`` may be NaN only when edges are written.
* Edges never carry a NaN ``distance_m``: a distance comes from the source (road distance) or from the
  haversine distance of the two stations' coordinates; when neither exists the importer raises.
* Series without timestamps (los-loop, PEMS0x, BasicTS) are laid on a grid that is regular in absolute
  time, starting at a local wall-clock ``--start``; series with local naive timestamps (DCRNN h5, naive
  long/wide tables) are localised with :func:`localise`.
"""

from __future__ import annotations

import difflib
import json
import pickle
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from social_xlstm.data.schema import ID_COL, TIME_COL
from social_xlstm.errors import DataError, UserError

EARTH_RADIUS_M = 6_371_008.8
ROWS_PER_PART = 2_000_000
"""Long tables larger than this many rows are written as several Parquet parts (memory stays bounded)."""

COST_UNITS = {"m": 1.0, "km": 1000.0, "mi": 1609.344}
"""Multipliers from an edge-list cost unit to metres."""

_OFFSET_RE = r"(?:Z|[+-]\d\d(?::?\d\d)?)\s*$"


# --------------------------------------------------------------------------------------------- files
def check_file(path: str | Path, what: str = "file") -> Path:
    """A path that exists, is a file and is not empty.

    Raises:
        DataError: missing, a directory, or zero bytes.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    if not path.is_file():
        raise DataError(f"{path}: {what} is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: {what} is empty (0 bytes)")
    return path


def suggest(name: str, choices: Sequence[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a misspelt name, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        close = [c for c in map(str, choices) if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def require_columns(path: str | Path, found: Sequence[str], wanted: Sequence[str], option: str = "") -> None:
    """Raise when a wanted column is absent, suggesting the closest existing name."""
    found = [str(c) for c in found]
    for col in wanted:
        if col not in found:
            via = f" (given by {option})" if option else ""
            shown = found if len(found) <= 12 else [*found[:12], "..."]
            raise DataError(
                f"{path}: column {col!r}{via} not found{suggest(col, found)}; columns are {shown}"
            )


def read_csv(path: str | Path, *, header: bool = True, string_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV with pyarrow (multi-threaded, lean); headerless files get columns ``0, 1, ...``.

    Args:
        path: the CSV file.
        header: whether the first line holds column names.
        string_cols: columns kept as text (ids, timestamps parsed later with better messages).
    """
    path = check_file(path)
    read_opts = pacsv.ReadOptions(autogenerate_column_names=not header)
    # Only an empty cell is missing: text such as "n/a" must fail loudly in to_float, not become NaN.
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in string_cols}, null_values=[""])
    try:
        table = pacsv.read_csv(path, read_options=read_opts, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from err
    frame = table.to_pandas()
    if not header:
        frame.columns = range(frame.shape[1])
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def read_table(
    path: str | Path, columns: Sequence[str] | None = None, string_cols: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a CSV or Parquet table (by extension; ``.parquet``/``.pq`` else CSV), only ``columns`` when given.

    Raises:
        DataError: empty, truncated or corrupt file, or a requested column missing.
    """
    path = check_file(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        try:
            schema = pq.read_schema(path)
            if columns is not None:
                require_columns(path, schema.names, columns)
            frame = pq.read_table(path, columns=list(columns) if columns is not None else None).to_pandas()
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{path}: not a readable Parquet file, truncated or corrupt ({err})") from err
        if frame.empty:
            raise DataError(f"{path}: no data rows")
        return frame
    frame = read_csv(path, string_cols=string_cols)
    if columns is not None:
        require_columns(path, frame.columns, columns)
        frame = frame[list(columns)]
    return frame


def read_json(path: str | Path) -> dict:
    """A JSON object from a file, with a DataError naming the file when it is not valid JSON."""
    path = check_file(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def load_pickle(path: str | Path) -> object:
    """Unpickle a file written by Python 2 or 3 (``encoding="latin1"``, as the DCRNN pickles need)."""
    path = check_file(path)
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as err:
        raise DataError(f"{path}: not a readable pickle, truncated or corrupt ({err})") from err


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """An array from ``.npy`` or ``.npz`` (``key`` picks the member; the only member when omitted).

    Raises:
        DataError: truncated/corrupt file, or ``key`` missing (the message lists the keys present).
    """
    path = check_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            keys = list(loaded.files)
            if key is None and len(keys) == 1:
                key = keys[0]
            if key not in keys:
                raise DataError(f"{path}: no array {key!r}{suggest(str(key), keys)}; arrays are {keys}")
            return loaded[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{path}: not a readable .npy/.npz file, truncated or corrupt ({err})") from err


# ------------------------------------------------------------------------------------------- values
def to_float(values: pd.Series, path: str | Path, column: str) -> np.ndarray:
    """Column values as float64; text that is not a number raises with example rows.

    Empty cells become NaN (missing); text such as ``"n/a"`` is an error, never a silent NaN.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:3]
        examples = ", ".join(f"row {r}: {values.iloc[r]!r}" for r in rows)
        raise DataError(
            f"{path}: column {column!r} holds non-numeric values ({int(bad.sum())} rows, e.g. {examples})"
        )
    return parsed.to_numpy(dtype="float64", na_value=np.nan)


def parse_pairs(text: str | None, option: str) -> dict[str, str]:
    """``"a=b,c=d"`` -> ``{"a": "b", "c": "d"}``; a bare ``"a"`` maps to itself."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        out[name.strip()] = (value or name).strip()
    return out


# -------------------------------------------------------------------------------------------- times
def parse_freq(text: str, option: str = "--freq") -> str:
    """A pandas offset alias (``"5min"``) checked to be a fixed positive interval."""
    try:
        delta = pd.Timedelta(pd.tseries.frequencies.to_offset(text))
    except (ValueError, TypeError) as err:
        raise UserError(f"{option} {text!r} is not a frequency such as '5min' or '15min'") from err
    if delta <= pd.Timedelta(0):
        raise UserError(f"{option} {text!r} must be a positive interval")
    return text


def freq_delta(freq: str) -> pd.Timedelta:
    return pd.Timedelta(pd.tseries.frequencies.to_offset(freq))


def freq_alias(delta: pd.Timedelta) -> str:
    """``Timedelta(minutes=15)`` -> ``"15min"`` (seconds when not a whole minute)."""
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s"


def parse_start(text: str, option: str = "--start") -> pd.Timestamp:
    """A naive local wall-clock start time such as ``2018-01-01`` or ``2018-01-01 00:00``."""
    try:
        start = pd.Timestamp(text)
    except (ValueError, TypeError) as err:
        raise UserError(f"{option} {text!r} is not a date/time such as '2018-01-01 00:00'") from err
    if start.tzinfo is not None:
        raise UserError(f"{option} {text!r}: give a local wall-clock time without offset (the zone is --tz)")
    return start


def regular_times(start: pd.Timestamp, periods: int, freq: str, tz: str) -> pd.DatetimeIndex:
    """``periods`` UTC timestamps ``freq`` apart from the local wall-clock ``start`` in ``tz``.

    The grid is regular in absolute time (no DST jumps): files without timestamps are sampled by a
    clock that does not stop or repeat an hour.
    """
    first = start.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
    return pd.date_range(first, periods=periods, freq=freq)


def localise(
    naive: pd.Series | pd.DatetimeIndex,
    tz: str,
    path: str | Path,
    column: str = TIME_COL,
    keys: pd.Series | None = None,
    gap: str = "raise",
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Localise naive local wall-clock times to ``tz`` and convert them to UTC, handling DST explicitly.

    * Ambiguous times (the repeated hour when clocks go back): the first occurrence of a wall-clock time
      (per ``keys`` value, e.g. per VD) is read as daylight time, a second occurrence as standard time.
    * Non-existent times (the skipped hour when clocks go forward): ``gap="raise"`` raises with example
      rows; ``gap="drop"`` drops those rows with a warning saying how many.

    Returns:
        ``(utc_times, keep)``: UTC times of the kept rows and the boolean row mask ``keep`` (all True
        unless rows were dropped).
    """
    naive = pd.Series(pd.DatetimeIndex(naive))
    group = [keys.reset_index(drop=True), naive] if keys is not None else [naive]
    first = (naive.groupby(group, sort=False).cumcount() == 0).to_numpy()
    try:
        local = pd.DatetimeIndex(naive).tz_localize(tz, ambiguous=first, nonexistent="NaT")
    except Exception as err:  # pytz/zoneinfo raise several types for an unknown zone
        raise UserError(f"unknown time zone {tz!r}; use an IANA name such as 'America/Los_Angeles'") from err
    gone = np.asarray(local.isna()) & naive.notna().to_numpy()
    if gone.any():
        rows = np.flatnonzero(gone)
        examples = ", ".join(f"row {r}: {naive.iloc[r]}" for r in rows[:3])
        msg = (
            f"{path}: column {column!r}: {len(rows)} rows fall in the hour skipped by daylight saving "
            f"in {tz} ({examples})"
        )
        if gap == "raise":
            raise DataError(
                msg + "; the clock of this file ignores DST: pass a fixed-offset zone (e.g. 'Etc/GMT+8')"
            )
        warnings.warn(msg + "; these rows are dropped", stacklevel=2)
    keep = ~gone
    return local[keep].tz_convert("UTC"), keep


def parse_times(values: pd.Series, path: str | Path, column: str, tz: str | None) -> tuple[pd.Series, bool]:
    """Parse a time column to timezone-aware datetimes.

    Text with a UTC offset (``Z``, ``+08:00``) is exact; naive text or naive datetimes are returned naive
    (the caller localises them with :func:`localise` and ``tz``). Offsets may differ between rows
    (daylight saving), but a column that mixes naive and offset times is an error.

    Returns:
        ``(times, is_naive)``; aware times are in UTC.

    Raises:
        DataError: unparsable values, mixed naive/aware values, or naive values without ``tz``.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC"), False
    if pd.api.types.is_datetime64_dtype(values.dtype):
        times, naive = values, True
    else:
        text = values.astype("string").str.strip()
        has_offset = text.str.contains(_OFFSET_RE, regex=True).fillna(False).to_numpy(dtype=bool)
        present = text.notna().to_numpy()
        if has_offset[present].any() and not has_offset[present].all():
            aware_row = int(np.flatnonzero(has_offset & present)[0])
            naive_row = int(np.flatnonzero(~has_offset & present)[0])
            raise DataError(
                f"{path}: column {column!r} mixes time zones: row {aware_row} {text.iloc[aware_row]!r} "
                "has a UTC "
                f"offset but row {naive_row} {text.iloc[naive_row]!r} has none"
            )
        naive = not has_offset[present].any()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pandas' "could not infer format" chatter
            fmt = "ISO8601" if text.str.match(r"^\d{4}-\d\d-\d\d").fillna(True).all() else None
            times = pd.to_datetime(text, errors="coerce", utc=not naive, format=fmt)
        bad = times.isna().to_numpy() & present
        if bad.any():
            rows = np.flatnonzero(bad)[:3]
            examples = ", ".join(f"row {r}: {text.iloc[r]!r}" for r in rows)
            raise DataError(
                f"{path}: column {column!r} has unparsable timestamps ({int(bad.sum())} rows, e.g. "
                f"{examples})"
            )
    if times.isna().any():
        row = int(np.flatnonzero(times.isna().to_numpy())[0])
        raise DataError(f"{path}: column {column!r} has empty timestamps (e.g. row {row})")
    if naive and tz is None:
        raise DataError(
            f"{path}: column {column!r} has timestamps without time zone (e.g. {times.iloc[0]}); "
            "pass --tz (e.g. --tz America/Los_Angeles, or --tz UTC)"
        )
    return times, naive


def check_freq(
    times: pd.Series | pd.DatetimeIndex, path: str | Path, freq: str | None, column: str = TIME_COL
) -> str:
    """Infer the sampling interval of a time column, or check that a given ``freq`` fits it.

    The interval is the most common step between distinct timestamps; every timestamp must lie on the
    grid ``t0 + k * freq`` (missing slots are fine, off-grid times are not).

    Returns:
        The frequency alias (``freq`` itself when given).
    """
    unique = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(times))).sort_values().as_unit("ns")
    if len(unique) < 2:
        if freq is None:
            raise DataError(f"{path}: column {column!r} has a single timestamp; pass --freq")
        return freq
    steps = pd.Series(np.diff(unique.asi8))
    common = pd.Timedelta(int(steps.mode().iloc[0]), unit="ns")
    delta = freq_delta(freq) if freq is not None else common
    offset = (unique.asi8 - unique.asi8[0]) % pd.Timedelta(delta).value
    if freq is not None and delta != common:
        raise DataError(
            f"{path}: --freq {freq} does not match the data: timestamps in {column!r} are mostly "
            f"{freq_alias(common)} apart (e.g. {unique[0]} -> {unique[1]})"
        )
    if (offset != 0).any():
        rows = np.flatnonzero(offset != 0)[:3]
        examples = ", ".join(str(unique[r]) for r in rows)
        raise DataError(
            f"{path}: column {column!r}: timestamps are not on a regular {freq_alias(delta)} grid from "
            f"{unique[0]} (e.g. {examples}){' ; --freq does not match the data' if freq else ''}"
        )
    return freq if freq is not None else freq_alias(delta)


def check_duplicates(frame: pd.DataFrame, path: str | Path, rows: np.ndarray | None = None) -> None:
    """Raise when a (timestamp, vd_id) pair occurs twice, naming the pair and its source rows."""
    dup = frame.duplicated([TIME_COL, ID_COL], keep=False).to_numpy()
    if dup.any():
        where = np.flatnonzero(dup)[:4]
        src = rows[where] if rows is not None else where
        first = frame.iloc[where[0]]
        raise DataError(
            f"{path}: duplicate (timestamp, vd_id) ({first[TIME_COL]}, {first[ID_COL]!r}): "
            f"{int(dup.sum())} rows are duplicates, e.g. rows {list(map(int, src))}"
        )


# ------------------------------------------------------------------------------------ wide -> long
def wide_to_long(
    values: np.ndarray, times: pd.DatetimeIndex, ids: Sequence[str], variables: Sequence[str]
) -> pa.Table | Iterator[pa.Table]:
    """Turn a dense array into the long observation table (one row per (timestamp, VD)).

    Args:
        values: (T, N, F) array; may be a read-only memmap: only ``ROWS_PER_PART`` rows are copied at a time.
        times: T UTC timestamps.
        ids: N VD ids.
        variables: F variable names.

    Returns:
        One table when it fits in a part, else an iterator of tables (written as ``observations/part-*``).
    """
    n_time, n_vd, n_var = values.shape
    if len(times) != n_time or len(ids) != n_vd or len(variables) != n_var:
        raise ValueError(
            f"shape {values.shape} does not match {len(times)} times, {len(ids)} ids, {len(variables)} vars"
        )
    steps_per_part = max(1, ROWS_PER_PART // max(n_vd, 1))
    dictionary = pa.array([str(i) for i in ids], type=pa.string())
    stamps = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us")

    def part(lo: int, hi: int) -> pa.Table:
        block = np.asarray(values[lo:hi], dtype=np.float32)  # (t, N, F)
        flat = block.reshape(-1, n_var)  # (t*N, F) rows ordered time-major, VD-minor
        ts = pa.array(np.repeat(stamps[lo:hi].asi8, n_vd), type=pa.timestamp("us", tz="UTC"))  # (t*N,)
        vd = pa.DictionaryArray.from_arrays(
            pa.array(np.tile(np.arange(n_vd, dtype=np.int32), hi - lo)), dictionary
        )
        cols = [ts, vd.cast(pa.string())] + [pa.array(flat[:, f]) for f in range(n_var)]
        return pa.Table.from_arrays(cols, names=[TIME_COL, ID_COL, *variables])

    if n_time <= steps_per_part:
        return part(0, n_time)
    return (part(lo, min(lo + steps_per_part, n_time)) for lo in range(0, n_time, steps_per_part))


# -------------------------------------------------------------------------------- stations, graph
_ID_NAMES = (
    "vd_id",
    "sensor_id",
    "station_id",
    "detector_id",
    "id",
    "vdid",
    "station",
    "sensor",
    "detector",
    "geo_id",
)
_LAT_NAMES = ("lat", "latitude", "positionlat", "y")
_LON_NAMES = ("lon", "lng", "long", "longitude", "positionlon", "x")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_line(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return [t.strip().strip('"') for t in fh.readline().split(",")]


def _pick(columns: Sequence[str], names: Sequence[str], given: str | None, path: Path, role: str) -> str:
    if given:
        require_columns(path, columns, [given], f"the {role} column")
        return given
    lowered = {str(c).lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise DataError(
        f"{path}: no {role} column among {list(columns)}; name it (e.g. --station-cols {role}=COLUMN)"
    )


def read_stations(path: str | Path, mapping: dict[str, str] | None = None) -> pd.DataFrame:
    """Read a stations file: one row per VD with its id and WGS84 coordinates.

    Accepts CSV or Parquet with a header (id/lat/lon columns found by common names such as ``sensor_id``,
    ``latitude``, ``longitude``, or named by ``mapping`` ``{"vd_id": col, "lat": col, "lon": col}``),
    DCRNN's ``index,sensor_id,latitude,longitude`` and PEMS-BAY's headerless ``sensor_id,lat,lon``.
    Extra optional columns ``road, direction, lanes, name`` are kept.

    Returns:
        Frame ``vd_id`` (str), ``lat``, ``lon`` (float64) [, optional columns].

    Raises:
        DataError: missing columns, non-numeric or out-of-range coordinates, duplicate ids.
    """
    path = check_file(path, "stations file")
    mapping = mapping or {}
    headerless = path.suffix.lower() not in (".parquet", ".pq") and all(map(_is_number, _first_line(path)))
    if headerless:
        raw = read_csv(path, header=False)
        if raw.shape[1] not in (3, 4):
            raise DataError(
                f"{path}: a stations file without header needs columns [index,] id, lat, lon; got "
                f"{raw.shape[1]}"
            )
        raw.columns = ["vd_id", "lat", "lon"] if raw.shape[1] == 3 else ["index", "vd_id", "lat", "lon"]
    else:
        raw = read_table(path)
    cols = [str(c) for c in raw.columns]
    raw.columns = cols
    picked = {
        "vd_id": _pick(cols, _ID_NAMES, mapping.get("vd_id"), path, "vd_id"),
        "lat": _pick(cols, _LAT_NAMES, mapping.get("lat"), path, "lat"),
        "lon": _pick(cols, _LON_NAMES, mapping.get("lon"), path, "lon"),
    }
    out = pd.DataFrame({"vd_id": normalise_ids(raw[picked["vd_id"]])})
    for role in ("lat", "lon"):
        out[role] = to_float(raw[picked[role]], path, picked[role])
    for col in ("road", "direction", "lanes", "name"):
        if col in cols and col not in picked.values():
            out[col] = raw[col].to_numpy()
    bad = ~(out["lat"].between(-90, 90) | out["lat"].isna()) | ~(
        out["lon"].between(-180, 180) | out["lon"].isna()
    )
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{path}: columns {picked['lat']!r}/{picked['lon']!r}: coordinates out of range at row {row} "
            f"({out['lat'].iloc[row]}, {out['lon'].iloc[row]}); expected WGS84 degrees"
        )
    dup = out["vd_id"].duplicated(keep=False)
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:3]
        raise DataError(
            f"{path}: column {picked['vd_id']!r}: duplicate VD id {out['vd_id'].iloc[rows[0]]!r} (rows "
            f"{list(rows)})"
        )
    return out


def normalise_ids(values: pd.Series | Sequence) -> pd.Series:
    """VD ids as strings; integral floats (``773869.0``, from a CSV column with gaps) lose the ``.0``."""
    series = pd.Series(values)
    if pd.api.types.is_float_dtype(series.dtype):
        whole = series.dropna()
        if (whole == np.round(whole)).all():
            series = series.astype("Int64")
    return series.astype(str).str.strip()


def read_adjacency_pickle(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read DCRNN's ``adj_mx.pkl``: ``[sensor_ids, sensor_id_to_ind, adj_mx]``.

    Returns:
        ``(ids, adj)``: N ids (str) in matrix order and the (N, N) weight matrix.
    """
    raw = load_pickle(path)
    if not (isinstance(raw, (list, tuple)) and len(raw) == 3):
        raise DataError(
            f"{path}: expected a pickle of [sensor_ids, sensor_id_to_ind, adj_mx], got {type(raw).__name__}"
        )
    ids, id_to_ind, adj = raw
    adj = np.asarray(adj, dtype=np.float64)
    ids = [str(i) for i in ids]
    if adj.ndim != 2 or adj.shape != (len(ids), len(ids)):
        raise DataError(
            f"{path}: adj_mx has shape {adj.shape}, expected ({len(ids)}, {len(ids)}) for {len(ids)} ids"
        )
    order = sorted(((int(v), str(k)) for k, v in dict(id_to_ind).items()))
    if [k for _, k in order] != ids:
        raise DataError(f"{path}: sensor_id_to_ind does not agree with the order of sensor_ids")
    return ids, adj


def matrix_to_edges(adj: np.ndarray, ids: Sequence[str]) -> pd.DataFrame:
    """Non-zero off-diagonal entries of an (N, N) weight matrix as ``src, dst, weight`` rows.

    ``adj[i, j]`` is read as the edge i -> j (DCRNN's convention). Self-loops are dropped: the graph
    code adds its own, and a road distance of a VD to itself carries nothing.
    """
    adj = np.asarray(adj, dtype=np.float64)
    finite = np.where(np.isfinite(adj), adj, 0.0)
    np.fill_diagonal(finite, 0.0)
    src, dst = np.nonzero(finite)
    ids = np.asarray([str(i) for i in ids], dtype=object)
    return pd.DataFrame({"src": ids[src], "dst": ids[dst], "weight": finite[src, dst]})


def read_matrix(path: str | Path) -> tuple[np.ndarray, list[str] | None]:
    """A dense (N, N) adjacency from CSV (optional header of ids), ``.npy``/``.npz`` or a pickle.

    Returns:
        ``(adj, ids)``; ``ids`` is None unless the file names them (CSV header, DCRNN pickle).
    """
    path = check_file(path, "adjacency file")
    suffix = path.suffix.lower()
    ids: list[str] | None = None
    if suffix in (".pkl", ".pickle"):
        raw = load_pickle(path)
        if isinstance(raw, (list, tuple)) and len(raw) == 3:
            ids, adj = read_adjacency_pickle(path)
            return adj, ids
        adj = np.asarray(raw)
    elif suffix in (".npy", ".npz"):
        adj = load_array(path)
    else:
        header = not all(map(_is_number, _first_line(path)))
        frame = read_csv(path, header=header)
        if header:
            ids = [str(c) for c in frame.columns]
        adj = np.column_stack([to_float(frame[c], path, str(c)) for c in frame.columns])
    if adj.ndim != 2 or adj.shape[0] != adj.shape[1]:
        raise DataError(f"{path}: adjacency matrix must be square (N, N), got shape {adj.shape}")
    if np.isnan(adj).any():
        row, col = np.argwhere(np.isnan(adj))[0]
        raise DataError(f"{path}: adjacency matrix has an empty/NaN entry at row {row}, column {col}")
    return adj, ids


def read_edge_list(path: str | Path, value: str = "auto", cost_unit: str = "m") -> pd.DataFrame:
    """Read an edge list ``src,dst[,distance|cost|weight]`` (header optional, e.g. ``from,to,cost``).

    Args:
        path: CSV or Parquet file.
        value: what the third column is: ``"distance"`` (road distance, scaled by ``cost_unit`` to
            metres), ``"weight"``, or ``"auto"``: by its header name (``weight`` -> weight, else distance).
        cost_unit: unit of a distance column: ``m``, ``km`` or ``mi``.

    Returns:
        Frame ``src, dst`` (str) and ``distance_m`` and/or ``weight``; without a third column, weight 1.
    """
    path = check_file(path, "edges file")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    header = parquet or not all(map(_is_number, _first_line(path)[2:3] or ["0"]))
    raw = read_table(path) if header else read_csv(path, header=False)
    cols = [str(c) for c in raw.columns]
    raw.columns = cols
    if len(cols) < 2:
        raise DataError(f"{path}: an edge list needs columns src,dst[,distance|cost|weight]; found {cols}")
    lower = [c.lower() for c in cols]
    src_col = next(
        (cols[i] for i, c in enumerate(lower) if c in ("src", "from", "origin_id", "source")), cols[0]
    )
    dst_col = next(
        (cols[i] for i, c in enumerate(lower) if c in ("dst", "to", "destination_id", "target")), cols[1]
    )
    rest = [c for c in cols if c not in (src_col, dst_col)]
    out = pd.DataFrame({"src": normalise_ids(raw[src_col]), "dst": normalise_ids(raw[dst_col])})
    if not rest:
        out["weight"] = 1.0
        return out
    val_col = next(
        (c for c in rest if c.lower() in ("distance_m", "distance", "cost", "dist", "weight")), rest[0]
    )
    vals = to_float(raw[val_col], path, val_col)
    if np.isnan(vals).any():
        row = int(np.flatnonzero(np.isnan(vals))[0])
        raise DataError(f"{path}: column {val_col!r} has an empty value at row {row}")
    kind = value if value != "auto" else ("weight" if val_col.lower() == "weight" else "distance")
    if kind == "weight":
        out["weight"] = vals
    else:
        if cost_unit not in COST_UNITS:
            raise UserError(f"--cost-unit {cost_unit!r}: valid units are {list(COST_UNITS)}")
        scale = 1.0 if val_col.lower() == "distance_m" else COST_UNITS[cost_unit]
        out["distance_m"] = vals * scale
        if (out["distance_m"] < 0).any():
            row = int(np.flatnonzero(out["distance_m"].to_numpy() < 0)[0])
            raise DataError(f"{path}: column {val_col!r} has a negative distance at row {row}")
    if "weight" in out and "weight" in cols and val_col != "weight":
        out["weight"] = to_float(raw["weight"], path, "weight")
    return out


def read_edges(
    path: str | Path, ids: Sequence[str] | None = None, value: str = "auto", cost_unit: str = "m"
) -> pd.DataFrame:
    """Read a graph file: an edge list, or a dense adjacency matrix (CSV/NPY/NPZ/pickle).

    A file is a dense matrix when it is ``.npy``/``.npz``/``.pkl``, or a CSV with more than 3 columns, or
    a CSV whose header is exactly the VD ids. A matrix without ids of its own takes ``ids``
    (the VD order of the series), as T-GCN's ``los_adj.csv`` follows the columns of ``los_speed.csv``.

    Returns:
        Frame ``src, dst`` and ``distance_m`` and/or ``weight``; self-loops dropped.
    """
    path = check_file(path, "edges file")
    suffix = path.suffix.lower()
    dense = suffix in (".npy", ".npz", ".pkl", ".pickle")
    if suffix not in (".parquet", ".pq") and not dense:
        first = _first_line(path)
        header = not all(map(_is_number, first))
        # A header of VD ids, or more than 3 columns, is a matrix; a 2- or 3-column file without header
        # is read as an edge list (a 2- or 3-VD matrix must name its VDs in a header to be recognised).
        dense = len(first) > 3 or (header and ids is not None and set(first) == {str(i) for i in ids})
    if not dense:
        edges = read_edge_list(path, value, cost_unit)
        return edges[edges["src"] != edges["dst"]].reset_index(drop=True)
    adj, own_ids = read_matrix(path)
    if own_ids is None:
        if ids is None:
            raise DataError(f"{path}: a dense adjacency matrix without ids needs the VD order of the series")
        own_ids = [str(i) for i in ids]
    if len(own_ids) != adj.shape[0]:
        raise DataError(
            f"{path}: adjacency matrix is {adj.shape[0]}x{adj.shape[1]} but there are {len(own_ids)} VDs"
        )
    edges = matrix_to_edges(adj, own_ids)
    if value == "distance":
        edges = edges.rename(columns={"weight": "distance_m"})
        edges["distance_m"] *= COST_UNITS[cost_unit]
    return edges


def haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in metres between WGS84 points (degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def finish_edges(
    edges: pd.DataFrame, stations: pd.DataFrame, path: str | Path, drop_unknown: bool = False
) -> pd.DataFrame:
    """Check edge endpoints against the stations and fill ``distance_m`` where the source has none.

    A missing distance is the haversine distance of the endpoints' coordinates; when an endpoint has no
    coordinates the edge cannot get a distance and this raises (a NaN distance is never written).

    Args:
        edges: ``src, dst`` [, ``distance_m``] [, ``weight``].
        stations: the VDs (``vd_id, lat, lon``).
        path: file the edges came from (for messages).
        drop_unknown: drop edges touching unknown VDs (DCRNN distance files cover more sensors than the
            series) instead of raising.

    Returns:
        ``src, dst, distance_m`` [, ``weight``], duplicates rejected.
    """
    edges = edges.copy()
    known = set(stations["vd_id"])
    unknown = ~edges["src"].isin(known) | ~edges["dst"].isin(known)
    if unknown.any():
        if drop_unknown:
            edges = edges[~unknown]
        else:
            row = int(np.flatnonzero(unknown.to_numpy())[0])
            bad = edges["src"].iloc[row] if edges["src"].iloc[row] not in known else edges["dst"].iloc[row]
            raise DataError(
                f"{path}: edge row {row} ({edges['src'].iloc[row]} -> {edges['dst'].iloc[row]}) names VD "
                f"{bad!r} "
                f"which has no station/series{suggest(bad, sorted(known))}; {int(unknown.sum())} such edges"
            )
    edges = edges.reset_index(drop=True)
    dup = edges.duplicated(["src", "dst"], keep=False)
    if dup.any():
        rows = list(np.flatnonzero(dup.to_numpy())[:3])
        raise DataError(
            f"{path}: duplicate edge {edges['src'].iloc[rows[0]]} -> {edges['dst'].iloc[rows[0]]} (rows "
            f"{rows})"
        )
    if "distance_m" not in edges:
        edges["distance_m"] = np.nan
    need = edges["distance_m"].isna().to_numpy()
    if need.any():
        where = stations.set_index("vd_id")
        lat1, lon1 = where.loc[edges["src"], "lat"].to_numpy(), where.loc[edges["src"], "lon"].to_numpy()
        lat2, lon2 = where.loc[edges["dst"], "lat"].to_numpy(), where.loc[edges["dst"], "lon"].to_numpy()
        dist = haversine_m(lat1, lon1, lat2, lon2)
        fill = need & np.isfinite(dist)
        edges.loc[fill, "distance_m"] = dist[fill]
        if (need & ~np.isfinite(dist)).any():
            row = int(np.flatnonzero(need & ~np.isfinite(dist))[0])
            raise DataError(
                f"{path}: edge {edges['src'].iloc[row]} -> {edges['dst'].iloc[row]} has no distance and "
                "its VDs "
                "have no coordinates; give a distance column (src,dst,distance) or a stations file"
            )
    cols = ["src", "dst", "distance_m"] + (["weight"] if "weight" in edges else [])
    return edges[cols]


def stations_for(
    ids: Sequence[str], stations: pd.DataFrame | None, edges: pd.DataFrame | None, path: str | Path
) -> pd.DataFrame:
    """The stations table for the VDs of the series, in series order.

    VDs absent from ``stations`` (or all VDs when there is no stations file) get null coordinates,
    which is allowed only when a graph is given; otherwise this raises naming example VDs.
    """
    frame = pd.DataFrame({"vd_id": [str(i) for i in ids]})
    if stations is not None:
        frame = frame.merge(stations, on="vd_id", how="left")
    else:
        frame["lat"] = np.nan
        frame["lon"] = np.nan
    lost = frame["lat"].isna() | frame["lon"].isna()
    if lost.any() and edges is None:
        examples = frame.loc[lost, "vd_id"].head(3).tolist()
        have = [] if stations is None else stations["vd_id"].head(3).tolist()
        hint = f"; the stations file has ids such as {have}" if have else ""
        raise DataError(
            f"{path}: {int(lost.sum())} VDs have observations but no coordinates (e.g. {examples}){hint}; "
            "give a stations file with their lat/lon (--stations) or a graph (--edges)"
        )
    return frame


# ------------------------------------------------------------------------------ sources, options
CALTRANS_UNITS = {"flow": "veh/5min", "occupancy": "fraction", "speed": "mph"}
"""Units of the Caltrans PeMS-derived benchmarks (PEMS0x, PEMS-BAY, METR-LA): counts per 5 minutes,
occupancy as a fraction of time (0..1), speed in miles per hour."""


def expand_sources(sources: Sequence[str | Path]) -> list[Path]:
    """Files named in SRC; a directory stands for the files directly in it (sorted, hidden ones skipped)."""
    if not sources:
        raise UserError("no source files given (SRC...)")
    files: list[Path] = []
    for src in map(Path, sources):
        if src.is_dir():
            files += sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
        elif src.exists():
            files.append(src)
        else:
            raise DataError(f"{src}: source not found")
    return files


def pick_file(files: Sequence[Path], what: str, *patterns: str, required: bool = True) -> Path | None:
    """The one file among ``files`` whose name matches a glob pattern (tried in order).

    Raises:
        DataError: several files match a pattern, or none matches and ``required``.
    """
    for pattern in patterns:
        hits = [f for f in files if f.match(pattern)]
        if len(hits) > 1:
            raise DataError(
                f"several {what} files match {pattern!r}: {[str(h) for h in hits]}; name one in SRC"
            )
        if hits:
            return hits[0]
    if required:
        raise DataError(f"no {what} file ({' or '.join(patterns)}) among {[str(f) for f in files]}")
    return None


def add_graph_arguments(parser, stations_help: str = "CSV/Parquet with VD id, lat, lon per VD") -> None:
    """Options shared by the importers that take a stations file and/or a graph file."""
    parser.add_argument("--stations", metavar="FILE", help=stations_help)
    parser.add_argument(
        "--station-cols",
        metavar="MAP",
        help="column names of the stations file, e.g. 'vd_id=sensor,lat=y,lon=x' (default: found by name)",
    )
    parser.add_argument(
        "--edges",
        metavar="FILE",
        help=(
            "graph: edge list src,dst[,distance|cost|weight] (CSV/Parquet) or dense N x N matrix "
            "(CSV/NPY/pickle)"
        ),
    )
    parser.add_argument(
        "--edge-value",
        choices=("auto", "distance", "weight"),
        default="auto",
        help="meaning of the edge value: 'auto' = a column named weight is a weight, else a road distance; "
        "a dense matrix is a weight matrix (default: auto)",
    )
    parser.add_argument(
        "--cost-unit",
        choices=tuple(COST_UNITS),
        default="m",
        help="unit of edge distances/costs (default: m)",
    )

"""Times of source files: local start times, regular grids, parsing, localising, the sampling interval.

* Series without timestamps (los-loop, PEMS0x, BasicTS) are laid on a grid that is regular in absolute
  time, starting at a local wall-clock ``--start`` (:func:`regular_times`).
* Timestamps with a UTC offset are exact; naive local ones (DCRNN h5, naive long/wide tables) are
  localised to ``--tz`` with explicit rules for the hours daylight saving repeats or skips
  (:func:`localise`).
* :func:`check_freq` infers the interval of a time column, or checks that a given ``--freq`` fits it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import TIME_COL
from social_xlstm.errors import DataError, UserError

_OFFSET_RE = r"(?:Z|[+-]\d\d(?::?\d\d)?)\s*$"


def time_zone(name: str) -> str:
    """``--tz`` of every importer (argparse type): an IANA zone name, checked before anything is read or written.

    Raises:
        argparse.ArgumentTypeError: an unknown zone (argparse prints it and exits with status 2).
    """
    import argparse
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {name!r}; use an IANA name such as 'America/Los_Angeles' or 'UTC'"
        ) from err
    return name


def parse_start(text: str, option: str = "--start") -> pd.Timestamp:
    """A naive local wall-clock start time such as ``2018-01-01`` or ``2018-01-01 00:00``."""
    try:
        start = pd.Timestamp(text)
    except (ValueError, TypeError) as err:
        raise UserError(f"{option} {text!r} is not a date/time such as '2018-01-01 00:00'") from err
    if start.tzinfo is not None:
        raise UserError(f"{option} {text!r}: give a local wall-clock time without offset (the zone is --tz)")
    return start


def regular_times(start: pd.Timestamp, periods: int, freq: Freq, tz: str) -> pd.DatetimeIndex:
    """``periods`` UTC timestamps ``freq`` apart from the local wall-clock ``start`` in ``tz``.

    The grid is regular in absolute time (no DST jumps): files without timestamps are sampled by a
    clock that does not stop or repeat an hour.
    """
    first = start.tz_localize(tz, ambiguous=True, nonexistent="shift_forward").tz_convert("UTC")
    return pd.date_range(first, periods=periods, freq=freq.delta)


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
            raise DataError(msg + "; the clock of this file ignores DST: pass a fixed-offset zone (e.g. 'Etc/GMT+8')")
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
                f"{path}: column {column!r} has unparsable timestamps ({int(bad.sum())} rows, e.g. {examples})"
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
    times: pd.Series | pd.DatetimeIndex, path: str | Path, freq: Freq | None, column: str = TIME_COL
) -> Freq:
    """Infer the sampling interval of a time column, or check that a given ``freq`` fits it.

    The interval is the most common step between distinct timestamps; every timestamp must lie on the
    grid ``t0 + k * freq`` (missing slots are fine, off-grid times are not).

    Returns:
        ``freq`` itself when given, else the inferred interval.
    """
    unique = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(times))).sort_values().as_unit("ns")
    if len(unique) < 2:
        if freq is None:
            raise DataError(f"{path}: column {column!r} has a single timestamp; pass --freq")
        return freq
    steps = pd.Series(np.diff(unique.asi8))
    common = pd.Timedelta(int(steps.mode().iloc[0]), unit="ns")
    grid = freq if freq is not None else Freq.from_delta(common)
    offset = (unique.asi8 - unique.asi8[0]) % grid.ns
    if freq is not None and freq.delta != common:
        raise DataError(
            f"{path}: --freq {freq} does not match the data: timestamps in {column!r} are mostly "
            f"{Freq.from_delta(common)} apart (e.g. {unique[0]} -> {unique[1]})"
        )
    if (offset != 0).any():
        rows = np.flatnonzero(offset != 0)[:3]
        examples = ", ".join(str(unique[r]) for r in rows)
        raise DataError(
            f"{path}: column {column!r}: timestamps are not on a regular {Freq.from_delta(grid.delta)} grid "
            f"from {unique[0]} (e.g. {examples}){' ; --freq does not match the data' if freq else ''}"
        )
    return grid


def to_utc(
    values: pd.Series,
    path: str | Path,
    column: str,
    *,
    tz: str | None,
    dst_gap: str,
    keys: pd.Series | None = None,
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """A time column as UTC: :func:`parse_times`, then :func:`localise` when the times are naive.

    Returns:
        ``(utc_times, keep)`` as :func:`localise`.
    """
    parsed, naive = parse_times(values, path, column, tz)
    if naive:
        return localise(parsed, tz, path, column=column, keys=keys, gap=dst_gap)
    return pd.DatetimeIndex(parsed), np.ones(len(parsed), dtype=bool)

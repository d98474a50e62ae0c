"""Times: offsets and naive times, DST's repeated and skipped hours, the interval check, regular grids."""

from __future__ import annotations

import pandas as pd
import pytest

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.importers.common.times import check_freq, localise, parse_times, regular_times
from social_xlstm.errors import DataError


def test_parse_times_offsets_mixed_unparsable(tmp_path):
    f = tmp_path / "t.csv"
    got, naive = parse_times(
        pd.Series(["2024-01-01T08:00:00+08:00", "2024-01-01T00:05:00Z"]), f, "t", None
    )
    assert not naive and got.tolist() == [
        pd.Timestamp("2024-01-01 00:00", tz="UTC"),
        pd.Timestamp("2024-01-01 00:05", tz="UTC"),
    ]
    with pytest.raises(DataError, match=r"mixes time zones: row 0 .* row 1 '2024-01-01 00:05:00' has none"):
        parse_times(pd.Series(["2024-01-01T08:00:00+08:00", "2024-01-01 00:05:00"]), f, "t", "UTC")
    with pytest.raises(DataError, match=r"unparsable timestamps \(1 rows, e.g. row 1: 'yesterday'\)"):
        parse_times(pd.Series(["2024-01-01 00:00", "yesterday"]), f, "t", "UTC")
    with pytest.raises(DataError, match="pass --tz"):
        parse_times(pd.Series(["2024-01-01 00:00"]), f, "t", None)


def test_localise_ambiguous_and_skipped_hours(tmp_path):
    # 2012-11-04 01:30 occurs twice in Los Angeles: first PDT (-7), then PST (-8)
    naive = pd.Series(pd.to_datetime(["2012-11-04 01:30", "2012-11-04 01:30", "2012-11-04 01:30"]))
    keys = pd.Series(["a", "a", "b"])
    utc, keep = localise(naive, "America/Los_Angeles", tmp_path / "f", keys=keys)
    assert keep.all()
    assert list(utc) == [
        pd.Timestamp(t, tz="UTC") for t in ("2012-11-04 08:30", "2012-11-04 09:30", "2012-11-04 08:30")
    ]
    gap = pd.Series(pd.to_datetime(["2012-03-11 01:55", "2012-03-11 02:00", "2012-03-11 03:00"]))
    with pytest.raises(DataError, match=r"1 rows fall in the hour skipped .*row 1: 2012-03-11 02:00:00"):
        localise(gap, "America/Los_Angeles", tmp_path / "f")
    with pytest.warns(UserWarning, match="dropped"):
        utc, keep = localise(gap, "America/Los_Angeles", tmp_path / "f", gap="drop")
    assert keep.tolist() == [True, False, True]
    assert list(utc) == [
        pd.Timestamp("2012-03-11 09:55", tz="UTC"),
        pd.Timestamp("2012-03-11 10:00", tz="UTC"),
    ]


def test_check_freq_infers_and_rejects(tmp_path):
    f = tmp_path / "f.csv"
    times = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 01:00"], tz="UTC")
    assert check_freq(times, f, None).alias == "15min"  # the 45-minute hole is missing slots
    with pytest.raises(DataError, match="--freq 5min does not match the data.*15min apart"):
        check_freq(times, f, Freq.parse("5min"))
    off = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 00:15", "2024-01-01 00:31"], tz="UTC")
    with pytest.raises(DataError, match="not on a regular 15min grid .*00:31"):
        check_freq(off, f, None)


def test_regular_times_across_dst_is_regular_in_utc():
    times = regular_times(pd.Timestamp("2012-03-11 01:50"), 3, Freq.parse("5min"), "America/Los_Angeles")
    assert list(times) == [
        pd.Timestamp(t, tz="UTC") for t in ("2012-03-11 09:50", "2012-03-11 09:55", "2012-03-11 10:00")
    ]

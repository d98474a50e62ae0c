"""Calendar features in the network's local time: time of day and day of week as sin/cos pairs.

Local time matters because traffic follows the local clock (rush hours move with daylight saving time).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from social_xlstm.errors import DataError

TIME_FEATURE_NAMES = ("tod_sin", "tod_cos", "dow_sin", "dow_cos")
_DAY_S = 24 * 3600


def _local(timestamps: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    if timestamps.tz is None:
        raise DataError("time features: timestamps have no time zone (the panel stores UTC)")
    return timestamps.tz_convert(timezone)


def _seconds_of_day(local: pd.DatetimeIndex) -> np.ndarray:
    return (local.hour.to_numpy() * 3600 + local.minute.to_numpy() * 60 + local.second.to_numpy()).astype(np.float64)


def time_features(timestamps: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Sin/cos of the local time of day and of the local day of week.

    Args:
        timestamps: (T,) tz-aware timestamps.
        timezone: IANA zone of the road network, e.g. ``"America/Los_Angeles"``.

    Returns:
        (T, 4) float32: ``[sin, cos]`` of ``2 pi * seconds_of_day / 86400`` then of
        ``2 pi * (weekday + seconds_of_day / 86400) / 7`` (Monday = 0), see :data:`TIME_FEATURE_NAMES`.
    """
    local = _local(timestamps, timezone)
    day = _seconds_of_day(local) / _DAY_S  # (T,) fraction of the day
    week = (local.dayofweek.to_numpy() + day) / 7.0  # (T,) fraction of the week
    return np.stack(
        [
            np.sin(2 * np.pi * day),
            np.cos(2 * np.pi * day),
            np.sin(2 * np.pi * week),
            np.cos(2 * np.pi * week),
        ],
        axis=1,
    ).astype(np.float32)  # (T, 4)


def slot_of_week(timestamps: pd.DatetimeIndex, timezone: str, freq_minutes: float) -> np.ndarray:
    """Index of each timestamp's slot in the local week (Monday 00:00 = 0), for the historical average.

    Args:
        timestamps: (T,) tz-aware timestamps.
        timezone: IANA zone of the road network.
        freq_minutes: slot length in minutes (the sampling interval).

    Returns:
        (T,) int64 in ``[0, 7 * 1440 / freq_minutes)``.
    """
    local = _local(timestamps, timezone)
    minutes = local.dayofweek.to_numpy() * 1440 + _seconds_of_day(local) / 60.0
    return np.floor(minutes / freq_minutes + 1e-9).astype(np.int64)

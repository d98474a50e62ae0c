"""Taiwan VD readings -> values: lanes to one reading, readings to one row per ``--freq`` interval.

The rules (also in ``docs/ingest-taiwan.md`` and the :mod:`.taiwan_vd` docstring): a reading's flow is the
sum of its lanes' volumes, its speed their volume-weighted mean, its occupancy their mean; an interval's
flow is the readings' sum scaled to the expected number of readings (missing below half of them), its
speed the flow-weighted mean, its occupancy the mean. :class:`Collector` keeps the readings as compact
columns while the files stream past (one VD-minute costs about 40 bytes).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter

import numpy as np
import pandas as pd

from social_xlstm.data.importers.taiwan_vd.parse import Interval, Lane, Reading, VDInfo, parse_time
from social_xlstm.errors import DataError

VARIABLES = ("flow", "speed", "occupancy")
DEFAULT_INTERVAL_S = 60
_EXAMPLES = 5


def aggregate_lanes(lanes: list[Lane], partial_lanes: str = "missing") -> tuple[float, float, float]:
    """Flow, speed and occupancy of one reading from its lanes (rules in the module docstring).

    Args:
        lanes: the reading's lanes, NaN where a value is missing.
        partial_lanes: ``"missing"`` (flow missing when a lane's volume is) or ``"scale"``.

    Returns:
        ``(flow, speed, occupancy)``, NaN where missing.
    """
    if not lanes:
        return math.nan, math.nan, math.nan
    known = [lane.volume for lane in lanes if not math.isnan(lane.volume)]
    if len(known) == len(lanes):
        flow = sum(known)
    elif known and partial_lanes == "scale":
        flow = sum(known) * len(lanes) / len(known)
    else:
        flow = math.nan
    with_speed = [
        lane
        for lane in lanes
        if not math.isnan(lane.speed) and not (lane.speed == 0 and lane.volume == 0 and not lane.occupancy > 0)
    ]
    weight = sum(lane.volume for lane in with_speed if lane.volume > 0)
    if weight > 0:
        speed = sum(lane.speed * lane.volume for lane in with_speed if lane.volume > 0) / weight
    elif with_speed:
        speed = sum(lane.speed for lane in with_speed) / len(with_speed)
    else:
        speed = math.nan
    occupancies = [lane.occupancy for lane in lanes if not math.isnan(lane.occupancy)]
    occupancy = sum(occupancies) / len(occupancies) if occupancies else math.nan
    return flow, speed, occupancy


class Collector:
    """Readings as compact columns (one VD-minute costs ~40 bytes), static VDs, declared intervals, counts."""

    def __init__(self, partial_lanes: str) -> None:
        self.partial_lanes = partial_lanes
        self.codes: dict[str, int] = {}
        self.vd = array("i")
        self.time = array("q")
        self.values = [array("d") for _ in VARIABLES]
        self.stations: dict[str, VDInfo] = {}
        self.intervals: dict[int, str] = {}
        self.counts: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}

    def _note(self, what: str, example: str) -> None:
        self.counts[what] += 1
        shown = self.examples.setdefault(what, [])
        if len(shown) < _EXAMPLES:
            shown.append(example)

    def add(self, record: Reading | VDInfo | Interval, label: str) -> None:
        if isinstance(record, Interval):
            self.intervals.setdefault(record.seconds, record.label)
        elif isinstance(record, VDInfo):
            if record.vd_id:
                self.stations[record.vd_id] = record  # later files (newer lists) win
            else:
                self._note("static entry without VDID", label)
        elif not record.vd_id:
            self._note("reading without VDID", label)
        else:
            try:
                seconds = parse_time(record.time)
            except ValueError:
                self._note("reading with unreadable DataCollectTime", f"{label}: {record.vd_id} {record.time!r}")
                return
            if record.status != 0:
                values = (math.nan,) * len(VARIABLES)
                self.counts["faulty readings (Status != 0)"] += 1
            else:
                values = aggregate_lanes(record.lanes, self.partial_lanes)
            self.vd.append(self.codes.setdefault(record.vd_id, len(self.codes)))
            self.time.append(seconds)
            for column, value in zip(self.values, values, strict=True):
                column.append(value)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({"vd": np.frombuffer(self.vd, dtype=np.int32), "t": np.frombuffer(self.time, np.int64)})
        for name, column in zip(VARIABLES, self.values, strict=True):
            frame[name] = np.frombuffer(column, dtype=np.float64)
        return frame


def reading_interval(frame: pd.DataFrame, declared: dict[int, str]) -> int:
    """Seconds one reading covers: as the files declare it, else the commonest gap, else one minute."""
    if len(declared) > 1:
        listed = ", ".join(f"{s} s ({label})" for s, label in sorted(declared.items()))
        raise DataError(f"files declare different reading intervals: {listed}; ingest them separately")
    if declared:
        return next(iter(declared))
    ordered = frame.sort_values(["vd", "t"])
    gaps = ordered["t"].diff()[ordered["vd"].eq(ordered["vd"].shift())]
    gaps = gaps[gaps > 0]
    return int(gaps.mode().iloc[0]) if len(gaps) else DEFAULT_INTERVAL_S


def resample(frame: pd.DataFrame, freq_s: int, interval_s: int) -> pd.DataFrame:
    """Readings -> one row per (VD, interval start); rules in the module docstring.

    Args:
        frame: columns ``vd``, ``t`` (UTC epoch seconds, unique per VD), ``flow``, ``speed``, ``occupancy``.
        freq_s: target interval in seconds, a multiple of ``interval_s``.
        interval_s: seconds one reading covers.

    Returns:
        Columns ``vd``, ``t`` (interval start), ``flow``, ``speed``, ``occupancy``, sorted by ``t, vd``.
    """
    expected = freq_s // interval_s
    flow, speed = frame["flow"], frame["speed"]
    weighted = flow.notna() & speed.notna() & (flow > 0)
    work = pd.DataFrame(
        {
            "vd": frame["vd"],
            "t": frame["t"] - frame["t"] % freq_s,
            "flow": flow,
            "speed": speed,
            "occupancy": frame["occupancy"],
            "fs": (flow * speed).where(weighted, 0.0),
            "fw": flow.where(weighted, 0.0),
        }
    )
    grouped = work.groupby(["t", "vd"], sort=True).agg(
        n=("flow", "count"),
        flow_sum=("flow", "sum"),
        fs=("fs", "sum"),
        fw=("fw", "sum"),
        speed_mean=("speed", "mean"),
        occupancy=("occupancy", "mean"),
    )
    enough = grouped["n"] * 2 >= expected
    out = pd.DataFrame(index=grouped.index)
    out["flow"] = (grouped["flow_sum"] * expected / grouped["n"].clip(lower=1)).where(enough)
    out["speed"] = (grouped["fs"] / grouped["fw"].where(grouped["fw"] > 0)).fillna(grouped["speed_mean"])
    out["occupancy"] = grouped["occupancy"]
    return out.reset_index()

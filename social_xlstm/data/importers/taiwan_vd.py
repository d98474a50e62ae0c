"""Importer ``taiwan-vd``: Taiwan vehicle-detector feeds (TDX schema v2.0, NFB v1.1) -> canonical dataset.

``social-xlstm ingest taiwan-vd SRC... --out DIR [--freq 5min] [--drop-unlocated] [--partial-lanes scale]``

SRC are files, directories (walked recursively) or zip archives holding any mix of VDList / VDLiveList
files in XML or JSON (gzip or not, whatever their names) and older NFB v1.1 ``vd_info_*.xml`` /
``vd_value*_*.xml.gz`` files. Files are found and opened in :mod:`.taiwan_vd_files`, records built in
:mod:`.taiwan_vd_parse`; this module aggregates and writes.
The rules, also in ``docs/ingest-taiwan.md``:

Lane values. Error codes (-99 in any spelling, -1 and other negatives, 255), out-of-range values (speed > 200
km/h, occupancy > 100 %, volume > 60 vehicles per lane and minute) and lanes with a per-lane ``ErrorType``
(e.g. ``"diag0"``) are missing. A lane's volume is the sum over its vehicle types (S, L, M, T, ...); if one
type is missing the lane's volume is missing. A lane's speed falls back to the volume-weighted mean of its
vehicles' own ``Speed`` when the lane speed is missing. A lane reporting speed 0 with volume 0 and occupancy
0 saw no vehicle: its speed is missing, not 0 (with occupancy > 0 it is standing traffic and stays 0).

One reading (VD, ``DataCollectTime``), over all lanes of all its links (a bidirectional VD's links are
summed too). ``Status`` != 0 (faulty detector) makes all three values missing.
  * flow      = sum of lane volumes; missing if any lane's volume is missing (``--partial-lanes scale``
                instead scales the known lanes' sum by lanes / lanes reported).
  * speed     = volume-weighted mean of the lanes' speeds; the plain mean of the valid lane speeds when
                the lanes with a speed counted no vehicle.
  * occupancy = mean of the valid lane occupancies.

Resampling to ``--freq`` (default 5min). The reading interval is the one the live files declare
(``UpdateInterval`` 60 s in TDX, ``interval`` in NFB v1.1), else the most common gap between a VD's
readings, else 1 minute. A (VD, time) seen twice (consecutive snapshots repeat VDs that did not update) is
kept once, the last file in name order winning. Intervals are left-closed and labelled by their START
([17:35, 17:40) -> 17:35), aligned to whole multiples of ``--freq`` since the UTC epoch (local hours too,
Taiwan being UTC+8). Per interval, with ``expected`` = freq / reading interval:
  * flow      = sum over the readings with a flow x expected / observed, when observed >= expected / 2;
                missing otherwise (e.g. 5min from 1-minute data needs 3 of the 5 minutes).
  * speed     = flow-weighted mean of the readings' speeds; plain mean when their flow sums to 0.
  * occupancy = mean of the readings' occupancies.
Flow is thus in vehicles per ``--freq`` interval (``veh/5min``).

Times: ``DataCollectTime`` with offset as given, without (NFB ``2020/01/31 23:55:00``) Asia/Taipei local;
stored in UTC, ``dataset.json`` says timezone ``Asia/Taipei``.

Stations: ``vd_id`` as in the files (NFB v1.1's ``nfbVD-`` prefix is kept, so ids match between its
vd_info and vd_value files), ``lat``/``lon`` (PositionLat/Lon, NFB py/px; 0 = unknown), ``road`` (RoadID,
else RoadName; NFB routeid), ``direction`` (RoadDirection of the first DetectionLink, else from the VDID),
``lanes`` (sum of LaneNum over the VD's links, matching the flow summed over all links), ``name`` (road,
section and mile), ``km`` (LocationMile ``15K+700`` -> 15.7, else from the VDID). A VD with readings but
no static entry or no position is an error listing them, unless ``--drop-unlocated`` drops them (warned).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from array import array
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.importers.taiwan_vd_files import iter_file, list_files
from social_xlstm.data.importers.taiwan_vd_parse import (
    Interval,
    Lane,
    Reading,
    VDInfo,
    parse_time,
)
from social_xlstm.data.schema import DatasetMeta, write_dataset
from social_xlstm.errors import DataError, UserError
from social_xlstm.progress import progress_enabled

log = logging.getLogger(__name__)

VARIABLES = ("flow", "speed", "occupancy")
LICENCE = "Open Government Data License, version 1.0 (Taiwan)"
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
        if not math.isnan(lane.speed)
        and not (lane.speed == 0 and lane.volume == 0 and not lane.occupancy > 0)
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


class _Collector:
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
                self._note(
                    "reading with unreadable DataCollectTime", f"{label}: {record.vd_id} {record.time!r}"
                )
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
        frame = pd.DataFrame(
            {"vd": np.frombuffer(self.vd, dtype=np.int32), "t": np.frombuffer(self.time, np.int64)}
        )
        for name, column in zip(VARIABLES, self.values, strict=True):
            frame[name] = np.frombuffer(column, dtype=np.float64)
        return frame


def _reading_interval(frame: pd.DataFrame, declared: dict[int, str]) -> int:
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


def _freq_seconds(freq: str) -> int:
    try:
        seconds = pd.Timedelta(pd.tseries.frequencies.to_offset(freq)).total_seconds()
    except (ValueError, TypeError) as err:
        raise UserError(f"--freq {freq!r} is not a fixed pandas frequency such as '5min' or '1h'") from err
    if seconds <= 0 or seconds != int(seconds):
        raise UserError(f"--freq {freq!r} must be a positive whole number of seconds")
    return int(seconds)


def _stations(
    collector: _Collector, vd_ids: list[str], drop_unlocated: bool
) -> tuple[pd.DataFrame, list[str]]:
    """Station rows for ``vd_ids`` and the ids kept; unlocated VDs raise or are dropped."""
    unknown = [v for v in vd_ids if v not in collector.stations]
    no_position = [
        v
        for v in vd_ids
        if v in collector.stations and None in (collector.stations[v].lat, collector.stations[v].lon)
    ]
    if (unknown or no_position) and not drop_unlocated:
        parts = []
        if unknown:
            parts.append(
                f"{len(unknown)} VD(s) with readings but no VDList/vd_info entry, e.g. {unknown[:10]}"
            )
        if no_position:
            parts.append(
                f"{len(no_position)} VD(s) with unknown position (missing or 0), e.g. {no_position[:10]}"
            )
        raise DataError(
            "stations: " + "; ".join(parts) + ". Add the static VDList (or vd_info) file to the sources, "
            "or pass --drop-unlocated to drop these VDs"
        )
    dropped = set(unknown) | set(no_position)
    if dropped:
        log.warning("taiwan-vd: dropped %d VD(s) without a known location (--drop-unlocated)", len(dropped))
    kept = [v for v in vd_ids if v not in dropped]
    rows = [collector.stations[v] for v in kept]
    stations = pd.DataFrame(
        {
            "vd_id": kept,
            "lat": [r.lat for r in rows],
            "lon": [r.lon for r in rows],
            "road": [r.road for r in rows],
            "direction": [r.direction for r in rows],
            "lanes": pd.array([r.lanes for r in rows], dtype="Int64"),
            "name": [r.name for r in rows],
            "km": pd.array([r.km for r in rows], dtype="Float64"),
        }
    )
    return stations, kept


def _progress(enabled: bool | None):
    if enabled is None:
        enabled = progress_enabled(sys.stderr)
    if not enabled:
        return nullcontext(None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("taiwan-vd"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
    )


def ingest_taiwan_vd(
    sources: list[str],
    out: str | Path,
    *,
    freq: str = "5min",
    name: str = "taiwan-vd",
    drop_unlocated: bool = False,
    partial_lanes: str = "missing",
    overwrite: bool = False,
    progress: bool | None = None,
) -> Path:
    """Read Taiwan VD files and write a canonical dataset directory (rules in the module docstring).

    Args:
        sources: files, directories or zip archives with VDList/VDLiveList (XML/JSON) or NFB v1.1 files.
        out: output dataset directory (written atomically).
        freq: output interval, a multiple of the readings' interval.
        name: dataset name in ``dataset.json``.
        drop_unlocated: drop VDs without a known position instead of raising.
        partial_lanes: ``"missing"`` or ``"scale"``: flow of a reading with some lanes missing.
        overwrite: replace an existing ``out``.
        progress: show a progress bar; ``None`` = only on a terminal and not under CI.

    Returns:
        The dataset directory.

    Raises:
        DataError: unreadable/corrupt file, no readings, unlocated VDs, mixed reading intervals.
        UserError: a bad option value.
    """
    if partial_lanes not in ("missing", "scale"):
        raise UserError(f"--partial-lanes {partial_lanes!r}: valid values are 'missing', 'scale'")
    freq_s = _freq_seconds(freq)
    files = list_files(sources)
    collector = _Collector(partial_lanes)
    nfb = False
    with _progress(progress) as bar:
        task = bar.add_task("files", total=len(files)) if bar is not None else None
        for path in files:
            for record in iter_file(path):
                nfb = nfb or (isinstance(record, Reading) and record.vd_id.startswith("nfbVD"))
                collector.add(record, str(path))
            if bar is not None:
                bar.advance(task)
    for what, count in sorted(collector.counts.items()):
        shown = collector.examples.get(what)
        level = logging.INFO if what.startswith("faulty") else logging.WARNING  # faulty detectors are routine
        log.log(level, "taiwan-vd: %d %s%s", count, what, f", e.g. {shown}" if shown else "")

    frame = collector.frame()
    if frame.empty:
        raise DataError(
            f"{', '.join(sources)}: no VD readings found in {len(files)} file(s) "
            f"({len(collector.stations)} static VD entries); a VDLiveList or vd_value file is needed"
        )
    n_readings = len(frame)
    frame = frame.drop_duplicates(["vd", "t"], keep="last")
    interval_s = _reading_interval(frame, collector.intervals)
    if freq_s % interval_s:
        raise UserError(f"--freq {freq} is not a whole multiple of the readings' interval ({interval_s} s)")
    observed = resample(frame, freq_s, interval_s)

    names = np.array(list(collector.codes), dtype=object)
    stations, kept = _stations(collector, sorted(collector.codes), drop_unlocated)
    observed["vd_id"] = names[observed["vd"].to_numpy()]
    observed = observed[observed["vd_id"].isin(set(kept))]
    if observed.empty:
        raise DataError(f"{', '.join(sources)}: no readings left after dropping VDs without a location")
    observations = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(observed["t"].to_numpy(), unit="s", utc=True),
            "vd_id": observed["vd_id"].to_numpy(),
            **{v: observed[v].to_numpy(dtype=np.float32) for v in VARIABLES},
        }
    ).sort_values(["timestamp", "vd_id"], kind="stable")
    meta = DatasetMeta(
        name=name,
        freq=freq,
        variables={"flow": f"veh/{freq}", "speed": "km/h", "occupancy": "%"},
        timezone="Asia/Taipei",
        source="NFB VD feed v1.1"
        if nfb and not any(not n.startswith("nfbVD") for n in names)
        else "TDX VD feed",
        licence=LICENCE,
    )
    log.info(
        "taiwan-vd: %d files, %d readings (%d repeated), reading interval %d s -> %d rows of %d VDs at %s",
        len(files),
        n_readings,
        n_readings - len(frame),
        interval_s,
        len(observations),
        len(kept),
        freq,
    )
    return write_dataset(out, observations, stations, meta, overwrite=overwrite)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest taiwan-vd`` (SRC, --out and --overwrite come from the CLI)."""
    parser.add_argument(
        "--freq", default="5min", help="output interval, a multiple of the readings' interval (default 5min)"
    )
    parser.add_argument("--name", default="taiwan-vd", help="dataset name written to dataset.json")
    parser.add_argument(
        "--drop-unlocated",
        action="store_true",
        help="drop VDs with readings but no VDList entry or no position (default: error listing them)",
    )
    parser.add_argument(
        "--partial-lanes",
        choices=("missing", "scale"),
        default="missing",
        help="flow of a reading with some lanes missing: missing (default) or scaled by lanes/lanes reported",
    )


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`ingest_taiwan_vd` with the parsed options."""
    return ingest_taiwan_vd(
        sources,
        out,
        freq=getattr(args, "freq", "5min"),
        name=getattr(args, "name", "taiwan-vd"),
        drop_unlocated=getattr(args, "drop_unlocated", False),
        partial_lanes=getattr(args, "partial_lanes", "missing"),
        overwrite=getattr(args, "overwrite", False),
    )

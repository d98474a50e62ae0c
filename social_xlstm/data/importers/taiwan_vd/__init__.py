"""Importer ``taiwan-vd``: Taiwan vehicle-detector feeds (TDX schema v2.0, NFB v1.1) -> canonical dataset.

``social-xlstm ingest taiwan-vd SRC... --out DIR [--freq 5min] [--drop-unlocated] [--partial-lanes scale]``

SRC are files, directories (walked recursively) or zip archives holding any mix of VDList / VDLiveList
files in XML or JSON (gzip or not, whatever their names) and older NFB v1.1 ``vd_info_*.xml`` /
``vd_value*_*.xml.gz`` files. Files are found and opened in :mod:`.files`, records built in
:mod:`.parse`, values aggregated in :mod:`.aggregate`; this module drives them and
writes.
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
import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.taiwan_vd.aggregate import VARIABLES, Collector, reading_interval, resample
from social_xlstm.data.importers.taiwan_vd.files import iter_file, list_files
from social_xlstm.data.importers.taiwan_vd.parse import Reading
from social_xlstm.errors import DataError, UserError
from social_xlstm.progress import progress_enabled

log = logging.getLogger(__name__)

LICENCE = "Open Government Data License, version 1.0 (Taiwan)"


def _stations(collector: Collector, vd_ids: list[str], drop_unlocated: bool) -> tuple[pd.DataFrame, list[str]]:
    """Station rows for ``vd_ids`` and the ids kept; unlocated VDs raise or are dropped."""
    unknown = [v for v in vd_ids if v not in collector.stations]
    no_position = [
        v for v in vd_ids if v in collector.stations and None in (collector.stations[v].lat, collector.stations[v].lon)
    ]
    if (unknown or no_position) and not drop_unlocated:
        parts = []
        if unknown:
            parts.append(f"{len(unknown)} VD(s) with readings but no VDList/vd_info entry, e.g. {unknown[:10]}")
        if no_position:
            parts.append(f"{len(no_position)} VD(s) with unknown position (missing or 0), e.g. {no_position[:10]}")
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

    return Progress(TextColumn("taiwan-vd"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)


def ingest_taiwan_vd(
    sources: list[str],
    out: str | Path,
    *,
    freq: str | Freq = "5min",
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
    freq = Freq.parse(freq, "--freq")
    if freq.ns % 1_000_000_000:
        raise UserError(f"--freq {freq.alias!r} must be a whole number of seconds")
    freq_s = freq.ns // 1_000_000_000
    files = list_files(sources)
    collector = Collector(partial_lanes)
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
    interval_s = reading_interval(frame, collector.intervals)
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
        source="NFB VD feed v1.1" if nfb and not any(not n.startswith("nfbVD") for n in names) else "TDX VD feed",
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
        freq=args.freq,
        name=args.name,
        drop_unlocated=args.drop_unlocated,
        partial_lanes=args.partial_lanes,
        overwrite=args.overwrite,
    )

"""Importer for LibCity atomic files (format ``libcity``): ``.geo``, ``.rel``, ``.dyna``, ``config.json``.

* ``.geo``: ``geo_id,type,coordinates,...``; ``coordinates`` is a JSON string ``"[lon, lat]"`` for points (a
  line string's points are averaged; ``"[]"`` or empty = unknown position).
* ``.rel``: ``rel_id,type,origin_id,destination_id,cost`` (the value column is ``weight_col`` of the config).
  With ``set_weight_link_or_dist: "link"`` the value is a link weight and ``distance_m`` comes from the
  coordinates; otherwise (``"dist"``, LibCity's default) it is a road distance in ``--cost-unit`` (metres).
* ``.dyna``: ``dyna_id,type,time,entity_id,<value columns>``; the variables are ``data_col`` of the config
  when set, else every value column (PEMSD4/8 mix ``traffic_flow``, ``traffic_occupancy``,
  ``traffic_speed``). A ``traffic_`` prefix is dropped from variable names.
* ``config.json``: ``data_col``, ``weight_col``, ``time_intervals`` (seconds), top level or under ``info``.

Time: LibCity writes times such as ``2012-03-01T00:00:00Z``, but for the traffic-state datasets converted
from DCRNN/ASTGCN files these are the local wall-clock times labelled ``Z``. Without ``--tz`` the ``Z`` is
taken literally (UTC, ``timezone: UTC``); with ``--tz ZONE`` the times are read as wall-clock times in
ZONE (e.g. ``--tz America/Los_Angeles`` for METR_LA, PEMS_BAY, PEMSD4/8), localised like the DCRNN
importer (``--dst-gap`` for the skipped hour) and stored in UTC. The interval must equal ``time_intervals``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import check_duplicates, require_columns
from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.importers.common.files import (
    check_file,
    expand_sources,
    pick_file,
    read_csv,
    read_json,
    to_float,
)
from social_xlstm.data.importers.common.graphs import COST_UNITS, finish_edges
from social_xlstm.data.importers.common.options import add_cost_unit_argument, parse_list
from social_xlstm.data.importers.common.stations import stations_for
from social_xlstm.data.importers.common.times import check_freq, localise, parse_times
from social_xlstm.data.importers.common.writing import CALTRANS_UNITS
from social_xlstm.errors import DataError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest libcity``."""
    parser.add_argument(
        "--tz",
        default=None,
        help="read the .dyna times as wall-clock times in this zone (default: literal UTC)",
    )
    parser.add_argument(
        "--dst-gap",
        choices=("drop", "raise"),
        default="drop",
        help="rows in the hour skipped by DST (with --tz)",
    )
    parser.add_argument("--data-col", default=None, help="value columns of .dyna, comma separated (overrides config)")
    add_cost_unit_argument(parser, ".rel distances")


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry: :func:`import_libcity` with the parsed options."""
    files = expand_sources(sources)
    return import_libcity(
        geo=pick_file(files, ".geo", "*.geo"),
        dyna=pick_file(files, ".dyna", "*.dyna"),
        rel=pick_file(files, ".rel", "*.rel", required=False),
        config=pick_file(files, "config", "config.json", "*.json", required=False),
        out=out,
        tz=args.tz,
        dst_gap=args.dst_gap,
        data_col=parse_list(args.data_col) or None,
        cost_unit=args.cost_unit,
        overwrite=args.overwrite,
    )


def read_config(path: str | Path | None) -> dict:
    """The dataset options of ``config.json`` (keys of its ``info`` block override top-level ones)."""
    if path is None:
        return {}
    raw = read_json(path)
    return {**raw, **(raw.get("info") or {})}


def _position(text: object, path: Path, row: int) -> tuple[float, float]:
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return np.nan, np.nan
    try:
        coords = np.asarray(json.loads(str(text)), dtype=np.float64)
    except (json.JSONDecodeError, ValueError, TypeError) as err:
        raise DataError(f"{path}: column 'coordinates' row {row}: {text!r} is not a JSON [lon, lat]") from err
    if coords.size == 0:
        return np.nan, np.nan
    points = coords.reshape(-1, 2)  # (P, 2) lon, lat; a point is P = 1
    lon, lat = points.mean(axis=0)
    return float(lat), float(lon)


def read_geo(path: str | Path) -> pd.DataFrame:
    """``.geo`` -> stations ``vd_id, lat, lon`` (NaN for unknown positions)."""
    path = check_file(path, ".geo file")
    frame = read_csv(path, string_cols=["geo_id", "coordinates"])
    require_columns(path, frame.columns, ["geo_id"])
    if "coordinates" in frame:
        latlon = [_position(t, path, r) for r, t in enumerate(frame["coordinates"])]
    else:
        latlon = [(np.nan, np.nan)] * len(frame)
    stations = pd.DataFrame({"vd_id": frame["geo_id"].astype(str).str.strip()})
    stations["lat"] = [p[0] for p in latlon]
    stations["lon"] = [p[1] for p in latlon]
    dup = stations["vd_id"].duplicated()
    if dup.any():
        raise DataError(f"{path}: column 'geo_id' repeats {stations['vd_id'][dup].iloc[0]!r}")
    return stations


def read_rel(path: str | Path, config: dict, cost_unit: str = "m") -> pd.DataFrame:
    """``.rel`` -> edges ``src, dst`` and ``distance_m`` or ``weight`` (see the module docstring)."""
    path = check_file(path, ".rel file")
    frame = read_csv(path, string_cols=["origin_id", "destination_id"])
    weight_col = config.get("weight_col") or "cost"
    require_columns(path, frame.columns, ["origin_id", "destination_id", weight_col])
    values = to_float(frame[weight_col], path, weight_col)
    edges = pd.DataFrame({"src": frame["origin_id"].str.strip(), "dst": frame["destination_id"].str.strip()})
    if config.get("set_weight_link_or_dist", "dist") == "link":
        edges["weight"] = values
        edges = edges[edges["weight"] != 0]
    else:
        edges["distance_m"] = values * COST_UNITS[cost_unit]
        # LibCity fills absent pairs with inf (init_weight_inf_or_zero); they are not edges.
        edges = edges[np.isfinite(edges["distance_m"])]
    return edges[edges["src"] != edges["dst"]].reset_index(drop=True)


def import_libcity(
    geo: str | Path,
    dyna: str | Path,
    out: str | Path,
    *,
    rel: str | Path | None = None,
    config: str | Path | None = None,
    tz: str | None = None,
    dst_gap: str = "drop",
    data_col: list[str] | None = None,
    cost_unit: str = "m",
    overwrite: bool = False,
) -> Path:
    """Convert a LibCity traffic-state dataset to a canonical dataset.

    Args:
        geo: ``.geo`` file (VDs and coordinates).
        dyna: ``.dyna`` file (observations).
        out: output dataset directory.
        rel: ``.rel`` file (graph), optional when every VD has coordinates.
        config: ``config.json``.
        tz: read times as wall-clock times in this zone (see module docstring).
        dst_gap: ``"drop"`` or ``"raise"`` for non-existent local times (with ``tz``).
        data_col: value columns (overrides ``data_col`` of the config).
        cost_unit: unit of ``.rel`` distances.
        overwrite: replace an existing ``out``.

    Returns:
        The dataset directory.
    """
    opts = read_config(config)
    dyna = check_file(dyna, ".dyna file")
    frame = read_csv(dyna, string_cols=["time", "entity_id"])
    require_columns(dyna, frame.columns, ["time", "entity_id"])
    wanted = data_col or opts.get("data_col")
    if isinstance(wanted, str):
        wanted = [wanted]
    if wanted:
        require_columns(dyna, frame.columns, wanted, "data_col")
    else:
        wanted = [c for c in frame.columns if c not in ("dyna_id", "type", "time", "entity_id")]
        if not wanted:
            raise DataError(f"{dyna}: no value columns after dyna_id,type,time,entity_id")
    names = [c.removeprefix("traffic_") for c in wanted]
    ids = frame["entity_id"].str.strip()
    times, naive = parse_times(frame["time"], dyna, "time", "UTC")
    if tz is not None:
        wall = times.dt.tz_localize(None) if not naive else times  # the 'Z' label is dropped: wall clock
        utc, keep = localise(wall, tz, dyna, column="time", keys=ids, gap=dst_gap)
    else:
        utc, keep = (times if not naive else times.dt.tz_localize("UTC")), np.ones(len(frame), dtype=bool)
    table = pd.DataFrame({"timestamp": pd.DatetimeIndex(utc), "vd_id": ids[keep].to_numpy()})
    for name, col in zip(names, wanted, strict=True):
        table[name] = to_float(frame[col], dyna, col)[keep]
    check_duplicates(table, dyna, rows=np.flatnonzero(keep))
    interval = opts.get("time_intervals")
    freq = Freq.from_delta(pd.Timedelta(seconds=int(interval))) if interval else None
    freq = check_freq(table["timestamp"], dyna, freq, column="time")
    stations = read_geo(geo)
    edges = read_rel(rel, opts, cost_unit) if rel is not None else None
    unknown = sorted(set(table["vd_id"]) - set(stations["vd_id"]))
    if unknown:
        raise DataError(f"{dyna}: column 'entity_id' names VDs absent from {geo} (e.g. {unknown[:3]})")
    stations = stations_for(stations["vd_id"].tolist(), stations, edges, dyna)
    if edges is not None:
        edges = finish_edges(edges, stations, rel)
    meta = DatasetMeta(
        name=str(opts.get("dataset") or Path(dyna).stem).lower(),
        freq=freq,
        variables={n: CALTRANS_UNITS.get(n, "unknown") for n in names},
        timezone=tz or "UTC",
        source=f"LibCity atomic files {Path(dyna).name}, {Path(geo).name}" + (f", {Path(rel).name}" if rel else ""),
        licence="as the original dataset (LibCity redistributes public research benchmarks)",
        zero_is_missing=[],
    )
    return write_dataset(out, table, stations, meta, edges, overwrite=overwrite)

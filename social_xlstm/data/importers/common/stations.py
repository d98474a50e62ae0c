"""Stations of a source: one row per VD with its id and WGS84 coordinates, in the series' order.

Conventions: VD ids are strings (``773869``, not ``773869.0``); ``lat``/``lon`` are WGS84 degrees and
may be NaN only when the importer writes a graph (``edges.parquet``), as for PEMS0x.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import require_columns
from social_xlstm.data.format.schema import STATION_OPTIONAL
from social_xlstm.data.importers.common.files import (
    check_file,
    first_line,
    is_number,
    is_parquet,
    read_csv,
    read_table,
    to_float,
)
from social_xlstm.errors import DataError

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


def _pick(columns: Sequence[str], names: Sequence[str], given: str | None, path: Path, role: str) -> str:
    if given:
        require_columns(path, columns, [given], f"the {role} column")
        return given
    lowered = {str(c).lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise DataError(f"{path}: no {role} column among {list(columns)}; name it (e.g. --station-cols {role}=COLUMN)")


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
    headerless = not is_parquet(path) and all(map(is_number, first_line(path)))
    if headerless:
        raw = read_csv(path, header=False)
        if raw.shape[1] not in (3, 4):
            raise DataError(
                f"{path}: a stations file without header needs columns [index,] id, lat, lon; got {raw.shape[1]}"
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
    for col in STATION_OPTIONAL:
        if col in cols and col not in picked.values():
            out[col] = raw[col].to_numpy()
    bad = ~(out["lat"].between(-90, 90) | out["lat"].isna()) | ~(out["lon"].between(-180, 180) | out["lon"].isna())
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
            f"{path}: column {picked['vd_id']!r}: duplicate VD id {out['vd_id'].iloc[rows[0]]!r} (rows {list(rows)})"
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

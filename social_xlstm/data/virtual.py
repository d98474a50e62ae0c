"""Virtual VDs: forecasts at places without a detector (``social-xlstm predict --at points.csv``).

A virtual VD is a station with no readings: added to the dataset before its graph is built, it is one of
the VDs the checkpoint never saw (:mod:`social_xlstm.data.alignment`), so it reads the VD embedding's
fallback row and its in-edges from the graph the dataset's own rule gives it (the nearest VDs by
coordinates, or the edges ``--at-edges`` names when the network is an edge list), every input missing;
nothing reads it, so the detectors' forecasts are the checkpoint's. Its forecast comes from its
neighbours' states through the social layer alone. Forecasts of virtual VDs carry ``virtual = true``.

Points file (CSV): ``vd_id`` (or ``id``), ``lat``, ``lon`` in WGS84 degrees. Edges file (CSV): ``vd_id``
(the virtual VD), ``neighbour`` (a detector it reads) and the network's edge columns (``weight`` and/or
``distance_m``). Refused, each with one message naming the file and rows: a missing column, a value that
is not a number, a repeated id, an id that is a detector's, a point farther than ``margin_km`` outside the
detectors' bounding box, a point with no detector within ``reach_km``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.dataset import Dataset
from social_xlstm.data.format.geo import haversine_m
from social_xlstm.errors import UserError

DEFAULT_MARGIN_KM = 5.0
"""How far outside the detectors' bounding box a point may lie."""
DEFAULT_REACH_KM = 10.0
"""The farthest a point's nearest detector may be."""
_KM_PER_DEG = 111.32


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"{path}: {what} file not found")
    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable CSV of {what} ({err})") from err
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "vd_id" not in frame and "id" in frame:
        frame = frame.rename(columns={"id": "vd_id"})
    if frame.empty:
        raise UserError(f"{path}: no rows")
    return frame


def _rows(mask: np.ndarray) -> str:
    """The CSV line numbers (header = line 1) of the rows ``mask`` marks, at most five."""
    lines = (np.flatnonzero(mask)[:5] + 2).tolist()
    return f"line(s) {lines}{' ...' if mask.sum() > 5 else ''}"


def _numbers(frame: pd.DataFrame, path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            raise UserError(f"{path}: column {col!r} must be a number; {_rows(bad)} are not")
        frame[col] = values.astype("float64")
    return frame


def _require(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame]
    if missing:
        raise UserError(f"{path}: {what} needs the column(s) {missing}; it has {list(frame.columns)}")


def read_points(path: str | Path) -> pd.DataFrame:
    """The virtual VDs of a points CSV: ``vd_id`` (str), ``lat``, ``lon`` (float64)."""
    path = Path(path)
    frame = _read_csv(path, "virtual VD points")
    _require(frame, path, ("vd_id", "lat", "lon"), "a points file (vd_id or id, lat, lon)")
    frame = frame[["vd_id", "lat", "lon"]].copy()
    frame["vd_id"] = frame["vd_id"].astype(str).str.strip()
    frame = _numbers(frame, path, ("lat", "lon"))
    outside = ((frame["lat"].abs() > 90) | (frame["lon"].abs() > 180)).to_numpy()
    if outside.any():
        raise UserError(f"{path}: lat/lon must be WGS84 degrees (|lat| <= 90, |lon| <= 180); {_rows(outside)} are not")
    repeated = frame["vd_id"].duplicated(keep=False).to_numpy()
    if repeated.any():
        raise UserError(
            f"{path}: ids must be unique; {_rows(repeated)} repeat {sorted(set(frame['vd_id'][repeated]))[:5]}"
        )
    return frame.reset_index(drop=True)


def read_point_edges(path: str | Path, columns: list[str]) -> pd.DataFrame:
    """The in-edges of virtual VDs: ``src`` (a detector), ``dst`` (the virtual VD) and the edge ``columns``."""
    path = Path(path)
    frame = _read_csv(path, "virtual VD edges")
    if "neighbour" not in frame and "neighbor" in frame:
        frame = frame.rename(columns={"neighbor": "neighbour"})
    wanted = tuple(c for c in columns if c in ("weight", "distance_m"))
    _require(
        frame, path, ("vd_id", "neighbour", *wanted), "an edges file (vd_id, neighbour and the network's edge columns)"
    )
    frame = _numbers(frame.copy(), path, wanted)
    out = pd.DataFrame(
        {"src": frame["neighbour"].astype(str).str.strip(), "dst": frame["vd_id"].astype(str).str.strip()}
    )
    for col in wanted:
        out[col] = frame[col]
    return out


def check_points(points: pd.DataFrame, stations: pd.DataFrame, where: str, margin_km: float, reach_km: float) -> None:
    """Refuse ids of detectors, points far outside the network, points with no detector within reach."""
    known = set(stations["vd_id"].astype(str))
    taken = points["vd_id"].isin(known).to_numpy()
    if taken.any():
        raise UserError(
            f"{where}: virtual VD ids must differ from the detectors'; "
            f"{sorted(points['vd_id'][taken])[:5]} are detectors"
        )
    placed = stations.dropna(subset=["lat", "lon"])
    located = points.dropna(subset=["lat", "lon"])
    if placed.empty or located.empty:
        return
    lat, lon = placed["lat"].to_numpy(), placed["lon"].to_numpy()
    margin_lat = margin_km / _KM_PER_DEG
    margin_lon = margin_km / (_KM_PER_DEG * max(np.cos(np.radians(np.abs(lat).max())), 1e-6))
    outside = (
        (located["lat"] < lat.min() - margin_lat) | (located["lat"] > lat.max() + margin_lat)
        | (located["lon"] < lon.min() - margin_lon) | (located["lon"] > lon.max() + margin_lon)
    ).to_numpy()  # fmt: skip
    if outside.any():
        raise UserError(
            f"{where}: {int(outside.sum())} point(s) lie more than {margin_km:g} km outside the detectors' bounding "
            f"box (lat {lat.min():.4f}..{lat.max():.4f}, lon {lon.min():.4f}..{lon.max():.4f}): "
            f"{located['vd_id'][outside].tolist()[:5]}"
        )
    nearest = np.array([haversine_m(p_lat, p_lon, lat, lon).min() for p_lat, p_lon in
                        zip(located["lat"], located["lon"], strict=True)]) / 1000  # fmt: skip
    far = nearest > reach_km
    if far.any():
        named = [f"{vd} ({km:.1f} km)" for vd, km in zip(located["vd_id"][far], nearest[far], strict=True)]
        raise UserError(
            f"{where}: {int(far.sum())} point(s) have no detector within {reach_km:g} km, so nothing can be read "
            f"there: {named[:5]} (data.virtual_reach_km sets the reach)"
        )


def add_virtual_vds(
    dataset: Dataset,
    points_path: str | Path | None,
    edges_path: str | Path | None = None,
    margin_km: float = DEFAULT_MARGIN_KM,
    reach_km: float = DEFAULT_REACH_KM,
) -> tuple[Dataset, list[str]]:
    """The dataset with the virtual VDs appended as stations without readings (and their in-edges).

    Args:
        dataset: the loaded dataset.
        points_path: the points CSV (None with ``edges_path`` alone: the points are the edge file's ids,
            without coordinates).
        edges_path: the virtual VDs' in-edges; needed when the network is an edge list (``edges.parquet``).

    Returns:
        the augmented dataset and the virtual VDs' ids, in file order.
    """
    if points_path is None and edges_path is None:
        return dataset, []
    stations = dataset.stations
    where = str(points_path or edges_path)
    if points_path is not None:
        points = read_points(points_path)
    else:
        ids = read_point_edges(edges_path, [])["dst"].drop_duplicates()
        points = pd.DataFrame({"vd_id": ids.to_list(), "lat": np.nan, "lon": np.nan})
    check_points(points, stations, where, margin_km, reach_km)
    edges = dataset.edges
    if edges is not None:
        valued = [c for c in ("weight", "distance_m") if c in edges and edges[c].notna().any()]
        if edges_path is None:
            raise UserError(
                f"{dataset.root}: the network's graph is an edge list (edges.parquet), so a virtual VD's neighbours "
                "cannot be guessed from coordinates: give them with --at-edges FILE "
                f"(vd_id, neighbour, {', '.join(valued)})"
            )
        added = read_point_edges(edges_path, valued)
        unknown = ~added["src"].isin(set(stations["vd_id"])).to_numpy()
        strange = ~added["dst"].isin(set(points["vd_id"])).to_numpy()
        if unknown.any() or strange.any():
            raise UserError(
                f"{edges_path}: every edge joins a detector (neighbour) to a virtual VD (vd_id); "
                f"unknown neighbours {sorted(set(added['src'][unknown]))[:5]}, vd_ids not among the points "
                f"{sorted(set(added['dst'][strange]))[:5]}"
            )
        if "distance_m" in edges and "distance_m" not in added:
            added["distance_m"] = np.nan
        edges = pd.concat([edges, added[[c for c in edges.columns if c in added]]], ignore_index=True)
    elif edges_path is not None:
        raise UserError(f"{edges_path}: the network's graph comes from coordinates; give the points with --at alone")
    virtual = points.reindex(columns=stations.columns)
    virtual["vd_id"], virtual["lat"], virtual["lon"] = points["vd_id"], points["lat"], points["lon"]
    if "road" in virtual:  # no road of its own: never counted as a same-road neighbour
        virtual["road"] = None
    stations = pd.concat([stations, virtual], ignore_index=True)
    return replace(dataset, stations=stations, edges=edges), points["vd_id"].tolist()

"""VDs on their real coordinates: equirectangular with cos(latitude) aspect, a scale bar in km."""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from social_xlstm.errors import UserError
from social_xlstm.viz.common import require_columns

KM_PER_DEGREE = 111.32  # of latitude, and of longitude at the equator (WGS84 mean)


def nice_length_km(span_km: float) -> float:
    """A 1-2-5 length near a fifth of ``span_km`` for the scale bar."""
    target = max(span_km / 5, 1e-3)
    base = 10 ** math.floor(math.log10(target))
    return max(m * base for m in (1, 2, 5) if m * base <= target)


def located_stations(stations: pd.DataFrame, what: str = "stations") -> pd.DataFrame:
    """Stations indexed by ``vd_id`` with both coordinates; none located is a :class:`UserError`."""
    require_columns(stations, ["vd_id", "lat", "lon"], what)
    st = stations.assign(vd_id=stations["vd_id"].astype(str)).set_index("vd_id")
    located = st.dropna(subset=["lat", "lon"])
    if located.empty:
        raise UserError(
            f"{what}: no VD has coordinates (lat/lon are all missing), so there is no map; "
            "the dataset's graph comes from edges.parquet"
        )
    return located


def plot_vd_map(
    stations: pd.DataFrame,
    values: pd.Series | None = None,
    label: str = "",
    title: str = "VDs",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """VDs at their coordinates, coloured by ``values`` (indexed by ``vd_id``) or else by road.

    Args:
        stations: ``stations.parquet`` frame (``vd_id, lat, lon`` [, ``road``]).
        values: one number per VD (e.g. its MAE); VDs without a value are drawn as grey rings.
        label: colorbar label, units included (``"MAE of speed (km/h)"``).
        title: axes title; VDs without coordinates are counted in it.
        cmap: colormap of ``values``.
        vmin, vmax: ends of the colour scale (default the values' range), to give several maps one scale.

    Raises:
        UserError: no VD has coordinates.
    """
    located = located_stations(stations)
    n_unlocated = len(stations) - len(located)
    lat0 = float(located["lat"].mean())
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    # Equirectangular: one degree of longitude is cos(lat) degrees of latitude on the ground.
    ax.set_aspect(1.0 / np.cos(np.deg2rad(lat0)))
    if values is None:
        roads = located["road"].astype(str) if "road" in located.columns else pd.Series("", index=located.index)
        for k, (road, rows) in enumerate(located.groupby(roads, sort=True)):
            ax.scatter(rows["lon"], rows["lat"], s=22, color=f"C{k % 10}", label=road or None, zorder=3)
        if roads.nunique() > 1 and roads.nunique() <= 12:
            ax.legend(title="road", fontsize=8, loc="best")
    else:
        values = values.astype(float)
        have = located.index.intersection(values.dropna().index)
        without = located.index.difference(have)
        if len(without):
            ax.scatter(
                located.loc[without, "lon"], located.loc[without, "lat"], s=22, facecolors="none",
                edgecolors="0.6", label="no value", zorder=2,
            )  # fmt: skip
            ax.legend(fontsize=8, loc="best")
        sc = ax.scatter(
            located.loc[have, "lon"],
            located.loc[have, "lat"],
            c=values.loc[have],
            cmap=cmap,
            s=30,
            zorder=3,
            vmin=vmin,
            vmax=vmax,
        )
        fig.colorbar(sc, ax=ax, shrink=0.8, label=label)
    _pad(ax, located, lat0)
    _scale_bar(ax, lat0)
    ax.ticklabel_format(useOffset=False, style="plain")  # degrees as degrees, not "+1.214e2"
    ax.xaxis.set_major_locator(MaxNLocator(4))  # long longitude labels collide otherwise
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.grid(alpha=0.2)
    ax.set_title(title + (f" ({n_unlocated} VDs without coordinates not drawn)" if n_unlocated else ""))
    fig.tight_layout()
    return fig


def plot_error_map(
    stations: pd.DataFrame,
    errors: pd.Series,
    variable: str = "",
    metric: str = "mae",
    units: Mapping[str, str] | None = None,
    title: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Figure:
    """VDs coloured by their error (e.g. :func:`~social_xlstm.viz.per_vd_error`), the unit on the colorbar.

    Pass the same ``vmin``/``vmax`` to maps of several models so that one colour means one error.
    """
    unit = (units or {}).get(variable)
    label = f"masked {metric.upper()}" + (f" of {variable}" if variable else "") + (f" ({unit})" if unit else "")
    return plot_vd_map(stations, errors, label, title or label + " per VD", "plasma", vmin=vmin, vmax=vmax)


def _pad(ax, located: pd.DataFrame, lat0: float) -> None:
    """A square of ground around the VDs with a margin (a north-south road still gets an east-west view)."""
    lon, lat = located["lon"], located["lat"]
    km_lon = KM_PER_DEGREE * np.cos(np.deg2rad(lat0))
    half_km = 0.55 * max((lon.max() - lon.min()) * km_lon, (lat.max() - lat.min()) * KM_PER_DEGREE, 2.0)
    lon_c, lat_c = (lon.max() + lon.min()) / 2, (lat.max() + lat.min()) / 2
    ax.set_xlim(lon_c - half_km / km_lon, lon_c + half_km / km_lon)
    ax.set_ylim(lat_c - half_km / KM_PER_DEGREE, lat_c + half_km / KM_PER_DEGREE)


def _scale_bar(ax, lat0: float) -> None:
    lo, hi = ax.get_xlim()
    km_per_deg_lon = KM_PER_DEGREE * np.cos(np.deg2rad(lat0))
    length = nice_length_km((hi - lo) * km_per_deg_lon)
    text = f"{length:g} km" if length >= 1 else f"{length * 1000:g} m"
    bottom, top = ax.get_ylim()
    bar = AnchoredSizeBar(
        ax.transData, length / km_per_deg_lon, text, "lower left", pad=0.5, sep=4, frameon=True,
        size_vertical=(top - bottom) / 150,
    )  # fmt: skip
    bar.patch.set_alpha(0.8)
    ax.add_artist(bar)

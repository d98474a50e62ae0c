"""Which sources a VD learned to read (``social.graph: learned | both``): a table and a map.

The learned sources are a buffer of the checkpoint (social_xlstm.nn.fusion.learned_graph), so what is
drawn here is exactly what ``test``, ``predict``, ``stream`` and ``serve`` read.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from social_xlstm.data.format.geo import haversine_m
from social_xlstm.errors import UserError
from social_xlstm.viz.maps import located_stations, plot_vd_map

TABLE_COLUMNS = ["layer", "vd_id", "source_id", "rank", "gate"]
"""One row per learned edge: the layer holding it, target and source VD, the source's rank among the
target's (0 = highest score) and its log input gate, averaged over heads (exp(gate) weighs what it writes)."""


def learned_source_table(edges: dict, vd_ids: list[str]) -> pd.DataFrame:
    """The learned edges (columns :data:`TABLE_COLUMNS`) from
    :func:`~social_xlstm.network.learned_source_edges` of a network over ``vd_ids``.

    Raises:
        UserError: no learned sources (the model was trained with ``social.graph: road``).
    """
    if not edges:
        raise UserError("the checkpoint's model reads no learned sources (it was trained with social.graph: road)")
    ids = np.asarray(vd_ids, dtype=object)
    frames = [
        pd.DataFrame({
            "layer": name, "vd_id": ids[dst.numpy()], "source_id": ids[src.numpy()], "rank": rank.numpy(),
            "gate": gate.numpy().astype(float),
        })  # fmt: skip
        for name, (src, dst, rank, gate) in edges.items()
    ]
    return pd.concat(frames, ignore_index=True).sort_values(["layer", "vd_id", "rank"], ignore_index=True)


def source_distances_km(table: pd.DataFrame, stations: pd.DataFrame) -> pd.Series:
    """Great-circle distance (km) of each learned edge; NaN where a VD has no coordinates."""
    st = stations.assign(vd_id=stations["vd_id"].astype(str)).set_index("vd_id")[["lat", "lon"]]
    a, b = st.reindex(table["vd_id"]).to_numpy(), st.reindex(table["source_id"]).to_numpy()
    return pd.Series(haversine_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1]) / 1000.0, index=table.index)


def plot_learned_sources(stations: pd.DataFrame, table: pd.DataFrame, vds: list[str] | None = None) -> Figure:
    """The VDs on the map and, as lines from source to target coloured by gate, their learned sources.

    Args:
        stations: ``stations.parquet`` frame (``vd_id, lat, lon``).
        table: :func:`learned_source_table` (the first layer is drawn).
        vds: draw only these VDs' sources, their targets ringed (default: every VD's).

    Raises:
        UserError: a VD of ``vds`` that the table does not hold, or no VD with coordinates.
    """
    table = table[table["layer"] == table["layer"].iloc[0]]
    if vds:
        unknown = sorted(set(vds) - set(table["vd_id"]))
        if unknown:
            raise UserError(f"VDs {unknown[:5]} have no learned sources in the checkpoint (see its vd_ids)")
        table = table[table["vd_id"].isin(vds)]
    located = located_stations(stations)
    table = table[table["vd_id"].isin(located.index) & table["source_id"].isin(located.index)]
    title = f"learned sources ({len(table)} edges" + (f" of {len(vds)} VDs)" if vds else ")")
    fig = plot_vd_map(stations, title=title)
    ax = fig.axes[0]
    target, source = located.loc[table["vd_id"]], located.loc[table["source_id"]]
    segments = np.stack([source[["lon", "lat"]].to_numpy(), target[["lon", "lat"]].to_numpy()], axis=1)
    norm = Normalize(float(table["gate"].min()), float(table["gate"].max()) + 1e-9)
    lines = LineCollection(
        segments, cmap=colormaps["magma_r"], norm=norm, linewidths=1.8 if vds else 0.7, alpha=0.8, zorder=2
    )
    lines.set_array(table["gate"].to_numpy())
    ax.add_collection(lines)
    if vds:
        ax.scatter(target["lon"], target["lat"], s=90, facecolors="none", edgecolors="k", zorder=4, label="reader")
        ax.legend(fontsize=8, loc="best")
    fig.colorbar(lines, ax=ax, shrink=0.8, label="log input gate (mean over heads)")
    return fig

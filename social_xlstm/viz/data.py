"""A dataset before any model: time series, missing readings, daily profiles (from a loaded panel)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from social_xlstm.data.panel import Panel
from social_xlstm.errors import UserError
from social_xlstm.viz.common import check_variable, local_times, local_window, time_axis, unit_label

MAX_COLUMNS = 600
"""Time bins of the missing-data heatmap: more would be finer than the pixels of the figure."""


def _vd_index(panel: Panel, vd_ids: Sequence[str]) -> list[int]:
    unknown = [vd for vd in vd_ids if vd not in panel.vd_ids]
    if unknown:
        raise UserError(f"dataset: VD(s) {unknown} not found; e.g. {panel.vd_ids[:5]}")
    return [panel.vd_ids.index(vd) for vd in vd_ids]


def plot_series(
    panel: Panel,
    vd_ids: Sequence[str],
    variables: Sequence[str] | None = None,
    units: Mapping[str, str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Figure:
    """Observed values of a few VDs, one panel per variable, on local time (gaps stay gaps).

    Args:
        panel: the dataset's :class:`~social_xlstm.data.panel.Panel`.
        vd_ids: VDs to draw (one line each).
        variables: variables to draw (default all).
        units: variable -> unit (``dataset.json``'s ``variables``).
        start, end: local times bounding the period (inclusive).
    """
    variables = list(variables or panel.variables)
    for v in variables:
        check_variable(v, panel.variables, "dataset")
    idx = _vd_index(panel, vd_ids)
    keep = local_window(pd.Series(panel.timestamps), panel.timezone, start, end).to_numpy()
    if not keep.any():
        raise UserError(f"dataset: no time steps between {start} and {end}")
    times = local_times(panel.timestamps[keep], panel.timezone)
    fig, axes = plt.subplots(len(variables), 1, figsize=(10, 0.6 + 2.3 * len(variables)), sharex=True, squeeze=False)
    for ax, v in zip(axes[:, 0], variables, strict=True):
        f = panel.variables.index(v)
        for k, (i, vd) in enumerate(zip(idx, vd_ids, strict=True)):
            ax.plot(times, panel.values[keep, i, f], lw=0.9, color=f"C{k % 10}", label=vd)
        ax.set_ylabel(unit_label(v, units))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    time_axis(axes[-1, 0], panel.timezone)
    fig.suptitle("observed readings")
    fig.tight_layout()
    return fig


def missing_share(panel: Panel, variables: Sequence[str] | None = None, bins: int = MAX_COLUMNS):
    """Share of missing readings per (VD, time bin) and the bins' first UTC steps.

    Returns:
        ``(share, starts)``: share (N, B) in [0, 1] over the chosen variables and the steps of each bin;
        starts (B,) the UTC time of each bin's first step.
    """
    variables = list(variables or panel.variables)
    for v in variables:
        check_variable(v, panel.variables, "dataset")
    missing = ~panel.mask[..., panel.variable_index(variables)]  # (T, N, F)
    per_step = missing.mean(axis=2)  # (T, N)
    width = max(1, -(-panel.num_steps // bins))  # steps per bin, rounded up
    edges = np.arange(0, panel.num_steps, width)
    share = np.add.reduceat(per_step, edges, axis=0) / np.diff(np.append(edges, panel.num_steps))[:, None]
    return share.T, panel.timestamps[edges]


def plot_missing(panel: Panel, variables: Sequence[str] | None = None, max_labels: int = 40) -> Figure:
    """Heatmap of missing readings: VDs (``stations.parquet`` order) down, local time across.

    Each cell is the share of readings missing in its time bin (a bin is one step, or several on a long
    period), over ``variables`` (default all).
    """
    share, starts = missing_share(panel, variables)
    tz = panel.timezone
    t0 = mdates.date2num(local_times(starts, tz)[0])
    t1 = mdates.date2num(local_times(panel.timestamps[-1:] + panel.freq.delta, tz)[0])
    n = panel.num_vds
    fig, ax = plt.subplots(figsize=(10, min(8.0, 2.2 + 0.12 * n)))
    im = ax.imshow(
        share * 100, aspect="auto", interpolation="nearest", cmap="Reds", vmin=0, vmax=100,
        extent=(t0, t1, n - 0.5, -0.5),
    )  # fmt: skip
    fig.colorbar(im, ax=ax, label="missing readings (%)", shrink=0.9)
    ax.xaxis_date()
    time_axis(ax, tz)
    if n <= max_labels:
        ax.set_yticks(range(n), panel.vd_ids, fontsize=7)
        ax.set_ylabel("VD")
    else:
        ax.set_ylabel(f"VD (stations.parquet order, {n} VDs)")
    which = ", ".join(variables or panel.variables)
    total = share.mean() * 100
    ax.set_title(f"missing readings ({which}): {total:.1f}% overall")
    fig.tight_layout()
    return fig


def daily_profile(panel: Panel, variable: str, vd_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """Quartiles over days of the VDs' mean ``variable`` at each local time of day, weekdays and weekends apart.

    Returns:
        Columns ``day`` (``weekday``/``weekend``), ``hour`` (local, fractional), ``q25``, ``median``, ``q75``.
    """
    check_variable(variable, panel.variables, "dataset")
    idx = _vd_index(panel, vd_ids) if vd_ids else list(range(panel.num_vds))
    values = panel.values[:, idx, panel.variables.index(variable)]  # (T, N')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a step no VD reported is NaN, not a warning
        mean = np.nanmean(values, axis=1)  # (T,)
    local = local_times(panel.timestamps, panel.timezone)
    frame = pd.DataFrame(
        {
            "day": np.where(local.dayofweek >= 5, "weekend", "weekday"),
            "hour": local.hour + local.minute / 60,
            "value": mean,
        }
    )
    stats = frame.groupby(["day", "hour"])["value"].quantile([0.25, 0.5, 0.75]).unstack()
    stats.columns = ["q25", "median", "q75"]
    return stats.reset_index()


def plot_daily_profile(
    panel: Panel, variable: str, vd_ids: Sequence[str] | None = None, units: Mapping[str, str] | None = None
) -> Figure:
    """Median and interquartile band over days of ``variable`` by local time of day (see :func:`daily_profile`)."""
    stats = daily_profile(panel, variable, vd_ids)
    fig, ax = plt.subplots(figsize=(8, 4))
    for k, (day, rows) in enumerate(stats.groupby("day")):
        ax.plot(rows["hour"], rows["median"], color=f"C{k}", lw=1.5, label=f"{day} median")
        ax.fill_between(rows["hour"], rows["q25"], rows["q75"], color=f"C{k}", alpha=0.25, label=f"{day} 25-75%")
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel(f"local time of day (hour, {panel.timezone})")
    ax.set_ylabel(unit_label(variable, units))
    who = f"{len(vd_ids)} VDs" if vd_ids else f"all {panel.num_vds} VDs"
    ax.set_title(f"daily profile of {variable} (mean of {who}, quartiles over days)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

"""Forecasts against what happened: per-VD series, per-VD errors, the worst VDs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from social_xlstm.errors import UserError
from social_xlstm.viz.common import (
    FORECAST_COLUMNS,
    check_variable,
    local_times,
    local_window,
    model_color,
    require_columns,
    time_axis,
    unit_label,
)


def step_minutes(forecasts: pd.DataFrame) -> float:
    """Minutes per horizon step, read off the rows (``target_time - issue_time = horizon_step * freq``)."""
    row = forecasts.iloc[0]
    return (row["target_time"] - row["issue_time"]).total_seconds() / 60 / int(row["horizon_step"])


def by_model(forecasts: pd.DataFrame, label: str, baselines: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Split forecast rows by their ``model`` column (rows without one are ``label``'s), baselines appended."""
    frames = {}
    for frame, default in ((forecasts, label), (baselines, "baseline")):
        if frame is None:
            continue
        require_columns(frame, FORECAST_COLUMNS, "forecasts")
        if "model" not in frame.columns:
            frames[default] = frame
            continue
        for model, rows in frame.groupby(frame["model"].astype(str), observed=True, sort=False):
            frames[model] = rows
    return frames


def plot_forecast_vs_actual(
    forecasts: pd.DataFrame,
    vd_ids: Sequence[str],
    variable: str,
    horizon_steps: Sequence[int] | None = None,
    baselines: pd.DataFrame | None = None,
    label: str = "forecast",
    units: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    start: str | None = None,
    end: str | None = None,
) -> Figure:
    """Actual series and forecasts made ``horizon_steps`` ahead, one panel per VD, on local time.

    Args:
        forecasts: a ``forecasts.parquet`` frame; with a ``model`` column every model in it is drawn.
        vd_ids: VDs to draw (one row of axes each).
        variable: target variable to draw.
        horizon_steps: lead times (in steps) to overlay, default the last; a forecast is drawn at the time it
            is for.
        baselines: more forecast rows (e.g. :func:`social_xlstm.forecast.baseline_forecasts`), drawn dashed.
            A quantile model's rows (``q10``, ``q90``, ... columns) are drawn with their central intervals as
            shaded bands.
        label: name of the rows of ``forecasts`` that have no ``model`` column.
        units: variable -> unit (``dataset.json``'s ``variables``), for the y label.
        timezone: the network's zone; times are drawn as its wall clock.
        start, end: local times bounding the drawn period (inclusive); None = all.

    Raises:
        UserError: unknown variable, VD or horizon step, or nothing left in the period.
    """
    models = by_model(forecasts, label, baselines)
    variables = sorted(forecasts["variable"].astype(str).unique())
    check_variable(variable, variables, "forecasts")
    max_step = int(forecasts["horizon_step"].max())
    horizon_steps = list(horizon_steps or [max_step])
    bad = [h for h in horizon_steps if not 1 <= h <= max_step]
    if bad:
        raise UserError(f"forecasts: horizon step(s) {bad} not in 1..{max_step}")
    known = set(forecasts["vd_id"].astype(str).unique())
    unknown = [vd for vd in vd_ids if vd not in known]
    if unknown:
        raise UserError(f"forecasts: VD(s) {unknown} not found; e.g. {sorted(known)[:5]}")
    minutes = step_minutes(forecasts)
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(len(vd_ids), 1, figsize=(10, 0.6 + 2.4 * len(vd_ids)), sharex=True, squeeze=False)
    for ax, vd in zip(axes[:, 0], vd_ids, strict=True):
        for k, (model, frame) in enumerate(models.items()):
            rows = frame[(frame["vd_id"].astype(str) == vd) & (frame["variable"].astype(str) == variable)]
            rows = rows[local_window(rows["target_time"], timezone, start, end)]
            if k == 0:
                if rows.empty:
                    raise UserError(f"forecasts: no rows of VD {vd!r} between {start} and {end}")
                actual = rows.drop_duplicates("target_time").sort_values("target_time")
                ax.plot(
                    local_times(actual["target_time"], timezone),
                    actual["actual"],
                    color="black",
                    lw=1.4,
                    label="actual",
                )
            for j, step in enumerate(horizon_steps):
                at = rows[rows["horizon_step"] == step].sort_values("target_time")
                for low, high, pct in quantile_bands(at.columns):  # a quantile model: its central intervals
                    ax.fill_between(
                        local_times(at["target_time"], timezone), at[low], at[high], color=model_color(model, k),
                        alpha=0.12 if pct >= 90 else 0.22, lw=0, label=f"{model} {pct}% +{step * minutes:g} min",
                    )  # fmt: skip
                ax.plot(
                    local_times(at["target_time"], timezone),
                    at["prediction"],
                    lw=1.0,
                    ls=styles[j % len(styles)] if k == 0 else "--",
                    color=model_color(model, k),
                    label=f"{model} +{step * minutes:g} min",
                )
        ax.set_ylabel(unit_label(variable, units))
        ax.set_title(vd, fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    time_axis(axes[-1, 0], timezone)
    fig.suptitle(f"{variable}: forecast vs actual")
    fig.tight_layout()
    return fig


def quantile_bands(columns) -> list[tuple[str, str, int]]:
    """``(lower column, upper column, nominal %)`` of the central intervals among ``q..`` columns
    (``q10``/``q90``: 80%), widest first, so the narrower band is drawn over it."""
    levels = {}
    for name in columns:
        text = str(name)
        if text[:1] == "q" and text[1:].replace("_", "").isdigit():
            levels[float(text[1:].replace("_", ".")) / 100] = text
    bands = [
        (levels[low], levels[high], round(100 * (high - low)))
        for low in levels
        for high in levels
        if low < 0.5 and abs(low + high - 1) < 1e-9
    ]
    return sorted(bands, key=lambda band: -band[2])


def per_vd_error(
    forecasts: pd.DataFrame, variable: str, horizon_step: int | None = None, metric: str = "mae"
) -> pd.Series:
    """Masked MAE or RMSE per VD (rows with a known actual only), optionally at one horizon step."""
    return vd_errors(forecasts, variable, horizon_step)[metric]


def vd_errors(forecasts: pd.DataFrame, variable: str, horizon_step: int | None = None) -> pd.DataFrame:
    """Masked ``mae``, ``rmse`` and ``count`` per VD (index ``vd_id``), optionally at one horizon step."""
    require_columns(forecasts, FORECAST_COLUMNS, "forecasts")
    check_variable(variable, sorted(forecasts["variable"].astype(str).unique()), "forecasts")
    sel = forecasts[(forecasts["variable"].astype(str) == variable) & forecasts["actual"].notna()]
    if horizon_step is not None:
        if horizon_step not in set(forecasts["horizon_step"]):
            raise UserError(f"forecasts: no horizon step {horizon_step}; have 1..{forecasts['horizon_step'].max()}")
        sel = sel[sel["horizon_step"] == horizon_step]
    err = (sel["prediction"] - sel["actual"]).astype(np.float64)
    groups = pd.DataFrame({"abs": err.abs(), "sq": err**2}).groupby(sel["vd_id"].astype(str), observed=True)
    out = pd.DataFrame({"mae": groups["abs"].mean(), "rmse": np.sqrt(groups["sq"].mean()), "count": groups.size()})
    out.index.name = "vd_id"
    return out


def worst_vds(
    forecasts: pd.DataFrame,
    variable: str,
    n: int = 10,
    horizon_step: int | None = None,
    stations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``n`` VDs with the largest masked MAE, with their RMSE, count and (given ``stations``) where they are."""
    table = vd_errors(forecasts, variable, horizon_step).sort_values("mae", ascending=False).head(n)
    if stations is not None:
        where = [c for c in ("road", "direction", "km") if c in stations.columns]
        table = table.join(stations.assign(vd_id=stations["vd_id"].astype(str)).set_index("vd_id")[where])
    return table

"""Plots of forecasts and errors. Every function returns a matplotlib Figure and never shows it.

They read result files (``forecasts.parquet``, ``metrics.json``, ``stations.parquet``) or the frames
loaded from them, not trainers, so a notebook can redraw any run.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from social_xlstm.atomic import atomic_file
from social_xlstm.errors import UserError

MODEL_COLORS = {"social_xlstm": "C0", "persistence": "C1", "historical_average": "C2"}


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")


def plot_forecast_vs_actual(
    forecasts: pd.DataFrame, vd_ids: list[str], variable: str, horizon_steps: tuple[int, ...] = (1, 12)
) -> Figure:
    """Actual series and forecasts made ``horizon_steps`` ahead, one panel per VD.

    Args:
        forecasts: the ``forecasts.parquet`` frame.
        vd_ids: VDs to draw (one row of axes each).
        variable: target variable to draw.
        horizon_steps: which lead times to overlay.
    """
    _require(
        forecasts, ["target_time", "horizon_step", "vd_id", "variable", "prediction", "actual"], "forecasts"
    )
    sel = forecasts[forecasts["variable"].astype(str) == variable]
    if sel.empty:
        raise UserError(
            f"forecasts: no rows for variable {variable!r}; have {sorted(forecasts['variable'].astype(str).unique())}"
        )
    fig, axes = plt.subplots(len(vd_ids), 1, figsize=(10, 2.4 * len(vd_ids)), sharex=True, squeeze=False)
    for ax, vd in zip(axes[:, 0], vd_ids, strict=True):
        rows = sel[sel["vd_id"].astype(str) == vd]
        if rows.empty:
            raise UserError(f"forecasts: VD {vd!r} not found")
        actual = rows.drop_duplicates("target_time").sort_values("target_time")
        ax.plot(actual["target_time"], actual["actual"], color="black", lw=1.2, label="actual")
        for k, step in enumerate(horizon_steps):
            at = rows[rows["horizon_step"] == step].sort_values("target_time")
            ax.plot(
                at["target_time"], at["prediction"], lw=1.0, color=f"C{k}", label=f"forecast +{step} steps"
            )
        ax.set_ylabel(variable)
        ax.set_title(vd, fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=len(horizon_steps) + 1)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def plot_error_by_horizon(metrics: dict, variable: str, metric: str = "mae") -> Figure:
    """One line per model: masked ``metric`` against lead time in minutes."""
    if metric not in ("mae", "rmse", "mape"):
        raise UserError(f"unknown metric {metric!r}; valid: mae, rmse, mape")
    fig, ax = plt.subplots(figsize=(6, 4))
    for k, (model, report) in enumerate(metrics["models"].items()):
        if variable not in report:
            raise UserError(f"metrics: model {model!r} has no variable {variable!r}; has {sorted(report)}")
        steps = report[variable]["steps"]
        minutes = [s["minutes"] for s in steps]
        values = [np.nan if s[metric] is None else s[metric] for s in steps]
        ax.plot(minutes, values, marker="o", ms=3, color=MODEL_COLORS.get(model, f"C{k + 3}"), label=model)
    ax.set_xlabel("lead time (minutes)")
    ax.set_ylabel(f"masked {metric.upper()} ({variable})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def per_vd_error(forecasts: pd.DataFrame, variable: str, horizon_step: int | None = None) -> pd.Series:
    """Masked MAE per VD (rows with a known actual only), optionally at one horizon step."""
    sel = forecasts[(forecasts["variable"].astype(str) == variable) & forecasts["actual"].notna()]
    if horizon_step is not None:
        sel = sel[sel["horizon_step"] == horizon_step]
    err = (sel["prediction"] - sel["actual"]).abs()
    return err.groupby(sel["vd_id"].astype(str), observed=True).mean()


def plot_error_map(stations: pd.DataFrame, errors: pd.Series, title: str = "masked MAE per VD") -> Figure:
    """VDs at their coordinates, coloured by error; VDs without coordinates are listed in the title."""
    _require(stations, ["vd_id", "lat", "lon"], "stations")
    st = stations.assign(vd_id=stations["vd_id"].astype(str)).set_index("vd_id")
    st = st.loc[st.index.intersection(errors.index)]
    located = st.dropna(subset=["lat", "lon"])
    fig, ax = plt.subplots(figsize=(6, 6))
    if located.empty:
        ax.text(0.5, 0.5, "no VD has coordinates", ha="center", va="center", transform=ax.transAxes)
    else:
        # Equal distances on both axes at this latitude (1 degree of longitude is cos(lat) degrees of latitude).
        ax.set_aspect(1.0 / np.cos(np.deg2rad(located["lat"].mean())))
        sc = ax.scatter(located["lon"], located["lat"], c=errors.loc[located.index], cmap="viridis", s=30)
        fig.colorbar(sc, ax=ax, shrink=0.8)
    missing = len(st) - len(located)
    ax.set_title(title + (f" ({missing} VDs without coordinates)" if missing else ""))
    ax.ticklabel_format(useOffset=False, style="plain")  # degrees as degrees, not "+1.214e2"
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save as PNG, atomically, and close the figure (plots in loops would otherwise keep their memory)."""
    path = Path(path)
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path


def write_plots(
    forecasts_path: str | Path,
    metrics_path: str | Path,
    out_dir: str | Path,
    stations: str | Path | None = None,
    vds: list[str] | None = None,
    variable: str | None = None,
) -> list[Path]:
    """The standard plots of a run as PNG files in ``out_dir``.

    Args:
        forecasts_path: ``forecasts.parquet``.
        metrics_path: ``metrics.json``.
        out_dir: where the PNGs go.
        stations: ``stations.parquet``, for the error map (skipped when None).
        vds: VDs for forecast-vs-actual; default the three whose actual values vary most.
        variable: variable to draw; default the first in the forecasts.

    Returns:
        Paths of the written files.
    """
    import json

    for path in (forecasts_path, metrics_path):
        if not Path(path).exists():
            raise UserError(f"{path}: file not found")
    forecasts = pd.read_parquet(forecasts_path)
    metrics = json.loads(Path(metrics_path).read_text())
    variables = list(pd.unique(forecasts["variable"].astype(str)))
    variable = variable or variables[0]
    if variable not in variables:
        raise UserError(f"{forecasts_path}: no variable {variable!r}; have {variables}")
    if not vds:
        # The most eventful VDs (largest spread of actual values) show what a forecast gets right or
        # wrong; free-flowing ones are flat lines.
        known = forecasts[forecasts["actual"].notna() & (forecasts["variable"].astype(str) == variable)]
        spread = known.groupby(known["vd_id"].astype(str), observed=True)["actual"].std()
        vds = list(spread.sort_values(ascending=False).index[:3])
    out_dir = Path(out_dir)
    written = [
        save_figure(
            plot_forecast_vs_actual(
                forecasts, vds, variable, horizon_steps=(1, int(forecasts["horizon_step"].max()))
            ),
            out_dir / f"forecast_vs_actual_{variable}.png",
        ),
        save_figure(plot_error_by_horizon(metrics, variable), out_dir / f"error_by_horizon_{variable}.png"),
    ]
    if stations is not None:
        errors = per_vd_error(forecasts, variable)
        written.append(
            save_figure(
                plot_error_map(pd.read_parquet(stations), errors), out_dir / f"error_map_{variable}.png"
            )
        )
    return written

"""The standard plots of a run, written as PNG files (``social-xlstm plot all``, the demo)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from social_xlstm.data.format.schema import STATIONS, read_meta
from social_xlstm.errors import UserError
from social_xlstm.viz.common import (
    check_variable,
    is_baseline,
    read_forecasts,
    read_metrics,
    read_stations,
    save_figure,
)
from social_xlstm.viz.forecasts import per_vd_error, plot_forecast_vs_actual
from social_xlstm.viz.horizons import plot_error_by_horizon
from social_xlstm.viz.maps import plot_error_map


def dataset_context(dataset: str | Path | None) -> tuple[dict[str, str], str]:
    """Units of the variables and the time zone of a dataset directory (``{}``, ``"UTC"`` without one)."""
    if dataset is None:
        return {}, "UTC"
    meta = read_meta(dataset)
    return dict(meta.variables), meta.timezone


def eventful_vds(forecasts: pd.DataFrame, variable: str, n: int = 3) -> list[str]:
    """The ``n`` VDs whose actual values vary most: they show what a forecast gets right or wrong."""
    known = forecasts[forecasts["actual"].notna() & (forecasts["variable"].astype(str) == variable)]
    spread = known.groupby(known["vd_id"].astype(str), observed=True)["actual"].std()
    return list(spread.sort_values(ascending=False).index[:n])


def write_plots(
    forecasts_path: str | Path,
    metrics_path: str | Path,
    out_dir: str | Path,
    stations: str | Path | None = None,
    vds: list[str] | None = None,
    variable: str | None = None,
    dataset: str | Path | None = None,
) -> list[Path]:
    """Forecast vs actual, error by horizon and (with stations) the error map of one variable, as PNGs.

    Args:
        forecasts_path: ``forecasts.parquet``.
        metrics_path: ``metrics.json``.
        out_dir: where the PNGs go (``forecast_vs_actual_<variable>.png``, ``error_by_horizon_<variable>.png``,
            ``error_map_<variable>.png``).
        stations: ``stations.parquet``, for the error map (default the dataset's; skipped without either).
        vds: VDs for forecast-vs-actual; default the three whose actual values vary most.
        variable: variable to draw; default the first in the forecasts.
        dataset: the dataset directory, for units and local time.

    Returns:
        Paths of the written files.
    """
    forecasts = read_forecasts(forecasts_path)
    metrics = read_metrics(metrics_path)
    units, timezone = dataset_context(dataset)
    if stations is None and dataset is not None:
        stations = Path(dataset) / STATIONS
    station_table = read_stations(stations) if stations is not None else None
    variables = list(pd.unique(forecasts["variable"].astype(str)))
    if not variables:
        raise UserError(f"{forecasts_path}: no forecasts")
    variable = variable or variables[0]
    check_variable(variable, variables, str(forecasts_path))
    vds = vds or eventful_vds(forecasts, variable)
    out_dir = Path(out_dir)
    last = int(forecasts["horizon_step"].max())
    learned = [m for m in metrics["models"] if not is_baseline(metrics, m)]
    # Build every figure before writing any, so a bad input leaves no partial set of plots.
    figures = {
        f"forecast_vs_actual_{variable}.png": plot_forecast_vs_actual(
            forecasts,
            vds,
            variable,
            sorted({1, last}),
            label=(learned or ["forecast"])[0],
            units=units,
            timezone=timezone,
        ),
        f"error_by_horizon_{variable}.png": plot_error_by_horizon(metrics, variable, units=units),
    }
    if station_table is not None:
        figures[f"error_map_{variable}.png"] = plot_error_map(
            station_table, per_vd_error(forecasts, variable), variable, units=units
        )
    return [save_figure(fig, out_dir / name) for name, fig in figures.items()]

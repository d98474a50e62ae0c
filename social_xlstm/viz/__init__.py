"""Plots of datasets, forecasts and errors. Every function returns a matplotlib Figure and never shows it.

They read result files (``forecasts.parquet``, ``metrics.json``, ``stations.parquet``, the CSV training
log) or the frames and panels loaded from them, never trainers, so a notebook can redraw any run.
Times are drawn as the network's local wall clock, values with their units (``dataset.json``). The
command line is ``social-xlstm plot forecast|horizons|map|missing|all`` (:mod:`social_xlstm.viz.command`).
"""

from social_xlstm.viz.common import (
    read_forecasts,
    read_metrics,
    read_stations,
    save_figure,
)
from social_xlstm.viz.data import daily_profile, missing_share, plot_daily_profile, plot_missing, plot_series
from social_xlstm.viz.forecasts import per_vd_error, plot_forecast_vs_actual, vd_errors, worst_vds
from social_xlstm.viz.horizons import plot_error_by_horizon
from social_xlstm.viz.maps import plot_error_map, plot_vd_map
from social_xlstm.viz.report import dataset_context, eventful_vds, write_plots
from social_xlstm.viz.training import plot_loss_curves, read_training_log

__all__ = [
    "daily_profile",
    "dataset_context",
    "eventful_vds",
    "missing_share",
    "per_vd_error",
    "plot_daily_profile",
    "plot_error_by_horizon",
    "plot_error_map",
    "plot_forecast_vs_actual",
    "plot_loss_curves",
    "plot_missing",
    "plot_series",
    "plot_vd_map",
    "read_forecasts",
    "read_metrics",
    "read_stations",
    "read_training_log",
    "save_figure",
    "vd_errors",
    "worst_vds",
    "write_plots",
]

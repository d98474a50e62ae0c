"""Plots of datasets, forecasts and errors. Every function returns a matplotlib Figure and never shows it.

They read result files (``forecasts.parquet``, ``metrics.json``, ``stations.parquet``, the CSV training
log) or the frames and panels loaded from them, never trainers, so a notebook can redraw any run.
Times are drawn as the network's local wall clock, values with their units (``dataset.json``). The
command line is ``social-xlstm plot forecast|horizons|map|missing|all`` (:mod:`social_xlstm.viz.command`).
"""

import importlib

_HOMES = {
    "common": ["read_forecasts", "read_metrics", "read_stations", "save_figure"],
    "data": ["daily_profile", "missing_share", "plot_daily_profile", "plot_missing", "plot_series"],
    "forecasts": ["per_vd_error", "plot_forecast_vs_actual", "vd_errors", "worst_vds"],
    "horizons": ["plot_error_by_horizon"],
    "maps": ["plot_error_map", "plot_vd_map"],
    "report": ["dataset_context", "eventful_vds", "write_plots"],
    "training": ["plot_loss_curves", "read_training_log"],
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str):
    # Lazy: the command line imports social_xlstm.viz.command without paying for matplotlib.
    if name in _HOME_OF:
        return getattr(importlib.import_module(f"social_xlstm.viz.{_HOME_OF[name]}"), name)
    raise AttributeError(f"module 'social_xlstm.viz' has no attribute {name!r}")


__all__ = sorted(_HOME_OF)

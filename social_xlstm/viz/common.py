"""What every plot shares: reading result files with clear errors, local times, units, atomic PNG saving."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from social_xlstm.atomic import atomic_file
from social_xlstm.errors import UserError

MODEL_COLORS = {"social_xlstm": "C0", "persistence": "C1", "historical_average": "C2"}
"""The same model keeps its colour in every plot; other models take C3, C4, ..."""

FORECAST_COLUMNS = ["issue_time", "target_time", "horizon_step", "vd_id", "variable", "prediction", "actual"]


def model_color(model: str, k: int) -> str:
    """Colour of ``model``, the ``k``-th model of a plot."""
    return MODEL_COLORS.get(model, f"C{3 + k % 7}")


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{what}: missing column(s) {missing}; found {list(frame.columns)}")


def _exists(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: {what} not found")
    return path


def read_parquet(path: str | Path, what: str, columns: list[str]) -> pd.DataFrame:
    """A Parquet result file as a frame, with ``columns`` required; unreadable files are a :class:`UserError`."""
    path = _exists(path, what)
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as err:
        raise UserError(f"{path}: not a readable Parquet file ({err})") from err
    require_columns(frame, columns, str(path))
    return frame


def read_forecasts(path: str | Path) -> pd.DataFrame:
    """``forecasts.parquet`` (docs/outputs.md), with an optional ``model`` column."""
    return read_parquet(path, "forecasts file", FORECAST_COLUMNS)


def read_stations(path: str | Path) -> pd.DataFrame:
    """``stations.parquet`` of a dataset: ``vd_id, lat, lon`` at least."""
    return read_parquet(path, "stations file", ["vd_id", "lat", "lon"])


def read_metrics(path: str | Path) -> dict:
    """``metrics.json`` (docs/outputs.md): a mapping with ``models`` -> name -> variable -> ``steps``.

    A benchmark summary (``docs/results/<dataset>.json``, :mod:`social_xlstm.bench.run`) is read too: each
    model's ``mean_report`` (the means over seeds) becomes its steps.
    """
    path = _exists(path, "metrics file")
    try:
        metrics = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not valid JSON ({err})") from err
    models = metrics.get("models") if isinstance(metrics, dict) else None
    if not isinstance(models, dict) or not models or not all(isinstance(r, dict) for r in models.values()):
        raise UserError(f"{path}: not a metrics.json (expected a non-empty 'models' mapping)")
    if all(isinstance(r.get("variables"), dict) for r in models.values()):  # a benchmark summary
        models = {
            name: {variable: part.get("mean_report") for variable, part in r["variables"].items()}
            for name, r in models.items()
        }
        metrics = {**metrics, "models": models}
    for name, report in models.items():
        for variable, part in report.items():
            if not isinstance(part, dict) or not isinstance(part.get("steps"), list):
                raise UserError(f"{path}: model {name!r} variable {variable!r} has no 'steps' list")
    return metrics


LEGACY_BASELINES = ("persistence", "historical_average")
"""The baselines of metrics files written before ``metrics.json`` stated each model's kind."""
LEGACY_METRICS = ("mae", "rmse", "mape")
"""The metric list of metrics files written before ``metrics.json`` stated it."""


def is_baseline(metrics: Mapping, model: str) -> bool:
    """Whether ``model`` of a ``metrics.json`` is a non-learned baseline (its ``model_kinds``, else by name)."""
    kinds = metrics.get("model_kinds")
    if isinstance(kinds, Mapping) and model in kinds:
        return kinds[model] == "baseline"
    return model in LEGACY_BASELINES


def metric_names(metrics: Mapping) -> list[str]:
    """The metrics a ``metrics.json`` holds, in its column order (its ``metrics`` list, else the legacy three)."""
    names = metrics.get("metrics")
    return list(names) if isinstance(names, list) and names else list(LEGACY_METRICS)


def check_variable(variable: str, known: list[str], where: str) -> None:
    if variable not in known:
        raise UserError(f"{where}: no variable {variable!r}; have {known}")


def unit_label(variable: str, units: Mapping[str, str] | None) -> str:
    """``"speed (km/h)"``, or the bare name when the unit is unknown."""
    unit = (units or {}).get(variable)
    return f"{variable} ({unit})" if unit else variable


def local_times(times: pd.Series | pd.DatetimeIndex, timezone: str) -> pd.Series | pd.DatetimeIndex:
    """UTC timestamps as naive wall-clock times of ``timezone`` (matplotlib draws naive times as given)."""
    if isinstance(times, pd.Series):
        return times.dt.tz_convert(timezone).dt.tz_localize(None)
    return times.tz_convert(timezone).tz_localize(None)


def local_window(times: pd.Series, timezone: str, start: str | None, end: str | None) -> pd.Series:
    """Boolean mask of ``times`` (UTC) within ``[start, end]`` given as local wall-clock times."""
    keep = pd.Series(True, index=times.index)
    for bound, op in ((start, "ge"), (end, "le")):
        if bound is None:
            continue
        try:
            at = pd.Timestamp(bound)
        except ValueError as err:
            raise UserError(f"not a time: {bound!r} (use e.g. 2024-03-12 or '2024-03-12 07:00')") from err
        at = at.tz_localize(timezone) if at.tzinfo is None else at
        keep &= getattr(times, op)(at)
    return keep


def time_axis(ax: Axes, timezone: str) -> None:
    """Concise local date labels and the zone in the axis label."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=9)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(f"local time ({timezone})")


def save_figure(fig: Figure, path: str | Path, dpi: int = 120) -> Path:
    """Save as PNG, atomically, and close the figure (plots in loops would otherwise keep their memory)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UserError(f"{path}: plots are written as PNG; name the file *.png")
    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    plt.close(fig)
    return path

"""Error against lead time, one line per model, from one or more ``metrics.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from social_xlstm.errors import UserError
from social_xlstm.viz.common import is_baseline, metric_names, model_color


def horizon_lines(runs: Sequence[tuple[str, dict]]) -> dict[str, dict]:
    """Label -> per-variable report of every model of ``runs`` (``(run label, metrics dict)`` pairs).

    A learned model is labelled ``"model (run)"`` when several runs are given; a baseline appears once
    (the first run's), since every run scores it on its own test windows of the same data.
    """
    lines: dict[str, dict] = {}
    baselines: set[str] = set()
    for run, metrics in runs:
        for model, report in metrics["models"].items():
            if is_baseline(metrics, model):
                baselines.add(model)
                lines.setdefault(model, report)
            elif len(runs) > 1 and run != model:
                lines[f"{model} ({run})"] = report
            else:
                lines[model] = report
    # learned models first, then the baselines, so the legend reads model-first
    return dict(sorted(lines.items(), key=lambda kv: kv[0] in baselines))


def plot_error_by_horizon(
    metrics: dict | Sequence[dict],
    variable: str,
    metric: str = "mae",
    units: Mapping[str, str] | None = None,
    labels: Sequence[str] | None = None,
) -> Figure:
    """One line per model: masked ``metric`` against lead time in minutes.

    Args:
        metrics: one ``metrics.json`` dict, or several (one per run, e.g. per architecture).
        variable: target variable.
        metric: ``mae``, ``rmse`` or ``mape``.
        units: variable -> unit, for the y label (MAPE is always in %).
        labels: names of the runs (default run1, run2, ...), used when several are given.
    """
    runs = [metrics] if isinstance(metrics, dict) else list(metrics)
    valid = metric_names(runs[0]) if runs else []
    if metric not in valid:
        raise UserError(f"unknown metric {metric!r}; valid: {', '.join(valid)}")
    labels = list(labels or [f"run{k + 1}" for k in range(len(runs))])
    if len(labels) != len(runs):
        raise UserError(f"{len(labels)} labels for {len(runs)} metrics files")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for k, (name, report) in enumerate(horizon_lines(list(zip(labels, runs, strict=True))).items()):
        if variable not in report:
            raise UserError(f"metrics: model {name!r} has no variable {variable!r}; has {sorted(report)}")
        steps = report[variable]["steps"]
        minutes = [s["minutes"] for s in steps]
        values = [np.nan if s.get(metric) is None else s[metric] for s in steps]
        learned = not any(is_baseline(run, name) for run in runs)
        ax.plot(
            minutes,
            values,
            marker="o",
            ms=3,
            ls="-" if learned else "--",
            color=model_color(name.split(" (")[0], k),
            label=name,
        )
    unit = "%" if metric == "mape" else (units or {}).get(variable)
    ax.set_xlabel("lead time (minutes)")
    ax.set_ylabel(f"masked {metric.upper()}" + (f" ({unit})" if unit else ""))
    ax.set_title(f"{variable}: test error by lead time")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig

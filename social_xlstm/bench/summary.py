"""The benchmark's summary: mean and sample standard deviation over seeds of every metric, per model.

:func:`summarise` turns the stored (model, seed) records of :mod:`social_xlstm.bench.run` into the one
mapping :mod:`social_xlstm.bench.report` writes as Markdown, JSON and plots.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Sequence

from social_xlstm.bench.report import METRICS
from social_xlstm.nn.registry import LIBRARY_MODELS

REPORT_MINUTES = (15, 30, 45, 60)
"""Lead times (minutes) the summary reports, besides the 12-step average."""


def _mean_std(values: list[float | None]) -> dict:
    known = [v for v in values if v is not None]
    if not known:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(known) / len(known)
    std = math.sqrt(sum((v - mean) ** 2 for v in known) / (len(known) - 1)) if len(known) > 1 else None
    return {"mean": round(mean, 6), "std": None if std is None else round(std, 6), "n": len(known)}


def _points(report: dict, minutes: Sequence[float]) -> dict[str, dict]:
    """The step entries at the report lead times (those the horizon reaches) and the average."""
    by_minute = {s["minutes"]: s for s in report["steps"]}
    points = {f"{m:g}": by_minute[m] for m in minutes if m in by_minute}
    points["avg"] = report["average"]
    return points


def summarise(settings, records: dict[str, list[dict]]) -> dict:
    """Mean and sample standard deviation over seeds of every metric at every report lead time.

    ``settings`` is the run's :class:`~social_xlstm.bench.run.BenchmarkSettings` (not imported here:
    run.py imports this module).
    """
    import torch

    from social_xlstm.nn.published import LIBRARY, library_version

    models = {}
    for model, runs in records.items():
        variables = list(runs[0]["report"])
        per_var = {}
        for variable in variables:
            reports = [r["report"][variable] for r in runs]
            points = [_points(rep, REPORT_MINUTES) for rep in reports]
            per_var[variable] = {
                metric: {p: _mean_std([pt[p][metric] for pt in points]) for p in points[0]} for metric in METRICS
            }
            per_var[variable]["mean_report"] = _mean_report(reports)
        models[model] = {
            "seeds": [r["seed"] for r in runs],
            "fit_seconds": _mean_std([r["fit_seconds"] for r in runs]),
            "epochs": [r["epochs"] for r in runs],
            "stopped_by": [r.get("stopped_by") for r in runs],
            "best_epoch": [r.get("best_epoch") for r in runs],
            "parameters": runs[0]["parameters"],
            "variables": per_var,
            "runs": runs,
        }
    protocol = settings.protocol_spec
    uses_library = any(m in LIBRARY_MODELS for m in records)
    return {
        "dataset": settings.name,
        "dataset_dir": str(settings.dataset),
        "protocol": {"name": protocol.name, "description": protocol.description, "split": list(protocol.split)},
        "config": str(settings.config),
        "epochs": settings.epochs,
        "patience": settings.patience,
        "max_minutes": settings.max_minutes,
        "seeds": list(settings.seeds),
        "seeds_for": {m: list(s) for m, s in settings.seeds_for.items()},
        "overrides": list(settings.overrides),
        "command": settings.command,
        "test_windows": next(iter(records.values()))[0]["test_windows"],
        "library": {"name": LIBRARY, "version": library_version()} if uses_library else None,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "models": models,
    }


def _mean_report(reports: list[dict]) -> dict:
    """One report whose step metrics are the means over seeds (what the error-by-horizon plot draws)."""
    steps = []
    for entries in zip(*(r["steps"] for r in reports), strict=True):
        step = {"step": entries[0]["step"], "minutes": entries[0]["minutes"]}
        for metric in METRICS:
            step[metric] = _mean_std([e[metric] for e in entries])["mean"]
        steps.append(step)
    return {"steps": steps}

"""The accuracy benchmark's outputs: the Markdown tables, the JSON summary and the error-by-horizon PNGs.

:func:`social_xlstm.bench.summary.summarise` builds the summary (mean and spread over seeds of every metric);
this module only renders and writes it, so the variant study can share the cell format.
"""

from __future__ import annotations

from pathlib import Path

from social_xlstm.atomic import atomic_file, write_json_atomic
from social_xlstm.metrics import METRICS


def format_stat(stat: dict, digits: int = 2) -> str:
    """``mean ± std`` of one summary cell; ``mean`` alone with one seed, ``-`` when nothing was measured."""
    if stat["mean"] is None:
        return "-"
    text = f"{stat['mean']:.{digits}f}"
    return text if stat["std"] is None else f"{text} ± {stat['std']:.{digits}f}"


def render_markdown(summary: dict) -> str:
    """The tables of ``<dataset>.md``: per variable, MAE, RMSE and MAPE by lead time, mean ± std over seeds."""
    lines = [
        f"# Accuracy benchmark: {summary['dataset']} ({summary['protocol']['name']} protocol)",
        "",
        f"Protocol: {summary['protocol']['description']}. Masked errors in original units on all "
        f"{summary['test_windows']} test windows; each cell is the mean over seeds ± the sample standard "
        "deviation (no ± with one seed). Non-learned baselines have no seed.",
        "",
        f"- config `{summary['config']}`, {_budget(summary)}, seeds "
        f"{summary['seeds']}{_seeds_for(summary)}, overrides {summary['overrides'] or 'none'}",
        f"- machine: {summary['machine']['processor']}, {summary['machine']['platform']}, torch "
        f"{summary['machine']['torch']}, {summary['machine']['threads']} threads",
    ]
    if summary.get("command"):
        lines.append(f"- command: `{summary['command']}`")
    if summary["library"]:
        lines.append(f"- library models from {summary['library']['name']} {summary['library']['version']}")
    models = summary["models"]
    variables = list(next(iter(models.values()))["variables"])
    for variable in variables:
        for metric in METRICS:
            first = next(iter(models.values()))["variables"][variable][metric]
            points = list(first)
            header = [f"{p} min" if p != "avg" else "12-step avg" for p in points]
            if "avg" in points:
                header[-1] = f"{summary_horizon(summary)}-step avg"
            unit = f" ({METRICS[metric].unit})" if METRICS[metric].unit else ""
            lines += ["", f"## {variable}: {metric.upper()}{unit}", ""]
            lines.append("| model | " + " | ".join(header) + " | fit (s) | epochs |")
            lines.append("|---|" + "---:|" * (len(points) + 2))
            for name, entry in models.items():
                stats = entry["variables"][variable][metric]
                cells = [format_stat(stats[p]) for p in points]
                fit = "-" if entry["epochs"] == [0] else format_stat(entry["fit_seconds"], 0)
                epochs = "-" if entry["epochs"] == [0] else _epochs(entry, summary)
                lines.append(f"| {name} | " + " | ".join(cells) + f" | {fit} | {epochs} |")
    return "\n".join(lines) + "\n"


def _budget(summary: dict) -> str:
    """The training rule: a fixed number of epochs, or to convergence by patience with its caps."""
    epochs = summary["epochs"] or "as configured"
    if summary.get("patience") is None:  # absent in summaries written before the option
        return f"epochs {epochs}"
    cap = f", {summary['max_minutes']:g} min" if summary.get("max_minutes") else ""
    return (
        f"trained to convergence: stopped when val MAE had not improved for {summary['patience']} epochs "
        f"(caps: {epochs} epochs{cap}; an epoch count marked * hit a cap before converging)"
    )


def _epochs(entry: dict, summary: dict) -> str:
    """Epochs per seed; with the patience rule, ``*`` marks a run a cap stopped before it converged."""
    stopped = entry.get("stopped_by") or [None] * len(entry["epochs"])
    capped = summary.get("patience") is not None
    marks = ["*" if capped and why != "patience" else "" for why in stopped]
    return "/".join(f"{e}{mark}" for e, mark in zip(entry["epochs"], marks, strict=True))


def _seeds_for(summary: dict) -> str:
    own = summary.get("seeds_for") or {}  # absent in summaries written before the option
    return f" ({'; '.join(f'{model}: {seeds}' for model, seeds in own.items())})" if own else ""


def summary_horizon(summary: dict) -> int:
    entry = next(iter(summary["models"].values()))
    variable = next(iter(entry["variables"].values()))
    return len(variable["mean_report"]["steps"])


def write_outputs(summary: dict, out: Path) -> list[Path]:
    """``<name>.md``, ``<name>.json`` and one ``<name>_<variable>.png`` of MAE by lead time per variable."""
    from social_xlstm.viz import plot_error_by_horizon, save_figure

    out.mkdir(parents=True, exist_ok=True)
    name = summary["dataset"]
    written = [write_json_atomic(summary, out / f"{name}.json")]
    with atomic_file(out / f"{name}.md") as tmp:
        tmp.write_text(render_markdown(summary))
    written.append(out / f"{name}.md")
    variables = list(next(iter(summary["models"].values()))["variables"])
    for variable in variables:
        metrics = {
            "models": {
                model: {variable: entry["variables"][variable]["mean_report"]}
                for model, entry in summary["models"].items()
            }
        }
        written.append(save_figure(plot_error_by_horizon(metrics, variable), out / f"{name}_{variable}.png"))
    return written

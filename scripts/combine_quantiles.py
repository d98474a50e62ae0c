"""One table of quantile forecasts over seeds, from the ``quantile_metrics.json`` of several
``scripts/bench_quantiles.py`` runs, with the point model's MAE of the same seeds beside the median's.

    python scripts/combine_quantiles.py --name los-loop-quantiles --runs runs/quantiles-seed0 runs/quantiles-seed1 \\
        runs/quantiles-seed2 --point docs/results/los-loop-calendar-global.json \\
        docs/results/los-loop-calendar-global-seeds.json [--variable speed] [--out docs/results]

``--runs``: the ``--out`` folders of one ``bench_quantiles.py`` call per seed (their seed is read from
the run's config). ``--point``: summaries of ``social-xlstm bench accuracy`` of the same config without
quantiles; their per-seed runs are paired with the quantile runs by seed. Writes ``OUT/NAME.md`` and
``OUT/NAME.json``: mean +- std over seeds per horizon of the median's MAE, CRPS, 80% / 90% coverage and
width, the baselines' CRPS and coverage, the point model's MAE and the paired median-vs-point gap.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import yaml

MINUTES = (15, 30, 45, 60)
ROWS = (("mae", "median MAE"), ("crps", "CRPS"), ("coverage_80", "80% coverage"), ("width_80", "80% width"),
        ("coverage_90", "90% coverage"), ("width_90", "90% width"))  # fmt: skip


def _seed(run: Path) -> int:
    configs = sorted(run.glob("lightning_logs/version_*/config.yaml"))
    if not configs:
        raise SystemExit(f"{run}: no lightning_logs/version_*/config.yaml to read the seed from")
    return int(yaml.safe_load(configs[-1].read_text())["seed_everything"])


def _by_minutes(report: dict, variable: str) -> dict:
    return {int(s["minutes"]): s for s in report[variable]["steps"]}


def _cell(values: list[float], percent: bool) -> str:
    if percent:
        values = [100 * v for v in values]
    text = f"{statistics.fmean(values):.{1 if percent else 3}f}"
    if len(values) > 1:
        text += f" +- {statistics.stdev(values):.{1 if percent else 3}f}"
    return text + ("%" if percent else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--runs", nargs="+", required=True)
    parser.add_argument("--point", nargs="*", default=[])
    parser.add_argument("--variable", default="speed")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    var = args.variable
    runs = {}
    for folder in map(Path, args.runs):
        metrics = json.loads((folder / "quantile_metrics.json").read_text())
        runs[_seed(folder)] = metrics
    seeds = sorted(runs)
    model = next(n for n, kind in runs[seeds[0]]["model_kinds"].items() if kind == "learned")
    point = {}
    for summary in map(Path, args.point):
        for run in json.loads(summary.read_text())["models"][model]["runs"]:
            point[run["seed"]] = _by_minutes(run["report"], var)
    lines = [f"# {args.name}: quantile forecasts over seeds {seeds} (scripts/combine_quantiles.py)", "",
             f"{var}, masked, mean +- std over seeds; the model `{model}` and the baselines of the same runs.", "",
             "| " + var + " | " + " | ".join(f"{m} min" for m in MINUTES) + " |",
             "|---|" + "---:|" * len(MINUTES)]  # fmt: skip
    table = {}
    for name in runs[seeds[0]]["models"]:
        keys = ROWS if name == model else (("mae", "MAE"), ("crps", "CRPS"), ("coverage_80", "80% coverage"),
                                           ("coverage_90", "90% coverage"))  # fmt: skip
        for key, label in keys:
            per = {m: [_by_minutes(runs[s]["models"][name], var)[m][key] for s in seeds] for m in MINUTES}
            table[f"{name} {key}"] = per
            shown = label if name == model else f"{name} {label}"
            cells = [_cell(per[m], key.startswith("coverage")) for m in MINUTES]
            lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    paired = [s for s in seeds if s in point]
    if paired:
        per = {m: [point[s][m]["mae"] for s in paired] for m in MINUTES}
        table["point mae"] = per
        cells = " | ".join(_cell(per[m], False) for m in MINUTES)
        lines.append(f"| point model MAE (seeds {paired}) | {cells} |")
        gaps = {m: [_by_minutes(runs[s]["models"][model], var)[m]["mae"] / point[s][m]["mae"] - 1 for s in paired]
                for m in MINUTES}  # fmt: skip
        table["median vs point"] = gaps
        lines.append("| median vs point MAE (paired) | " + " | ".join(
            f"{statistics.fmean(gaps[m]):+.1%}" for m in MINUTES) + " |")  # fmt: skip
    out = Path(args.out)
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    (out / f"{args.name}.json").write_text(json.dumps({"seeds": seeds, "variable": var, "table": table}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

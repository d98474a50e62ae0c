"""One table over seeds run in separate calls of the harness: a model's seed-0 row of an earlier summary
(``docs/results/<name>.json``, one seed) and its later seeds' stored runs (``WORK/<model>/seed<S>/result.json``),
checked to be the same settings, as mean +- std per horizon, and the paired gap between two models.

    python scripts/combine_seeds.py --name los-loop-converged-3seeds --baseline slstm_only \\
        --model social_xlstm=docs/results/los-loop-converged-calendar-global.json:WORK1 \\
        --model slstm_only=docs/results/los-loop-converged-calendar.json:WORK2 [--variable speed] [--out docs/results]

(WORK1, WORK2: the harness's work folders, ``runs/benchmark/los-loop-converged-calendar-global`` and
``runs/benchmark/los-loop-converged-calendar`` for ``scripts/accuracy_sweep.sh seeds``, or the summaries it
wrote for the later seeds, ``docs/results/los-loop-converged-calendar-global-seeds.json`` and
``docs/results/los-loop-converged-calendar-seeds.json``, which survive once the work folders are gone.)

Writes ``OUT/<name>.md`` and ``OUT/<name>.json``. A stored run whose settings differ from the summary's
(epochs, patience, time cap, overrides, dataset, protocol) is refused: seeds of different runs are never mixed.
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
from pathlib import Path

MINUTES = ("15", "30", "45", "60", "avg")
SETTINGS = ("epochs", "patience", "max_minutes", "overrides", "protocol")


def _seed_rows(model: str, summary_path: Path, work: Path, variable: str) -> list[dict]:
    summary = json.loads(summary_path.read_text())
    entry = summary["models"][model]
    if entry["seeds"] != [0]:
        raise SystemExit(f"{summary_path}: {model} averages seeds {entry['seeds']}; give a one-seed (seed 0) summary")
    mae = entry["variables"][variable]["mae"]
    rows = [{
        "seed": 0, "mae": {m: mae[m]["mean"] for m in MINUTES}, "epochs": entry["epochs"][0],
        "stopped_by": entry["stopped_by"][0], "fit_seconds": entry["fit_seconds"]["mean"], "source": str(summary_path),
    }]  # fmt: skip
    wanted = {**summary, "protocol": (summary.get("protocol") or {}).get("name")}
    for source, settings, records in _later_seeds(work):
        differ = [k for k in SETTINGS if k in settings and settings[k] != wanted.get(k)]
        if differ:
            raise SystemExit(f"{source}: settings {differ} differ from {summary_path}'s; not the same run")
        for record in records:
            if record["model"] != model or record["seed"] == 0:
                continue
            steps = {f"{s['minutes']:g}": s["mae"] for s in record["report"][variable]["steps"]}
            avg = statistics.fmean(s["mae"] for s in record["report"][variable]["steps"])
            rows.append({
                "seed": record["seed"], "mae": {**{m: steps[m] for m in MINUTES[:-1]}, "avg": avg},
                "epochs": record["epochs"], "stopped_by": record["stopped_by"], "fit_seconds": record["fit_seconds"],
                "source": str(source),
            })  # fmt: skip
    return sorted(rows, key=lambda r: r["seed"])


def _later_seeds(source: Path):
    """(where, settings, run records) of the later seeds: a harness work folder's stored runs
    (``WORK/<model>/seed<S>/result.json``, one per seed) or a summary JSON the harness wrote for them
    (each model's ``runs``, the record that survives once the work folder is gone)."""
    if source.suffix == ".json":
        summary = json.loads(source.read_text())
        runs = [run for entry in summary["models"].values() for run in entry["runs"]]
        yield source, {**summary, "protocol": (summary.get("protocol") or {}).get("name")}, runs
        return
    for path in sorted(source.glob("*/seed*/result.json")):
        stored = json.loads(path.read_text())
        settings, records = stored["settings"], stored["records"]
        settings = ast.literal_eval(settings) if isinstance(settings, str) else settings
        records = ast.literal_eval(records) if isinstance(records, str) else records
        yield path, settings, records


def _mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.fmean(values):.3f} +- {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True)
    parser.add_argument("--model", action="append", required=True, metavar="MODEL=SUMMARY.json:WORK|SEEDS.json")
    parser.add_argument("--baseline", default=None, help="the model the others' paired gaps are against")
    parser.add_argument("--variable", default="speed")
    parser.add_argument("--out", default="docs/results")
    args = parser.parse_args()
    rows = {}
    for item in args.model:
        model, _, paths = item.partition("=")
        summary, _, work = paths.partition(":")
        rows[model] = _seed_rows(model, Path(summary), Path(work), args.variable)
    lines = [f"# {args.name}: {args.variable} MAE over seeds (combined by scripts/combine_seeds.py)", ""]
    for m, rs in rows.items():
        lines.append(f"- {m}: seeds {[r['seed'] for r in rs]}; epochs {[r['epochs'] for r in rs]}, stopped by "
                     f"{[r['stopped_by'] for r in rs]}, fit {[round(r['fit_seconds']) for r in rs]} s")  # fmt: skip
    lines += ["", "| model | n | " + " | ".join(f"{m} min" if m != "avg" else "12-step avg" for m in MINUTES) + " |",
              "|---|---:|" + "---:|" * len(MINUTES)]  # fmt: skip
    for model, rs in rows.items():
        cells = " | ".join(_mean_std([r["mae"][m] for r in rs]) for m in MINUTES)
        lines.append(f"| {model} | {len(rs)} | {cells} |")
    gaps = {}
    if args.baseline:
        base = {r["seed"]: r for r in rows[args.baseline]}
        lines += ["", f"Paired gap against {args.baseline} (same seed; negative: better), per seed and mean:", ""]
        for model, rs in rows.items():
            if model == args.baseline:
                continue
            paired = [(r, base[r["seed"]]) for r in rs if r["seed"] in base]
            gaps[model] = {m: [r["mae"][m] / b["mae"][m] - 1 for r, b in paired] for m in MINUTES}
            per = "; ".join(f"{m}: " + ", ".join(f"{g:+.1%}" for g in gaps[model][m]) +
                            f" (mean {statistics.fmean(gaps[model][m]):+.1%})" for m in MINUTES)  # fmt: skip
            lines.append(f"- {model}, seeds {[r['seed'] for r, _ in paired]}: {per}")
    out = Path(args.out)
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    summary = {"variable": args.variable, "rows": rows, "gaps": gaps}
    (out / f"{args.name}.json").write_text(json.dumps(summary, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

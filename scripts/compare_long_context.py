"""Windowed vs long-context (sequence-mode) training on one dataset: accuracy on the same issue times, and cost.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/compare_long_context.py --dataset demo --epochs 2 --train-fraction 0.5 \
        --out runs/long-context-demo
    OMP_NUM_THREADS=1 nice -n 10 python scripts/compare_long_context.py --dataset los-loop --data data/los-loop \
        --variants window sequence --epochs 2 --train-fraction 0.25 --out runs/long-context-los-loop

``demo`` simulates the demo's network first (``social-xlstm synth``'s simulator with the demo's size,
seed and start day, as ``social-xlstm demo`` does). Each variant runs in its own process (so its peak RSS
is its own): ``fit`` for ``--epochs`` epochs, ``test`` on the last checkpoint, ``predict``. The variants:

    window            configs/<demo|los_loop>.yaml                 windows of W steps, one forecast each
    sequence          configs/<demo|los_loop>_sequence.yaml        day-long sequences, TBPTT, an optimiser
                                                                   step per chunk
    sequence_batch    the same with model.tbptt.optimizer_step:    one optimiser step per batch of
                      sequence                                     sequences (chunk gradients accumulated)

All share the seed, the model and the test windows (the script checks that every variant's
``forecasts.parquet`` holds the same issue times). The Markdown table (masked MAE per lead time, fit
and CPU seconds (user + system, the cost a shared machine's load barely changes) and the CPU ratio to
``window``, seconds per epoch, optimiser steps, peak RSS) is printed and written
to ``OUT/results.md``; every run's numbers to ``OUT/results.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = {"demo": "demo", "los-loop": "los_loop"}
VARIANTS = {
    "window": ("{}.yaml", {}),
    "sequence": ("{}_sequence.yaml", {}),
    "sequence_batch": ("{}_sequence.yaml", {"model": {"tbptt": {"optimizer_step": "sequence"}}}),
}


def run_variant(args) -> None:
    """One variant in this process: fit, test, predict; its numbers as JSON to ``args.json``."""
    import pandas as pd

    from social_xlstm.demo import config_path
    from social_xlstm.experiment import Experiment, load_config

    name, out = args.run, Path(args.out) / args.run
    template, extra = VARIANTS[name]
    overrides = {
        **extra,
        "seed_everything": args.seed,
        "data": {"data_dir": str(args.data)},
        "trainer": {"default_root_dir": str(out), "max_epochs": args.epochs, "enable_progress_bar": False},
        "forecasts": {"output": str(out / "forecasts.parquet")},
        "metrics": {"output": str(out / "metrics.json")},
    }
    if args.train_fraction < 1.0:  # the same share of every variant's epoch (equal encoder steps per epoch)
        overrides["trainer"]["limit_train_batches"] = args.train_fraction
    exp = Experiment(load_config(config_path(template.format(CONFIGS[args.dataset])), overrides))
    start, cpu = time.perf_counter(), _cpu_seconds()
    best = exp.fit()
    fit_s, fit_cpu_s = time.perf_counter() - start, _cpu_seconds() - cpu
    epochs, steps = exp.trainer.current_epoch, exp.trainer.global_step
    # no validation part (los-loop): the newest checkpoint, i.e. the weights after the last epoch
    ckpt = best or str(max(out.glob("**/*.ckpt"), key=lambda p: p.stat().st_mtime))
    metrics = exp.test(ckpt)
    issue_times = pd.read_parquet(exp.predict(ckpt), columns=["issue_time"])["issue_time"].unique()
    result = {
        "variant": name,
        "fit_s": fit_s,
        "epochs": epochs,
        "s_per_epoch": fit_s / max(epochs, 1),
        "fit_cpu_s": fit_cpu_s,
        "optimizer_steps": steps,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "issue_times": [str(t) for t in sorted(issue_times)],
        "metrics": metrics,
    }
    Path(args.json).write_text(json.dumps(result))


def _cpu_seconds() -> float:
    """CPU seconds of this process (user + system), all threads: a cost that a loaded machine barely changes."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def simulate_demo(out: Path) -> Path:
    from social_xlstm.data.synth import simulate
    from social_xlstm.demo import DEMO_START

    data = out / "data"
    if not (data / "dataset.json").exists():  # simulated by an earlier run: the same bytes (seeded)
        simulate(data, vds=60, days=14, seed=0, start=DEMO_START)
    return data


def table(results: list[dict], variable: str, minutes: list[float], args) -> list[str]:
    base = next((r for r in results if r["variant"] == "window"), results[0])
    lines = [
        f"masked MAE of {variable} at " + " / ".join(f"{m:g}" for m in minutes) + " min on "
        f"{base['metrics']['test_windows']} test windows; {args.epochs} epochs of {args.train_fraction:g} of the "
        f"training batches, seed {args.seed}",
        "",
        "| variant | " + " | ".join(f"{m:g} min" for m in minutes) + " | avg | fit s | s/epoch | fit CPU s "
        "| CPU x window | opt. steps | peak RSS MB |",
        "|---|" + "---:|" * (len(minutes) + 7),
    ]
    for r in results:
        report = r["metrics"]["models"][r["metrics"]["arch"]][variable]
        steps = {s["minutes"]: s["mae"] for s in report["steps"]}
        cells = " | ".join(f"{steps[m]:.3f}" for m in minutes)
        lines.append(
            f"| {r['variant']} | {cells} | {report['average']['mae']:.3f} | {r['fit_s']:.0f} | "
            f"{r['s_per_epoch']:.1f} | {r['fit_cpu_s']:.0f} | {r['fit_cpu_s'] / base['fit_cpu_s']:.2f} | "
            f"{r['optimizer_steps']} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    for name, report in base["metrics"]["models"].items():
        if name in ("persistence", "historical_average"):
            steps = {s["minutes"]: s["mae"] for s in report[variable]["steps"]}
            cells = " | ".join(f"{steps[m]:.3f}" for m in minutes)
            lines.append(f"| {name} | {cells} | {report[variable]['average']['mae']:.3f} | - | - | - | - | - | - |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=list(CONFIGS), required=True)
    parser.add_argument("--data", help="canonical dataset directory (los-loop: the ingested one)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--train-fraction", type=float, default=1.0, help="share of each epoch's training batches (limit_train_batches)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--minutes", nargs="+", type=float, default=[15, 30, 45, 60])
    parser.add_argument("--out", required=True)
    parser.add_argument("--run", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_variant(args)
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.dataset == "demo" and not args.data:
        args.data = str(simulate_demo(out))
    if not args.data:
        parser.error("--data is required for los-loop (the ingested dataset directory)")
    results = []
    for name in args.variants:
        path = out / f"{name}.json"
        command = [sys.executable, __file__, *sys.argv[1:], "--run", name, "--json", str(path), "--data", args.data]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True)
        results.append({**json.loads(path.read_text())})
    issues = {r["variant"]: r.pop("issue_times") for r in results}
    first = next(iter(issues.values()))
    if any(times != first for times in issues.values()):
        raise SystemExit(f"variants forecast different issue times: { {k: len(v) for k, v in issues.items()} }")
    for r in results:
        r["metrics"]["arch"] = next(iter(r["metrics"]["models"]))
    variables = list(results[0]["metrics"]["models"][results[0]["metrics"]["arch"]])
    lines = [f"{args.dataset}: every variant forecast the same {len(first)} issue times", ""]
    for variable in variables:
        lines += [*table(results, variable, args.minutes, args), ""]
    text = "\n".join(lines)
    print(text)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

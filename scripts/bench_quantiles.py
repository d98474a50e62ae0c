"""Quantile forecasts on a dataset: the median's MAE, CRPS, and the 80% / 90% interval coverage and width
per horizon, from one fit + test of the bench protocol's config with ``model.head.quantiles``.

    python scripts/bench_quantiles.py --dataset runs/data/los-loop [--epochs 8] [--seed 0] [--threads 1]
        [--set model.embedding.calendar=learned model.social.global_read=true] [--out runs/quantiles]

Prints a Markdown table (docs/results.md, "Quantile forecasts"). The point model to compare the median
with is the same config without quantiles (``social-xlstm bench accuracy`` with the same ``--set``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

from social_xlstm.bench.run import parse_overrides
from social_xlstm.experiment import Experiment, load_config, merge_config

LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]
MINUTES = (15, 30, 45, 60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--config", default="configs/bench_tgcn.yaml")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--set", dest="overrides", nargs="*", default=[])
    parser.add_argument("--out", default="runs/quantiles")
    parser.add_argument("--ckpt", default=None, help="score this checkpoint of an earlier run instead of fitting")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    overrides = merge_config(
        {
            "seed_everything": args.seed,
            "data": {"data_dir": args.dataset},
            "model": {"head": {"quantiles": LEVELS}},
            "trainer": {"max_epochs": args.epochs, "default_root_dir": args.out, "enable_progress_bar": False},
        },
        parse_overrides(args.overrides),
    )
    start = time.perf_counter()
    exp = Experiment(load_config(args.config, overrides))
    best = args.ckpt or exp.fit()
    fit_seconds = time.perf_counter() - start
    metrics = exp.test(best)
    model = next(iter(metrics["models"]))
    print(f"\n{args.dataset}, {args.config}, seed {args.seed}, {args.epochs} epochs (best {best}), "
          f"fit {fit_seconds:.0f} s")  # fmt: skip
    print(f"levels {LEVELS}, overrides {args.overrides}\n")
    for variable, report in metrics["models"][model].items():
        steps = {s["minutes"]: s for s in report["steps"]}
        print(f"| {variable} | " + " | ".join(f"{m} min" for m in MINUTES) + " |")
        print("|---|" + "---:|" * len(MINUTES))
        rows = (("mae", "median MAE"), ("crps", "CRPS"), ("coverage_80", "80% coverage"), ("width_80", "80% width"),
                ("coverage_90", "90% coverage"), ("width_90", "90% width"))  # fmt: skip
        for key, label in rows:
            cells = []
            for m in MINUTES:
                value = steps.get(m, {}).get(key)
                text = f"{value:.1%}" if key.startswith("coverage") else f"{value:.3f}"
                cells.append("-" if value is None else text)
            print(f"| {label} | " + " | ".join(cells) + " |")
        for name, other in metrics["models"].items():
            if name != model:
                by = {s["minutes"]: s for s in other[variable]["steps"]}
                for key in ("mae", "crps", "coverage_80", "coverage_90"):
                    if key in by[MINUTES[0]]:
                        cells = [f"{by[m][key]:.1%}" if key.startswith("coverage") else f"{by[m][key]:.3f}"
                                 for m in MINUTES]  # fmt: skip
                        print(f"| {name} {key} | " + " | ".join(cells) + " |")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "quantile_metrics.json").write_text(json.dumps(metrics, indent=1))
    print(yaml.safe_dump({"shift_max": float(exp.model.quantile_shift.abs().max())}))


if __name__ == "__main__":
    main()

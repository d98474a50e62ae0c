"""Train several architectures with one config on one dataset and tabulate their test errors.

    python scripts/compare_models.py --config configs/los_loop.yaml --data data/los-loop \
        --archs social_xlstm slstm_pool gru_gcn lstm --epochs 6 --out runs/compare-los-loop

Each arch runs ``social-xlstm fit`` then ``test`` (same seed, same windows, same metrics); the table of
masked MAE per lead time (plus persistence and historical average from the same test run) is printed as
Markdown and written to ``OUT/results.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from social_xlstm.cli import main as cli


def run_arch(arch: str, args, extra: list[str]) -> tuple[dict, float]:
    root = Path(args.out) / arch
    common = [
        "--config",
        args.config,
        "--data.data_dir",
        args.data,
        "--trainer.default_root_dir",
        str(root),
        "--model.arch",
        arch,
        "--seed_everything",
        str(args.seed),
        *extra,
    ]
    start = time.perf_counter()
    if cli(["fit", *common, "--trainer.max_epochs", str(args.epochs)]) != 0:
        raise SystemExit(f"fit failed for {arch}")
    seconds = time.perf_counter() - start
    ckpts = sorted(root.glob("lightning_logs/version_*/checkpoints/*.ckpt"), key=lambda p: p.stat().st_mtime)
    if cli(["test", *common, "--ckpt_path", str(ckpts[-1])]) != 0:
        raise SystemExit(f"test failed for {arch}")
    return json.loads((root / "metrics.json").read_text()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--archs", nargs="+", default=["social_xlstm", "slstm_pool", "gru_gcn", "lstm"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variable", default="speed")
    parser.add_argument("--minutes", nargs="+", type=float, default=[15, 30, 45, 60])
    parser.add_argument("--out", default="runs/compare")
    args, extra = parser.parse_known_args()
    rows, baselines = [], {}
    for arch in args.archs:
        metrics, seconds = run_arch(arch, args, extra)
        for name, report in metrics["models"].items():
            steps = {s["minutes"]: s["mae"] for s in report[args.variable]["steps"]}
            cells = [steps.get(m) for m in args.minutes]
            if name == arch:
                rows.append((arch, cells, seconds))
            else:
                baselines[name] = cells
    header = " / ".join(f"{m:g}" for m in args.minutes)
    lines = [
        f"masked MAE of {args.variable} at {header} min; {args.epochs} epochs, seed {args.seed}, "
        f"config {args.config}",
        "",
        "| model | " + " | ".join(f"{m:g} min" for m in args.minutes) + " | fit s |",
        "|---|" + "---:|" * (len(args.minutes) + 1),
    ]
    for name, cells, seconds in rows:
        lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {seconds:.0f} |")
    for name, cells in baselines.items():
        lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " | - |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.md").write_text(text)


if __name__ == "__main__":
    main()

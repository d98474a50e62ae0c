"""Cost as the work grows: training-step time and peak memory against N and K, ratios against ``lstm``.

    python scripts/bench_cost.py [--vds 100 500 2000 8600] [--neighbours 4 16 64] [--batch 8] [--threads 1]

The grid: N in ``--vds`` at K=16, and K in ``--neighbours`` at N=500; N above ``--sample-above`` (2,000)
trains on ``--sample`` (256) sampled target VDs and the in-neighbours they read, as ``data.node_sample``
does (the 8,600-VD network is never run whole). Each (N, K, arch) is one subprocess of
``scripts/bench_epoch.py``'s worker (the los-loop config's model: width 64, 2 sLSTM blocks, 4 social heads,
source form; a random graph of K in-edges per VD incl. its self loop; random inputs of ``--batch`` windows
of 12 steps; AdamW), timed over ``--steps`` optimiser steps after a warm-up step; peak memory is the
process's ``ru_maxrss``. Every ratio is against ``lstm`` in the same (N, K) cell of the same run. Prints a
Markdown table (docs/scale.md, "Training cost as N and K grow").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_epoch import MODEL_KEYS_DROPPED, REPO, _cpu_model, _run_worker, _torch_version  # noqa: E402

ARCHS = ("lstm", "slstm_only", "slstm_pool", "social_xlstm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vds", nargs="+", type=int, default=[100, 500, 2000, 8600])
    parser.add_argument("--neighbours", nargs="+", type=int, default=[4, 16, 64])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS))
    parser.add_argument("--batch", type=int, default=8, help="windows per step (default 8)")
    parser.add_argument("--sample", type=int, default=256, help="sampled target VDs above --sample-above")
    parser.add_argument("--sample-above", type=int, default=2000, help="N above which steps sample VDs")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per cell")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--config", default=str(REPO / "configs" / "los_loop.yaml"))
    args = parser.parse_args()
    if "lstm" not in args.archs:
        raise SystemExit("--archs must include lstm: every ratio is against it")
    model = {k: v for k, v in yaml.safe_load(Path(args.config).read_text())["model"].items()
             if k not in MODEL_KEYS_DROPPED and k != "arch"}  # fmt: skip
    cells = [(n, 16) for n in args.vds] + [(500, k) for k in args.neighbours if k != 16]
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} logical cores, torch {_torch_version()}, {args.threads} "
        f"thread(s); load average at the start {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"B={args.batch} windows of W=12, H=12, D={model.get('d_model')}; N > {args.sample_above}: "
        f"{args.sample} sampled targets + their in-neighbours per step; the mean of {args.steps} steps\n"
    )
    print("| N | K | VDs run | " + " | ".join(f"{a} s/step | {a} peak MB" for a in args.archs)
          + " | " + " | ".join(f"{a} vs lstm" for a in args.archs if a != "lstm") + " |")  # fmt: skip
    print("|" + "---:|" * (3 + 2 * len(args.archs) + len(args.archs) - 1))
    for nodes, k in cells:
        spec = {
            "vds": nodes, "neighbours": k, "batch": args.batch, "window": 12, "horizon": 12, "features": 3,
            "outputs": 1, "steps": args.steps, "threads": args.threads, "model": model, "device": "cpu",
            "compile": False, "backend": None, "bf16": False,
            "sample": args.sample if nodes > args.sample_above else None,
        }  # fmt: skip
        res = {a: _run_worker({**spec, "arch": a}, None) for a in args.archs}
        base = res["lstm"]["sec"]
        cells_text = " | ".join(f"{res[a]['sec']:.3f} | {res[a]['maxrss_mb']:.0f}" for a in args.archs)
        ratios = " | ".join(f"{res[a]['sec'] / base:.2f}x" for a in args.archs if a != "lstm")
        print(f"| {nodes:,} | {k} | {res['lstm']['vds_run']:.0f} | {cells_text} | {ratios} |", flush=True)


if __name__ == "__main__":
    main()

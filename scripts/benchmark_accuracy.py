"""Train and test every model on one dataset under one protocol; tables, JSON and plots in docs/results.

    python scripts/benchmark_accuracy.py --dataset runs/data/los-loop --protocol tgcn \
        --config configs/bench_los_loop.yaml --seeds 0 1 2 \
        --models persistence historical_average lstm gru_gcn slstm_only slstm_pool social_xlstm

Writes ``OUT/<dataset>.md`` (MAE / RMSE / MAPE at 15 / 30 / 45 / 60 min and the 12-step average, mean and
spread over seeds, fit time per model), ``OUT/<dataset>.json`` and ``OUT/<dataset>_<variable>.png``.
``--seeds-for dcrnn=0 graph_wavenet=0`` trains the models named with their own seeds (the tables say how
many seeds each row averages). Resumable: a (model, seed) whose result is stored under ``--work`` with the
same settings is not retrained. Logic in :mod:`social_xlstm.benchmark`.
"""

from __future__ import annotations

import argparse
import sys

import torch

from social_xlstm.benchmark import add_run_options, run_benchmark, settings_from_args
from social_xlstm.errors import UserError

DEFAULT_MODELS = ["persistence", "historical_average", "lstm", "gru_gcn", "slstm_only", "slstm_pool", "social_xlstm"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser, "per-run checkpoints and results (default runs/benchmark/NAME)")
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument(
        "--seeds-for",
        nargs="*",
        default=[],
        metavar="MODEL=S[,S...]",
        help="other seeds for the models named, e.g. dcrnn=0 where a model is too slow for all of --seeds",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        settings = settings_from_args(args, args.models, "scripts/benchmark_accuracy.py", argv)
        run_benchmark(settings)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

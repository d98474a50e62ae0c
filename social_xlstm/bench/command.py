"""``social-xlstm bench accuracy | variants | probe``: the research harness's command line.

Each command is an argparse parser over one function of this package; errors are
:class:`~social_xlstm.errors.UserError` and the CLI turns them into one message and exit status 2. The
``scripts/benchmark_*.py`` and ``scripts/spatial_information.py`` files are shims over these commands.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence

DEFAULT_MODELS = ["persistence", "historical_average", "lstm", "gru_gcn", "slstm_only", "slstm_pool", "social_xlstm"]

ACCURACY = """Train and test every model on one dataset under one protocol; tables, JSON and plots in docs/results.

    social-xlstm bench accuracy --dataset runs/data/los-loop --protocol tgcn --seeds 0 1 2 \\
        --models persistence historical_average lstm gru_gcn slstm_only slstm_pool social_xlstm

The protocol is a config, configs/bench_<protocol>.yaml (or --config): its data.window, data.horizon and
data.split. Writes OUT/<dataset>.md (MAE / RMSE / MAPE at 15 / 30 / 45 / 60 min and the 12-step average,
mean and spread over seeds, fit time per model), OUT/<dataset>.json and OUT/<dataset>_<variable>.png.
--seeds-for dcrnn=0 graph_wavenet=0 trains the models named with their own seeds. Resumable: a (model,
seed) whose result is stored under --work with the same settings is not retrained.
"""

VARIANTS = """Train the social layer's variants against its two ablations; one comparison table in docs/results.

    social-xlstm bench variants --dataset runs/data/sim-60 --protocol standard --seeds 0 1 2 \\
        --epochs 4 --variants between forget_fast edge_mlp

Reads the variants from --file (default configs/variants.yaml), reuses the benchmark's own runs of
slstm_only, slstm_pool and social_xlstm as the base (same --work, seeds, epochs), trains what is missing
(resumable like the benchmark) and writes OUT/<dataset>-variants.md and .json.
"""

PROBE = """How much the neighbours add to a VD's own history, by a per-VD linear probe (seconds, no training).

    social-xlstm bench probe --dataset runs/data/sim-60 --protocol standard --max-neighbours 9
    social-xlstm bench probe --dataset runs/data/los-loop --protocol tgcn --max-neighbours 16

Same split, window and horizon as the accuracy benchmark's protocol; writes OUT/<dataset>-spatial.md and .json.
"""


def _threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _command(name: str, argv: Sequence[str]) -> str:
    return f"social-xlstm bench {name} " + " ".join(map(shlex.quote, argv))


def _accuracy(args, argv: Sequence[str]) -> int:
    from social_xlstm.bench.run import run_benchmark, settings_from_args

    _threads(args)
    run_benchmark(settings_from_args(args, args.models, _command("accuracy", argv)))
    return 0


def _variants(args, argv: Sequence[str]) -> int:
    from social_xlstm.bench.run import settings_from_args
    from social_xlstm.bench.variants import COMPARED, VariantSettings, load_variants, run_variants

    _threads(args)
    base = settings_from_args(args, COMPARED, _command("variants", argv))
    run_variants(VariantSettings(base, load_variants(args.file, args.variants)))
    return 0


def _probe(args, argv: Sequence[str]) -> int:
    from social_xlstm.bench.probe import run_probe

    run_probe(
        dataset=args.dataset,
        protocol=args.protocol,
        config=args.config,
        targets=args.targets,
        max_neighbours=args.max_neighbours,
        out=args.out,
        name=args.name,
        command=_command("probe", argv),
    )
    return 0


def build_parser(prog: str = "social-xlstm bench") -> argparse.ArgumentParser:
    from social_xlstm.bench.run import add_run_options

    parser = argparse.ArgumentParser(prog=prog, description="The research harness (docs/results.md).")
    sub = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("accuracy", help="every model, one protocol", description=ACCURACY, formatter_class=raw)
    add_run_options(p, "per-run checkpoints and results (default runs/benchmark/NAME)")
    p.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    p.add_argument(
        "--seeds-for",
        nargs="*",
        default=[],
        metavar="MODEL=S[,S...]",
        help="other seeds for the models named, e.g. dcrnn=0 where a model is too slow for all of --seeds",
    )
    p.set_defaults(handler=_accuracy)
    p = sub.add_parser("variants", help="the social layer's variants", description=VARIANTS, formatter_class=raw)
    add_run_options(
        p, "the benchmark's work directory (default runs/benchmark/NAME)", "overrides of every run, the base included"
    )
    p.add_argument("--file", default="configs/variants.yaml", help="the variants (YAML)")
    p.add_argument("--variants", nargs="+", default=None, help="names to run (default all in --file)")
    p.set_defaults(handler=_variants)
    p = sub.add_parser("probe", help="what neighbours add, linearly", description=PROBE, formatter_class=raw)
    p.add_argument("--dataset", required=True, help="canonical dataset directory")
    p.add_argument("--protocol", required=True, help="tgcn | standard | NAME of a configs/bench_NAME.yaml")
    p.add_argument("--config", default=None, help="the protocol's config (default configs/bench_<protocol>.yaml)")
    p.add_argument("--targets", nargs="+", default=None, help="target variables (default: flow, speed present)")
    p.add_argument("--max-neighbours", type=int, default=9, help="in-edges per VD, self loop included")
    p.add_argument("--out", default="docs/results")
    p.add_argument("--name", default=None, help="dataset name in the output file names")
    p.set_defaults(handler=_probe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one bench command; raises UserError (the CLI's one message and exit status 2)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    return args.handler(args, argv[1:])


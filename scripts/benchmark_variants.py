"""Train the social layer's variants against its two ablations; one comparison table in docs/results.

    python scripts/benchmark_variants.py --dataset runs/data/sim-60 --protocol standard --seeds 0 1 2 \
        --epochs 4 --variants between forget_fast edge_mlp

Reads the variants from ``--file`` (default configs/variants.yaml), reuses the benchmark's own runs of
``slstm_only``, ``slstm_pool`` and ``social_xlstm`` as the base (same ``--work``, seeds, epochs), trains what is
missing (resumable like the benchmark) and writes ``OUT/<dataset>-variants.md`` and ``.json``. Logic in
:mod:`social_xlstm.variants`.
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from social_xlstm.benchmark import PROTOCOLS
from social_xlstm.errors import UserError
from social_xlstm.variants import VariantSettings, load_variants, run_variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="canonical dataset directory")
    parser.add_argument("--protocol", required=True, choices=list(PROTOCOLS))
    parser.add_argument("--config", default=None, help="training config (default configs/bench_<protocol>.yaml)")
    parser.add_argument("--file", default="configs/variants.yaml", help="the variants (YAML)")
    parser.add_argument("--variants", nargs="+", default=None, help="names to run (default all in --file)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the config's)")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--work", default=None, help="the benchmark's work directory (default runs/benchmark/NAME)")
    parser.add_argument("--name", default=None, help="dataset name in the output file names")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="*",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="overrides of every run, the base included",
    )
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        settings = VariantSettings(
            dataset=args.dataset,
            protocol=args.protocol,
            config=args.config or f"configs/bench_{args.protocol}.yaml",
            variants=load_variants(args.file, args.variants),
            seeds=args.seeds,
            epochs=args.epochs,
            out=args.out,
            work=args.work,
            name=args.name,
            command="python scripts/benchmark_variants.py " + " ".join(map(shlex.quote, argv)),
            base_overrides=args.overrides,
        )
        run_variants(settings)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

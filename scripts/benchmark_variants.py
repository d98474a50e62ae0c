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
import sys

import torch

from social_xlstm.benchmark import add_run_options, settings_from_args
from social_xlstm.errors import UserError
from social_xlstm.variants import COMPARED, VariantSettings, load_variants, run_variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(
        parser,
        "the benchmark's work directory (default runs/benchmark/NAME)",
        "overrides of every run, the base included",
    )
    parser.add_argument("--file", default="configs/variants.yaml", help="the variants (YAML)")
    parser.add_argument("--variants", nargs="+", default=None, help="names to run (default all in --file)")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        base = settings_from_args(args, COMPARED, "scripts/benchmark_variants.py", argv)
        settings = VariantSettings(base, load_variants(args.file, args.variants))
        run_variants(settings)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The social layer's variants against its ablations: ``social-xlstm bench variants``.

    python scripts/benchmark_variants.py ARGS   is   social-xlstm bench variants ARGS

Options and examples: ``social-xlstm bench variants --help`` (docs/results.md); logic in social_xlstm/bench/.
"""

from __future__ import annotations

import sys

from social_xlstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "variants", *sys.argv[1:]]))

"""Train and test every model on one dataset under one protocol: ``social-xlstm bench accuracy``.

    python scripts/benchmark_accuracy.py ARGS   is   social-xlstm bench accuracy ARGS

Options and examples: ``social-xlstm bench accuracy --help`` (docs/results.md); logic in social_xlstm/bench/.
"""

from __future__ import annotations

import sys

from social_xlstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "accuracy", *sys.argv[1:]]))

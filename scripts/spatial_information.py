"""What neighbours add, by a linear probe: ``social-xlstm bench probe``.

    python scripts/spatial_information.py ARGS   is   social-xlstm bench probe ARGS

Options and examples: ``social-xlstm bench probe --help`` (docs/results.md); logic in social_xlstm/bench/.
"""

from __future__ import annotations

import sys

from social_xlstm.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "probe", *sys.argv[1:]]))

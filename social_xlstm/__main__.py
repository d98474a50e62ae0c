"""``python -m social_xlstm ...`` is the ``social-xlstm`` command (for machines where the script is not on PATH)."""

import sys

from social_xlstm.cli import main

sys.exit(main())

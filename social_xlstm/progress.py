"""When to draw progress bars: for a person at a terminal, never under CI or into a pipe or log file."""

from __future__ import annotations

import os
import sys
from typing import TextIO


def progress_enabled(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stdout) is a terminal and the ``CI`` variable is unset."""
    stream = sys.stdout if stream is None else stream
    return not os.environ.get("CI") and stream.isatty()

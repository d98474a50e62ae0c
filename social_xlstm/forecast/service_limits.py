"""What one request may ask of the forecast service, and ``serve``'s options for it (docs/service.md, "Limits").

Kept apart from :mod:`.service` so the CLI can check the options without importing FastAPI.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from social_xlstm.errors import UserError


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the service (docs/service.md, "Limits")."""

    max_body: int = 32 * 2**20
    """Bytes of a POST body (32 MiB: 10^5 readings of a few variables take about 10 MiB)."""
    max_readings: int = 200_000
    """Readings of one tick (VDs it lists, known or not)."""
    max_id_length: int = 256
    """Characters of one ``vd_id``."""
    max_ahead: pd.Timedelta | None = pd.Timedelta("1h")
    """How far a tick may lie ahead of the server's clock (None: no bound, e.g. replaying a future scenario)."""
    max_jump: int | None = None
    """Most grid steps a tick may lie after the last one (None: any gap; the state restarts after max_gap)."""
    max_batch: int = 10_000
    """Ticks of one ``POST /readings/batch`` (a day and more of 5-minute ticks; the body limit applies too)."""


def limits_from_options(max_ahead: str, max_jump: int | None, max_body_mb: float) -> Limits:
    """:class:`Limits` from ``serve``'s options; a bad value is a :class:`UserError` naming the option."""
    ahead = None
    if max_ahead.strip().lower() != "none":
        try:
            ahead = pd.Timedelta(max_ahead)
        except ValueError:
            raise UserError(f"--max-ahead {max_ahead!r} is not a duration (e.g. 15min, 1h) or none") from None
        if ahead < pd.Timedelta(0):
            raise UserError(f"--max-ahead {max_ahead!r} must not be negative")
    if max_jump is not None and max_jump < 1:
        raise UserError(f"--max-jump must be >= 1, got {max_jump}")
    if not max_body_mb > 0:
        raise UserError(f"--max-body-mb must be > 0, got {max_body_mb}")
    return Limits(max_body=int(max_body_mb * 2**20), max_ahead=ahead, max_jump=max_jump)

"""Prometheus metrics of the forecast service (``GET /metrics``, the text exposition format).

What an operator watches: how long a tick takes (a histogram of the forecaster's time per tick), how many
ticks were accepted and how many refused by reason (late or duplicate, invalid payload, beyond the
limits, body too large, unauthorised), and how old the forecasts being served are (seconds since the last
accepted tick; a growing age means the feed stopped). Written by hand (a few counters): no client library.
"""

from __future__ import annotations

import bisect
import threading
import time

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Upper bounds (seconds) of the tick latency histogram."""
REASONS = {
    401: "unauthorised",
    404: "not_found",
    409: "late_or_duplicate",
    413: "body_too_large",
    422: "invalid_or_beyond_limits",
}
"""Refusal reasons by HTTP status of a ``POST /readings`` (or ``/readings/batch``) reply."""


class ServiceMetrics:
    """Counters and the latency histogram, updated by the app, rendered by :meth:`render`."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.lock = threading.Lock()
        self.bucket_counts = [0] * len(BUCKETS)
        self.latency_sum = 0.0
        self.accepted = 0
        self.refused: dict[str, int] = {}
        self.last_accepted: float | None = None

    def tick(self, seconds: float) -> None:
        """One accepted tick that took ``seconds`` in the forecaster."""
        with self.lock:
            self.accepted += 1
            self.latency_sum += seconds
            index = bisect.bisect_left(BUCKETS, seconds)
            if index < len(BUCKETS):
                self.bucket_counts[index] += 1
            self.last_accepted = self.clock()

    def refuse(self, status: int) -> None:
        """One tick refused with HTTP ``status``."""
        reason = REASONS.get(status, "server_error" if status >= 500 else f"status_{status}")
        with self.lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1

    def render(self) -> str:
        """The metrics in Prometheus' text format (version 0.0.4)."""
        with self.lock:
            lines = [
                "# HELP social_xlstm_tick_seconds Time the forecaster took per accepted tick.",
                "# TYPE social_xlstm_tick_seconds histogram",
            ]
            cumulative = 0
            for bound, count in zip(BUCKETS, self.bucket_counts, strict=True):
                cumulative += count
                lines.append(f'social_xlstm_tick_seconds_bucket{{le="{bound}"}} {cumulative}')
            lines += [
                f'social_xlstm_tick_seconds_bucket{{le="+Inf"}} {self.accepted}',
                f"social_xlstm_tick_seconds_sum {self.latency_sum:.6f}",
                f"social_xlstm_tick_seconds_count {self.accepted}",
                "# HELP social_xlstm_ticks_accepted_total Ticks applied to the forecaster.",
                "# TYPE social_xlstm_ticks_accepted_total counter",
                f"social_xlstm_ticks_accepted_total {self.accepted}",
                "# HELP social_xlstm_ticks_refused_total Ticks refused, by reason.",
                "# TYPE social_xlstm_ticks_refused_total counter",
            ]
            lines += [f'social_xlstm_ticks_refused_total{{reason="{r}"}} {n}' for r, n in sorted(self.refused.items())]
            age = None if self.last_accepted is None else max(0.0, self.clock() - self.last_accepted)
            lines += [
                "# HELP social_xlstm_forecast_age_seconds Seconds since the forecasts served were computed "
                "(NaN before the first tick).",
                "# TYPE social_xlstm_forecast_age_seconds gauge",
                f"social_xlstm_forecast_age_seconds {'NaN' if age is None else f'{age:.3f}'}",
            ]
        return "\n".join(lines) + "\n"

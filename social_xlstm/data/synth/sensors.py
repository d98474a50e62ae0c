"""Vehicle detectors of the simulator: measurement noise and missing readings.

Each VD reads the CTM cell it sits on. Readings are made imperfect the way real loop and radar
detectors are: a per-VD calibration error (gain on counts and occupancy, bias on speed), reading-to-reading
noise, integer vehicle counts, scattered gaps (single readings lost: an absent row or a row of NaN) and
outages (a VD silent for hours: absent rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SensorConfig:
    """Noise and failure rates of the detectors."""

    flow_gain_sd: float = 0.03
    """Standard deviation of each VD's count (and occupancy) calibration gain."""
    flow_noise: float = 0.04
    """Relative standard deviation of a count reading."""
    speed_bias_sd: float = 0.02
    """Standard deviation of each VD's relative speed bias."""
    speed_noise_kmh: float = 2.5
    """Standard deviation of a speed reading (km/h)."""
    occupancy_noise: float = 0.05
    """Relative standard deviation of an occupancy reading."""
    max_speed_kmh: float = 120.0
    """Readings above this are clipped (detectors cap what they report)."""
    missing_rate: tuple[float, float] = (0.01, 0.03)
    """Range of each VD's share of scattered missing readings (drawn uniformly per VD)."""
    nan_share: float = 0.5
    """Share of scattered gaps written as a row of NaN instead of an absent row."""
    outages_per_vd_day: float = 1 / 200
    """Expected number of outages per VD and day (at least one per dataset)."""
    outage_hours: tuple[float, float] = (2.0, 12.0)
    """Range of outage durations in hours."""


@dataclass(frozen=True)
class Outage:
    """A VD that reports nothing for a while."""

    vd: int
    """Position of the VD in the stations table."""
    start: int
    """First silent interval, counted from the start of the simulation."""
    end: int
    """First interval after the outage."""


class SensorModel:
    """Draws each VD's calibration and the outages once, then corrupts one day of truth at a time.

    Args:
        config: noise and failure rates.
        n_vds: number of VDs (V).
        n_intervals: intervals in the whole simulation.
        intervals_per_day: intervals in one day (I).
        rng: generator of the sensor stream (used for every later draw, in order).
    """

    def __init__(
        self,
        config: SensorConfig,
        n_vds: int,
        n_intervals: int,
        intervals_per_day: int,
        rng: np.random.Generator,
    ):
        self.config, self.rng = config, rng
        self.gain = np.exp(rng.normal(0.0, config.flow_gain_sd, n_vds))
        self.speed_gain = np.exp(np.clip(rng.normal(0.0, config.speed_bias_sd, n_vds), -0.05, 0.05))
        self.missing = rng.uniform(*config.missing_rate, n_vds)
        days = n_intervals / intervals_per_day
        n_out = max(1, int(rng.poisson(config.outages_per_vd_day * n_vds * days)))
        hours = rng.uniform(*config.outage_hours, n_out)
        length = np.maximum(1, np.round(hours * intervals_per_day / 24.0)).astype(int)
        start = rng.integers(0, np.maximum(1, n_intervals - length))
        vds = rng.integers(0, n_vds, n_out)
        self.outages = [Outage(int(v), int(s), int(s + n)) for v, s, n in zip(vds, start, length, strict=True)]

    def observe(
        self, flow: np.ndarray, speed: np.ndarray, occupancy: np.ndarray, first_interval: int
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Detector readings of one day.

        Args:
            flow: (I, V) true vehicles per interval.
            speed: (I, V) true space-mean speed, km/h.
            occupancy: (I, V) true occupancy, %.
            first_interval: index of the day's first interval from the start of the simulation.

        Returns:
            ``(values, present)``: readings ``{"flow", "speed", "occupancy"}`` each (I, V) float32 with NaN
            where a row of NaN is written, and ``present`` (I, V) bool, False where the row is absent.
        """
        cfg, rng = self.config, self.rng
        n_int, n_vds = flow.shape
        gain = self.gain[None, :]
        counts = np.round(np.maximum(flow * gain * (1.0 + cfg.flow_noise * rng.standard_normal(flow.shape)), 0.0))
        spd = speed * self.speed_gain[None, :] + cfg.speed_noise_kmh * rng.standard_normal(speed.shape)
        spd = np.clip(np.round(spd, 1), 0.0, cfg.max_speed_kmh)
        occ = occupancy * gain * (1.0 + cfg.occupancy_noise * rng.standard_normal(occupancy.shape))
        occ = np.clip(np.round(occ, 2), 0.0, 100.0)

        lost = rng.random((n_int, n_vds)) < self.missing[None, :]
        as_nan = lost & (rng.random((n_int, n_vds)) < cfg.nan_share)
        present = ~(lost & ~as_nan)
        for out in self.outages:
            lo, hi = max(out.start - first_interval, 0), min(out.end - first_interval, n_int)
            if lo < hi:
                present[lo:hi, out.vd] = False
        values = {"flow": counts, "speed": spd, "occupancy": occ}
        for name, arr in values.items():
            arr = arr.astype(np.float32)
            arr[as_nan] = np.nan
            values[name] = arr
        return values, present

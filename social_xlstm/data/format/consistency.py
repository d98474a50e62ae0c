"""Does ``dataset.json`` hold for the observations? The metadata's claims checked against the rows.

``dataset.json`` makes claims that the rows can contradict without any single row being malformed:

* ``freq`` is the data's grid. Every timestamp must lie on ``first + k * freq`` (the row stream checks
  that, :mod:`social_xlstm.data.format.observations`), and the grid must not be finer than the data: when every
  timestamp lies ``m * freq`` (m > 1) apart ("5min" declared, readings every 15 minutes) the panel would
  be two thirds empty steps and the model would be told about a 5-minute rhythm that is not there.
* each variable's unit bounds its values (:data:`UNIT_RANGES`): speeds of 1e4 km/h, negative flows or
  occupancies of 250 % say that the unit, or the column, is wrong. Real feeds carry the odd glitch (a
  detector reporting 400 km/h once), so a unit is refused only when more than :data:`OUTLIER_TOLERANCE` of
  the observed readings lie outside; fewer are an :class:`ImplausibleReadings` warning (``validate``
  lists it). Units outside the vocabulary
  (``"unknown"``, ``"index"``) are not checked; ``social-xlstm validate`` says so.
* ``variables`` names the value columns: every declared variable is a column of every observation file,
  and no numeric column besides the keys goes undeclared (the reader checks the names,
  :mod:`social_xlstm.data.format.reader`).

:class:`StreamChecks` accumulates what these checks need over the record batches that the loaders stream
anyway (the panel pivot, the reader's row check), so they cost no extra pass over the data: per variable
the extreme values and how many lie outside the unit's range, and the greatest common divisor of the
time steps. Each problem is a message naming ``dataset.json``, the key and both sides of the contradiction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq

UNIT_RANGES: dict[str, tuple[float, float]] = {
    "km/h": (0.0, 300.0),
    "mph": (0.0, 190.0),
    "m/s": (0.0, 85.0),
    "fraction": (0.0, 1.0),
    "%": (0.0, 100.0),
    "veh": (0.0, math.inf),
}
"""Unit -> (lowest, highest) plausible reading. Speeds: 0 up to well above any road's; occupancy as a
fraction of time (0..1) or a percentage; ``veh``: a vehicle count of unstated interval. Counts per interval
(``veh/5min``, ``veh/15min``, ``veh/h``) are in :func:`unit_range`."""
MAX_FLOW_PER_HOUR = 20_000.0
"""Highest plausible flow of one detector station, vehicles per hour: 10 lanes at 2,000 veh/h each, about
the capacity of the widest freeways; a count per interval scales it (``veh/5min``: 1,667)."""
OUTLIER_TOLERANCE = 0.001
"""Largest share of a variable's observed readings that may lie outside its unit's range before the unit
is refused (0.1 %: glitches, not a wrong unit, which puts most readings outside)."""
_FLOW_UNIT = re.compile(r"^veh(?:icles)?/(\d+(?:\.\d+)?)?\s*(s|sec|min|h|hr|hour)$")
_SECONDS = {"s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hour": 3600.0}


class ImplausibleReadings(UserWarning):
    """A few readings outside their unit's plausible range (within :data:`OUTLIER_TOLERANCE`)."""


def unit_range(unit: str) -> tuple[float, float] | None:
    """The (lowest, highest) plausible value of a unit of the vocabulary, or None for a unit outside it.

    ``veh/<n><s|min|h>`` (a count per interval) allows 0 to :data:`MAX_FLOW_PER_HOUR` scaled to the
    interval; the other units are :data:`UNIT_RANGES`.
    """
    unit = unit.strip()
    if unit in UNIT_RANGES:
        return UNIT_RANGES[unit]
    match = _FLOW_UNIT.match(unit)
    if match is None:
        return None
    seconds = float(match.group(1) or 1.0) * _SECONDS[match.group(2)]
    return (0.0, MAX_FLOW_PER_HOUR * seconds / 3600.0)


def unchecked_units(units: dict[str, str]) -> list[str]:
    """Variables whose unit is outside the vocabulary (their values are not range-checked)."""
    return [var for var, unit in units.items() if unit_range(str(unit)) is None]


class StreamChecks:
    """What the observation batches say about ``freq`` and the units, accumulated while they stream by.

    Args:
        meta_path: ``dataset.json``, first in every message.
        freq: the declared interval.
        units: unit of each streamed variable, in the order of the batches' value columns.
    """

    def __init__(self, meta_path: str | Path, freq: Freq, units: Sequence[tuple[str, str]]) -> None:
        self.meta_path, self.freq = meta_path, freq
        self.units = list(units)
        self.ranges = [unit_range(str(unit)) for _, unit in self.units]
        self.step_gcd = 0
        """Greatest common divisor of every row's time index (0: every row at the first timestamp)."""
        self.low = np.full(len(self.units), np.inf)
        self.high = np.full(len(self.units), -np.inf)
        self.outside = np.zeros(len(self.units), dtype=np.int64)
        self.observed = np.zeros(len(self.units), dtype=np.int64)
        self.complete = False
        """Set by the loader when every batch went through (the grid check needs all of them)."""

    def update(self, time_index: np.ndarray, values: Sequence[np.ndarray]) -> None:
        """Take one batch: ``time_index`` (R,) int64 steps from the first timestamp, one (R,) array per variable."""
        if time_index.size:
            self.step_gcd = math.gcd(self.step_gcd, int(np.gcd.reduce(time_index)))
        for f, column in enumerate(values):
            if column.size == 0:
                continue
            # fmin/fmax skip NaN (missing); comparisons with NaN are False, so missing is never "outside"
            self.low[f] = min(self.low[f], float(np.fmin.reduce(column)))
            self.high[f] = max(self.high[f], float(np.fmax.reduce(column)))
            self.observed[f] += int(np.count_nonzero(~np.isnan(column)))
            bounds = self.ranges[f]
            if bounds is not None:
                self.outside[f] += int(np.count_nonzero((column < bounds[0]) | (column > bounds[1])))

    def problems(self) -> list[str]:
        """One message per contradiction found (the grid only when :attr:`complete`)."""
        found = []
        if self.complete and self.step_gcd > 1:
            data_freq = Freq.from_delta(pd.Timedelta(self.step_gcd * self.freq.ns, unit="ns"))
            found.append(
                f"{self.meta_path}: 'freq' {self.freq.alias!r} is finer than the data: every timestamp lies a "
                f"multiple of {data_freq.alias} from the first, so {self.step_gcd - 1} of every {self.step_gcd} "
                f"steps would be empty; declare 'freq': {data_freq.alias!r}"
            )
        for f in np.flatnonzero(self.outside > OUTLIER_TOLERANCE * self.observed):
            found.append(self._outside_message(f) + "; is the unit or the column wrong?")
        return found

    def glitches(self) -> list[str]:
        """One message per variable with a few implausible readings (too few to refuse the unit)."""
        few = (self.outside > 0) & (self.outside <= OUTLIER_TOLERANCE * self.observed)
        note = " (too few to doubt the unit: check the detectors)"
        return [self._outside_message(f) + note for f in np.flatnonzero(few)]

    def _outside_message(self, f: int) -> str:
        (var, unit), (lo, hi) = self.units[f], self.ranges[f]
        return (
            f"{self.meta_path}: 'variables': {var!r} is declared in {unit!r} (plausible {lo:g} .. {hi:g}) "
            f"but {self.outside[f]} of {self.observed[f]} reading(s) lie outside, from {self.low[f]:g} "
            f"to {self.high[f]:g}"
        )


def data_spacing(offset_ns: np.ndarray) -> Freq | None:
    """The largest interval on whose grid every offset (ns from the first timestamp) lies; None if all are 0."""
    step = int(np.gcd.reduce(offset_ns)) if offset_ns.size else 0
    return Freq.from_delta(pd.Timedelta(step, unit="ns")) if step > 0 else None

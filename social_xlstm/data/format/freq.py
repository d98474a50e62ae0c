"""The sampling interval of a dataset, parsed once from its text form (``"5min"``) into one value.

``dataset.json``, every importer's ``--freq`` and the simulator's ``--freq`` hold a pandas offset alias.
:meth:`Freq.parse` is the only place that reads one (``pandas.tseries.frequencies.to_offset``), so every
bad value gets the same message, naming where it came from; everything downstream (the reader's grid,
the panel's timestamps, the importers' regular grids and frequency checks, ``DataInfo.freq_minutes``)
uses the parsed value's :attr:`~Freq.ns`, :attr:`~Freq.delta` or :attr:`~Freq.minutes`.

Only fixed intervals are frequencies here: ``"MS"`` (month start) or ``"B"`` (business day) have no
fixed length, so a regular time grid cannot be built from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from social_xlstm.errors import UserError


@dataclass(frozen=True)
class Freq:
    """A fixed, positive sampling interval.

    Build one with :meth:`parse` (from text) or :meth:`from_delta` (from a measured step); ``str(freq)``
    is the alias as written to ``dataset.json``.
    """

    alias: str
    """The pandas offset alias as given, e.g. ``"5min"``; written back unchanged."""
    ns: int
    """The interval in nanoseconds (> 0)."""

    @classmethod
    def parse(cls, text: object, where: str = "--freq", error: type[UserError] = UserError) -> Freq:
        """Read a pandas offset alias such as ``"5min"``, ``"15min"`` or ``"1h"``.

        Args:
            text: the value as found (an option, a JSON value); a :class:`Freq` is returned as it is.
            where: what held it, for the message: ``"--freq"``, ``"<dir>/dataset.json: 'freq'"``.
            error: the exception type: :class:`~social_xlstm.errors.UserError` for an option,
                :class:`~social_xlstm.errors.DataError` for a file.

        Raises:
            ``error``: not a fixed interval, or not positive.
        """
        if isinstance(text, Freq):
            return text
        problem = f"{where} {text!r} is not a fixed pandas frequency such as '5min' or '15min'"
        try:
            delta = pd.Timedelta(pd.tseries.frequencies.to_offset(text))
        except (ValueError, TypeError) as err:
            raise error(problem) from err
        if pd.isna(delta):  # to_offset(None) is None, and Timedelta(None) is NaT
            raise error(problem)
        if delta <= pd.Timedelta(0):
            raise error(f"{where} {text!r} must be a positive interval")
        return cls(str(text), int(delta.value))

    @classmethod
    def from_delta(cls, delta: pd.Timedelta) -> Freq:
        """The interval of a measured step: ``Timedelta(minutes=15)`` -> ``"15min"`` (seconds when not whole
        minutes)."""
        delta = pd.Timedelta(delta)
        seconds = int(delta.total_seconds())
        return cls(f"{seconds // 60}min" if seconds % 60 == 0 else f"{seconds}s", int(delta.value))

    @property
    def delta(self) -> pd.Timedelta:
        return pd.Timedelta(self.ns, unit="ns")

    @property
    def seconds(self) -> float:
        return self.ns / 1e9

    @property
    def minutes(self) -> float:
        return self.seconds / 60.0

    def __str__(self) -> str:
        return self.alias

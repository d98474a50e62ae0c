"""The ``Dataset`` type: a checked canonical dataset directory (what :func:`~.reader.load_dataset` returns).

Its own file so that the row stream (:mod:`.observations`) and the reader both use it without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from social_xlstm.data.format.parquet import scan_time_range
from social_xlstm.data.format.schema import ID_COL, DatasetMeta


@dataclass
class Dataset:
    """A checked dataset directory: metadata, station table, optional edge table, observation files."""

    root: Path
    """The dataset directory."""
    meta: DatasetMeta
    """Contents of ``dataset.json``."""
    stations: pd.DataFrame
    """One row per VD, in file order; ``vd_id`` str, ``lat``/``lon`` float (NaN allowed with edges)."""
    edges: pd.DataFrame | None
    """``src, dst, distance_m [, weight]`` (``distance_m`` NaN where only a weight is known), or None when
    the graph comes from coordinates."""
    observation_files: list[Path]
    """``observations.parquet`` or the sorted files of ``observations/``."""
    pending_problems: list[str] = field(default_factory=list)
    """Problems of ``dataset.json`` found by ``load_dataset(check_rows=False)`` that do not stop the row
    stream (a time zone that does not exist, ...): the loader that streams the rows next
    (:func:`~social_xlstm.data.panel.load_panel`) reports them with its own, in one error."""
    _time_range: tuple[int, int] | None = field(default=None, repr=False)

    @property
    def vd_ids(self) -> list[str]:
        return self.stations[ID_COL].tolist()

    @property
    def variables(self) -> list[str]:
        return list(self.meta.variables)

    @property
    def step_ns(self) -> int:
        """Sampling interval in nanoseconds."""
        return self.meta.freq.ns

    def time_range_ns(self) -> tuple[int, int]:
        """(first, last) observation timestamp as UTC nanoseconds since the epoch (one pass, cached)."""
        if self._time_range is None:
            self._time_range = scan_time_range(self.observation_files)
        return self._time_range

    @property
    def num_steps(self) -> int:
        first, last = self.time_range_ns()
        return (last - first) // self.step_ns + 1

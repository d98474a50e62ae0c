"""The dense panel: long observations pivoted once into ``values (T, N, F)`` and ``mask (T, N, F)``.

The pivot streams record batches (only the needed columns), maps each row to an integer time index
``(timestamp - first) // freq`` and a VD index (dictionary codes looked up once per distinct id) and
scatters the values into one preallocated float32 array. No pandas pivot, no float64 copy of the table:
peak memory is the panel plus one record batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.checks import Problems, suggest
from social_xlstm.data.format.dataset import Dataset
from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.reader import checked_batches, load_dataset
from social_xlstm.data.format.schema import META
from social_xlstm.errors import DataError


@dataclass
class Panel:
    """Observations on a regular time grid.

    Shapes:
        values: (T, N, F) float32, NaN where missing.
        mask: (T, N, F) bool, True where observed (``mask == ~isnan(values)``).
    """

    values: np.ndarray
    """(T, N, F) float32 in original units, NaN where missing."""
    mask: np.ndarray
    """(T, N, F) bool, True where observed."""
    timestamps: pd.DatetimeIndex
    """(T,) UTC, regular grid from the first to the last observation."""
    vd_ids: list[str]
    """VD ids in ``stations.parquet`` order (length N)."""
    variables: list[str]
    """Variable names in feature order (length F)."""
    freq: Freq
    """Sampling interval (a string is parsed)."""
    timezone: str
    """Local time zone of the network (for time features)."""

    def __post_init__(self) -> None:
        self.freq = Freq.parse(self.freq, "panel freq")

    @property
    def num_steps(self) -> int:
        return self.values.shape[0]

    @property
    def num_vds(self) -> int:
        return self.values.shape[1]

    @property
    def num_variables(self) -> int:
        return self.values.shape[2]

    @property
    def freq_minutes(self) -> float:
        return self.freq.minutes

    def variable_index(self, names: Sequence[str]) -> list[int]:
        """Positions of ``names`` in :attr:`variables`; unknown names raise :class:`DataError`."""
        for name in names:
            if name not in self.variables:
                raise DataError(
                    f"variable {name!r} is not in the dataset {self.variables}{suggest(name, self.variables)}"
                )
        return [self.variables.index(name) for name in names]


def load_panel(root: str | Path | Dataset, variables: Sequence[str] | None = None) -> Panel:
    """Load a canonical dataset into a dense :class:`Panel`, checking every row on the way.

    Args:
        root: a dataset directory, or a :class:`Dataset` from :func:`load_dataset`.
        variables: variables to load, in this order; None loads all of ``dataset.json``'s variables.

    Returns:
        The panel; variables listed in ``zero_is_missing`` have their zeros marked missing.

    Raises:
        DataError: any problem :func:`load_dataset` reports, an unknown variable name, an infinite value, or
            ``dataset.json`` contradicted by the rows (:mod:`social_xlstm.data.format.consistency`); several in one
            run are raised together (:class:`~social_xlstm.data.format.checks.DatasetProblems`).
    """
    dataset = root if isinstance(root, Dataset) else load_dataset(root, check_rows=False)
    all_vars = dataset.variables
    variables = list(all_vars if variables is None else variables)
    if not variables:
        raise DataError(f"{dataset.root}: no variables requested")
    for var in variables:
        if var not in all_vars:
            raise DataError(
                f"{dataset.root / META}: variable {var!r} is not in the dataset {all_vars}{suggest(var, all_vars)}"
            )
    num_steps, num_vds = dataset.num_steps, len(dataset.stations)
    values = np.full((num_steps, num_vds, len(variables)), np.nan, dtype=np.float32)
    flat = values.reshape(num_steps * num_vds, len(variables))  # (T*N, F) view
    zero_missing = [var in dataset.meta.zero_is_missing for var in variables]
    # Every problem of this pass and the ones load_dataset left pending are raised together at the end.
    problems = Problems()
    problems.add(dataset.pending_problems)
    with problems.collect():
        for batch in checked_batches(dataset, variables, problems):
            cell = batch.time_index * num_vds + batch.vd_index
            for f, column in enumerate(batch.values):
                infinite = np.isinf(column)
                if infinite.any():
                    rows = np.flatnonzero(infinite)[:5]
                    raise DataError(
                        f"{batch.path}: column {variables[f]!r}: {int(infinite.sum())} infinite value(s), "
                        f"e.g. at timestamps {_times(dataset, batch.time_index[rows])} of VDs "
                        f"{[dataset.vd_ids[i] for i in batch.vd_index[rows]]}"
                    )
                if zero_missing[f]:
                    column = np.where(column == 0, np.float32(np.nan), column)
                flat[cell, f] = column
    problems.raise_all()
    mask = np.isnan(values)  # (T, N, F), inverted in place to avoid a second temporary
    np.logical_not(mask, out=mask)
    first, _ = dataset.time_range_ns()
    timestamps = pd.date_range(pd.Timestamp(first, tz="UTC"), periods=num_steps, freq=dataset.meta.freq.delta)
    return Panel(values, mask, timestamps, dataset.vd_ids, variables, dataset.meta.freq, dataset.meta.timezone)


def _times(dataset: Dataset, time_index: np.ndarray) -> list[str]:
    first, _ = dataset.time_range_ns()
    return [str(pd.Timestamp(first + int(i) * dataset.step_ns, tz="UTC")) for i in time_index]

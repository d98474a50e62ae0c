"""Checks shared by the dataset reader and the importers, and the pieces of their error messages.

* :func:`suggest` and :func:`require_columns`: a missing column names the file, the option that asked
  for it, the closest existing name and the columns present.
* :func:`examples`: example rows of a table, indented, for a message.
* :class:`CellGrid` and :func:`repeated_rows`: duplicate ``(timestamp, vd_id)`` rows found without
  sorting the table: every row maps to a cell ``t * N + n`` of the regular (time step, VD) grid, one
  byte per cell remembers what earlier batches or files held, and a batch that arrives sorted (the
  usual case) proves itself free of repeats with one ``diff``. The reader streams the canonical
  observations through it; the Parquet-streaming ``long`` importer streams its sources through it.
* :func:`check_duplicates`: the same rule for a table an importer holds in memory (pandas).
* :class:`Problems` and :class:`DatasetProblems`: the problems of one run gathered, so a loader raises one
  error listing all of them and ``validate`` reports each, instead of stopping at the first.

Every problem is a :class:`~social_xlstm.errors.DataError` (docs/data-format.md, "Errors").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import ID_COL, TIME_COL
from social_xlstm.errors import DataError

MAX_EXAMPLES = 5
"""Example rows shown in a message."""
MAX_GRID_CELLS = 2_000_000_000
"""A stray timestamp (e.g. 1970-01-01) would make the regular grid enormous; refuse before allocating."""
_SHOWN_COLUMNS = 12


class DatasetProblems(DataError):
    """Several problems found in one run: the message lists them, :attr:`problems` holds each one."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"({i}) {p}" for i, p in enumerate(self.problems, start=1))
        super().__init__(f"{len(self.problems)} problems in the dataset:\n{listed}")


class Problems:
    """The problems found so far in one run over a dataset; :meth:`raise_all` raises them as one error."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def add(self, messages: str | Sequence[str]) -> None:
        self.found.extend([messages] if isinstance(messages, str) else messages)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a check; a :class:`DataError` it raises is kept (each of a :class:`DatasetProblems`)."""
        try:
            yield
        except DatasetProblems as err:
            self.found.extend(err.problems)
        except DataError as err:
            self.found.append(str(err))

    def raise_all(self) -> None:
        """Raise the one problem found as it is, several as a :class:`DatasetProblems`; nothing if none."""
        if len(self.found) == 1:
            raise DataError(self.found[0])
        if self.found:
            raise DatasetProblems(self.found)


def suggest(name: str, choices: Sequence[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a misspelt name, or ``""`` when nothing is close.

    One suggestion, the closest by :func:`difflib.get_close_matches` (ratio >= 0.6), else a name equal
    but for case (``"ID"`` for ``"id"``, which difflib scores 0).
    """
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        close = [c for c in map(str, choices) if c.lower() == name.lower()]
    return f" (did you mean {close[0]!r}?)" if close else ""


def require_columns(path: str | Path, found: Sequence[str], wanted: Sequence[str], option: str = "") -> None:
    """Raise when a wanted column is absent, suggesting the closest existing name.

    Args:
        path: the file (or ``"observations"`` for a table in memory), first in the message.
        found: the columns it has.
        wanted: the columns needed, checked in order.
        option: what asked for them (``"--time-col"``), named in the message when given.
    """
    found = [str(c) for c in found]
    for col in wanted:
        if col not in found:
            via = f" (given by {option})" if option else ""
            shown = found if len(found) <= _SHOWN_COLUMNS else [*found[:_SHOWN_COLUMNS], "..."]
            raise DataError(f"{path}: column {col!r}{via} not found{suggest(col, found)}; columns are {shown}")


def examples(frame: pd.DataFrame, rows: np.ndarray | Sequence[int] | None = None) -> str:
    """Up to :data:`MAX_EXAMPLES` rows of ``frame`` (all of them, or ``rows``) as indented text."""
    if rows is not None:
        frame = frame.iloc[np.asarray(rows)[:MAX_EXAMPLES]]
    text = frame.head(MAX_EXAMPLES).to_string()
    return "\n".join("    " + line for line in text.splitlines())


def repeated_rows(cell: np.ndarray) -> np.ndarray:
    """(R',) positions in ``cell`` whose value also occurs at an earlier position; empty when all differ.

    A strictly increasing ``cell`` (rows sorted by time, then VD) is checked with one ``diff``; only an
    unsorted one is argsorted.
    """
    if cell.size < 2 or (np.diff(cell) > 0).all():
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(cell, kind="stable")
    return order[1:][cell[order[1:]] == cell[order[:-1]]]


class CellGrid:
    """The cells of a regular (time step, VD) grid, and which of them earlier rows already hold.

    Args:
        first_ns, last_ns: the first and last timestamp, UTC nanoseconds since the epoch.
        freq: the grid's step.
        num_vds: N.
        where: the file or files, for the message when the grid would be too large.

    Shapes:
        seen: (T * N,) bool, cell ``t * N + n``; one byte per cell.

    Raises:
        DataError: more than :data:`MAX_GRID_CELLS` cells (a wrong timestamp far from the others).
    """

    def __init__(self, first_ns: int, last_ns: int, freq: Freq, num_vds: int, where: str | Path) -> None:
        self.first_ns, self.step_ns, self.num_vds = int(first_ns), freq.ns, num_vds
        self.num_steps = (int(last_ns) - self.first_ns) // self.step_ns + 1
        if self.num_steps * num_vds > MAX_GRID_CELLS:
            raise DataError(
                f"{where}: column {TIME_COL!r}: timestamps from {pd.Timestamp(first_ns, tz='UTC')} to "
                f"{pd.Timestamp(last_ns, tz='UTC')} make {self.num_steps} steps of {freq} x {num_vds} VDs; "
                "too large a grid, is a timestamp wrong?"
            )
        self.seen = np.zeros(self.num_steps * num_vds, dtype=bool)

    def cells(self, time_index: np.ndarray, vd_index: np.ndarray) -> np.ndarray:
        """(R,) int64 cell of each row."""
        return time_index * self.num_vds + vd_index

    def mark(self, cell: np.ndarray) -> np.ndarray:
        """Mark ``cell`` as held; returns the rows whose cell an earlier call marked (then marks nothing)."""
        again = np.flatnonzero(self.seen[cell])
        if again.size == 0:
            self.seen[cell] = True
        return again


def duplicate_error(
    where: str | Path, timestamp: object, vd_id: object, what: str, rows: Sequence[int], tail: str = ""
) -> DataError:
    """The importers' message for a repeated ``(timestamp, vd_id)``: the pair, how many, source rows."""
    return DataError(
        f"{where}: duplicate (timestamp, vd_id) ({timestamp}, {vd_id!r}): {what}, e.g. rows "
        f"{list(map(int, rows[:4]))}{tail}"
    )


def check_duplicates(frame: pd.DataFrame, path: str | Path, rows: np.ndarray | None = None) -> None:
    """Raise when a (timestamp, vd_id) pair occurs twice in ``frame``, naming the pair and its rows.

    Args:
        frame: ``timestamp``, ``vd_id`` columns (an importer's table in memory).
        path: the source, for the message.
        rows: source row number of each row of ``frame`` when rows were dropped on the way.
    """
    dup = frame.duplicated([TIME_COL, ID_COL], keep=False).to_numpy()
    if dup.any():
        where = np.flatnonzero(dup)[:4]
        src = rows[where] if rows is not None else where
        first = frame.iloc[where[0]]
        raise duplicate_error(path, first[TIME_COL], first[ID_COL], f"{int(dup.sum())} rows are duplicates", src)

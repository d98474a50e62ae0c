"""What importers hand to :func:`~social_xlstm.data.format.schema.write_dataset`: long tables and units.

Dense sources (a (T, N, C) array, a wide table) become the long observation table with
:func:`wide_to_long`, in parts of :data:`ROWS_PER_PART` rows so that a memmap larger than memory streams
through; the writer then puts one Parquet file per part under ``observations/``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from social_xlstm.data.format.schema import ID_COL, TIME_COL, TIME_TYPE

ROWS_PER_PART = 2_000_000
"""Long tables larger than this many rows are written as several Parquet parts (memory stays bounded)."""

CALTRANS_UNITS = {"flow": "veh/5min", "occupancy": "fraction", "speed": "mph"}
"""Units of the Caltrans PeMS-derived benchmarks (PEMS0x, PEMS-BAY, METR-LA): counts per 5 minutes,
occupancy as a fraction of time (0..1), speed in miles per hour."""


def wide_to_long(
    values: np.ndarray, times: pd.DatetimeIndex, ids: Sequence[str], variables: Sequence[str]
) -> pa.Table | Iterator[pa.Table]:
    """Turn a dense array into the long observation table (one row per (timestamp, VD)).

    Args:
        values: (T, N, F) array; may be a read-only memmap: only ``ROWS_PER_PART`` rows are copied at a time.
        times: T UTC timestamps.
        ids: N VD ids.
        variables: F variable names.

    Returns:
        One table when it fits in a part, else an iterator of tables (written as ``observations/part-*``).
    """
    n_time, n_vd, n_var = values.shape
    if len(times) != n_time or len(ids) != n_vd or len(variables) != n_var:
        raise ValueError(
            f"shape {values.shape} does not match {len(times)} times, {len(ids)} ids, {len(variables)} vars"
        )
    steps_per_part = max(1, ROWS_PER_PART // max(n_vd, 1))
    dictionary = pa.array([str(i) for i in ids], type=pa.string())
    stamps = pd.DatetimeIndex(times).tz_convert("UTC").as_unit("us")

    def part(lo: int, hi: int) -> pa.Table:
        block = np.asarray(values[lo:hi], dtype=np.float32)  # (t, N, F)
        flat = block.reshape(-1, n_var)  # (t*N, F) rows ordered time-major, VD-minor
        ts = pa.array(np.repeat(stamps[lo:hi].asi8, n_vd), type=TIME_TYPE)  # (t*N,)
        vd = pa.DictionaryArray.from_arrays(pa.array(np.tile(np.arange(n_vd, dtype=np.int32), hi - lo)), dictionary)
        cols = [ts, vd.cast(pa.string())] + [pa.array(flat[:, f]) for f in range(n_var)]
        return pa.Table.from_arrays(cols, names=[TIME_COL, ID_COL, *variables])

    if n_time <= steps_per_part:
        return part(0, n_time)
    return (part(lo, min(lo + steps_per_part, n_time)) for lo in range(0, n_time, steps_per_part))

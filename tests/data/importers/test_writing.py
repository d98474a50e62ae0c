"""wide_to_long: row order (time-major, VD-minor) and parts of bounded size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from social_xlstm.data.importers.common import writing


def test_wide_to_long_order_and_parts(monkeypatch):
    values = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)  # (T, N, F)
    times = pd.date_range("2024-01-01", periods=2, freq="5min", tz="UTC")
    table = writing.wide_to_long(values, times, ["a", "b", "c"], ["flow", "speed"])
    assert isinstance(table, pa.Table)
    frame = table.to_pandas()
    assert frame["vd_id"].tolist() == ["a", "b", "c", "a", "b", "c"]
    assert frame["flow"].tolist() == [0, 2, 4, 6, 8, 10] and frame["speed"].tolist() == [1, 3, 5, 7, 9, 11]
    assert frame["timestamp"].iloc[3] == times[1]
    monkeypatch.setattr(writing, "ROWS_PER_PART", 3)  # one time step per part
    parts = list(writing.wide_to_long(values, times, ["a", "b", "c"], ["flow", "speed"]))
    assert len(parts) == 2 and pa.concat_tables(parts).equals(table)

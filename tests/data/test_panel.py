"""load_panel: exact values and mask on a hand-made 3-VD x 6-step dataset with gaps and zero_is_missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.panel import load_panel
from social_xlstm.errors import DataError

NAN = np.nan
T0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")
# (step, vd, flow, speed); step 3 has no row at all, speed 0 means "no reading"
ROWS = [
    (4, "a", 15, 56),
    (4, "b", 16, 57),
    (4, "c", NAN, 0),  # unsorted on purpose
    (0, "a", 10, 50),
    (0, "b", 11, 0),
    (0, "c", 12, 52),
    (1, "a", 13, NAN),
    (1, "c", 14, 54),
    (2, "b", 0, 55),
    (5, "c", 17, 58),
]
# panel order is the stations order c, a, b
EXPECTED = np.array(
    [
        [[12, 52], [10, 50], [11, NAN]],
        [[14, 54], [13, NAN], [NAN, NAN]],
        [[NAN, NAN], [NAN, NAN], [0, 55]],
        [[NAN, NAN], [NAN, NAN], [NAN, NAN]],
        [[NAN, NAN], [15, 56], [16, 57]],
        [[17, 58], [NAN, NAN], [NAN, NAN]],
    ],
    dtype=np.float32,
)  # (T=6, N=3, F=2)


def _observations() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["step", "vd_id", "flow", "speed"])
    frame.insert(0, "timestamp", T0 + frame.pop("step") * pd.Timedelta("5min"))
    return frame


def _write(tmp_path, observations, meta=None):
    stations = pd.DataFrame({"vd_id": ["c", "a", "b"], "lat": [25.0, 25.01, 25.02], "lon": [121.5] * 3})
    meta = meta or DatasetMeta(
        "toy",
        "5min",
        {"flow": "veh/5min", "speed": "km/h"},
        timezone="Asia/Taipei",
        zero_is_missing=["speed"],
    )
    return write_dataset(tmp_path / "ds", observations, stations, meta)


@pytest.mark.parametrize("split_files", [False, True])
def test_values_and_mask_exact(tmp_path, split_files):
    obs = _observations()
    if split_files:  # two files, the second holding the earlier rows
        obs = iter([pa.Table.from_pandas(obs.iloc[:3]), pa.Table.from_pandas(obs.iloc[3:])])
    panel = load_panel(_write(tmp_path, obs))
    assert panel.values.dtype == np.float32 and panel.values.shape == (6, 3, 2)
    np.testing.assert_array_equal(panel.values, EXPECTED)
    np.testing.assert_array_equal(panel.mask, ~np.isnan(EXPECTED))
    assert panel.vd_ids == ["c", "a", "b"]
    assert panel.variables == ["flow", "speed"]
    assert list(panel.timestamps) == list(pd.date_range(T0, periods=6, freq="5min"))
    assert str(panel.timestamps.tz) == "UTC"
    assert (panel.freq.alias, panel.timezone, panel.freq_minutes) == ("5min", "Asia/Taipei", 5.0)
    assert (panel.num_steps, panel.num_vds, panel.num_variables) == (6, 3, 2)


def test_variable_subset_and_order(tmp_path):
    root = _write(tmp_path, _observations())
    panel = load_panel(root, ["speed"])
    np.testing.assert_array_equal(panel.values, EXPECTED[:, :, [1]])
    panel = load_panel(root, ["speed", "flow"])
    np.testing.assert_array_equal(panel.values, EXPECTED[:, :, [1, 0]])
    with pytest.raises(DataError, match=r"variable 'flw' is not in the dataset.*did you mean 'flow'"):
        load_panel(root, ["flw"])


def test_zero_is_missing_only_for_listed_variables(tmp_path):
    meta = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, zero_is_missing=["flow"])
    panel = load_panel(_write(tmp_path, _observations(), meta))
    expected = EXPECTED.copy()
    expected[2, 2, 0] = NAN  # flow 0 is now missing
    expected[0, 2, 1], expected[4, 0, 1] = 0, 0  # speed 0 is now a reading
    np.testing.assert_array_equal(panel.values, expected)


def test_infinite_value_raises(tmp_path):
    obs = _observations()
    obs.loc[8, "flow"] = np.inf  # step 2, VD b
    with pytest.raises(
        DataError, match=r"observations.parquet: column 'flow': 1 infinite value.*00:10:00.*'b'"
    ):
        load_panel(_write(tmp_path, obs))


def test_integer_value_columns_are_read(tmp_path):
    obs = _observations().dropna()
    obs["flow"] = obs["flow"].astype("int64")
    root = _write(tmp_path, obs)
    raw = pa.Table.from_pandas(obs, preserve_index=False)
    raw = raw.set_column(0, "timestamp", raw.column(0).cast(pa.timestamp("ms", tz="UTC")))
    import pyarrow.parquet as pq

    pq.write_table(raw, root / "observations.parquet")  # int64 flow, millisecond timestamps
    panel = load_panel(root)
    assert panel.values[0, 1, 0] == 10 and panel.values[4, 2, 0] == 16 and panel.values.dtype == np.float32


def test_files_without_statistics_give_the_same_panel(tmp_path):
    import pyarrow.parquet as pq

    root = _write(tmp_path, _observations())
    table = pq.read_table(root / "observations.parquet")
    pq.write_table(table, root / "observations.parquet", write_statistics=False)
    assert pq.ParquetFile(root / "observations.parquet").metadata.row_group(0).column(0).statistics is None
    np.testing.assert_array_equal(load_panel(root).values, EXPECTED)

"""WindowDataset items equal hand indexing of the panel, and are views rather than copies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from social_xlstm.data.panel import Panel
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.split import window_starts
from social_xlstm.data.timefeatures import slot_of_week, time_features
from social_xlstm.data.windows import WindowArrays, WindowDataset
from social_xlstm.errors import DataError, UserError

T, N = 30, 4


def _panel() -> Panel:
    rng = np.random.default_rng(0)
    values = rng.normal(50, 10, size=(T, N, 3)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    stamps = pd.date_range("2024-03-04 00:00", periods=T, freq="15min", tz="UTC")
    return Panel(
        values,
        ~np.isnan(values),
        stamps,
        [f"v{i}" for i in range(N)],
        ["flow", "speed", "occ"],
        "15min",
        "America/Los_Angeles",
    )


def test_item_matches_hand_indexing():
    panel = _panel()
    scaler = StandardScaler().fit(panel.values[:20], panel.mask[:20])
    arrays = WindowArrays.from_panel(panel, scaler, targets=["occ", "flow"])
    data = WindowDataset(arrays, window=5, horizon=3, starts=window_starts((0, 20), 5, 3, stride=2))
    assert len(data) == 7  # starts 0, 2, ..., 12
    item = data[3]
    s = 6
    x = (panel.values[s : s + 5] - scaler.mean.astype(np.float32)) / scaler.std.astype(np.float32)
    x[~panel.mask[s : s + 5]] = 0
    np.testing.assert_allclose(item["x"].numpy(), x, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(item["x_mask"].numpy(), panel.mask[s : s + 5])
    np.testing.assert_array_equal(
        item["time"].numpy(), time_features(panel.timestamps, panel.timezone)[s : s + 5]
    )
    y = panel.values[s + 5 : s + 8][:, :, [2, 0]]
    np.testing.assert_array_equal(item["y_mask"].numpy(), ~np.isnan(y))
    np.testing.assert_array_equal(item["y"].numpy(), np.nan_to_num(y, nan=0.0))
    assert item["t0"].item() == s + 4 and item["t0"].dtype == torch.int64
    assert item["x"].shape == (5, N, 3) and item["y"].shape == (3, N, 2) and item["time"].shape == (5, 4)
    assert not torch.isnan(item["x"]).any() and not torch.isnan(item["y"]).any()


def test_no_copy_of_the_panel():
    panel = _panel()
    arrays = WindowArrays.from_panel(panel, StandardScaler().fit(panel.values, panel.mask))
    # the datasets share the panel's memory; only an item's own W + H steps are computed
    assert np.shares_memory(arrays.values.numpy(), panel.values)
    assert np.shares_memory(arrays.mask.numpy(), panel.mask)
    data = WindowDataset(arrays, 4, 2, range(0, 20))
    item = data[5]
    assert item["x_mask"].untyped_storage().data_ptr() == arrays.mask.untyped_storage().data_ptr()
    assert item["x"].shape == (4, N, 3)
    batch = next(iter(DataLoader(data, batch_size=8)))
    assert batch["x"].shape == (8, 4, N, 3) and batch["y_mask"].shape == (8, 2, N, 3)
    torch.testing.assert_close(batch["t0"], torch.arange(3, 11))


def test_bad_starts_and_targets():
    panel = _panel()
    arrays = WindowArrays.from_panel(panel, StandardScaler().fit(panel.values, panel.mask))
    with pytest.raises(UserError, match=r"window starts \[26\] do not fit"):
        WindowDataset(arrays, 4, 1, [0, 26])
    with pytest.raises(DataError, match="variable 'flo' is not in the dataset"):
        WindowArrays.from_panel(panel, StandardScaler().fit(panel.values, panel.mask), ["flo"])


def test_time_features_local_clock():
    # 2024-03-04 is a Monday; 16:00 UTC is 08:00 in Los Angeles (PST, UTC-8)
    stamps = pd.DatetimeIndex(["2024-03-04 16:00", "2024-03-05 04:00"], tz="UTC")
    feats = time_features(stamps, "America/Los_Angeles")
    day = np.array([8 / 24, 20 / 24])
    week = (np.array([0, 0]) + day) / 7  # both are Monday in local time
    expected = np.stack(
        [
            np.sin(2 * np.pi * day),
            np.cos(2 * np.pi * day),
            np.sin(2 * np.pi * week),
            np.cos(2 * np.pi * week),
        ],
        axis=1,
    )
    np.testing.assert_allclose(feats, expected, atol=1e-6)
    assert feats.dtype == np.float32
    # Monday 08:00 -> slot 8 * 12 = 96 of 5-minute slots; Monday 20:00 local is 04:00 UTC Tuesday
    np.testing.assert_array_equal(slot_of_week(stamps, "America/Los_Angeles", 5.0), [96, 240])
    # Sunday 23:55 local is the last slot of the week
    last = pd.DatetimeIndex(["2024-03-11 06:55"], tz="UTC")  # Sunday 23:55 PDT (UTC-7 after DST)
    assert slot_of_week(last, "America/Los_Angeles", 5.0)[0] == 7 * 288 - 1

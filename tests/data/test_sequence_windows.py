"""SequenceDataset items equal hand indexing of the panel (every step's next H targets), views not copies."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.panel import Panel
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.sequence import SequenceDataset, sequence_starts
from social_xlstm.data.split import window_starts
from social_xlstm.data.timefeatures import time_features
from social_xlstm.data.windows import WindowArrays
from social_xlstm.errors import DataError, UserError

T, N = 30, 4


def _panel() -> Panel:
    rng = np.random.default_rng(0)
    values = rng.normal(50, 10, size=(T, N, 3)).astype(np.float32)
    values[rng.random(values.shape) < 0.2] = np.nan
    stamps = pd.date_range("2024-03-04 00:00", periods=T, freq="15min", tz="UTC")
    return Panel(
        values, ~np.isnan(values), stamps, [f"v{i}" for i in range(N)], ["flow", "speed", "occ"], "15min", "UTC"
    )


def _arrays(panel: Panel) -> WindowArrays:
    scaler = StandardScaler().fit(panel.values[:20], panel.mask[:20])
    return WindowArrays.from_panel(panel, scaler, targets=["occ", "flow"])


def test_starts_lie_inside_the_part():
    np.testing.assert_array_equal(sequence_starts((0, 20), 8, stride=5), [0, 5, 10])
    np.testing.assert_array_equal(sequence_starts((3, 11), 8, stride=1), [3])
    assert len(sequence_starts((0, 7), 8)) == 0


def test_item_matches_hand_indexing():
    panel = _panel()
    arrays = _arrays(panel)
    data = SequenceDataset(arrays, length=8, horizon=3, starts=[0, 5, 10], warmup=4, target_stop=20)
    item = data[2]
    s = 10
    scaler_mean, scaler_std = arrays.mean.numpy(), arrays.std.numpy()
    x = (panel.values[s : s + 8] - scaler_mean) / scaler_std
    x[~panel.mask[s : s + 8]] = 0
    np.testing.assert_allclose(item["x"].numpy(), x, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(item["x_mask"].numpy(), panel.mask[s : s + 8])
    np.testing.assert_array_equal(item["time"].numpy(), time_features(panel.timestamps, panel.timezone)[s : s + 8])
    np.testing.assert_array_equal(item["t0"].numpy(), np.arange(10, 18))
    assert item["y"].shape == (8, 3, N, 2) and item["y_mask"].shape == (8, 3, N, 2)
    occ_flow = panel.values[..., [2, 0]]  # (T, N, O) the targets in output order
    for j in range(8):
        for h in range(3):
            step = s + j + 1 + h  # the forecast issued after step s+j, h+1 steps ahead
            scored = j >= 3 and step < 20  # warm-up: the first W-1 = 3 issues; part end: step 20
            known = occ_flow[step] if step < 20 else np.full((N, 2), np.nan)  # NaN: missing or past the part
            np.testing.assert_array_equal(item["y_mask"][j, h].numpy(), ~np.isnan(known) & scored, f"j={j} h={h}")
            np.testing.assert_array_equal(item["y"][j, h].numpy(), np.nan_to_num(known, nan=0.0))
    # Hand-checked cells: issue 10+5=15, h=3 -> step 18; issue 17, h=3 -> step 20 (past the part: masked).
    v = panel.values[18, 1, 2]
    assert bool(item["y_mask"][5, 2, 1, 0]) == (not np.isnan(v))
    if not np.isnan(v):
        assert item["y"][5, 2, 1, 0].item() == v
    assert not item["y_mask"][7, 2].any() and not item["y_mask"][:3].any()
    assert not torch.isnan(item["x"]).any() and not torch.isnan(item["y"]).any()


def test_targets_stop_at_the_end_of_the_panel():
    panel = _panel()
    data = SequenceDataset(_arrays(panel), length=6, horizon=4, starts=[T - 6], warmup=1, target_stop=T)
    item = data[0]
    # The last issue (step T-1) has no target inside the panel; the one before it only h=1.
    assert not item["y_mask"][5].any()
    assert not item["y_mask"][4, 1:].any()
    np.testing.assert_array_equal(item["y_mask"][4, 0].numpy(), panel.mask[T - 1][:, [2, 0]])


def test_items_are_views_of_the_panel():
    panel = _panel()
    arrays = _arrays(panel)
    data = SequenceDataset(arrays, length=8, horizon=3, starts=[0, 5, 10], warmup=4, target_stop=20)
    item = data[1]
    assert item["x_mask"].untyped_storage().data_ptr() == arrays.mask.untyped_storage().data_ptr()
    assert item["time"].untyped_storage().data_ptr() == arrays.time.untyped_storage().data_ptr()
    assert arrays.values.untyped_storage().data_ptr() == torch.from_numpy(panel.values).untyped_storage().data_ptr()
    assert set(vars(data)) == {"arrays", "length", "horizon", "warmup", "target_stop", "starts"}


def test_batches_stack_sequences():
    panel = _panel()
    data = SequenceDataset(_arrays(panel), length=8, horizon=3, starts=[0, 5, 10], warmup=4, target_stop=20)
    batch = next(iter(DataLoader(data, batch_size=2)))
    assert batch["x"].shape == (2, 8, N, 3) and batch["time"].shape == (2, 8, 4)
    assert batch["y"].shape == (2, 8, 3, N, 2) and batch["t0"].shape == (2, 8)


def test_bad_sequences_are_refused():
    arrays = _arrays(_panel())
    with pytest.raises(UserError, match="shorter than the window"):
        SequenceDataset(arrays, length=3, horizon=3, starts=[0], warmup=4, target_stop=20)
    with pytest.raises(UserError, match="do not fit"):
        SequenceDataset(arrays, length=8, horizon=3, starts=[T - 7], warmup=4, target_stop=T)
    with pytest.raises(UserError, match="stride"):
        sequence_starts((0, 20), 8, stride=0)


@pytest.fixture(scope="module")
def seq_dm(tiny_dataset):
    return TrafficDataModule(
        str(tiny_dataset), window=6, horizon=3, batch_size=4, mode="sequence", sequence_length=48, stride=24
    )


def test_datamodule_trains_on_sequences_and_evaluates_on_the_windows(seq_dm, tiny_dataset):
    win = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=4)
    train_lo, train_hi = seq_dm.split_ranges["train"]
    train = seq_dm.datasets["train"]
    assert isinstance(train, SequenceDataset)
    np.testing.assert_array_equal(train.starts, np.arange(train_lo, train_hi - 48 + 1, 24))
    assert train.target_stop == train_hi and train.warmup == 6
    for name in ("val", "test"):  # the same windows (issue times) as the windowed mode
        np.testing.assert_array_equal(seq_dm.datasets[name].starts, win.datasets[name].starts)
        np.testing.assert_array_equal(seq_dm.datasets[name].starts, window_starts(seq_dm.split_ranges[name], 6, 3, 1))
    info = seq_dm.info()
    assert (info.mode, info.sequence_length) == ("sequence", 48)
    assert (win.info().mode, win.info().sequence_length) == ("window", None)
    batch = next(iter(seq_dm.train_dataloader()))
    assert batch["y"].shape[:3] == (4, 48, 3)


def test_datamodule_refuses_bad_sequence_options(tiny_dataset):
    with pytest.raises(UserError, match="unknown data mode 'seq'"):
        TrafficDataModule(str(tiny_dataset), mode="seq")
    with pytest.raises(UserError, match="node_sample"):
        TrafficDataModule(str(tiny_dataset), mode="sequence", node_sample=2)
    with pytest.raises(DataError, match="shorter than one sequence of sequence_length=1000"):
        TrafficDataModule(str(tiny_dataset), mode="sequence", sequence_length=1000)
    with pytest.raises(UserError, match="shorter than the window"):
        TrafficDataModule(str(tiny_dataset), mode="sequence", window=12, sequence_length=8)

"""TrafficDataModule end to end on a small dataset: batches, info(), split coverage, train-only scaler."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.errors import DataError

T, N, W, H = 120, 5, 6, 4
META = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Europe/Helsinki")


def _frames(bump_test: bool = False):
    rng = np.random.default_rng(1)
    stamps = pd.date_range("2024-06-03", periods=T, freq="5min", tz="UTC")
    rows = []
    for t, stamp in enumerate(stamps):
        for n in range(N):
            if rng.random() < 0.1:
                continue  # an absent row = missing
            flow = 100 + 10 * n + t % 7 + (1e3 if bump_test and t == T - 1 else 0.0)
            rows.append((stamp, f"vd{n}", flow, 60.0 + n + (t % 3)))
    obs = pd.DataFrame(rows, columns=["timestamp", "vd_id", "flow", "speed"])
    stations = pd.DataFrame(
        {
            "vd_id": [f"vd{n}" for n in range(N)],
            "lat": 60.0 + 0.01 * np.arange(N),
            "lon": 24.9 + 0.003 * np.arange(N) ** 2,
        }
    )
    return obs, stations


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    obs, stations = _frames()
    return str(write_dataset(tmp_path_factory.mktemp("dm") / "ds", obs, stations, META))


def test_info_and_batches(root):
    dm = TrafficDataModule(root, window=W, horizon=H, batch_size=8, max_neighbours=3, targets=["speed"])
    info = dm.info()
    assert info.vd_ids == [f"vd{n}" for n in range(N)]
    assert (info.variables, info.targets, info.target_index) == (["flow", "speed"], ["speed"], [1])
    assert (info.window, info.horizon, info.freq_minutes, info.timezone) == (W, H, 5.0, "Europe/Helsinki")
    assert dm.split_ranges == {"train": (0, 84), "val": (84, 96), "test": (96, 120)}
    # scaler = mean/std of the observed training cells, computed by hand from the long table
    obs, _ = _frames()
    train = obs[obs["timestamp"] < pd.Timestamp("2024-06-03", tz="UTC") + 84 * pd.Timedelta("5min")]
    np.testing.assert_allclose(info.mean, [train["flow"].mean(), train["speed"].mean()], rtol=1e-6)
    np.testing.assert_allclose(info.std, [train["flow"].std(ddof=0), train["speed"].std(ddof=0)], rtol=1e-5)
    assert info.edge_index_tensor().shape == (2, N * 3)  # k=2 neighbours + self loop per VD
    assert info.edge_attr_tensor().shape == (N * 3, len(info.edge_attr_names))
    torch.testing.assert_close(info.edge_index_tensor(), dm.graph.edge_index)

    batch = next(iter(dm.train_dataloader()))
    assert batch["x"].shape == (8, W, N, 2) and batch["x_mask"].dtype == torch.bool
    assert batch["y"].shape == (8, H, N, 1) and batch["y_mask"].shape == (8, H, N, 1)
    assert batch["time"].shape == (8, W, 4) and batch["t0"].shape == (8,)
    # y is in original units: observed speeds are about 60-67
    observed = batch["y"][batch["y_mask"]]
    assert observed.min() >= 60 and observed.max() <= 67 and (batch["y"][~batch["y_mask"]] == 0).all()


def test_test_loader_covers_every_test_window(root):
    dm = TrafficDataModule(root, window=W, horizon=H, batch_size=7, eval_batch_size=5, max_neighbours=3)
    starts = dm.datasets["test"].starts
    np.testing.assert_array_equal(starts, np.arange(96 - W, T - W - H + 1))
    t0 = torch.cat([b["t0"] for b in dm.test_dataloader()])
    np.testing.assert_array_equal(t0.numpy(), starts + W - 1)  # all of them, in order, none dropped
    t0 = torch.cat([b["t0"] for b in dm.predict_dataloader()])
    assert len(t0) == len(starts)
    val_t0 = torch.cat([b["t0"] for b in dm.val_dataloader()])
    assert val_t0.min().item() + 1 == 84 and val_t0.max().item() + H == 95
    train_t0 = torch.cat([b["t0"] for b in dm.train_dataloader()])
    assert sorted(train_t0.tolist()) == list(range(W - 1, 84 - H))


def test_tgcn_split_and_max_train_windows(root):
    dm = TrafficDataModule(
        root, window=W, horizon=H, split=(0.8, 0.0, 0.2), batch_size=4, max_neighbours=3, max_train_windows=10
    )
    assert dm.val_dataloader() == []
    assert sum(len(b["t0"]) for b in dm.train_dataloader()) == 10
    assert dm.split_ranges["test"] == (96, 120)


def test_test_values_do_not_change_the_scaler(tmp_path, root):
    obs, stations = _frames(bump_test=True)
    other = write_dataset(tmp_path / "bumped", obs, stations, META)
    a = TrafficDataModule(root, window=W, horizon=H, max_neighbours=3)
    b = TrafficDataModule(str(other), window=W, horizon=H, max_neighbours=3)
    np.testing.assert_array_equal(a.scaler.mean, b.scaler.mean)
    np.testing.assert_array_equal(a.scaler.std, b.scaler.std)
    assert np.nanmax(b.panel.values[:, :, 0]) > 1e3


def test_graph_from_edges_and_errors(tmp_path):
    obs, stations = _frames()
    edges = pd.DataFrame({"src": ["vd0", "vd1"], "dst": ["vd1", "vd2"], "distance_m": [400.0, 800.0]})
    root = write_dataset(tmp_path / "e", obs, stations, META, edges)
    dm = TrafficDataModule(str(root), window=W, horizon=H)
    assert dm.graph.num_edges == 2 + N
    with pytest.raises(DataError, match="variable 'sped' is not in the dataset"):
        TrafficDataModule(str(root), targets=["sped"])
    with pytest.raises(DataError, match="holds no window"):
        TrafficDataModule(str(root), window=100, horizon=12)

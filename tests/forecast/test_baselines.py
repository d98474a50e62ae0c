import numpy as np
import pytest
import torch

from social_xlstm.data.info import DataInfo
from social_xlstm.forecast.baselines import HistoricalAverage, persistence


def _info(horizon=2):
    return DataInfo(
        vd_ids=["a", "b"],
        variables=["flow", "speed"],
        targets=["speed"],
        mean=[10.0, 50.0],
        std=[2.0, 5.0],
        edge_index=[[0, 0], [1, 1]],
        edge_attr=[[0.0], [0.0]],
        horizon=horizon,
    )


def test_persistence_repeats_last_observed_value_in_original_units():
    info = _info()
    # B=1, W=3, N=2, F=2; speed (feature 1) scaled values
    x = torch.zeros(1, 3, 2, 2)
    mask = torch.zeros(1, 3, 2, 2, dtype=torch.bool)
    x[0, 0, 0, 1], x[0, 1, 0, 1] = 1.0, -1.0  # VD a: last observed at step 1 -> -1 -> 45 km/h
    mask[0, 0, 0, 1] = mask[0, 1, 0, 1] = True
    # VD b never observed -> training mean 50
    out = persistence({"x": x, "x_mask": mask}, info)
    assert out.shape == (1, 2, 2, 1)
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([45.0, 45.0]))
    assert torch.allclose(out[0, :, 1, 0], torch.tensor([50.0, 50.0]))


def test_historical_average_slot_means_and_fallbacks():
    # 4 slots per week (so 7 days do not divide: use slots_per_week = 14, 2 per day), T=6, N=2, O=1
    values = np.array([1, 2, 3, 4, 100, 100], dtype=np.float32).reshape(6, 1, 1).repeat(2, axis=1)
    mask = np.ones_like(values, dtype=bool)
    mask[:, 1] = False  # VD 1 never observed -> variable mean
    slots = np.array([0, 1, 0, 1, 0, 3])
    ha = HistoricalAverage(values, mask, slots, slots_per_week=14, train_range=(0, 4))
    # slot 0: mean(1, 3) = 2; slot 1: mean(2, 4) = 3; slot 3 (day 1, slot 1 of day): falls back to time of day 1 -> 3
    assert ha.table[0, 0, 0].item() == pytest.approx(2.0)
    assert ha.table[1, 0, 0].item() == pytest.approx(3.0)
    assert ha.table[3, 0, 0].item() == pytest.approx(3.0)
    # VD 1: no observation at all -> variable mean over observed training values (1+2+3+4)/4
    assert ha.table[0, 1, 0].item() == pytest.approx(2.5)
    pred = ha({"t0": torch.tensor([3])}, horizon=2)  # targets are steps 4 and 5 -> slots 0 and 3
    assert pred.shape == (1, 2, 2, 1)
    assert torch.allclose(pred[0, :, 0, 0], torch.tensor([2.0, 3.0]))
    # test values (100) never leak into the table
    assert float(ha.table.max()) < 100

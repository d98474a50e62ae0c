"""The non-learned baselines, all in this one place: persistence and the historical average.

Both are scored on exactly the model's test windows (:mod:`social_xlstm.forecast.evaluate`).

Both take the same batch dicts as the learned models (``social_xlstm/data/info.py``) and return
forecasts in original units, shaped ``(B, H, N, O)``.
"""

from __future__ import annotations

import numpy as np
import torch

from social_xlstm.data.info import DataInfo
from social_xlstm.data.timefeatures import slot_of_week
from social_xlstm.nn.common import last_observed

BASELINES = ("persistence", "historical_average")
"""Names of the non-learned baselines, as they appear in ``metrics.json``."""


def persistence(batch: dict[str, torch.Tensor], info: DataInfo) -> torch.Tensor:
    """Repeat each VD's last observed value of the input window for every horizon step.

    A VD with no observation in the window gets the training mean (scaled 0), never NaN.

    Shapes:
        batch["x"], batch["x_mask"]: (B, W, N, F)
        returns: (B, H, N, O)
    """
    x = batch["x"]
    idx = info.target_index
    value = last_observed(x, batch["x_mask"], torch.tensor(idx, device=x.device))  # (B, N, O) scaled
    mean = torch.tensor([info.mean[i] for i in idx], dtype=x.dtype, device=x.device)
    std = torch.tensor([info.std[i] for i in idx], dtype=x.dtype, device=x.device)
    value = value * std + mean
    return value.unsqueeze(1).expand(-1, info.horizon, -1, -1)  # (B, H, N, O)


class HistoricalAverage:
    """Mean of the training observations at the same slot of the week, per VD and variable.

    Slots never observed in training fall back to the same time of day (any day), then to the VD's
    training mean, then to the variable's training mean, so every forecast is a number.

    Args:
        values: (T, N, O) panel values of the target variables in original units (NaN where missing).
        mask: (T, N, O) True where observed.
        slots: (T,) slot of week of every panel step, in ``[0, slots_per_week)``.
        slots_per_week: number of slots in a week (``7 * 24 * 60 / freq_minutes``).
        train_range: ``(start, stop)`` panel steps the averages are fitted on.
    """

    def __init__(
        self,
        values: np.ndarray,
        mask: np.ndarray,
        slots: np.ndarray,
        slots_per_week: int,
        train_range: tuple[int, int],
    ):
        start, stop = train_range
        v = np.where(mask[start:stop], values[start:stop], 0.0).astype(np.float64)  # (Tt, N, O)
        m = mask[start:stop].astype(np.float64)
        s = slots[start:stop]
        slots_per_day = slots_per_week // 7
        week_sum = np.zeros((slots_per_week, *v.shape[1:]))
        week_cnt = np.zeros_like(week_sum)
        np.add.at(week_sum, s, v)
        np.add.at(week_cnt, s, m)
        day_sum = week_sum.reshape(7, slots_per_day, *v.shape[1:]).sum(0)  # (S_day, N, O)
        day_cnt = week_cnt.reshape(7, slots_per_day, *v.shape[1:]).sum(0)
        vd_mean = v.sum(0) / np.maximum(m.sum(0), 1)  # (N, O)
        var_mean = v.sum((0, 1)) / np.maximum(m.sum((0, 1)), 1)  # (O,)
        vd_mean = np.where(m.sum(0) > 0, vd_mean, var_mean)
        day_mean = np.where(day_cnt > 0, day_sum / np.maximum(day_cnt, 1), vd_mean)
        day_of_slot = np.tile(day_mean, (7, 1, 1))  # (S_week, N, O)
        table = np.where(week_cnt > 0, week_sum / np.maximum(week_cnt, 1), day_of_slot)
        self.table = torch.from_numpy(table.astype(np.float32))  # (S_week, N, O)
        self.slots = torch.from_numpy(np.asarray(slots, dtype=np.int64))  # (T,)

    def __call__(self, batch: dict[str, torch.Tensor], horizon: int) -> torch.Tensor:
        """Forecast the ``horizon`` steps after each window's issue time ``t0``.

        Shapes:
            batch["t0"]: (B,)
            returns: (B, H, N, O)
        """
        t0 = batch["t0"].cpu()
        target_steps = t0.view(-1, 1) + torch.arange(1, horizon + 1).view(1, -1)  # (B, H)
        return self.table[self.slots[target_steps]]  # (B, H, N, O)


def fit_historical_average(datamodule, info: DataInfo) -> HistoricalAverage:
    """Historical average of the targets fitted on the datamodule's training range."""
    panel = datamodule.panel
    idx = info.target_index
    slots_per_week = int(round(7 * 24 * 60 / info.freq_minutes))
    slots = slot_of_week(panel.timestamps, info.timezone, info.freq_minutes)
    return HistoricalAverage(
        panel.values[..., idx], panel.mask[..., idx], slots, slots_per_week, datamodule.split_ranges["train"]
    )

"""Sliding windows over the panel as index-based views (never a materialised array of all windows).

The panel is turned once into a few full-length tensors (:class:`WindowArrays`, shared by the train, val
and test datasets); a window item is then a set of slices of them. Batches follow ``social_xlstm.data.info``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from social_xlstm.data.panel import Panel
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.timefeatures import time_features
from social_xlstm.errors import UserError


@dataclass
class WindowArrays:
    """Full-length model inputs and targets from which windows are sliced.

    Shapes:
        x: (T, N, F) float32, scaled, 0 where missing.
        x_mask: (T, N, F) bool, True where observed.
        time: (T, 4) float32 time features.
        y: (T, N, O) float32 in original units, 0 where missing.
        y_mask: (T, N, O) bool.
    """

    x: torch.Tensor
    x_mask: torch.Tensor
    time: torch.Tensor
    y: torch.Tensor
    y_mask: torch.Tensor

    @property
    def num_steps(self) -> int:
        return self.x.shape[0]

    @classmethod
    def from_panel(cls, panel: Panel, scaler: StandardScaler, targets: Sequence[str] | None = None) -> WindowArrays:
        """Scale the panel's inputs, zero the missing cells and pick the target variables.

        Args:
            panel: the loaded panel (F variables).
            scaler: fitted on the training part.
            targets: forecast variables (a subset of ``panel.variables``); None = all.
        """
        target_idx = panel.variable_index(list(panel.variables if targets is None else targets))
        x = scaler.transform(panel.values)  # (T, N, F) float32, NaN where missing
        x[~panel.mask] = 0.0
        y = panel.values[:, :, target_idx]  # (T, N, O) copy
        y_mask = panel.mask[:, :, target_idx]  # (T, N, O) copy
        y[~y_mask] = 0.0
        return cls(
            x=torch.from_numpy(x),
            x_mask=torch.from_numpy(np.ascontiguousarray(panel.mask)),
            time=torch.from_numpy(time_features(panel.timestamps, panel.timezone)),
            y=torch.from_numpy(y),
            y_mask=torch.from_numpy(y_mask),
        )


class WindowDataset(TorchDataset):
    """Item ``i``: the window whose inputs start at panel step ``starts[i]``.

    With ``s = starts[i]`` the item holds inputs at steps ``s .. s+W-1``, targets at ``s+W .. s+W+H-1`` and
    ``t0 = s + W - 1`` (the issue time). Tensors are slices of :class:`WindowArrays` (no copies until the
    collate function stacks a batch).

    Args:
        arrays: the full-length tensors.
        window: input length W.
        horizon: forecast steps H.
        starts: window start steps, e.g. from :func:`social_xlstm.data.split.window_starts`.
    """

    def __init__(self, arrays: WindowArrays, window: int, horizon: int, starts: Sequence[int] | np.ndarray) -> None:
        self.arrays = arrays
        self.window = int(window)
        self.horizon = int(horizon)
        self.starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if self.window < 1 or self.horizon < 1:
            raise UserError(f"window ({window}) and horizon ({horizon}) must be >= 1")
        bad = (self.starts < 0) | (self.starts + self.window + self.horizon > arrays.num_steps)
        if bad.any():
            raise UserError(f"window starts {self.starts[bad][:5].tolist()} do not fit W={window} + H={horizon} "
                            f"steps into the panel's {arrays.num_steps} steps")

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = int(self.starts[i])
        mid, end = s + self.window, s + self.window + self.horizon
        a = self.arrays
        return {
            "x": a.x[s:mid],  # (W, N, F)
            "x_mask": a.x_mask[s:mid],  # (W, N, F)
            "time": a.time[s:mid],  # (W, 4)
            "y": a.y[mid:end],  # (H, N, O)
            "y_mask": a.y_mask[mid:end],  # (H, N, O)
            "t0": torch.tensor(mid - 1, dtype=torch.int64),
        }

    def __repr__(self) -> str:
        return f"WindowDataset(windows={len(self)}, W={self.window}, H={self.horizon})"

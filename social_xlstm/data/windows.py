"""Sliding windows over the panel as index-based views (never a materialised array of all windows).

:class:`WindowArrays` wraps the panel's arrays as tensors without copying them (shared by the train, val
and test datasets). An item slices W + H steps out of them and only then scales the inputs and zeroes
the missing cells, so the whole dataset costs no memory beyond the panel itself; the per-item work is
a few elementwise operations on ``(W, N, F)``. Batches follow ``social_xlstm.data.info``.
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
    """Full-length panel tensors and the scaling from which window items are made.

    Shapes:
        values: (T, N, F) float32 in original units, NaN where missing (shares the panel's memory).
        mask: (T, N, F) bool, True where observed (shares the panel's memory).
        time: (T, 4) float32 time features.
        mean, std: (F,) float32 scaler parameters.
        target_index: (O,) int64 positions of the targets among the F variables.
        observed_vds: (N,) bool, the VDs whose inputs models may read (held-out VDs False,
            :mod:`social_xlstm.data.holdout`); None: every VD.
    """

    values: torch.Tensor
    mask: torch.Tensor
    time: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    target_index: torch.Tensor
    observed_vds: torch.Tensor | None = None

    def input_mask(self, start: int, stop: int) -> torch.Tensor:
        """(stop - start, N, F) bool: observed inputs of those steps; a held-out VD's never are."""
        mask = self.mask[start:stop]  # a view
        return mask if self.observed_vds is None else mask & self.observed_vds[:, None]

    @property
    def num_steps(self) -> int:
        return self.values.shape[0]

    @classmethod
    def from_panel(cls, panel: Panel, scaler: StandardScaler, targets: Sequence[str] | None = None) -> WindowArrays:
        """Wrap the panel (no copy) with the scaler and the target variables.

        Args:
            panel: the loaded panel (F variables).
            scaler: fitted on the training part.
            targets: forecast variables (a subset of ``panel.variables``); None = all.
        """
        target_idx = panel.variable_index(list(panel.variables if targets is None else targets))
        return cls(
            values=torch.from_numpy(np.ascontiguousarray(panel.values)),
            mask=torch.from_numpy(np.ascontiguousarray(panel.mask)),
            time=torch.from_numpy(time_features(panel.timestamps, panel.timezone)),
            mean=torch.as_tensor(scaler.mean, dtype=torch.float32),
            std=torch.as_tensor(scaler.std, dtype=torch.float32),
            target_index=torch.as_tensor(target_idx, dtype=torch.int64),
        )


class WindowDataset(TorchDataset):
    """Item ``i``: the window whose inputs start at panel step ``starts[i]``.

    With ``s = starts[i]`` the item holds inputs at steps ``s .. s+W-1`` (scaled, 0 where missing),
    targets at ``s+W .. s+W+H-1`` (original units, 0 where missing) and ``t0 = s + W - 1`` (the issue
    time); the keys and meanings are those of ``social_xlstm.data.info`` without the batch dimension.

    Args:
        arrays: the full-length tensors.
        window: input length W.
        horizon: forecast steps H.
        starts: window start steps, e.g. from :func:`social_xlstm.data.split.window_starts`.
        scored_vds: (N,) bool, the VDs whose targets count (``y_mask`` False elsewhere): the observed
            VDs in training and validation, the held-out ones in a holdout test; None: every VD.
    """

    def __init__(
        self,
        arrays: WindowArrays,
        window: int,
        horizon: int,
        starts: Sequence[int] | np.ndarray,
        scored_vds: torch.Tensor | None = None,
    ) -> None:
        self.arrays = arrays
        self.scored_vds = scored_vds
        self.window = int(window)
        self.horizon = int(horizon)
        self.starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if self.window < 1 or self.horizon < 1:
            raise UserError(f"window ({window}) and horizon ({horizon}) must be >= 1")
        bad = (self.starts < 0) | (self.starts + self.window + self.horizon > arrays.num_steps)
        if bad.any():
            raise UserError(
                f"window starts {self.starts[bad][:5].tolist()} do not fit W={window} + H={horizon} "
                f"steps into the panel's {arrays.num_steps} steps"
            )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = int(self.starts[i])
        mid, end = s + self.window, s + self.window + self.horizon
        a = self.arrays
        x_mask = a.input_mask(s, mid)  # (W, N, F)
        x = torch.where(x_mask, (a.values[s:mid] - a.mean) / a.std, 0.0)  # (W, N, F)
        y_mask = a.mask[mid:end].index_select(2, a.target_index)  # (H, N, O)
        if self.scored_vds is not None:
            y_mask &= self.scored_vds[:, None]
        y = torch.where(y_mask, a.values[mid:end].index_select(2, a.target_index), 0.0)  # (H, N, O)
        return {
            "x": x,
            "x_mask": x_mask,
            "time": a.time[s:mid],  # (W, 4) view
            "y": y,
            "y_mask": y_mask,
            "t0": torch.tensor(mid - 1, dtype=torch.int64),
        }

    def __repr__(self) -> str:
        return f"WindowDataset(windows={len(self)}, W={self.window}, H={self.horizon})"

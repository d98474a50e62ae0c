"""Per-variable standardisation fitted on observed training values only."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from social_xlstm.errors import DataError

STD_FLOOR = 1e-6
_CHUNK_STEPS = 4096


class StandardScaler:
    """``(x - mean) / std`` per variable (the last axis), for numpy arrays and torch tensors.

    Fit it on the training part of the panel only, over observed cells only (the mask), so that neither
    missing placeholders nor future values leak into the statistics. A variable whose std is below
    :data:`STD_FLOOR` (a constant column) gets std 1 so nothing divides by zero.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    def fit(self, values: np.ndarray, mask: np.ndarray, variables: Sequence[str] | None = None) -> StandardScaler:
        """Fit mean and std per variable over the cells where ``mask`` is True.

        Args:
            values: (T, N, F) training values (anything where ``mask`` is False is ignored).
            mask: (T, N, F) bool.
            variables: names for error messages.

        Returns:
            self.
        """
        num_vars = values.shape[-1]
        count = np.zeros(num_vars)
        total = np.zeros(num_vars)
        # Two passes in float64 over time chunks: exact enough, and never a float64 copy of the whole panel.
        for start in range(0, values.shape[0], _CHUNK_STEPS):
            v = values[start : start + _CHUNK_STEPS].reshape(-1, num_vars).astype(np.float64)  # (t*N, F)
            m = mask[start : start + _CHUNK_STEPS].reshape(-1, num_vars)  # (t*N, F)
            count += m.sum(axis=0)
            total += np.where(m, v, 0.0).sum(axis=0)
        if (count == 0).any():
            names = variables or [str(i) for i in range(num_vars)]
            empty = [names[i] for i in np.flatnonzero(count == 0)]
            raise DataError(
                f"variable(s) {empty} have no observed value in the training split; "
                "cannot fit the scaler (check the split or the data)"
            )
        mean = total / count
        sq = np.zeros(num_vars)
        for start in range(0, values.shape[0], _CHUNK_STEPS):
            v = values[start : start + _CHUNK_STEPS].reshape(-1, num_vars).astype(np.float64)  # (t*N, F)
            m = mask[start : start + _CHUNK_STEPS].reshape(-1, num_vars)  # (t*N, F)
            sq += np.where(m, (v - mean) ** 2, 0.0).sum(axis=0)
        std = np.sqrt(sq / count)
        self.mean = mean
        self.std = np.where(std < STD_FLOOR, 1.0, std)
        return self

    def _params(self, x, index: Sequence[int] | None):
        if self.mean is None:
            raise RuntimeError("StandardScaler used before fit()")
        mean, std = self.mean, self.std
        if index is not None:
            mean, std = mean[list(index)], std[list(index)]
        if isinstance(x, torch.Tensor):
            dtype = x.dtype if x.is_floating_point() else torch.float32
            return torch.as_tensor(mean, dtype=dtype, device=x.device), torch.as_tensor(
                std, dtype=dtype, device=x.device
            )
        dtype = x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32
        return mean.astype(dtype), std.astype(dtype)

    def transform(self, x, index: Sequence[int] | None = None):
        """Scale ``x (..., F)``; ``index`` picks the variables when the last axis is a subset (targets)."""
        mean, std = self._params(x, index)
        return (x - mean) / std

    def inverse_transform(self, x, index: Sequence[int] | None = None):
        """Undo :meth:`transform` on ``x (..., F)`` (numpy or torch, keeps the type and device)."""
        mean, std = self._params(x, index)
        return x * std + mean

    def state_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict[str, Sequence[float]]) -> StandardScaler:
        return cls(state["mean"], state["std"])

    def __repr__(self) -> str:
        if self.mean is None:
            return "StandardScaler(unfitted)"
        return f"StandardScaler(mean={np.round(self.mean, 4).tolist()}, std={np.round(self.std, 4).tolist()})"

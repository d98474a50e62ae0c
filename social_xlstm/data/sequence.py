"""Long training sequences over the panel (long-context mode): every step issues a forecast and is scored.

A sequence of length L starting at panel step ``s`` holds the inputs of steps ``s .. s+L-1`` and, for every
one of those steps ``t``, the targets of the next H steps ``t+1 .. t+H``. The model reads the sequence
once, carrying its recurrent state, and emits a forecast after every step (``Forecaster.forward_sequence``);
training backpropagates through chunks of it (:mod:`social_xlstm.training.sequence`).

Warm-up: the forecasts issued after the first ``W - 1`` steps are not scored (``y_mask`` is False there),
so every scored forecast has read at least W steps, the context of a window of the windowed mode; the
first scored issue time is ``s + W - 1``, that of the window starting at ``s``. Targets beyond the part's
last step (``target_stop``, the end of the training part) are masked, so no target of the validation or
test part is ever trained on, and sequences may end at the part's very last step.

Like :mod:`social_xlstm.data.windows`, items are index-based views of the shared :class:`WindowArrays`:
no sequence is stored. An item builds its ``(L, H, N, O)`` targets from one slice of ``L + H - 1`` steps
unfolded along time (a view), so its cost is that of the batch itself, ``L * H * N * O`` values.

Only training uses sequences. Validation, test and prediction keep the windowed loaders: the model runs
through them continuously (see ``social_xlstm.training.sequence.EvalStream``), so both modes are scored
on the same issue times.

Batches add to ``social_xlstm.data.info``'s keys a time axis L after the batch axis:

    x, x_mask  (B, L, N, F)      time (B, L, 4)
    y, y_mask  (B, L, H, N, O)   targets of the forecast issued after each step (y_mask False: unobserved,
                                 beyond the part, or warm-up)
    t0         (B, L)            panel index of each step (the issue time of its forecast)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset as TorchDataset

from social_xlstm.data.windows import WindowArrays
from social_xlstm.errors import UserError


def sequence_starts(split_range: tuple[int, int], length: int, stride: int = 1) -> np.ndarray:
    """Start steps of the sequences of ``length`` steps whose inputs lie inside ``split_range``.

    Args:
        split_range: ``[start, stop)`` of the part on the panel's time axis.
        length: sequence length L.
        stride: step between consecutive starts (``stride < length``: sequences overlap).

    Returns:
        (M,) int64 starts ``s`` with ``start <= s`` and ``s + length <= stop``; empty when the part is
        shorter than L.
    """
    if length < 1 or stride < 1:
        raise UserError(f"sequence_length ({length}) and stride ({stride}) must be >= 1")
    start, stop = split_range
    return np.arange(start, stop - length + 1, stride, dtype=np.int64)


class SequenceDataset(TorchDataset):
    """Item ``i``: the sequence of ``length`` steps starting at panel step ``starts[i]``.

    Args:
        arrays: the full-length tensors (shared with the window datasets).
        length: sequence length L (>= ``warmup``).
        horizon: forecast steps H.
        starts: sequence start steps, e.g. from :func:`sequence_starts`.
        warmup: W, the steps read before the first scored forecast (the windowed mode's window).
        target_stop: targets at panel steps ``>= target_stop`` are masked (the end of the part).
    """

    def __init__(
        self,
        arrays: WindowArrays,
        length: int,
        horizon: int,
        starts: Sequence[int] | np.ndarray,
        warmup: int,
        target_stop: int,
    ) -> None:
        self.arrays = arrays
        self.length, self.horizon, self.warmup = int(length), int(horizon), int(warmup)
        self.target_stop = min(int(target_stop), arrays.num_steps)
        self.starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if self.horizon < 1 or self.warmup < 1:
            raise UserError(f"horizon ({horizon}) and window ({warmup}) must be >= 1")
        if self.length < self.warmup:
            raise UserError(
                f"sequence_length ({length}) is shorter than the window ({warmup}): no forecast of a "
                "sequence would read a full window's context before it is scored"
            )
        bad = (self.starts < 0) | (self.starts + self.length > arrays.num_steps)
        if bad.any():
            raise UserError(
                f"sequence starts {self.starts[bad][:5].tolist()} do not fit L={length} steps into the "
                f"panel's {arrays.num_steps} steps"
            )

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s = int(self.starts[i])
        end = s + self.length
        a = self.arrays
        x_mask = a.mask[s:end]  # (L, N, F) view
        x = torch.where(x_mask, (a.values[s:end] - a.mean) / a.std, 0.0)  # (L, N, F)
        # Targets of step s+j are steps s+j+1 .. s+j+H: one slice of L+H-1 steps, cut at target_stop and
        # padded back (masked), unfolded into (L, H) without copying.
        lo, hi = s + 1, min(end + self.horizon - 1, self.target_stop)
        pad = self.length + self.horizon - 1 - max(hi - lo, 0)
        obs = a.mask[lo:hi].index_select(2, a.target_index)  # (K, N, O)
        val = torch.where(obs, a.values[lo:hi].index_select(2, a.target_index), 0.0)  # (K, N, O)
        obs = F.pad(obs, (0, 0, 0, 0, 0, pad), value=False)  # (L+H-1, N, O)
        val = F.pad(val, (0, 0, 0, 0, 0, pad), value=0.0)
        y_mask = obs.unfold(0, self.horizon, 1).permute(0, 3, 1, 2).clone()  # (L, H, N, O)
        y_mask[: self.warmup - 1] = False  # warm-up: not scored (module docstring)
        y = val.unfold(0, self.horizon, 1).permute(0, 3, 1, 2)  # (L, H, N, O)
        return {
            "x": x,
            "x_mask": x_mask,
            "time": a.time[s:end],  # (L, 4) view
            "y": y.contiguous(),
            "y_mask": y_mask,
            "t0": torch.arange(s, end, dtype=torch.int64),
        }

    def __repr__(self) -> str:
        return f"SequenceDataset(sequences={len(self)}, L={self.length}, H={self.horizon}, warmup={self.warmup})"

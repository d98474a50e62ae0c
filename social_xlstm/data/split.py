"""Chronological train / val / test split of the time axis, and which windows belong to which part.

A window starting at panel step ``s`` reads inputs ``s .. s+W-1`` and forecasts targets ``s+W .. s+W+H-1``.
A window belongs to a part ``[start, stop)`` by its TARGET steps: its first target step is ``>= start`` and
its last target step is ``< stop``. Its inputs may therefore reach back into the previous part (a test
window's inputs can be the last W validation steps): that is what a deployed model sees, and no target is
ever used for training and evaluation at once. The W steps at the very start of the series only ever
serve as inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from social_xlstm.errors import UserError

SPLIT_NAMES = ("train", "val", "test")


def chronological_split(num_steps: int, fractions: Sequence[float] = (0.7, 0.1, 0.2)) -> dict[str, tuple[int, int]]:
    """Cut ``[0, num_steps)`` into consecutive train, val and test ranges.

    Args:
        num_steps: length T of the time axis.
        fractions: shares of train, val and test; must be >= 0 and sum to 1. ``(0.8, 0.0, 0.2)`` is the
            T-GCN protocol (val is then the empty range ``(stop, stop)``).

    Returns:
        ``{"train": (0, a), "val": (a, b), "test": (b, num_steps)}`` with ``a = round(T * f_train)`` and
        ``b = round(T * (f_train + f_val))``.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise UserError(
            f"split fractions must be three shares >= 0 summing to 1 (train, val, test), got {tuple(fractions)}"
        )
    train_stop = int(round(num_steps * fractions[0]))
    val_stop = int(round(num_steps * (fractions[0] + fractions[1])))
    return {"train": (0, train_stop), "val": (train_stop, val_stop), "test": (val_stop, num_steps)}


def window_starts(split_range: tuple[int, int], window: int, horizon: int, stride: int = 1) -> np.ndarray:
    """Start steps of all windows whose targets lie inside ``split_range`` (see the module docstring).

    Args:
        split_range: ``[start, stop)`` of the part on the panel's time axis.
        window: input length W.
        horizon: number of target steps H.
        stride: step between consecutive window starts.

    Returns:
        (M,) int64 start steps ``s`` with ``max(start, W) <= s + W`` and ``s + W + H <= stop``; may be empty.
    """
    if window < 1 or horizon < 1 or stride < 1:
        raise UserError(f"window ({window}), horizon ({horizon}) and stride ({stride}) must be >= 1")
    start, stop = split_range
    first = max(start - window, 0)
    last = stop - window - horizon
    return np.arange(first, last + 1, stride, dtype=np.int64)

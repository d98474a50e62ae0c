"""The training order: one seeded permutation per epoch, so a run resumed mid-epoch replays it exactly.

PyTorch's ``shuffle=True`` draws each epoch's order from the global random generator, whose state at the
start of an epoch a checkpoint saved in the middle of that epoch no longer knows; a resumed run would see
another order (and Lightning, with a loader it cannot rewind, restarts the epoch's batches from the top).
Here the order of epoch ``e`` depends on ``(seed, e)`` only, and :meth:`EpochShuffle.resume` skips the
windows the interrupted run had already trained on, so the resumed run sees exactly the windows, in
exactly the order, the uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

# Epoch e uses seed * _EPOCH_STRIDE + e: distinct seeds never share an epoch's generator.
_EPOCH_STRIDE = 1_000_003


class EpochShuffle(Sampler[int]):
    """A random permutation of ``range(size)`` per epoch (its first ``num_samples`` entries), set by the seed.

    Args:
        size: number of items (training windows).
        seed: base seed (the run's ``seed_everything`` seed).
        num_samples: items per epoch, drawn without replacement; None = all ``size``.

    Lightning calls :meth:`set_epoch` before each epoch (and forwards it through its DDP sampler wrapper).
    """

    def __init__(self, size: int, seed: int, num_samples: int | None = None):
        if size < 1:
            raise ValueError(f"EpochShuffle needs at least one item, got size={size}")
        self.size, self.seed = size, int(seed)
        self.num_samples = size if num_samples is None else min(int(num_samples), size)
        self.epoch = 0
        self._resume: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def resume(self, epoch: int, skip: int) -> None:
        """Start at epoch ``epoch`` and leave out its first ``skip`` items, once (the next iteration only)."""
        self.epoch = int(epoch)
        self._resume = (int(epoch), int(skip))

    def order(self, epoch: int) -> torch.Tensor:
        """The items of epoch ``epoch`` in training order, (num_samples,) int64."""
        generator = torch.Generator().manual_seed(self.seed * _EPOCH_STRIDE + epoch)
        return torch.randperm(self.size, generator=generator)[: self.num_samples]

    def __iter__(self) -> Iterator[int]:
        order = self.order(self.epoch)
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
            if epoch == self.epoch:
                order = order[skip:]
        yield from order.tolist()

    def __len__(self) -> int:
        # The full epoch even while resuming: Lightning counts an epoch's batches from len(loader) and
        # restarts its counter at the batches already done, so it stops exactly where this order ends.
        return self.num_samples

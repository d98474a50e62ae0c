"""How the evaluation windows are split across DDP ranks: contiguous blocks, every window exactly once.

Lightning's default for validation and test is ``DistributedSampler``, which pads the last ranks with
repeated windows (so every rank has as many): summed across ranks, those would count twice. Here rank r
takes the r-th of R contiguous blocks whose sizes differ by at most one, in time order, so

- every window is scored once (the summed metrics equal one process's);
- each rank's forecasts are one run of consecutive issue times (a sequence-mode model's stream carries
  its state through all but R - 1 block starts);
- the forecasts of rank 0, 1, ... in turn are the one-process order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler


def shard_range(size: int, num_replicas: int, rank: int) -> range:
    """The indices of ``rank``'s block: ``size`` items in ``num_replicas`` contiguous blocks, the first
    ``size % num_replicas`` one longer."""
    base, extra = divmod(size, num_replicas)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


class ContiguousShardSampler(DistributedSampler):
    """This rank's contiguous block of a dataset, in order, without padding (for val/test/predict).

    A ``DistributedSampler`` subclass so that Lightning keeps it instead of putting its own in place.

    Args:
        dataset: any sized dataset.
        num_replicas: R, the number of ranks.
        rank: this rank, ``0 <= rank < R``.
    """

    def __init__(self, dataset: Sized, num_replicas: int, rank: int):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)
        self.indices = shard_range(len(dataset), num_replicas, rank)
        self.num_samples = len(self.indices)
        self.total_size = len(dataset)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return self.num_samples

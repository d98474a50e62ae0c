"""Training on a sample of VDs per batch: networks of thousands of VDs with memory set by the sample.

A training step over every VD of a large network holds B x N encoder states per layer; the LargeST
baselines and tsl instead train on a random subset of target VDs per batch. Here each batch draws
``targets`` VDs uniformly without replacement, adds the in-neighbours they read (one hop: the encoder
runs per VD and the fusion reads direct in-neighbours only), and keeps the loss on the drawn targets.
The model sees the columns of the sampled VDs and their sorted global ids (``batch["nodes"]``), so the
fusion reads the subgraph among them and every target gets exactly the forecast the full network
would give it (for the fusions that read one hop; the T-GCN baseline's recurrence reads further).

Validation, test and prediction always forecast every VD.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import default_collate

from social_xlstm.errors import UserError


class NodeSampler:
    """Collate function that cuts each training batch to sampled targets and the VDs they read.

    Args:
        edge_index: (2, E) int64 ``[src, dst]`` over ``num_nodes`` VDs.
        num_nodes: N.
        targets: target VDs per batch (at least 1, at most N).

    The draw uses torch's global generator (seeded by ``seed_everything``; in a DataLoader worker, the
    worker's seeded generator), so runs repeat.

    Batch entries added: ``nodes`` (N',) sorted global ids of the kept columns of ``x`` and ``x_mask``;
    ``target_pos`` (S,) positions of the targets among them; ``y``, ``y_mask`` keep the targets only,
    (B, H, S, O).
    """

    def __init__(self, edge_index: np.ndarray, num_nodes: int, targets: int):
        if not 1 <= targets <= num_nodes:
            raise UserError(f"node_sample must lie in [1, {num_nodes}] (the number of VDs), got {targets}")
        src, dst = np.asarray(edge_index, dtype=np.int64)
        order = np.argsort(dst, kind="stable")
        self.sources = torch.from_numpy(src[order])  # (E,) in-neighbours, grouped by target
        counts = np.bincount(dst, minlength=num_nodes)
        self.start = torch.from_numpy(np.concatenate([[0], np.cumsum(counts)]))  # (N + 1,) CSR row pointers
        self.num_nodes, self.targets = num_nodes, targets

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted global ids of the VDs to run (targets and their in-neighbours), and the targets' positions."""
        targets = torch.randperm(self.num_nodes)[: self.targets].sort().values  # (S,)
        lo, hi = self.start[targets], self.start[targets + 1]
        counts = hi - lo
        offsets = torch.arange(int(counts.sum())) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        neighbours = self.sources[torch.repeat_interleave(lo, counts) + offsets]  # every in-neighbour of a target
        nodes = torch.unique(torch.cat([targets, neighbours]))  # (N',) sorted
        return nodes, torch.searchsorted(nodes, targets)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = default_collate(items)
        nodes, target_pos = self.draw()
        targets = nodes[target_pos]
        batch["x"] = batch["x"].index_select(2, nodes)  # (B, W, N', F)
        batch["x_mask"] = batch["x_mask"].index_select(2, nodes)
        batch["y"] = batch["y"].index_select(2, targets)  # (B, H, S, O)
        batch["y_mask"] = batch["y_mask"].index_select(2, targets)
        batch["nodes"], batch["target_pos"] = nodes, target_pos
        return batch

"""Sampled VDs per training batch: targets, the in-neighbours they read, and the cut batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from social_xlstm.data.sampling import NodeSampler
from social_xlstm.errors import UserError

# 6 VDs, self loops, and in-edges 1 -> 0, 2 -> 0, 3 -> 2, 5 -> 4
EDGES = np.array([[0, 1, 2, 3, 4, 5, 1, 2, 3, 5], [0, 1, 2, 3, 4, 5, 0, 0, 2, 4]])


def _batch(b=2, w=3, n=6, f=2, h=4, o=1):
    return [
        {
            "x": torch.arange(w * n * f, dtype=torch.float32).view(w, n, f) + 100 * i,
            "x_mask": torch.ones(w, n, f, dtype=torch.bool),
            "time": torch.zeros(w, 4),
            "y": torch.arange(h * n * o, dtype=torch.float32).view(h, n, o),
            "y_mask": torch.ones(h, n, o, dtype=torch.bool),
            "t0": torch.tensor(i),
        }
        for i in range(b)
    ]


def test_every_target_comes_with_its_in_neighbours():
    sampler = NodeSampler(EDGES, 6, targets=2)
    torch.manual_seed(0)
    for _ in range(20):
        nodes, pos = sampler.draw()
        targets = nodes[pos].tolist()
        assert nodes.tolist() == sorted(set(nodes.tolist())) and len(targets) == 2
        for t in targets:
            assert set(EDGES[0][EDGES[1] == t]) <= set(nodes.tolist())
    # target 0 reads 1 and 2; target 4 reads 5
    sampler.draw = lambda: (torch.tensor([0, 1, 2, 4, 5]), torch.tensor([0, 3]))
    batch = sampler(_batch())
    assert batch["x"].shape == (2, 3, 5, 2) and batch["y"].shape == (2, 4, 2, 1)
    torch.testing.assert_close(batch["x"][:, :, 3], torch.stack([it["x"][:, 4] for it in _batch()]))
    torch.testing.assert_close(batch["y"][0, :, 1], _batch()[0]["y"][:, 4])
    assert batch["nodes"].tolist() == [0, 1, 2, 4, 5] and batch["target_pos"].tolist() == [0, 3]


def test_draws_repeat_under_a_seed_and_sizes_are_checked():
    sampler = NodeSampler(EDGES, 6, targets=3)
    torch.manual_seed(5)
    first = [sampler.draw()[0].tolist() for _ in range(5)]
    torch.manual_seed(5)
    assert [sampler.draw()[0].tolist() for _ in range(5)] == first
    with pytest.raises(UserError, match=r"node_sample must lie in \[1, 6\]"):
        NodeSampler(EDGES, 6, targets=7)

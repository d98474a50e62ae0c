import math

import pytest
import torch

from social_xlstm.training.optim import OptimConfig, build_optimizer, warmup_cosine


def test_warmup_then_cosine_to_floor():
    total = 100
    assert warmup_cosine(0, total, 0.1, 0.05) == pytest.approx(0.1)
    assert warmup_cosine(9, total, 0.1, 0.05) == pytest.approx(1.0)
    # half way through the decay: floor + (1 - floor) * 0.5
    mid = 10 + 45
    assert warmup_cosine(mid, total, 0.1, 0.05) == pytest.approx(
        0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * 0.5))
    )
    assert warmup_cosine(total, total, 0.1, 0.05) == pytest.approx(0.05)


def test_no_decay_for_vectors_and_embeddings():
    net = torch.nn.ModuleDict({"lin": torch.nn.Linear(3, 4), "embedding": torch.nn.Embedding(5, 2)})
    opt, sched = build_optimizer(
        net, OptimConfig(lr=1e-2, weight_decay=0.1, warmup_fraction=0.0), total_steps=10
    )
    decayed, plain = opt.param_groups
    assert [p.shape for p in decayed["params"]] == [torch.Size([4, 3])]
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert len(plain["params"]) == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-2)


def test_bad_config_rejected():
    with pytest.raises(ValueError, match="warmup_fraction"):
        OptimConfig(warmup_fraction=1.5)

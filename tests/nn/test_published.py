"""The library-model adapter: the graph handed over, a clear error without the library, shapes with it."""

from __future__ import annotations

import sys

import pytest
import torch

from social_xlstm.errors import UserError
from social_xlstm.nn import ModelConfig
from social_xlstm.nn.common import last_observed
from social_xlstm.nn.published import DCRNN, GraphWaveNet, graph_for_library
from social_xlstm.nn.registry import LIBRARY_MODELS, network_class
from social_xlstm.nn.shape import NetworkShape

EDGE_INDEX = torch.tensor([[0, 1, 2, 0, 1], [0, 1, 2, 1, 2]])  # self loops, 0 -> 1 -> 2
EDGE_ATTR = torch.tensor([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [2.0, 0.0, 0.3], [1.0, 0.0, 0.7]])
NAMES = ["distance", "is_self", "weight"]


def test_graph_without_self_loops_and_with_the_weight_column():
    index, weight = graph_for_library(EDGE_INDEX, EDGE_ATTR, NAMES)
    assert index.tolist() == [[0, 1], [1, 2]]
    torch.testing.assert_close(weight, torch.tensor([0.3, 0.7]))
    index, weight = graph_for_library(EDGE_INDEX, EDGE_ATTR[:, :2], NAMES[:2])  # no weights: 1 each
    assert weight.tolist() == [1.0, 1.0]


def test_registry_names_the_adapters():
    assert network_class("social_xlstm") is None
    assert network_class("dcrnn") is DCRNN and network_class("graph_wavenet") is GraphWaveNet
    assert set(LIBRARY_MODELS) == {"dcrnn", "graph_wavenet"}
    assert ModelConfig("dcrnn").arch == "dcrnn"  # a valid model.arch


def test_without_the_library_a_user_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tsl.nn.models", None)  # import fails as if tsl were not installed
    with pytest.raises(UserError, match=r"social-xlstm\[bench\]"):
        DCRNN(ModelConfig("dcrnn", d_model=8), NetworkShape(3, 2, 1, 4, EDGE_INDEX, EDGE_ATTR, edge_attr_names=NAMES))


@pytest.mark.parametrize(("arch", "cls"), [("dcrnn", DCRNN), ("graph_wavenet", GraphWaveNet)])
def test_library_models_forecast_every_horizon_and_learn(arch, cls):
    pytest.importorskip(
        "tsl.nn.models",
        reason="tsl does not import (the bench extra: torch-spatiotemporal with torch-scatter, torch-sparse)",
    )
    torch.manual_seed(0)
    config = ModelConfig(arch, d_model=8, dropout=0.0, encoder={"layers": 1}, head={"last_value": True})
    net = cls(config, NetworkShape(3, 2, 1, 4, EDGE_INDEX, EDGE_ATTR, target_index=(1,), edge_attr_names=NAMES))
    x, mask = torch.randn(2, 12, 3, 2), torch.rand(2, 12, 3, 2) > 0.1
    y = net(torch.where(mask, x, 0.0), mask, torch.randn(2, 12, 4))
    assert y.shape == (2, 4, 3, 1) and torch.isfinite(y).all()
    y.square().mean().backward()
    no_grad = {name for name, p in net.named_parameters() if p.requires_grad and p.grad is None}
    # tsl's Graph WaveNet (as the paper's code) feeds its last block only to the skip path: that block's
    # spatial convolutions and norm never reach the output. Every other parameter must learn.
    last = len(getattr(net.library_model, "sconvs", [])) - 1
    assert all(f".{last}." in name for name in no_grad), sorted(no_grad)
    net.eval()  # the sparse adjacency handed over gives what the library's edge-list path gives
    time = torch.randn(2, 12, 4)
    with torch.no_grad():
        reference = net.library_model(torch.cat([x, mask.float()], -1), net.lib_edge_index, net.lib_edge_weight, u=time)
        torch.testing.assert_close(net(x, mask, time), reference + last_observed(x, mask, net.target_index)[:, None])
    with pytest.raises(UserError, match="sampled VDs"):
        net(x, mask, torch.randn(2, 12, 4), nodes=torch.tensor([0, 1]))

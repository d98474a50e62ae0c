"""Learned neighbours (social.graph learned | both): the top-k choice, its gates, refresh, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape
from social_xlstm.nn.config import ModelConfigError
from social_xlstm.nn.fusion.learned_graph import LearnedSources
from social_xlstm.nn.fusion.social_source import GATE_CAP

N, B, W, F, H, O = 7, 2, 5, 2, 3, 2


def _graph():
    """Self loops and i-1 -> i: every VD has two road sources."""
    own = torch.arange(N)
    edge_index = torch.cat([torch.stack([own, own]), torch.stack([(own - 1) % N, own])], 1)
    return edge_index, torch.rand(edge_index.shape[1], 1, generator=torch.Generator().manual_seed(1))


def _model(**social) -> Forecaster:
    torch.manual_seed(0)
    config = ModelConfig(d_model=16, encoder={"heads": 2, "layers": 1}, social={"heads": 2, **social})
    return Forecaster(config, NetworkShape(N, F, O, H, *_graph(), window=W)).eval()


def _batch():
    gen = torch.Generator().manual_seed(3)
    x_mask = torch.rand(B, W, N, F, generator=gen) > 0.2
    return torch.randn(B, W, N, F, generator=gen) * x_mask, x_mask, torch.zeros(B, W, 4)


def _sources(k: int = 3, refresh: int = 1) -> LearnedSources:
    torch.manual_seed(0)
    (src, dst), _ = _graph()
    return LearnedSources(N, 2, 4, k, 5, refresh, src, dst, GATE_CAP)


def test_refresh_takes_the_top_k_scores_outside_the_road_sources():
    layer = _sources(k=3)
    scores = layer.target @ layer.source.T  # (N, N) the hand-made reference
    for i in range(N):
        scores[i, i] = scores[i, (i - 1) % N] = -math.inf
    expected = scores.topk(3, dim=1).indices
    assert torch.equal(layer.learned_src, expected)


def test_a_vd_with_fewer_candidates_than_k_gets_minus_one():
    layer = _sources(k=6)  # 7 VDs, 2 road sources each: 5 candidates
    assert (layer.learned_src[:, :5] >= 0).all() and (layer.learned_src[:, 5] == -1).all()
    src, dst, gate, key = layer.edges()
    assert src.numel() == N * 5 and gate.shape == (2, N * 5) and key.shape == (2, N * 5, 4)


def test_gates_are_the_capped_scaled_scores():
    layer = _sources()
    with torch.no_grad():
        layer.gate_scale.copy_(torch.tensor([2.0, -1.0]))
        layer.gate_bias.copy_(torch.tensor([0.5, 1.0]))
    src, dst, gate, _ = layer.edges()
    score = (layer.target[dst] * layer.source[src]).sum(-1) / math.sqrt(5)
    pre = torch.stack([2.0 * score + 0.5, -score + 1.0])
    torch.testing.assert_close(gate, GATE_CAP * torch.tanh(pre / GATE_CAP))
    assert gate.abs().max() < GATE_CAP


def test_edges_among_a_sample_are_renumbered_and_drop_outside_sources():
    layer = _sources(k=3)
    nodes = torch.tensor([1, 3, 4, 6])
    src, dst, gate, _ = layer.edges(nodes)
    full_src, full_dst, full_gate, _ = layer.edges()
    keep = torch.isin(full_src, nodes) & torch.isin(full_dst, nodes)
    position = {int(g): p for p, g in enumerate(nodes)}
    assert src.tolist() == [position[int(s)] for s in full_src[keep]]
    assert dst.tolist() == [position[int(d)] for d in full_dst[keep]]
    torch.testing.assert_close(gate, full_gate[:, keep])


def test_refresh_runs_in_training_only_every_refresh_steps():
    layer = _sources(k=2, refresh=3)
    layer.train()
    before = layer.learned_src.clone()
    with torch.no_grad():
        layer.target.mul_(-1)  # every ranking reverses
    layer.maybe_refresh()  # step 0 refreshes
    assert not torch.equal(layer.learned_src, before)
    after = layer.learned_src.clone()
    with torch.no_grad():
        layer.target.mul_(-1)
    layer.maybe_refresh()
    layer.maybe_refresh()  # steps 1, 2: kept
    assert torch.equal(layer.learned_src, after)
    layer.eval()
    for _ in range(4):
        layer.maybe_refresh()  # evaluation never re-chooses
    assert torch.equal(layer.learned_src, after)


def test_both_with_silent_learned_gates_is_the_road_model():
    road, both = _model(), _model(graph="both", learned_k=3)
    both.load_state_dict(road.state_dict(), strict=False)  # the road model's weights
    with torch.no_grad():
        both.fusion.learned.gate_bias.fill_(-1e4)  # capped at -15: weight e^-15 beside a road gate
    x, mask, t = _batch()
    torch.testing.assert_close(both(x, mask, t), road(x, mask, t), atol=1e-4, rtol=1e-4)
    with torch.no_grad():
        both.fusion.learned.gate_bias.fill_(3.0)
    assert not torch.allclose(both(x, mask, t), road(x, mask, t), atol=1e-3)


def test_road_is_the_default_and_holds_no_learned_part():
    road = _model()
    assert road.fusion.learned is None and not any("learned" in name for name in road.state_dict())


def test_learned_reads_only_own_memory_of_the_road():
    model = _model(graph="learned", learned_k=2)
    fusion = model.fusion
    assert torch.equal(fusion.edge_src, fusion.edge_dst)  # the self loops only
    src, dst, _, _ = fusion._all_edges(None)
    assert src.numel() == N * 3  # own memory and two learned sources each
    order = dst * N + src
    assert torch.equal(order, order.sort().values) and order.unique().numel() == order.numel()


def test_gradient_reaches_the_embeddings_and_the_key_offset():
    model = _model(graph="both", learned_k=3).train()
    with torch.no_grad():
        model.fusion.out_proj.weight.normal_()  # the residual branch carries signal to the loss
    x, mask, t = _batch()
    model(x, mask, t).pow(2).mean().backward()
    learned = model.fusion.learned
    for p in (learned.target, learned.source, learned.gate_scale, learned.gate_bias, learned.key):
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_the_streaming_step_reads_the_same_learned_edges_as_the_window():
    model = _model(graph="both", learned_k=3, context="all")
    x, mask, t = _batch()
    with torch.no_grad():
        window = model(x, mask, t)
        state = model.initial_state(B)
        for step in range(W):
            out, state = model.step(x[:, step], mask[:, step], t[:, step], state)
    torch.testing.assert_close(out, window, atol=1e-5, rtol=1e-4)


def test_the_checkpoint_holds_the_learned_edges():
    model = _model(graph="both", learned_k=3)
    with torch.no_grad():
        model.fusion.learned.learned_src[0] = torch.tensor([3, 4, 5])
    state = model.state_dict()
    assert torch.equal(state["fusion.learned.learned_src"][0], torch.tensor([3, 4, 5]))
    fresh = _model(graph="both", learned_k=3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.fusion.learned.learned_src, model.fusion.learned.learned_src)
    x, mask, t = _batch()
    torch.testing.assert_close(fresh(x, mask, t), model(x, mask, t))


def test_added_vds_learn_no_sources_and_keep_the_trained_ones():
    layer = _sources(k=3)
    state = {f"x.{k}": v for k, v in layer.state_dict().items()}
    (src, dst), _ = _graph()
    bigger = LearnedSources(N + 2, 2, 4, 3, 5, 1, src, dst, GATE_CAP)
    bigger.fit_added_vds(state, "x.", N)
    bigger.load_state_dict({k[2:]: v for k, v in state.items()})
    assert torch.equal(bigger.learned_src[:N], layer.learned_src)
    assert (bigger.learned_src[N:] == -1).all()
    torch.testing.assert_close(bigger.edges()[2], layer.edges()[2])


@pytest.mark.parametrize(
    ("social", "message"),
    [
        ({"graph": "nearby"}, "social.graph='nearby'; valid values: road, learned, both"),
        ({"graph": "both", "form": "target"}, "needs social.form='source'"),
        ({"graph": "both", "learned_k": 0}, "social.learned_k must be >= 1"),
    ],
)
def test_bad_options_name_themselves(social, message):
    with pytest.raises(ModelConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ModelConfig(social=social)

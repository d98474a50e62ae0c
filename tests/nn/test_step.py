"""The forecaster's recurrent form: forward_sequence == T step() calls == the windowed forward, gradients, state.

Everything in fp64 so that 1e-5 is a statement about the equations, not rounding: the windowed forward
runs the social layer's parallel form and the conv without history, the recurrent form the step form and
the conv with its carried inputs.
"""

from __future__ import annotations

import pytest
import torch

from social_xlstm.nn import ARCHS, Forecaster, ModelConfig, NetworkShape

B, F, H, O = 2, 3, 3, 2
TOL = {"rtol": 1e-5, "atol": 1e-5}

WINDOW_ONLY = ("stid",)  # its encoder reads the whole window at once: no recurrent state to carry
CASES = [(arch, {}) for arch in ARCHS if arch not in WINDOW_ONLY] + [
    ("social_xlstm", {"social": {"form": "target"}}),
    ("social_xlstm", {"social": {"global_read": True}}),
    ("social_xlstm", {"social": {"graph": "both", "learned_k": 2}}),
    ("social_xlstm", {"social": {"graph": "learned", "learned_k": 2, "placement": "between"}}),
    ("social_xlstm", {"embedding": {"calendar": "both"}}),
    ("social_xlstm", {"social": {"context": "all"}}),
    ("slstm_only", {"encoder": {"conv_kernel": 0, "layers": 1}}),
    ("slstm_pool", {"head": {"last_value": True}}),
    ("social_xlstm", {"encoder": {"forget": "exp", "conv_kernel": 2}, "head": {"last_value": True}}),
]
IDS = [f"{arch}-{'-'.join(f'{k}' for k in kw) or 'default'}-{i}" for i, (arch, kw) in enumerate(CASES)]


def _graph(nodes: int):
    src = torch.arange(nodes)
    pairs = [torch.stack([src, src])]
    if nodes > 2:
        pairs += [torch.stack([src, (src + 1) % nodes]), torch.stack([(src + 1) % nodes, src])]
    edge_index = torch.cat(pairs, 1)  # self loops and both ring directions (no duplicates)
    edge_attr = torch.rand(edge_index.shape[1], 2, generator=torch.Generator().manual_seed(1)) * 100
    return edge_index, edge_attr


def _model(arch: str, nodes: int = 5, d_model: int = 12, **kw) -> Forecaster:
    torch.manual_seed(0)
    config = ModelConfig(
        arch=arch,
        d_model=d_model,
        encoder={"heads": 2, **kw.pop("encoder", {})},
        social={"heads": 3, **kw.pop("social", {})},
        head=kw.pop("head", {}),
        **kw,
    )
    return Forecaster(config, NetworkShape(nodes, F, O, H, *_graph(nodes))).double().eval()


def _sequence(steps: int, nodes: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x_mask = torch.rand(B, steps, nodes, F, generator=gen) > 0.3
    x = torch.randn(B, steps, nodes, F, generator=gen, dtype=torch.float64) * x_mask
    time = torch.randn(B, steps, 4, generator=gen, dtype=torch.float64)
    return x, x_mask, time


@pytest.mark.parametrize(("arch", "kw"), CASES, ids=IDS)
@pytest.mark.parametrize(("steps", "nodes"), [(7, 5), (1, 5), (4, 1)])
def test_sequence_equals_steps_and_windowed_forward(arch, kw, steps, nodes):
    model = _model(arch, nodes, **kw)
    assert model.supports_state
    x, x_mask, time = _sequence(steps, nodes)
    with torch.no_grad():
        y_seq, final = model.forward_sequence(x, x_mask, time)
        assert y_seq.shape == (B, steps, H, nodes, O)
        state, ys = model.initial_state(B), []
        for t in range(steps):
            y_t, state = model.step(x[:, t], x_mask[:, t], time[:, t], state)
            ys.append(y_t)
        torch.testing.assert_close(torch.stack(ys, 1), y_seq, **TOL)
        assert final.keys() == state.keys() == model.initial_state(B).keys()
        for key in final:
            torch.testing.assert_close(final[key], state[key], **TOL, msg=key)
        # From the zero state, the forecast after step t is the windowed forward on steps 0..t.
        for t in range(steps):
            window = model(x[:, : t + 1], x_mask[:, : t + 1], time[:, : t + 1])
            torch.testing.assert_close(y_seq[:, t], window, **TOL)


@pytest.mark.parametrize(("arch", "kw"), CASES, ids=IDS)
def test_chunks_continue_the_sequence(arch, kw):
    social = {"head_dim": 3, **kw.get("social", {})}  # odd widths: 5 per sLSTM head, 3 per social head
    model = _model(arch, d_model=10, **{**kw, "social": social})
    x, x_mask, time = _sequence(9)
    with torch.no_grad():
        whole, _ = model.forward_sequence(x, x_mask, time)
        first, state = model.forward_sequence(x[:, :4], x_mask[:, :4], time[:, :4])
        second, _ = model.forward_sequence(x[:, 4:], x_mask[:, 4:], time[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, **TOL)


@pytest.mark.parametrize(("arch", "kw"), CASES, ids=IDS)
def test_gradients_flow_through_a_carried_state(arch, kw):
    # Truncated backpropagation: the second chunk starts from the first's state, detached, with
    # requires_grad so the test sees its gradient too.
    model = _model(arch, **kw).train()
    x, x_mask, time = _sequence(6)
    with torch.no_grad():
        _, state = model.forward_sequence(x[:, :3], x_mask[:, :3], time[:, :3])
    state = {k: v.detach().requires_grad_() for k, v in state.items()}
    y, final = model.forward_sequence(x[:, 3:], x_mask[:, 3:], time[:, 3:], state)
    (y.square().mean() + sum(v.sum() for v in final.values() if v.dtype.is_floating_point) * 1e-3).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert missing == []
    for key, value in state.items():
        if key != "skip.seen":  # a flag, no gradient
            assert value.grad is not None and torch.isfinite(value.grad).all(), key
    # Every carried memory reaches the loss (the max-states and the skip's flag only through rescaling).
    carried = [k for k in state if not k.endswith((".m", "skip.seen"))]
    assert carried and [k for k in carried if state[k].grad.abs().sum() == 0] == []


def test_gradients_from_the_zero_state_are_finite():
    # The empty memories carry m = -inf: the first step must still give finite gradients everywhere.
    model = _model("social_xlstm", head={"last_value": True}).train()
    state = {k: v.clone().requires_grad_() for k, v in model.initial_state(B).items()}
    y, _ = model.forward_sequence(*_sequence(3), state)
    y.sum().backward()
    for key, value in state.items():
        if key != "skip.seen":
            assert value.grad is not None and torch.isfinite(value.grad).all(), key
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def assert_sampled_vds_match_window(model: Forecaster) -> None:
    """forward_sequence on VDs 0, 1, 2, 4 of a 6-VD model equals the windowed forward on them (their subgraph)."""
    nodes = torch.tensor([0, 1, 2, 4])
    x, x_mask, time = _sequence(4, nodes=4)
    with torch.no_grad():
        y_seq, _ = model.forward_sequence(x, x_mask, time, nodes=nodes)
        window = model(x, x_mask, time, nodes=nodes)
    torch.testing.assert_close(y_seq[:, -1], window, **TOL)


def test_sampled_vds_use_their_subgraph():
    assert_sampled_vds_match_window(_model("social_xlstm", nodes=6))


def test_wrong_vd_count_is_refused():
    model = _model("slstm_only")
    x, x_mask, time = _sequence(2, nodes=4)
    with pytest.raises(ValueError, match="x has 4 VDs, the model was built for 5"):
        model.forward_sequence(x, x_mask, time)


def test_source_social_edge_cache_follows_the_weights():
    # Without autograd the source form projects the edges once; a weight change must be seen.
    model = _model("social_xlstm")
    x, x_mask, time = _sequence(3)
    with torch.no_grad():
        cached, _ = model.forward_sequence(x, x_mask, time)
        model.fusion.edge.weight.mul_(1.5)
        changed, _ = model.forward_sequence(x, x_mask, time)
    fresh, _ = model.forward_sequence(x, x_mask, time)  # autograd on: no cache
    torch.testing.assert_close(changed, fresh.detach(), **TOL)
    assert not torch.allclose(changed, cached)


def test_a_window_only_model_says_it_carries_no_state():
    # the streaming forecaster then refuses state mode with a message and runs window mode (auto)
    assert not _model("stid").supports_state

"""social.placement 'between': social layers between the sLSTM blocks, windowed and recurrent forms, options.

fp64 as in test_step.py, so 1e-5 is a statement about the equations: the windowed forward runs the
between-layers' parallel (target) or per-step (source) form and the conv without history, the recurrent
form every layer's step form and the conv with its carried inputs.
"""

from __future__ import annotations

import pytest
import torch
from test_step import (  # same small model, graph and inputs (this folder is on sys.path)
    TOL,
    _model,
    _sequence,
    assert_sampled_vds_match_window,
)

from social_xlstm.data.info import DataInfo
from social_xlstm.network import build_network
from social_xlstm.nn import ModelConfig
from social_xlstm.nn.config import ModelConfigError
from social_xlstm.nn.interleaved import InterleavedEncoder
from social_xlstm.options import init_fields

BETWEEN = {"placement": "between"}
CASES = {
    "source": {"encoder": {"layers": 3}, "social": BETWEEN},
    "target": {"encoder": {"layers": 2}, "social": {**BETWEEN, "form": "target"}},
    "mlp-no-edges-skip": {
        "encoder": {"layers": 2, "conv_kernel": 2},
        "social": {**BETWEEN, "edge_gate": "mlp", "edge_features": False},
        "head": {"last_value": True},
    },
    "context-all": {"encoder": {"layers": 2}, "social": {**BETWEEN, "context": "all", "edge_gate": "mlp"}},
}


def _between(case: str, nodes: int = 5):
    kw = {key: dict(value) for key, value in CASES[case].items()}
    model = _model("social_xlstm", nodes=nodes, **kw)
    with torch.no_grad():  # off the zero-initialised branches (mlp output layer), so every part counts
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(("steps", "nodes"), [(6, 5), (1, 5), (3, 1)])
def test_forward_sequence_from_zero_state_equals_forward(case, steps, nodes):
    model = _between(case, nodes)
    assert isinstance(model.encoder, InterleavedEncoder) and model.supports_state
    x, x_mask, time = _sequence(steps, nodes)
    with torch.no_grad():
        y_seq, state = model.forward_sequence(x, x_mask, time)
        window = model(x, x_mask, time)
    assert y_seq.shape == (2, steps, 3, nodes, 2) and window.shape == (2, 3, nodes, 2)
    torch.testing.assert_close(y_seq[:, -1], window, **TOL)
    assert set(state) == set(model.initial_state(2, nodes))


@pytest.mark.parametrize("case", ["source", "target"])
def test_steps_continue_the_sequence(case):
    # forward_sequence over 5 steps == 2 steps, then 3 steps one tick at a time from the carried state
    model = _between(case)
    x, x_mask, time = _sequence(5)
    with torch.no_grad():
        whole, _ = model.forward_sequence(x, x_mask, time)
        _, state = model.forward_sequence(x[:, :2], x_mask[:, :2], time[:, :2])
        ticks = []
        for t in range(2, 5):
            y, state = model.step(x[:, t], x_mask[:, t], time[:, t], state)
            ticks.append(y)
    torch.testing.assert_close(torch.stack(ticks, 1), whole[:, 2:], **TOL)


@pytest.mark.parametrize("case", ["source", "target"])
def test_sampled_vds_use_their_subgraph(case):
    assert_sampled_vds_match_window(_between(case, nodes=6))


def test_between_adds_one_social_layer_per_block_but_the_last_and_they_change_the_output():
    model = _between("source")  # 3 blocks: 2 layers between, the fusion after the last
    assert len(model.encoder.social) == 2
    assert all(layer.context == "all" for layer in model.encoder.social) and model.fusion.context == "last"
    x, x_mask, time = _sequence(4)
    with torch.no_grad():
        y = model(x, x_mask, time)
        # A between-layer whose output projection is 0 is the identity (residual): the stack is then the
        # placement 'last' model with the same blocks, fusion and head.
        for layer in model.encoder.social:
            layer.out_proj.weight.zero_()
            layer.out_proj.bias.zero_()
        bypassed = model(x, x_mask, time)
        last = _model("social_xlstm", encoder={"layers": 3})
        own = {k.replace("encoder.temporal.", "encoder."): v for k, v in model.state_dict().items()}
        last.load_state_dict({k: v for k, v in own.items() if not k.startswith("encoder.social.")})
        plain = last(x, x_mask, time)
    torch.testing.assert_close(bypassed, plain, rtol=1e-12, atol=1e-12)
    assert (y - plain).abs().max() > 1e-3


def test_between_layers_train():
    model = _between("target").train()
    y, _ = model.forward_sequence(*_sequence(3))
    y.square().mean().backward()
    grads = {name: p.grad for name, p in model.named_parameters() if name.startswith("encoder.social.")}
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert all(g.abs().sum() > 0 for name, g in grads.items() if "out_norm" not in name), grads.keys()


def test_placement_last_and_other_archs_keep_their_parameters():
    default = set(_model("social_xlstm").state_dict())
    assert set(_model("social_xlstm", social={"placement": "last"}).state_dict()) == default
    for arch in ("slstm_pool", "slstm_only", "lstm", "gru_gcn"):  # social.* is ignored, as documented
        assert set(_model(arch, social=BETWEEN).state_dict()) == set(_model(arch).state_dict()), arch


def test_between_needs_two_blocks():
    with pytest.raises(ModelConfigError, match=r"social.placement='between'.*encoder.layers >= 2, got 1"):
        ModelConfig(encoder={"layers": 1}, social=BETWEEN)
    ModelConfig(arch="slstm_pool", encoder={"layers": 1}, social=BETWEEN)  # ignored there


def test_options_round_trip_through_the_saved_hyper_parameters():
    # A checkpoint keeps init_fields(model) and rebuilds with ModelConfig(**...) + build_network
    # (checkpoint.load_network): the options must come back and the weights must fit.
    social = {"placement": "between", "edge_gate": "mlp", "edge_features": False, "heads": 2}
    config = ModelConfig(d_model=8, dropout=0.0, encoder={"heads": 2, "layers": 2}, social=social)
    info = DataInfo(
        vd_ids=["a", "b", "c"],
        variables=["flow", "speed"],
        targets=["flow"],
        mean=[0, 0],
        std=[1, 1],
        edge_index=[[0, 0], [1, 1], [2, 2], [0, 1], [1, 2]],
        edge_attr=[[1.0, 0.5], [1.0, 0.5], [1.0, 0.5], [2.0, -1.0], [3.0, 1.0]],
        edge_attr_names=["distance", "road_offset"],
        freq_minutes=5,
        horizon=2,
    )
    saved = init_fields(config)
    assert {k: saved["social"][k] for k in ("placement", "edge_gate", "edge_features")} == {
        "placement": "between",
        "edge_gate": "mlp",
        "edge_features": False,
    }
    torch.manual_seed(0)
    net = build_network(config, info)
    again = build_network(ModelConfig(**saved), info)
    again.load_state_dict(net.state_dict())  # strict: same parameters and buffers
    assert isinstance(again.encoder, InterleavedEncoder) and again.fusion.edge is None
    old = dict(saved, social={k: v for k, v in saved["social"].items() if k in ("form", "heads")})
    assert ModelConfig(**old).social.placement == "last"  # a checkpoint from before the options

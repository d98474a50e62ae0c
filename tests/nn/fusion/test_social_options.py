"""The social layer's edge options, both forms: the mlp edge gate and the edge-feature ablation; bad values.

The hand-written 4-node graph of ``test_social.py`` plus VD 4 with only its self loop (as the robustness tests).
"""

from __future__ import annotations

import pytest
import torch
from test_social_robustness import ATTR5, FORMS, INDEX5  # (pytest puts this folder on sys.path)

from social_xlstm.nn import ModelConfig
from social_xlstm.nn.config import ModelConfigError
from social_xlstm.nn.fusion.edge_gate import EdgeMLP, edge_projection

CONTEXTS = ["last", "all"]


def _layer(form: str, attr=ATTR5, seed: int = 0, **kwargs):
    torch.manual_seed(seed)
    return FORMS[form](8, INDEX5, attr, 5, heads=2, head_dim=3, **kwargs).double()


def _states(seed: int = 1):
    return torch.randn(2, 4, 5, 8, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_mlp_gate_starts_as_the_linear_gate(form, context):
    linear = _layer(form, context=context)
    mlp = _layer(form, context=context, edge_gate="mlp")
    assert isinstance(mlp.edge, EdgeMLP)
    assert (mlp.edge.out.weight == 0).all() and (mlp.edge.out.bias == 0).all()
    # With the linear layer's weights (the MLP's own left as initialised), the same numbers.
    missing, unexpected = mlp.load_state_dict(linear.state_dict(), strict=False)
    assert sorted(missing) == ["edge.hidden.bias", "edge.hidden.weight", "edge.out.bias", "edge.out.weight"]
    assert unexpected == []
    h = _states()
    torch.testing.assert_close(mlp(h), linear(h), rtol=0, atol=0)
    out, _ = mlp.forward_state(h, mlp.initial_state(2, 5))
    want, _ = linear.forward_state(h, linear.initial_state(2, 5))
    torch.testing.assert_close(out, want, rtol=0, atol=0)


@pytest.mark.parametrize("form", FORMS)
def test_mlp_gate_trains_and_is_not_linear(form):
    layer = _layer(form, edge_gate="mlp")
    layer(_states()).square().sum().backward()
    assert layer.edge.out.weight.grad.abs().sum() > 0  # from zero, the MLP part moves at the first step
    with torch.no_grad():
        layer.edge.out.weight.normal_()
        e = torch.randn(7, ATTR5.shape[1], dtype=torch.float64)
        # edge(a + b) - edge(a) - edge(b) + edge(0) vanishes for any linear map, bias or not
        a, b = e[:3], e[3:6]
        gap = layer.edge(a + b) - layer.edge(a) - layer.edge(b) + layer.edge(torch.zeros_like(a))
    assert gap.abs().max() > 1e-3


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("context", CONTEXTS)
def test_without_edge_features_the_features_do_not_matter(form, context):
    other = torch.randn(ATTR5.shape, generator=torch.Generator().manual_seed(2), dtype=ATTR5.dtype) * 5
    h = _states()
    ablated = _layer(form, context=context, edge_features=False)
    assert ablated.edge is None and ablated.edge_dim == 0
    torch.testing.assert_close(
        ablated(h), _layer(form, attr=other, context=context, edge_features=False)(h), rtol=0, atol=0
    )
    # with them (the control), the same change of the features moves the output
    with torch.no_grad():
        pair = [_layer(form, attr=attr, context=context) for attr in (ATTR5, other)]
        for layer in pair:
            layer.edge.weight.add_(0.5)  # the input-gate rows start at 0: give the features a say in both parts
    assert (pair[0](h) - pair[1](h)).abs().max() > 1e-3


def test_source_form_reads_every_step_on_sampled_vds():
    # context 'all' on the sorted ids of every VD is the layer on the whole graph; on a sample it runs
    # (the between-layers need it when training on sampled VDs).
    layer = _layer("source", context="all", edge_gate="mlp")
    h = _states()
    torch.testing.assert_close(layer(h, torch.arange(5)), layer(h), rtol=1e-12, atol=1e-12)
    sampled = layer(h[:, :, [0, 1, 2]], torch.tensor([0, 1, 2]))
    assert sampled.shape == (2, 4, 3, 8) and torch.isfinite(sampled).all()


@pytest.mark.parametrize(
    ("social", "message"),
    [
        ({"placement": "everywhere"}, "social.placement='everywhere'; valid values: last, between"),
        ({"edge_gate": "deep"}, "social.edge_gate='deep'; valid values: linear, mlp"),
    ],
)
def test_bad_option_values_name_the_option_and_the_valid_values(social, message):
    with pytest.raises(ModelConfigError, match=message):
        ModelConfig(social=social)


def test_unknown_edge_projection_is_refused():
    with pytest.raises(ValueError, match="unknown edge_gate 'deep'; valid: linear, mlp"):
        edge_projection(6, 10, "deep")

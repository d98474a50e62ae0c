"""Both social-layer forms: extreme gates, neighbour order, isolated VDs, locality and outages.

The 4-node graph of ``test_social.py`` plus a fifth VD with only its self loop (no neighbours).
"""

from __future__ import annotations

import pytest
import torch
from test_social import EDGE_ATTR, EDGE_INDEX  # the hand-written graph (pytest puts this folder on sys.path)

from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape
from social_xlstm.nn.fusion import SocialMLSTM, SourceSocialMLSTM

# VD 4 reads only itself and nobody reads it.
INDEX5 = torch.cat([EDGE_INDEX, torch.tensor([[4], [4]])], 1)
ATTR5 = torch.cat([EDGE_ATTR, torch.zeros(1, 2)])
FORMS = {"target": SocialMLSTM, "source": SourceSocialMLSTM}


def _layer(form: str, seed: int = 0, index=INDEX5, attr=ATTR5, **kwargs):
    torch.manual_seed(seed)
    layer = FORMS[form](8, index, attr, int(index.max()) + 1, heads=2, head_dim=3, **kwargs).double()
    with torch.no_grad():  # off the structured initialisation
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


def _set_gate_biases(layer, input_bias: float, forget_bias: float) -> None:
    channels, heads = layer.heads * layer.head_dim, layer.heads
    with torch.no_grad():
        layer.source.bias[2 * channels : 2 * channels + heads] = input_bias
        layer.source.bias[2 * channels + heads :] = forget_bias


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("input_bias", "forget_bias"), [(50.0, 50.0), (50.0, -50.0), (-50.0, 50.0), (-50.0, -50.0)])
def test_gate_preactivations_of_50_stay_finite_in_fp32(form, input_bias, forget_bias):
    layer = _layer(form, context="all")
    _set_gate_biases(layer, input_bias, forget_bias)
    h = torch.randn(2, 6, 5, 8, dtype=torch.float64)
    want = layer(h)
    got = layer.float()(h.float())
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("form", FORMS)
def test_parallel_and_recurrent_forms_agree_to_1e5_over_a_sequence(form):
    layer = _layer(form, seed=3)  # context "last": the parallel (training) form
    h = torch.randn(2, 24, 5, 8, dtype=torch.float64)
    state = None
    for t in range(h.shape[1]):
        out, state = layer.step(h[:, t], state)
    torch.testing.assert_close(out, layer(h), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", FORMS)
def test_invariant_to_neighbour_order(form):
    layer = _layer(form, seed=4)
    perm = torch.randperm(INDEX5.shape[1], generator=torch.Generator().manual_seed(1))
    shuffled = FORMS[form](8, INDEX5[:, perm], ATTR5[perm], 5, heads=2, head_dim=3).double()
    shuffled.load_state_dict({k: v for k, v in layer.state_dict().items() if not k.startswith("nbr_")}, strict=False)
    h = torch.randn(2, 5, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(shuffled(h), layer(h), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("form", FORMS)
def test_a_vd_reads_exactly_its_in_neighbours(form):
    """Changing one VD's states moves the outputs of the VDs it feeds, and of no other."""
    layer = _layer(form, seed=5)
    h = torch.randn(1, 5, 5, 8, dtype=torch.float64)
    base = layer(h)  # (B, N, D)
    readers = {0: {0, 1, 2}, 1: {1, 2}, 2: {2, 3}, 3: {3, 0}, 4: {4}}  # src -> dsts of INDEX5
    for src, dsts in readers.items():
        moved = h.clone()
        moved[:, :, src] += torch.randn(1, 5, 8, dtype=torch.float64)  # not a constant: LayerNorm drops those
        changed = {i for i in range(5) if not torch.allclose(layer(moved)[:, i], base[:, i], atol=1e-12)}
        assert changed == dsts, src


@pytest.mark.parametrize("form", FORMS)
def test_vd_without_neighbours_reads_its_own_memory(form):
    """VD 4 (self loop only) gets the same output as in a graph that is just itself."""
    layer = _layer(form, seed=6)
    alone = FORMS[form](8, torch.tensor([[0], [0]]), torch.zeros(1, 2), 1, heads=2, head_dim=3).double()
    alone.load_state_dict({k: v for k, v in layer.state_dict().items() if not k.startswith("nbr_")}, strict=False)
    h = torch.randn(2, 5, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(layer(h)[:, 4:], alone(h[:, :, 4:]), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("form", FORMS)
def test_outages_and_masked_readings_give_finite_forecasts(form):
    """A VD missing its whole window, another missing every other reading: every forecast is a number."""
    config = ModelConfig(
        "social_xlstm", d_model=8, dropout=0.0, encoder={"layers": 1, "heads": 2}, social={"form": form, "heads": 2}
    )
    torch.manual_seed(0)
    net = Forecaster(config, NetworkShape(5, 2, 2, 3, INDEX5, ATTR5)).eval()
    x = torch.randn(2, 6, 5, 2)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[:, :, 1] = False  # outage: VD 1 reports nothing in the window (its neighbours 2 read it)
    mask[:, ::2, 3] = False  # VD 3 misses every other reading
    x = torch.where(mask, x, 0.0)  # missing readings arrive as 0 with their mask (data/windows.py)
    y = net(x, mask, torch.randn(2, 6, 4))
    assert y.shape == (2, 3, 5, 2) and torch.isfinite(y).all()

"""The accuracy issue's model options: learned calendar tables, the network-wide read, the STID encoder."""

from __future__ import annotations

import math

import pytest
import torch

from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape
from social_xlstm.nn.calendar import decode_calendar
from social_xlstm.nn.config import ModelConfigError
from social_xlstm.nn.embedding import InputEmbedding
from social_xlstm.nn.mlp_encoder import WindowMLPEncoder

N, B, W, F, H, O = 6, 2, 5, 2, 3, 2


def _graph():
    src = torch.arange(N)
    edge_index = torch.cat([torch.stack([src, src]), torch.stack([src, (src + 1) % N])], 1)
    return edge_index, torch.rand(edge_index.shape[1], 1)


def _calendar_time(steps: int, start_slot: int = 100) -> torch.Tensor:
    """(B, W, 4) sin/cos features of 5-minute slots on a Wednesday (weekday 2)."""
    slot = torch.arange(start_slot, start_slot + steps, dtype=torch.float64)
    tod = slot / 288
    week = (2 + tod) / 7
    feats = torch.stack(
        [torch.sin(2 * math.pi * tod), torch.cos(2 * math.pi * tod), torch.sin(2 * math.pi * week),
         torch.cos(2 * math.pi * week)], -1)  # fmt: skip
    return feats.float()[None].expand(B, -1, -1)


def _model(**kw) -> Forecaster:
    torch.manual_seed(0)
    config = ModelConfig(d_model=16, encoder={"heads": 2}, social={"heads": 2, **kw.pop("social", {})}, **kw)
    return Forecaster(config, NetworkShape(N, F, O, H, *_graph(), window=W)).eval()


def _batch():
    gen = torch.Generator().manual_seed(3)
    x_mask = torch.rand(B, W, N, F, generator=gen) > 0.2
    return torch.randn(B, W, N, F, generator=gen) * x_mask, x_mask, _calendar_time(W)


def test_sincos_embedding_keeps_its_parameters_and_values():
    torch.manual_seed(0)
    plain = InputEmbedding(F, N, 8, 4)
    torch.manual_seed(0)
    sincos = InputEmbedding(F, N, 8, 4, calendar="sincos")
    assert sincos.state_dict().keys() == {
        "value_proj.weight", "value_proj.bias", "time_proj.weight", "vd_table.weight", "vd_proj.weight"
    }  # fmt: skip
    for name, value in plain.state_dict().items():
        assert torch.equal(value, sincos.state_dict()[name]), name


@pytest.mark.parametrize("mode", ["learned", "both"])
def test_learned_calendar_adds_the_slot_and_weekday_rows(mode):
    torch.manual_seed(0)
    layer = InputEmbedding(F, N, 8, 4, calendar=mode, slots_per_day=288)
    x, x_mask, time = _batch()
    slot, weekday = decode_calendar(time, 288)
    assert slot[0].tolist() == list(range(100, 100 + W)) and weekday.unique().tolist() == [2]
    expected_calendar = layer.calendar.slot_table(slot) + layer.calendar.weekday_table(weekday)  # (B, W, D)
    if mode == "both":
        expected_calendar = expected_calendar + time @ layer.time_proj.weight.T
    else:
        assert layer.time_proj is None
    values = layer.value_proj(torch.cat([x, x_mask.float()], -1))  # (B, W, N, D)
    identity = layer.vd_proj(layer.vd_table(torch.arange(N)))  # (N, D)
    torch.testing.assert_close(layer(x, x_mask, time), values + expected_calendar[:, :, None] + identity)


def test_an_unknown_calendar_mode_is_a_config_error():
    with pytest.raises(ModelConfigError, match="embedding.calendar='hourly'.*sincos, learned, both"):
        ModelConfig(embedding={"calendar": "hourly"})


def test_global_read_starts_as_the_model_without_it_then_learns():
    x, x_mask, time = _batch()
    without, with_read = _model(), _model(social={"global_read": True})
    assert with_read.global_read is not None and without.global_read is None
    # created last and zero-initialised: the same random numbers elsewhere, the same forecasts at first
    torch.testing.assert_close(with_read(x, x_mask, time), without(x, x_mask, time))
    with torch.no_grad():
        with_read.global_read.out_proj.weight.normal_()
    changed = with_read(x, x_mask, time)
    assert (changed - without(x, x_mask, time)).abs().max() > 1e-3
    # a VD's forecast now depends on a VD that is no road neighbour of it (0 reads only 5 and itself)
    x2 = x.clone()
    x2[:, :, 3] += 1.0
    assert (with_read(x2, x_mask, time)[:, :, 0] - changed[:, :, 0]).abs().max() > 1e-5
    assert (without(x2, x_mask, time)[:, :, 0] - without(x, x_mask, time)[:, :, 0]).abs().max() == 0


def test_global_read_is_ignored_by_models_without_the_social_layer():
    assert _model(arch="slstm_pool", social={"global_read": True}).global_read is None


def test_stid_encoder_equation():
    torch.manual_seed(0)
    enc = WindowMLPEncoder(d_model=4, window=3, layers=2).eval()
    x = torch.randn(5, 3, 4)
    h = x.reshape(5, 12) @ enc.window_proj.weight.T + enc.window_proj.bias
    for block in enc.blocks:
        first, second = block[0], block[3]
        h = h + torch.relu(h @ first.weight.T + first.bias) @ second.weight.T + second.bias
    out = enc(x)
    assert out.shape == (5, 3, 4)
    torch.testing.assert_close(out[:, -1], h)
    torch.testing.assert_close(out[:, 0], h)  # every step holds the one state
    with pytest.raises(ValueError, match="windows of 3 steps, got 4"):
        enc(torch.randn(5, 4, 4))


def test_stid_forecasts_and_trains():
    model = _model(arch="stid", embedding={"calendar": "learned"}).train()
    x, x_mask, time = _batch()
    y = model(x, x_mask, time)
    assert y.shape == (B, H, N, O)
    y.square().mean().backward()
    assert model.encoder.window_proj.weight.grad.abs().sum() > 0
    assert model.embedding.calendar.slot_table.weight.grad.abs().sum() > 0

"""The calendar embedding: exact slot/weekday decoding, tables that learn, the sincos mode as a Linear."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from social_xlstm.data.timefeatures import time_features
from social_xlstm.nn.calendar import CalendarEmbedding, decode_calendar


@pytest.mark.parametrize(
    ("timezone", "freq", "slots"),
    [("UTC", "5min", 288), ("America/Los_Angeles", "5min", 288), ("Asia/Taipei", "15min", 96), ("UTC", "1min", 1440)],
)
def test_every_slot_of_a_week_decodes_exactly(timezone, freq, slots):
    stamps = pd.date_range("2024-03-04", periods=7 * slots, freq=freq, tz=timezone).tz_convert("UTC")
    feats = torch.from_numpy(time_features(stamps, timezone))  # float32, as the models get them
    slot, weekday = decode_calendar(feats, slots)
    local = stamps.tz_convert(timezone)
    minutes = local.hour * 60 + local.minute
    step = pd.Timedelta(freq).total_seconds() / 60
    assert slot.tolist() == (minutes / step).astype(int).tolist()
    assert weekday.tolist() == local.dayofweek.tolist()


def test_sincos_mode_is_a_linear_map_without_tables():
    torch.manual_seed(0)
    layer = CalendarEmbedding(8, mode="sincos")
    assert layer.slot_table is None and layer.weekday_table is None
    time = torch.randn(2, 3, 4)
    torch.testing.assert_close(layer(time), time @ layer.time_proj.weight.T)


def test_sincos_mode_keeps_the_random_stream_of_a_plain_linear():
    # The input embedding built nn.Linear(4, D, bias=False) in this slot and reset it once more in its own
    # reset_parameters: same seed, same draws, same weights.
    torch.manual_seed(3)
    plain = torch.nn.Linear(4, 8, bias=False)
    plain.reset_parameters()
    plain = plain.weight.clone()
    torch.manual_seed(3)
    assert torch.equal(CalendarEmbedding(8, mode="sincos").time_proj.weight, plain)


@pytest.mark.parametrize("mode", ["learned", "both"])
def test_learned_rows_are_picked_by_the_clock_and_learn(mode):
    torch.manual_seed(1)
    layer = CalendarEmbedding(6, slots_per_day=288, mode=mode, holidays=True)
    stamps = pd.date_range("2024-03-04 07:30", periods=4, freq="5min", tz="UTC")
    time = torch.from_numpy(time_features(stamps, "UTC"))[None]  # (1, 4, 4)
    holiday = torch.tensor([[0, 1, 0, 1]])
    out = layer(time, holiday)
    expected = layer.slot_table.weight[90:94] + layer.weekday_table.weight[0] + layer.holiday_table.weight[holiday[0]]
    if mode == "both":
        expected = expected + time[0] @ layer.time_proj.weight.T
    torch.testing.assert_close(out[0], expected)
    out.sum().backward()
    assert layer.slot_table.weight.grad[90:94].abs().sum() > 0
    assert layer.slot_table.weight.grad[:90].abs().sum() == 0
    assert layer.holiday_table.weight.grad[1].abs().sum() > 0


def test_bad_options_name_themselves():
    with pytest.raises(ValueError, match="calendar mode 'cyclic'.*sincos, learned, both"):
        CalendarEmbedding(4, mode="cyclic")
    with pytest.raises(ValueError, match="slots_per_day"):
        CalendarEmbedding(4, slots_per_day=0, mode="learned")

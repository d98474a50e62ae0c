"""The sampling interval: parsed once, one message form naming where a bad value came from."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import META, DatasetMeta, read_meta
from social_xlstm.errors import DataError, UserError


@pytest.mark.parametrize(
    ("text", "minutes"), [("5min", 5.0), ("15min", 15.0), ("1h", 60.0), ("90s", 1.5), ("1D", 1440.0)]
)
def test_parse_fixed_intervals(text, minutes):
    freq = Freq.parse(text)
    assert (freq.alias, str(freq), freq.minutes) == (text, text, minutes)
    assert freq.delta == pd.Timedelta(minutes=minutes) and freq.ns == freq.delta.value
    assert Freq.parse(freq) is freq


@pytest.mark.parametrize(
    ("text", "problem"),
    [("soon", "is not a fixed pandas frequency"), ("MS", "is not a fixed pandas frequency"),
     (None, "is not a fixed pandas frequency"), ("-5min", "must be a positive interval"),
     ("0min", "must be a positive interval")],
)
def test_bad_values_name_where_they_came_from(text, problem):
    with pytest.raises(UserError, match=f"^--freq {text!r} {problem}") as err:
        Freq.parse(text)
    assert type(err.value) is UserError
    with pytest.raises(DataError, match=f"^ds/dataset.json: 'freq' {text!r} {problem}"):
        Freq.parse(text, "ds/dataset.json: 'freq'", DataError)


def test_from_delta_names_whole_minutes_else_seconds():
    assert Freq.from_delta(pd.Timedelta(minutes=15)) == Freq.parse("15min")
    assert Freq.from_delta(pd.Timedelta(seconds=90)).alias == "90s"


def test_dataset_json_writes_the_alias_and_reads_it_back(tmp_path):
    meta = DatasetMeta("toy", "15min", {"flow": "veh/15min"}, timezone="Asia/Taipei")
    assert meta.freq == Freq.parse("15min")
    raw = json.loads(meta.to_json())
    assert list(raw) == ["name", "freq", "variables", "timezone", "source", "licence", "zero_is_missing"]
    assert raw["freq"] == "15min"
    (tmp_path / META).write_text(meta.to_json())
    assert read_meta(tmp_path) == meta


def test_dataset_json_without_a_usable_freq_is_a_data_error(tmp_path):
    # a null 'freq' used to pass both checks (to_offset(None) is None, Timedelta(None) is NaT)
    for value in (None, "MS", "fast"):
        (tmp_path / META).write_text(json.dumps({"name": "t", "freq": value, "variables": {"flow": ""}}))
        with pytest.raises(DataError, match=rf"dataset.json: 'freq' {value!r} is not a fixed pandas frequency"):
            read_meta(tmp_path)

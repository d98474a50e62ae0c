"""The streaming forecaster against batch ``predict``: a tiny trained model, its test period replayed tick by tick.

Windowed checkpoints are served through the ring buffer and must reproduce ``forecasts.parquet`` at every
issue time both produce; a checkpoint trained in ``data.mode: sequence`` is served by ``step`` and must
reproduce its own batch predict (which runs continuously through the windows). Then the rules: restarts
from a saved state, late/duplicated/off-grid ticks, gaps, VD matching.
"""

from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.demo import config_path
from social_xlstm.errors import UserError
from social_xlstm.experiment import Experiment, load_config
from social_xlstm.forecast.replay import panel_ticks
from social_xlstm.forecast.streaming import StreamError, StreamingForecaster

pytestmark = pytest.mark.slow  # a trained checkpoint and batch predict (about a minute) before the first test

KEYS = ["issue_time", "horizon_step", "vd_id", "variable"]
W, H = 6, 3


def _train(data_dir, root, **data):
    overrides = {
        "data": {"data_dir": str(data_dir), "window": W, "horizon": H, "batch_size": 16, **data},
        "model": {"d_model": 16, "encoder": {"layers": 1, "heads": 2}, "social": {"heads": 2}},
        "trainer": {
            "default_root_dir": str(root),
            "max_epochs": 1,
            "limit_train_batches": 3,
            "limit_val_batches": 1,
            "enable_progress_bar": False,
            "logger": False,
        },
    }
    config = "demo_sequence.yaml" if data.get("mode") == "sequence" else "demo.yaml"
    if data.get("mode") == "sequence":
        overrides["model"]["tbptt"] = {"chunk": 8}
        overrides["data"]["stride"] = 8
    exp = Experiment(load_config(config_path(config), overrides))
    best = exp.fit()
    forecasts = pd.read_parquet(exp.predict(best))
    first = int(exp.datamodule.datasets["test"].starts[0])  # the first test window's first input step
    return best, forecasts, exp.datamodule.panel, first


@pytest.fixture(scope="module")
def windowed(tiny_dataset, tmp_path_factory):
    return _train(tiny_dataset, tmp_path_factory.mktemp("stream_window"))


def _stream(forecaster, panel, first, stop=None):
    return {t: forecaster.update(panel.timestamps[t], readings) for t, readings in panel_ticks(panel, first, stop)}


def _assert_equal_to_batch(frames: dict, batch: pd.DataFrame) -> None:
    streamed = pd.concat(frames.values(), ignore_index=True)
    for frame in (streamed, batch):
        for key in ("vd_id", "variable"):
            frame[key] = frame[key].astype(str)
    merged = batch.merge(streamed, on=KEYS, how="left", suffixes=("_batch", "_stream"))
    assert len(merged) == len(batch) > 0
    assert merged["prediction_stream"].notna().all(), "an issue time of predict was not streamed"
    np.testing.assert_allclose(merged["prediction_stream"], merged["prediction_batch"], rtol=1e-4, atol=1e-4)
    pd.testing.assert_series_equal(merged["target_time_stream"], merged["target_time_batch"], check_names=False)


def test_window_replay_equals_batch_predict(windowed):
    ckpt, batch, panel, first = windowed
    forecaster = StreamingForecaster.from_checkpoint(ckpt)
    assert forecaster.mode == "window" and forecaster.freq == pd.Timedelta("5min")
    frames = _stream(forecaster, panel, first)
    _assert_equal_to_batch(frames, batch)
    # Before W ticks the window's older steps are missing: forecasts, but none that predict makes.
    assert set(frames) == set(range(first, panel.num_steps))
    last = frames[panel.num_steps - 1]
    assert list(last.columns) == [
        "issue_time",
        "target_time",
        "horizon_step",
        "vd_id",
        "variable",
        "prediction",
        "actual",
    ]
    assert len(last) == H * len(forecaster.vd_ids) * len(forecaster.targets) and last["actual"].isna().all()
    assert str(last["issue_time"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(forecaster.latest, last)
    assert forecaster.last_timestamp == panel.timestamps[-1]


def test_sequence_checkpoint_streams_with_state_and_equals_its_batch_predict(tiny_dataset, tmp_path):
    ckpt, batch, panel, first = _train(tiny_dataset, tmp_path, mode="sequence", sequence_length=24)
    forecaster = StreamingForecaster.from_checkpoint(ckpt)
    assert forecaster.mode == "state"
    _assert_equal_to_batch(_stream(forecaster, panel, first), batch)


@pytest.mark.parametrize("mode", ["window", "state"])
def test_save_and_restore_mid_stream_changes_nothing(windowed, mode):
    ckpt, _, panel, first = windowed
    mid, stop = first + 10, first + 20
    whole = _stream(StreamingForecaster.from_checkpoint(ckpt, mode=mode), panel, first, stop)
    before = StreamingForecaster.from_checkpoint(ckpt, mode=mode)
    _stream(before, panel, first, mid)
    buffer = io.BytesIO()
    torch.save(before.state_dict(), buffer)
    buffer.seek(0)
    after = StreamingForecaster.from_checkpoint(ckpt, mode=mode)
    after.load_state_dict(torch.load(buffer, weights_only=True))
    assert after.last_timestamp == before.last_timestamp
    pd.testing.assert_frame_equal(after.latest, whole[mid - 1])
    for t, frame in _stream(after, panel, mid, stop).items():
        pd.testing.assert_frame_equal(frame, whole[t])


def test_state_of_another_mode_is_refused(windowed):
    ckpt = windowed[0]
    state = StreamingForecaster.from_checkpoint(ckpt, mode="state").state_dict()
    with pytest.raises(UserError, match="mode"):
        StreamingForecaster.from_checkpoint(ckpt, mode="window").load_state_dict(state)
    with pytest.raises(UserError, match="not a StreamingForecaster state"):
        StreamingForecaster.from_checkpoint(ckpt).load_state_dict({"x": 1})


def test_late_duplicated_and_off_grid_ticks_raise_and_change_nothing(windowed):
    ckpt, _, panel, first = windowed
    ticks = dict(panel_ticks(panel, first, first + 4))
    ts = panel.timestamps
    reference = _stream(StreamingForecaster.from_checkpoint(ckpt), panel, first, first + 4)
    forecaster = StreamingForecaster.from_checkpoint(ckpt)
    for t in (first, first + 1, first + 2):
        forecaster.update(ts[t], ticks[t])
    with pytest.raises(StreamError, match=re.escape(f"duplicated tick: {ts[first + 2].isoformat()}")):
        forecaster.update(ts[first + 2], ticks[first + 2])
    with pytest.raises(
        StreamError,
        match=re.escape(f"late tick: {ts[first].isoformat()}") + ".*" + re.escape(ts[first + 2].isoformat()),
    ):
        forecaster.update(ts[first], ticks[first])
    off = ts[first + 2] + pd.Timedelta("2min")
    with pytest.raises(StreamError, match="off the 0 days 00:05:00 grid"):
        forecaster.update(off, ticks[first + 3])
    with pytest.raises(StreamError, match="no time zone"):
        forecaster.update(ts[first + 3].tz_localize(None), ticks[first + 3])
    pd.testing.assert_frame_equal(forecaster.update(ts[first + 3], ticks[first + 3]), reference[first + 3])


def _missing(readings: pd.DataFrame) -> pd.DataFrame:
    empty = readings.copy()
    empty.iloc[:, 1:] = np.nan
    return empty


@pytest.mark.parametrize("mode", ["window", "state"])
def test_a_gap_reads_as_missed_all_missing_ticks(windowed, mode):
    ckpt, _, panel, first = windowed
    ticks = dict(panel_ticks(panel, first, first + 12))
    ts = panel.timestamps
    gapped = StreamingForecaster.from_checkpoint(ckpt, mode=mode)
    filled = StreamingForecaster.from_checkpoint(ckpt, mode=mode)
    for t in range(first, first + 3):
        gapped.update(ts[t], ticks[t])
        filled.update(ts[t], ticks[t])
    for t in range(first + 3, first + 5):  # two ticks never arrive at `gapped`
        filled.update(ts[t], _missing(ticks[t]))
    pd.testing.assert_frame_equal(
        gapped.update(ts[first + 5], ticks[first + 5]), filled.update(ts[first + 5], ticks[first + 5])
    )


def test_state_mode_restarts_after_a_gap_longer_than_max_gap(windowed):
    ckpt, _, panel, first = windowed
    ticks = dict(panel_ticks(panel, first, first + 12))
    ts = panel.timestamps
    forecaster = StreamingForecaster.from_checkpoint(ckpt, mode="state", max_gap=2)
    fresh = StreamingForecaster.from_checkpoint(ckpt, mode="state", max_gap=2)
    forecaster.update(ts[first], ticks[first])
    got = forecaster.update(ts[first + 4], ticks[first + 4])  # 3 missed ticks > max_gap
    pd.testing.assert_frame_equal(got, fresh.update(ts[first + 4], ticks[first + 4]))
    # Within max_gap the state carries on: the forecasts differ from a fresh start.
    kept = StreamingForecaster.from_checkpoint(ckpt, mode="state", max_gap=3)
    kept.update(ts[first], ticks[first])
    assert not np.allclose(kept.update(ts[first + 4], ticks[first + 4])["prediction"], got["prediction"])


def test_vds_are_matched_by_id_and_unknown_ones_warned_once(windowed):
    ckpt, _, panel, first = windowed
    ticks = dict(panel_ticks(panel, first, first + 3))
    ts = panel.timestamps
    reference = _stream(StreamingForecaster.from_checkpoint(ckpt), panel, first, first + 3)
    forecaster = StreamingForecaster.from_checkpoint(ckpt)
    for t in range(first, first + 3):
        readings = ticks[t].sample(frac=1.0, random_state=t)  # any row order
        readings = pd.concat([readings, pd.DataFrame({"vd_id": ["NEW-1", "NEW-2"], "flow": [1.0, 2.0]})])
        readings["comment"] = "ignored column"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = forecaster.update(ts[t], readings)
        messages = [str(w.message) for w in caught if "does not know" in str(w.message)]
        assert messages == (
            ["readings of 2 VD(s) the model does not know are ignored (the graph cannot place them): NEW-1, NEW-2"]
            if t == first
            else []
        )
        pd.testing.assert_frame_equal(got, reference[t])


def test_absent_vds_and_columns_are_missing(windowed):
    ckpt, _, panel, first = windowed
    ticks = dict(panel_ticks(panel, first, first + 2))
    ts = panel.timestamps
    dropped = StreamingForecaster.from_checkpoint(ckpt)
    masked = StreamingForecaster.from_checkpoint(ckpt)
    for t in (first, first + 1):
        readings = ticks[t]
        as_nan = readings.copy()
        as_nan.loc[as_nan["vd_id"] == readings["vd_id"].iloc[0], ["flow", "speed"]] = np.nan
        as_nan["speed"] = np.nan
        got = dropped.update(ts[t], readings.iloc[1:].drop(columns="speed"))
        pd.testing.assert_frame_equal(got, masked.update(ts[t], as_nan))


@pytest.mark.parametrize(
    ("readings", "words"),
    [
        (pd.DataFrame({"flow": [1.0]}), "vd_id column"),
        (pd.DataFrame({"vd_id": ["VD-00", "VD-00"], "flow": [1.0, 2.0]}), "more than once: VD-00"),
        (pd.DataFrame({"vd_id": ["VD-00"], "flow": ["fast"]}), "'flow' holds values that are not numbers"),
        (pd.DataFrame({"vd_id": ["VD-01"], "speed": [np.inf]}), "'speed' is infinite for VDs VD-01"),
    ],
)
def test_malformed_readings_raise_stream_error(windowed, readings, words):
    forecaster = StreamingForecaster.from_checkpoint(windowed[0])
    with pytest.raises(StreamError, match=words):
        forecaster.update(pd.Timestamp("2024-03-05T00:00Z"), readings)
    assert forecaster.last_timestamp is None


def test_bad_mode_is_a_user_error(windowed):
    with pytest.raises(UserError, match="unknown streaming mode 'fast'; valid: auto, window, state"):
        StreamingForecaster.from_checkpoint(windowed[0], mode="fast")


def test_the_package_exports_the_streaming_forecaster():
    import social_xlstm.forecast as forecast
    from social_xlstm.forecast.streaming import StreamingForecaster as direct

    assert forecast.StreamingForecaster is direct and issubclass(forecast.StreamError, UserError)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        forecast.Nope  # noqa: B018

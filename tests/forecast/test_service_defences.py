"""One bad request cannot wedge the service: each is refused or defused over real HTTP, and the next valid
tick is answered exactly as an uninterrupted run answers it (docs/service.md, "Limits")."""

from __future__ import annotations

import os
import warnings

import httpx
import pandas as pd
import pytest
import torch

from social_xlstm.cli import main
from social_xlstm.errors import UserError
from social_xlstm.forecast import streaming
from social_xlstm.forecast.service import create_app
from social_xlstm.forecast.service_limits import Limits, limits_from_options
from social_xlstm.forecast.streaming import StreamingForecaster
from tests.forecast.test_service import Server, assert_same_forecasts, checkpoint, payload, ticks  # noqa: F401

NOW = pd.Timestamp("2024-03-04T02:00:00Z")  # the server's clock in these tests: after the replayed ticks


def _app(ckpt, **kw):
    limits = kw.pop("limits", Limits())
    return create_app(StreamingForecaster.from_checkpoint(ckpt), checkpoint=ckpt, limits=limits,
                      clock=lambda: NOW, **kw)  # fmt: skip


def _continue_as_uninterrupted(client, ckpt, replay, first: int, last: int) -> None:
    """Ticks ``first..last-1`` posted now equal a forecaster that saw ticks ``0..last-1`` and nothing else."""
    reference = StreamingForecaster.from_checkpoint(ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [reference.update(ts, readings) for ts, readings in replay[:last]]
    for i in range(first, last):
        reply = client.post("/readings", params={"forecasts": "true"}, json=payload(*replay[i]))
        assert reply.status_code == 200, reply.text
        assert_same_forecasts(reply.json()["forecasts"], expected[i])


@pytest.mark.parametrize(
    ("when", "limits", "status", "words"),
    [
        ("9999-12-31T23:55:00Z", Limits(max_ahead=None), 409, "past the calendar's end"),
        ("9999-12-31T23:55:00Z", Limits(), 422, "ahead of the server clock"),
        ("2099-01-01T00:00:00Z", Limits(), 422, "more than 0 days 01:00:00 ahead of the server clock"),
        ("2024-03-04T01:00:00Z", Limits(max_jump=3), 422, "more than max_jump=3"),
    ],
)
def test_a_tick_out_of_bounds_changes_nothing(checkpoint, ticks, when, limits, status, words):  # noqa: F811
    with Server(_app(checkpoint, limits=limits)) as client:
        for t in ticks[:2]:
            assert client.post("/readings", json=payload(*t)).status_code == 200
        before = client.get("/health").json()
        bad = client.post("/readings", json={"timestamp": when, "readings": payload(*ticks[2])["readings"]})
        assert bad.status_code == status and words in bad.json()["detail"], bad.text
        assert client.get("/health").json() == before  # the clock and the counters did not move
        assert client.get("/forecasts").status_code == 200
        _continue_as_uninterrupted(client, checkpoint, ticks, 2, 5)


def test_implausible_readings_are_missing_counted_and_the_forecasts_stay_finite(checkpoint, ticks):  # noqa: F811
    ts, readings = ticks[2]
    body = payload(ts, readings)
    body["readings"][0]["flow"] = 1e39  # finite JSON, beyond float32
    body["readings"][1]["speed"] = -1e6  # a negative speed
    with Server(_app(checkpoint)) as client:
        for t in ticks[:2]:
            client.post("/readings", json=payload(*t))
        reply = client.post("/readings", params={"forecasts": "true"}, json=body)
        assert reply.status_code == 200, reply.text
        assert reply.json()["implausible"] == {"flow": 1, "speed": 1}
        predictions = [row["prediction"] for row in reply.json()["forecasts"]]
        assert all(p is not None for p in predictions)
        # the same tick with those two readings missing, then the rest: identical forecasts
        cleaned = readings.copy()
        cleaned.loc[0, "flow"] = float("nan")
        cleaned.loc[1, "speed"] = float("nan")
        reference = StreamingForecaster.from_checkpoint(checkpoint)
        expected = [reference.update(*t) for t in [*ticks[:2], (ts, cleaned), *ticks[3:5]]]
        assert_same_forecasts(reply.json()["forecasts"], expected[2])
        for i in (3, 4):
            again = client.post("/readings", params={"forecasts": "true"}, json=payload(*ticks[i]))
            assert_same_forecasts(again.json()["forecasts"], expected[i])


def test_oversized_requests_are_refused_before_they_are_read(checkpoint, ticks):  # noqa: F811
    limits = Limits(max_body=4096, max_readings=50, max_id_length=32)
    with Server(_app(checkpoint, limits=limits)) as client:
        client.post("/readings", json=payload(*ticks[0]))
        huge = {"timestamp": payload(*ticks[1])["timestamp"], "readings": [{"vd_id": f"X{i}"} for i in range(5000)]}
        assert client.post("/readings", json=huge).status_code == 413
        chunked = client.post(  # no Content-Length: counted as it streams in
            "/readings", content=iter([b'{"timestamp": "2024-03-04T00:05:00Z", "readings": [', b" " * 8192]),
            headers={"content-type": "application/json"},
        )  # fmt: skip
        assert chunked.status_code == 413
        many = {**huge, "readings": huge["readings"][:60]}
        reply = client.post("/readings", json=many)
        assert reply.status_code in (413, 422)
        long_id = payload(*ticks[1])
        long_id["readings"][0]["vd_id"] = "V" * 33
        reply = client.post("/readings", json=long_id)
        assert reply.status_code == 422 and "at most 32 characters" in reply.text
        assert client.get("/health").json()["ticks_served"] == 1
        _continue_as_uninterrupted(client, checkpoint, ticks, 1, 3)


def test_too_many_readings_is_422_naming_the_field(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint, limits=Limits(max_readings=8))) as client:
        body = payload(*ticks[0])
        body["readings"] += [{"vd_id": f"X{i}"} for i in range(10)]
        reply = client.post("/readings", json=body)
        assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["body", "readings"]


def test_unknown_ids_are_counted_and_never_stored(checkpoint, ticks, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(streaming, "MAX_WARNED", 100)
    state = tmp_path / "state.pt"
    app = _app(checkpoint, state_path=state)
    body = payload(*ticks[0])
    body["readings"] += [{"vd_id": f"made-up-{i}"} for i in range(3000)]
    with Server(app) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reply = client.post("/readings", json=body).json()
        assert reply["ignored_vd_count"] == 3000 and len(reply["ignored_vds"]) == 20
        _continue_as_uninterrupted(client, checkpoint, ticks, 1, 3)
    saved = torch.load(state, weights_only=True)
    assert len(saved["forecaster"]["warned"]) == 100 and state.stat().st_size < 1_000_000


def test_a_state_file_that_cannot_be_written_is_refused_at_start(checkpoint, tmp_path):  # noqa: F811
    with pytest.raises(UserError, match="does not exist"):
        _app(checkpoint, state_path=tmp_path / "missing" / "state.pt")
    with pytest.raises(UserError, match="is a directory"):
        _app(checkpoint, state_path=tmp_path)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="cannot be written"):
            _app(checkpoint, state_path=locked / "state.pt")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (("soon", None, 32.0), "--max-ahead 'soon' is not a duration"),
        (("1h", 0, 32.0), "--max-jump must be >= 1"),
        (("1h", None, 0.0), "--max-body-mb must be > 0"),
    ],
)
def test_bad_serve_limits_name_the_option(options, words):
    with pytest.raises(UserError, match=words):
        limits_from_options(*options)


def test_serve_with_a_bad_limit_exits_2(checkpoint, capsys):  # noqa: F811
    pytest.importorskip("uvicorn")
    assert main(["serve", "--checkpoint", str(checkpoint), "--port", "0", "--max-ahead", "soon"]) == 2
    assert "--max-ahead 'soon'" in capsys.readouterr().err


def test_none_lifts_the_clock_bound():
    assert limits_from_options("none", None, 1.0).max_ahead is None
    assert limits_from_options("15min", 4, 1.0) == Limits(max_body=2**20, max_ahead=pd.Timedelta("15min"), max_jump=4)
    assert httpx  # the serve extra is installed where these run

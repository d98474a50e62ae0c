"""The service fit to run in operation, over real HTTP: the API key, periodic snapshots a SIGKILL cannot
undo, the batch route for backfills, Prometheus metrics, documented replies, and where it may listen."""

from __future__ import annotations

import resource
import signal
import warnings

import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="the serve extra (in dev) is needed")
pytest.importorskip("httpx", reason="the serve extra (in dev) is needed")

from social_xlstm.cli import main  # noqa: E402
from social_xlstm.errors import UserError  # noqa: E402
from social_xlstm.forecast.service import create_app  # noqa: E402
from social_xlstm.forecast.service_auth import api_key, check_host  # noqa: E402
from social_xlstm.forecast.service_limits import Limits  # noqa: E402
from social_xlstm.forecast.streaming import StreamingForecaster  # noqa: E402
from tests.forecast.test_service import (  # noqa: E402, F401
    ServeProcess,
    Server,
    assert_same_forecasts,
    checkpoint,
    payload,
    ticks,
)

KEY = "k" * 24
NOW = pd.Timestamp("2024-03-04T02:00:00Z")


def _app(ckpt, **kw):
    return create_app(StreamingForecaster.from_checkpoint(ckpt), checkpoint=ckpt, clock=lambda: NOW, **kw)


def _reference(ckpt, replay, last: int) -> list[pd.DataFrame]:
    reference = StreamingForecaster.from_checkpoint(ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [reference.update(ts, readings) for ts, readings in replay[:last]]


def test_the_api_key_guards_every_route_but_health(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint, api_key=KEY)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health").json()["authentication"] is True
        for method, route in (("post", "/readings"), ("get", "/forecasts"), ("get", "/metrics"),
                              ("get", "/openapi.json"), ("post", "/readings/batch")):  # fmt: skip
            reply = getattr(client, method)(route, **({"json": payload(*ticks[0])} if method == "post" else {}))
            assert reply.status_code == 401 and "API key" in reply.json()["detail"], route
            assert reply.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/readings", json=payload(*ticks[0]), headers={"Authorization": f"Bearer {'x' * 24}"})
        assert wrong.status_code == 401
        assert client.get("/health").json()["ticks_served"] == 0  # nothing refused was applied
        bearer = client.post("/readings", json=payload(*ticks[0]), headers={"Authorization": f"Bearer {KEY}"})
        assert bearer.status_code == 200
        header = client.get("/forecasts", headers={"X-API-Key": KEY})
        assert header.status_code == 200 and len(header.json()) == bearer.json()["forecast_rows"]


def test_where_the_service_may_listen_and_the_key_sources(tmp_path):
    check_host("127.0.0.1", None)
    check_host("::1", None)
    check_host("0.0.0.0", KEY)
    with pytest.raises(UserError, match=r"--host 0.0.0.0: without an API key .* 127.0.0.1 only"):
        check_host("0.0.0.0", None)
    (tmp_path / "key").write_text(KEY + "\n")
    assert api_key(tmp_path / "key", environ={}) == KEY
    assert api_key(None, environ={"SOCIAL_XLSTM_API_KEY": KEY}) == KEY and api_key(None, environ={}) is None
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(UserError, match="at least 16 characters"):
        api_key(tmp_path / "short", environ={})
    with pytest.raises(UserError, match="cannot be read"):
        api_key(tmp_path / "missing", environ={})


def test_serve_beyond_loopback_without_a_key_exits_2_before_loading(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SOCIAL_XLSTM_API_KEY", raising=False)
    code = main(["serve", "--checkpoint", str(tmp_path / "absent.ckpt"), "--host", "0.0.0.0", "--port", "0"])
    assert code == 2 and "without an API key" in capsys.readouterr().err


def test_batch_equals_the_same_ticks_posted_one_by_one(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint)) as one, Server(_app(checkpoint)) as many:
        singles = [one.post("/readings", json=payload(*t)).json() for t in ticks[:5]]
        batch = many.post("/readings/batch", json={"ticks": [payload(*t) for t in ticks[:5]]})
        assert batch.status_code == 200 and batch.json()["applied"] == 5
        for single, from_batch in zip(singles, batch.json()["ticks"], strict=True):
            assert {k: v for k, v in single.items() if k != "seconds"} == {
                k: v for k, v in from_batch.items() if k != "seconds"
            }
        assert one.get("/forecasts").json() == many.get("/forecasts").json()
        # a refused tick stops the batch: the ones before it stay applied, the reply says how many
        late = many.post("/readings/batch", json={"ticks": [payload(*ticks[5]), payload(*ticks[0])]})
        assert late.status_code == 409 and late.json()["applied"] == 1 and "tick 1" in late.json()["detail"]
        assert many.get("/health").json()["ticks_served"] == 6
        expected = _reference(checkpoint, ticks, 6)
        assert_same_forecasts(many.get("/forecasts").json(), expected[5])
        assert many.post("/readings/batch", json={"ticks": []}).status_code == 422


def test_batch_size_is_bounded(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint, limits=Limits(max_batch=2))) as client:
        reply = client.post("/readings/batch", json={"ticks": [payload(*t) for t in ticks[:3]]})
        assert reply.status_code == 422 and reply.json()["detail"][0]["loc"] == ["body", "ticks"]
        assert client.get("/health").json()["ticks_served"] == 0


def test_metrics_count_ticks_refusals_latency_and_forecast_age(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint)) as client:
        assert "social_xlstm_forecast_age_seconds NaN" in client.get("/metrics").text
        for t in ticks[:3]:
            assert client.post("/readings", json=payload(*t)).status_code == 200
        assert client.post("/readings", json=payload(*ticks[0])).status_code == 409
        assert client.post("/readings", json={"timestamp": "soon"}).status_code == 422
        text = client.get("/metrics").text
    assert "social_xlstm_ticks_accepted_total 3" in text
    assert 'social_xlstm_ticks_refused_total{reason="late_or_duplicate"} 1' in text
    assert 'social_xlstm_ticks_refused_total{reason="invalid_or_beyond_limits"} 1' in text
    assert 'social_xlstm_tick_seconds_bucket{le="+Inf"} 3' in text and "social_xlstm_tick_seconds_count 3" in text
    (age_line,) = [line for line in text.splitlines() if line.startswith("social_xlstm_forecast_age_seconds ")]
    age = float(age_line.split()[1])
    assert 0 <= age < 60


def test_the_openapi_page_documents_the_replies(checkpoint):  # noqa: F811
    with Server(_app(checkpoint)) as client:
        spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"TickReply", "BatchReply", "HealthReply", "ForecastRow"} <= set(schemas)
    assert "ticks_served" in schemas["TickReply"]["properties"] and "/readings/batch" in spec["paths"]
    assert "/metrics" in spec["paths"]


@pytest.mark.slow
def test_a_sigkill_between_snapshots_loses_at_most_n_ticks(checkpoint, ticks, tmp_path):  # noqa: F811
    state = tmp_path / "state.pt"
    server = ServeProcess(checkpoint, state, "--snapshot-every", "2")
    with server as client:
        for t in ticks[:5]:
            assert client.post("/readings", json=payload(*t)).status_code == 200
        server.proc.send_signal(signal.SIGKILL)  # no shutdown: only the periodic snapshots survive
        server.proc.wait(30)
    server = ServeProcess(checkpoint, state, "--snapshot-every", "2")
    with server as client:
        health = client.get("/health").json()
        assert health["ticks_served"] == 4 and health["snapshot_every"] == 2  # the 5th tick was lost, no more
        expected = _reference(checkpoint, ticks, 7)
        for i in (4, 5, 6):  # the feed re-sends from the last tick the service holds: identical continuation
            reply = client.post("/readings", params={"forecasts": "true"}, json=payload(*ticks[i]))
            assert reply.status_code == 200, reply.text
            assert_same_forecasts(reply.json()["forecasts"], expected[i])
        server.stop(signal.SIGTERM)


def test_an_oversized_body_is_refused_without_the_memory_growing(checkpoint, ticks):  # noqa: F811
    with Server(_app(checkpoint, limits=Limits(max_body=1 << 20))) as client:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        chunks = (b" " * (1 << 20) for _ in range(256))  # 256 MiB streamed, no Content-Length
        reply = client.post("/readings", content=chunks, headers={"content-type": "application/json"})
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert reply.status_code == 413
    assert grown_mb < 64, f"peak memory grew {grown_mb:.0f} MB for a refused 256 MiB body"

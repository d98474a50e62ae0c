"""The forecast service end to end: uvicorn on 127.0.0.1, a real HTTP client, a tiny trained checkpoint.

Every forecast the service returns is compared with a second :class:`StreamingForecaster` loaded from the
same checkpoint and fed the same ticks directly: the service adds transport, never numbers.
"""

import math
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

httpx = pytest.importorskip("httpx", reason="the serve extra (in dev) is needed")
uvicorn = pytest.importorskip("uvicorn", reason="the serve extra (in dev) is needed")
pytest.importorskip("fastapi", reason="the serve extra (in dev) is needed")

from social_xlstm.cli import main  # noqa: E402
from social_xlstm.data.datamodule import TrafficDataModule  # noqa: E402
from social_xlstm.errors import UserError  # noqa: E402
from social_xlstm.forecast.service import create_app  # noqa: E402
from social_xlstm.forecast.service_run import bind  # noqa: E402
from social_xlstm.forecast.streaming import StreamingForecaster  # noqa: E402
from tests.conftest import train_tiny_checkpoint  # noqa: E402

COLUMNS = ["issue_time", "target_time", "horizon_step", "vd_id", "variable", "prediction", "actual"]
TICKS = 10
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A 2-step-trained model of the tiny dataset (weights just off their initial values)."""
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=8)
    return train_tiny_checkpoint(dm, tmp_path_factory.mktemp("serve") / "model.ckpt")


@pytest.fixture(scope="module")
def ticks(tiny_dataset) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    """The first TICKS time steps of the tiny dataset, one reading frame each (a few readings missing)."""
    obs = pd.read_parquet(tiny_dataset / "observations.parquet")
    obs["timestamp"] = pd.to_datetime(obs["timestamp"], utc=True)
    obs["vd_id"] = obs["vd_id"].astype(str)
    out = []
    for ts, group in obs.groupby("timestamp", sort=True):
        out.append((ts, group.drop(columns="timestamp").reset_index(drop=True)))
        if len(out) == TICKS:
            break
    return out


def payload(ts: pd.Timestamp, readings: pd.DataFrame, tz: str = "Asia/Taipei") -> dict:
    """A POST /readings body; the timestamp in local time with its offset, NaN readings left out."""
    rows = []
    for rec in readings.to_dict("records"):
        rows.append({k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))})
    return {"timestamp": ts.tz_convert(tz).isoformat(), "readings": rows}


def records_frame(records: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=COLUMNS)
    for col in ("issue_time", "target_time"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def assert_same_forecasts(records: list[dict], expected: pd.DataFrame) -> None:
    got = records_frame(records)
    expected = expected.reset_index(drop=True)
    assert len(got) == len(expected)
    for col in ("issue_time", "target_time"):
        assert (got[col] == pd.to_datetime(expected[col], utc=True)).all(), col
    assert (got["horizon_step"].to_numpy() == expected["horizon_step"].to_numpy()).all()
    for col in ("vd_id", "variable"):
        assert got[col].tolist() == expected[col].astype(str).tolist(), col
    # JSON carries 15 significant digits: float32 predictions come back exactly, float64 to 1e-15.
    np.testing.assert_allclose(got["prediction"].astype(float), expected["prediction"].astype(float), rtol=1e-13)
    assert got["actual"].isna().all() and expected["actual"].isna().all()


class Server:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a thread, for a ``with`` block."""

    def __init__(self, app):
        self.sock = bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> httpx.Client:
        self.thread.start()
        for _ in range(200):
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.05)
        assert self.server.started, "uvicorn did not start"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        return self.client

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.server.should_exit = True  # graceful: the lifespan shutdown (snapshot) runs before run() returns
        self.thread.join(30)
        self.sock.close()
        assert not self.thread.is_alive()


@pytest.fixture(scope="module")
def served(checkpoint, ticks):
    """A server that has been posted every tick, the replies, and the reference forecaster's outputs."""
    reference = StreamingForecaster.from_checkpoint(checkpoint)
    app = create_app(StreamingForecaster.from_checkpoint(checkpoint), checkpoint=checkpoint)
    with Server(app) as client:
        replies = [client.post("/readings", params={"forecasts": "true"}, json=payload(*t)) for t in ticks]
        expected = [reference.update(ts, readings) for ts, readings in ticks]
        yield client, replies, expected


def test_posted_ticks_forecast_what_update_returns(served, ticks):
    client, replies, expected = served
    for i, (reply, frame) in enumerate(zip(replies, expected, strict=True)):
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["ticks_served"] == i + 1
        assert body["readings"] == len(ticks[i][1])
        assert body["forecast_rows"] == len(frame)
        assert pd.Timestamp(body["issue_time"]) == ticks[i][0]
        assert_same_forecasts(body["forecasts"], frame)
    latest = client.get("/forecasts")
    assert latest.status_code == 200
    assert_same_forecasts(latest.json(), expected[-1])


def test_reply_without_forecasts_is_a_summary_naming_ignored_vds(checkpoint, ticks):
    reference = StreamingForecaster.from_checkpoint(checkpoint)
    app = create_app(StreamingForecaster.from_checkpoint(checkpoint))
    ts, readings = ticks[0]
    with_stranger = pd.concat([readings, pd.DataFrame({"vd_id": ["VD-77"], "flow": [50.0]})], ignore_index=True)
    with Server(app) as client:
        assert client.get("/forecasts").status_code == 404  # nothing forecast yet
        body = client.post("/readings", json=payload(ts, with_stranger)).json()
        latest = client.get("/forecasts").json()
    assert "forecasts" not in body and body["ticks_served"] == 1
    assert body["ignored_vds"] == ["VD-77"] and body["readings"] == len(with_stranger)
    with pytest.warns(UserWarning, match="VD-77"):
        expected = reference.update(ts, with_stranger)
    assert body["forecast_rows"] == len(expected)
    assert_same_forecasts(latest, expected)


def test_forecast_filters(served):
    client, _, expected = served
    last = expected[-1]
    vds = sorted(last["vd_id"].astype(str).unique())[:2]
    reply = client.get("/forecasts", params={"vd_id": vds, "horizon": [1, 3], "variable": "flow"})
    assert reply.status_code == 200
    keep = last["vd_id"].astype(str).isin(vds) & last["horizon_step"].isin([1, 3]) & (last["variable"] == "flow")
    assert keep.sum() == 2 * 2  # two VDs, two horizon steps, one variable
    assert_same_forecasts(reply.json(), last[keep])


@pytest.mark.parametrize(
    "params, loc",
    [
        ({"vd_id": "VD-99"}, ["query", "vd_id"]),
        ({"horizon": 4}, ["query", "horizon"]),  # the tiny model forecasts 3 steps
        ({"horizon": 0}, ["query", "horizon"]),
        ({"horizon": "1h"}, ["query", "horizon", 0]),
        ({"variable": "occupancy"}, ["query", "variable"]),
    ],
)
def test_bad_filters_are_422_naming_the_parameter(served, params, loc):
    client, _, _ = served
    reply = client.get("/forecasts", params=params)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == loc


def test_health(served, ticks, checkpoint):
    client, _, _ = served
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["checkpoint"] == str(checkpoint)
    assert health["model"]
    assert health["ticks_served"] == TICKS
    assert pd.Timestamp(health["last_timestamp"]) == ticks[-1][0]
    assert health["vds"] == 5 and health["variables"] == ["flow", "speed"]


def _tick(readings, timestamp="2024-03-04T09:00:00+08:00"):
    return {"timestamp": timestamp, "readings": readings}


@pytest.mark.parametrize(
    "body, loc, words",
    [
        (_tick([], timestamp="2024-03-04T09:00:00"), ["body", "timestamp"], "timezone"),
        (_tick([], timestamp="yesterday"), ["body", "timestamp"], "datetime"),
        ({"readings": []}, ["body", "timestamp"], "required"),
        (_tick([{"vd_id": "VD-00", "flw": 1.0}]), ["body", "readings", 0, "flw"], "unknown variable 'flw'"),
        (_tick([{"vd_id": "VD-00", "flow": "NaN"}]), ["body", "readings", 0, "flow"], "number"),
        (_tick([{"vd_id": "VD-00", "flow": "12.5"}]), ["body", "readings", 0, "flow"], "number"),
        (_tick([{"vd_id": "VD-00", "flow": True}]), ["body", "readings", 0, "flow"], "number"),
        (_tick([{"vd_id": "VD-00"}, {"flow": 3.0}]), ["body", "readings", 1, "vd_id"], "required"),
        (_tick([{"vd_id": "VD-00"}, {"vd_id": "VD-00"}]), ["body", "readings"], "twice"),
        (_tick({"vd_id": "VD-00"}), ["body", "readings"], "list"),
        ({**_tick([]), "extra": 1}, ["body", "extra"], "not permitted"),
    ],
)
def test_bad_payload_is_422_naming_the_field(served, body, loc, words):
    client, _, _ = served
    reply = client.post("/readings", json=body)
    assert reply.status_code == 422
    error = reply.json()["detail"][0]
    assert error["loc"] == loc
    assert words in error["msg"].lower() or words in error["msg"]


def test_non_finite_json_literals_are_422(served):
    client, _, _ = served
    for literal in ("NaN", "Infinity", "-Infinity"):
        body = '{"timestamp": "2024-03-04T09:00:00Z", "readings": [{"vd_id": "VD-00", "speed": VALUE}]}'
        body = body.replace("VALUE", literal)
        reply = client.post("/readings", content=body, headers={"content-type": "application/json"})
        assert reply.status_code == 422, literal
        assert reply.json()["detail"][0]["loc"] == ["body", "readings", 0, "speed"]


def test_late_and_duplicate_ticks_are_409_and_change_nothing(checkpoint, ticks):
    reference = StreamingForecaster.from_checkpoint(checkpoint)
    app = create_app(StreamingForecaster.from_checkpoint(checkpoint))
    with Server(app) as client:
        for t in ticks[:3]:
            assert client.post("/readings", json=payload(*t)).status_code == 200
            reference.update(*t)
        for stale in (ticks[2], ticks[0]):  # the same tick again, then one from the past
            reply = client.post("/readings", json=payload(*stale))
            assert reply.status_code == 409
            assert isinstance(reply.json()["detail"], str) and reply.json()["detail"]
        assert client.get("/health").json()["ticks_served"] == 3
        reply = client.post("/readings", params={"forecasts": "true"}, json=payload(*ticks[3]))
        assert_same_forecasts(reply.json()["forecasts"], reference.update(*ticks[3]))


def test_snapshot_on_shutdown_and_restore_continue_identically(checkpoint, ticks, tmp_path):
    state = tmp_path / "state.pt"
    reference = StreamingForecaster.from_checkpoint(checkpoint)
    expected = [reference.update(*t) for t in ticks]
    half = TICKS // 2
    with Server(create_app(StreamingForecaster.from_checkpoint(checkpoint), state, checkpoint=checkpoint)) as c:
        for t in ticks[:half]:
            assert c.post("/readings", json=payload(*t)).status_code == 200
        assert not state.exists()  # written on shutdown only
    assert state.exists()
    with Server(create_app(StreamingForecaster.from_checkpoint(checkpoint), state, checkpoint=checkpoint)) as c:
        health = c.get("/health").json()
        assert health["ticks_served"] == half and health["restored_from"] == str(state)
        assert pd.Timestamp(health["last_timestamp"]) == ticks[half - 1][0]
        assert_same_forecasts(c.get("/forecasts").json(), expected[half - 1])  # the last forecasts survive
        assert c.post("/readings", json=payload(*ticks[half - 1])).status_code == 409  # the restored clock
        for t, frame in zip(ticks[half:], expected[half:], strict=True):
            reply = c.post("/readings", params={"forecasts": "true"}, json=payload(*t))
            assert_same_forecasts(reply.json()["forecasts"], frame)
    assert len(list(tmp_path.glob(".state.pt.*"))) == 0  # no temporary left beside the snapshot


def test_snapshot_of_another_checkpoint_is_refused(checkpoint, ticks, tmp_path):
    state = tmp_path / "state.pt"
    with Server(create_app(StreamingForecaster.from_checkpoint(checkpoint), state, checkpoint=checkpoint)) as c:
        c.post("/readings", json=payload(*ticks[0]))
    other = tmp_path / "other.ckpt"
    ckpt = torch.load(checkpoint, weights_only=False)
    name = next(k for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    ckpt["state_dict"][name] = ckpt["state_dict"][name] + 1.0
    torch.save(ckpt, other)
    with pytest.raises(UserError, match=r"state\.pt.*model\.ckpt.*other\.ckpt"):
        create_app(StreamingForecaster.from_checkpoint(other), state, checkpoint=other)
    (tmp_path / "junk.pt").write_bytes(b"not a snapshot")
    with pytest.raises(UserError, match="junk.pt"):
        create_app(StreamingForecaster.from_checkpoint(checkpoint), tmp_path / "junk.pt", checkpoint=checkpoint)


def test_serve_command_with_a_foreign_snapshot_exits_2(checkpoint, tmp_path, capsys):
    (tmp_path / "state.pt").write_bytes(b"broken")
    code = main(["serve", "--checkpoint", str(checkpoint), "--port", "0", "--state", str(tmp_path / "state.pt")])
    assert code == 2
    err = capsys.readouterr().err
    assert "state.pt" in err and "Traceback" not in err


class ServeProcess:
    """``social-xlstm serve`` in a subprocess on a free port, for a ``with`` block; ``stop(sig)`` its end."""

    def __init__(self, checkpoint: Path, state: Path, *extra: str, env: dict | None = None):
        cmd = [sys.executable, "-m", "social_xlstm", "serve", "--checkpoint", str(checkpoint), "--port", "0"]
        self.proc = subprocess.Popen(
            [*cmd, "--state", str(state), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=REPO,
        )

    def __enter__(self) -> httpx.Client:
        line = self.proc.stdout.readline()
        match = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        self.client = httpx.Client(base_url=match.group(1), timeout=30)
        for _ in range(300):  # the socket is bound before the model loads: requests wait in its backlog
            try:
                self.client.get("/health")
                break
            except httpx.TransportError:
                threading.Event().wait(0.1)
        return self.client

    def stop(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        code = self.proc.wait(60)
        return code, self.proc.stdout.read()

    def __exit__(self, *exc) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()


@pytest.mark.slow
def test_serve_command_snapshots_on_sigint_and_sigterm(checkpoint, ticks, tmp_path):
    """The real command: Ctrl-C exits 0 and SIGTERM by its signal, both after writing the snapshot."""
    state = tmp_path / "state.pt"
    server = ServeProcess(checkpoint, state)
    with server as client:
        assert client.post("/readings", json=payload(*ticks[0])).status_code == 200
        code, output = server.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in output, output
    assert "written to" in output and state.exists()
    server = ServeProcess(checkpoint, state)
    with server as client:
        health = client.get("/health").json()
        assert health["restored_from"] == str(state) and health["ticks_served"] == 1
        assert client.post("/readings", json=payload(*ticks[1])).status_code == 200
        code, output = server.stop(signal.SIGTERM)
    assert code == -signal.SIGTERM and "Traceback" not in output, output
    assert "(2 ticks served) written to" in output

"""The forecast service: one :class:`StreamingForecaster` behind HTTP endpoints (docs/service.md).

    POST /readings        one tick: {"timestamp": ISO-8601 with offset, "readings": [{"vd_id": ..., "flow": ...}]}
    POST /readings/batch  missed ticks in order, for backfilling: {"ticks": [tick, ...]}
    GET  /forecasts       the forecasts of the last tick, filtered by vd_id / horizon (steps) / variable
    GET  /health          model, checkpoint, last timestamp, ticks served (open without the API key)
    GET  /metrics         Prometheus: tick latency, ticks accepted / refused by reason, forecast age

With an API key (:mod:`.service_auth`) every route but ``/health`` needs it (401 otherwise). With
``snapshot_every`` the state is also written every N ticks (atomically), so a SIGKILL loses at most N ticks.

One forecaster per process, its state in memory. Handlers are plain ``def``: FastAPI runs them in its
thread pool, so the torch work of a tick never blocks the event loop, and one lock serialises every use
of the forecaster (a tick is a state transition: two at once would interleave the recurrent state).
The snapshot (``service_state``) is restored here, while the app is built, so that a bad snapshot is a
:class:`UserError` before the server starts (exit 2) rather than a failed lifespan; it is written in the
lifespan's shutdown, under the same lock, after the last request.

Errors: a payload that does not validate gets 422 with FastAPI's list of ``{loc, msg, type}`` (loc names
the field, e.g. ``["body", "readings", 0, "flow"]``); a late or duplicated tick (``StreamError``) 409;
another :class:`UserError` from the forecaster 422; forecasts asked for before the first tick 404.

Defences (docs/service.md, "Limits"): a body over :class:`Limits`'s ``max_body`` bytes is 413 before it is
read into memory; more readings than ``max_readings`` or an id longer than ``max_id_length`` is 422
before the forecaster sees it; a tick further ahead than ``max_ahead`` of the server's clock, or more than
``max_jump`` steps after the last tick, is 422 naming the bound (a tick in 2099 would otherwise make every
real tick late for good); a tick is applied all or nothing (``StreamingForecaster.update``), so a failed
one changes nothing; readings outside their unit's plausible range are read as missing and counted in
the reply; unknown VD ids are counted and a few named in the reply, never stored.
"""

import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from social_xlstm.errors import UserError
from social_xlstm.forecast.service_auth import authorised
from social_xlstm.forecast.service_limits import Limits
from social_xlstm.forecast.service_metrics import ServiceMetrics
from social_xlstm.forecast.service_schema import (
    BatchReply,
    ForecastRow,
    HealthReply,
    TickReply,
    forecasts_json,
    tick_frame,
    tick_model,
)
from social_xlstm.forecast.service_state import file_sha256, load_snapshot, save_snapshot
from social_xlstm.forecast.streaming import StreamError

logger = logging.getLogger("uvicorn.error")  # uvicorn's own log: the line shows where its start/stop lines do
IGNORED_SHOWN = 20
"""Unknown VD ids a reply names (it counts them all)."""


def _iso(ts: pd.Timestamp | None) -> str | None:
    """UTC time as the forecast records write it (``2024-03-04T00:05:00Z``)."""
    return None if ts is None else pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _arch(forecaster) -> str | None:
    """The architecture name (``StreamingForecaster`` has no public attribute for it yet: STREAMING_API.md)."""
    return getattr(forecaster, "arch", None) or getattr(getattr(forecaster.net, "config", None), "arch", None)


def _clean_error(err: dict, variables: list[str]) -> dict:
    """One validation error as JSON: no NaN (Starlette refuses it), no echo of a whole body, known names."""
    out = {"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]}
    value = err.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        out["input"] = repr(value)
    elif value is None or isinstance(value, str | int | float | bool):
        out["input"] = value
    if err["type"] == "extra_forbidden" and out["loc"][:2] == ["body", "readings"] and len(out["loc"]) == 4:
        out["msg"] = f"unknown variable {out['loc'][-1]!r}: the model reads {', '.join(variables)}"
    return out


class TickRefused(UserError):
    """A tick outside the service's bounds (422): nothing of the state changes."""


def _check_bounds(timestamp: pd.Timestamp, forecaster, limits: Limits, now: pd.Timestamp) -> None:
    if limits.max_ahead is not None and timestamp > now + limits.max_ahead:
        raise TickRefused(
            f"tick {_iso(timestamp)} is more than {limits.max_ahead} ahead of the server clock ({_iso(now)}); "
            "a tick that far ahead would make every real tick late (serve --max-ahead sets the bound)"
        )
    last = forecaster.last_timestamp
    if limits.max_jump is not None and last is not None:
        steps = (timestamp - last) / forecaster.freq
        if steps > limits.max_jump:
            raise TickRefused(
                f"tick {_iso(timestamp)} is {steps:g} steps after the last tick {_iso(last)}, more than "
                f"max_jump={limits.max_jump} (serve --max-jump sets the bound)"
            )


def check_state_writable(path: Path) -> None:
    """Refuse a ``--state`` the shutdown could not write, before serving (the state would be lost then)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"--state {path}: is a directory; give a file path")
    if not folder.is_dir():
        raise UserError(f"--state {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"--state {path}: cannot be written (permissions); the snapshot would be lost at shutdown")


def _query_error(name: str, value, msg: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", name), "msg": msg, "type": "value_error", "input": value}])


class _Service:
    """The forecaster, its lock and the counters the endpoints report."""

    def __init__(
        self, forecaster, state_path: str | Path | None, checkpoint: str | Path | None, snapshot_every: int | None
    ):
        self.forecaster = forecaster
        self.snapshot_every = snapshot_every
        self.lock = threading.Lock()
        self.state_path = None if state_path is None else Path(state_path)
        self.checkpoint = None if checkpoint is None else str(checkpoint)
        self.sha256 = None if checkpoint is None else file_sha256(checkpoint)
        self.ticks_served = 0
        self.restored_from = None
        if self.state_path is not None:
            check_state_writable(self.state_path)
        if self.state_path is not None and self.state_path.exists():  # a snapshot to continue from
            counters = load_snapshot(self.state_path, forecaster, checkpoint=self.checkpoint, sha256=self.sha256)
            self.ticks_served = counters["ticks_served"]
            self.restored_from = str(self.state_path)

    def snapshot(self) -> None:
        if self.state_path is None:
            return
        with self.lock:
            self._save()
        logger.info("state snapshot (%d ticks served) written to %s", self.ticks_served, self.state_path)

    def _save(self) -> None:
        save_snapshot(
            self.state_path, self.forecaster, ticks_served=self.ticks_served, checkpoint=self.checkpoint,
            sha256=self.sha256,
        )  # fmt: skip

    def accepted(self) -> None:
        """A tick was applied (the lock is held): count it, and write the periodic snapshot when it is due."""
        self.ticks_served += 1
        if self.state_path is not None and self.snapshot_every and self.ticks_served % self.snapshot_every == 0:
            self._save()


def create_app(
    forecaster,
    state_path: str | Path | None = None,
    *,
    checkpoint: str | Path | None = None,
    limits: Limits | None = None,
    clock: Callable[[], pd.Timestamp] = lambda: pd.Timestamp.now(tz="UTC"),
    api_key: str | None = None,
    snapshot_every: int | None = None,
) -> FastAPI:
    """The FastAPI app serving ``forecaster``.

    Args:
        forecaster: a :class:`~social_xlstm.forecast.streaming.StreamingForecaster`.
        state_path: snapshot file; restored now when it exists, written when the app shuts down; its
            folder must be writable now.
        checkpoint: the checkpoint the forecaster was loaded from: reported by ``/health``; its SHA-256
            is stored in the snapshot and a snapshot of another checkpoint is refused.
        limits: what one request may ask (default :class:`~.service_limits.Limits`'s defaults).
        clock: the server's time (UTC), for ``limits.max_ahead``.
        api_key: the key every route but ``/health`` needs (None: no authentication; ``serve`` then listens
            on the loopback address only).
        snapshot_every: also write the snapshot every this many ticks (None: on shutdown only).

    Raises:
        UserError: the snapshot at ``state_path`` cannot be restored into this forecaster, or written.
    """
    limits = limits or Limits()
    if snapshot_every is not None and snapshot_every < 1:
        raise UserError(f"--snapshot-every must be >= 1, got {snapshot_every}")
    if snapshot_every is not None and state_path is None:
        raise UserError("--snapshot-every needs --state FILE: the file the snapshots are written to")
    service = _Service(forecaster, state_path, checkpoint, snapshot_every)
    metrics = ServiceMetrics()
    variables = list(forecaster.variables)
    known_vds = set(forecaster.vd_ids)
    targets = list(forecaster.targets)
    Tick = tick_model(variables, max_readings=limits.max_readings, max_id_length=limits.max_id_length)

    class Batch(BaseModel):
        ticks: list[Tick] = Field(description="ticks in time order", min_length=1, max_length=limits.max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.snapshot()

    app = FastAPI(title="Social-xLSTM forecasts", version="1", lifespan=lifespan)
    app.state.service = service

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):
        # Before the body is read: a declared length over the limit is refused at once; a chunked body
        # is counted as it arrives and refused once it passes the limit, never held whole.
        declared = request.headers.get("content-length")
        too_big = JSONResponse(
            status_code=413, content={"detail": f"request body over {limits.max_body} bytes (the service's limit)"}
        )
        if declared is not None:
            if not declared.isdigit() or int(declared) > limits.max_body:
                return too_big
            return await call_next(request)
        if request.method in ("POST", "PUT", "PATCH"):
            size, chunks = 0, []
            async for chunk in request.stream():
                size += len(chunk)
                if size > limits.max_body:
                    return too_big
                chunks.append(chunk)
            body = b"".join(chunks)

            async def receive():
                return {"type": "http.request", "body": body, "more_body": False}

            request = Request(request.scope, receive)
        return await call_next(request)

    @app.middleware("http")
    async def _authenticate_and_count(request: Request, call_next):
        # Added last, so it runs first: a request without the key is refused before its body is read.
        posting = request.method == "POST" and request.url.path.startswith("/readings")
        if not authorised(request.url.path, request.headers, api_key):
            if posting:
                metrics.refuse(401)
            return JSONResponse(
                status_code=401,
                content={"detail": "API key missing or wrong: send Authorization: Bearer KEY or X-API-Key: KEY"},
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = await call_next(request)
        if posting and response.status_code != 200:
            metrics.refuse(response.status_code)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse(status_code=422, content={"detail": [_clean_error(e, variables) for e in exc.errors()]})

    @app.exception_handler(StreamError)
    async def _stream_error(request: Request, exc: StreamError):
        return JSONResponse(status_code=409, content={"detail": str(exc)})

    @app.exception_handler(UserError)
    async def _user_error(request: Request, exc: UserError):
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    def apply(tick) -> tuple[dict, pd.DataFrame]:
        """One tick into the forecaster (all or nothing), counted; its reply summary and forecast rows."""
        timestamp, readings = tick_frame(tick, variables)
        with service.lock:
            _check_bounds(timestamp, forecaster, limits, clock())
            start = time.perf_counter()
            frame = forecaster.update(timestamp, readings)
            seconds = time.perf_counter() - start
            service.accepted()
            served, implausible = service.ticks_served, dict(forecaster.last_implausible)
        metrics.tick(seconds)
        unknown = readings["vd_id"][~readings["vd_id"].isin(known_vds)]
        summary = {
            "issue_time": _iso(timestamp),
            "readings": len(readings),
            "ignored_vds": sorted(unknown.head(IGNORED_SHOWN)),
            "ignored_vd_count": int(len(unknown)),
            "implausible": implausible,
            "forecast_rows": len(frame),
            "ticks_served": served,
            "seconds": seconds,
        }
        return summary, frame

    @app.post(
        "/readings", summary="post one tick of readings; returns what was forecast", response_model=TickReply,
        response_model_exclude_none=True,
    )  # fmt: skip
    def post_readings(
        tick: Tick,
        forecasts: Annotated[bool, Query(description="include the forecast rows in the reply")] = False,
    ):
        summary, frame = apply(tick)
        if not forecasts:
            return summary
        # The rows can be 10^5 for a large network: spliced in as pandas writes them, not re-parsed.
        body = json.dumps(summary)[:-1] + ', "forecasts": ' + forecasts_json(frame) + "}"
        return Response(body, media_type="application/json")

    @app.post(
        "/readings/batch", summary="backfill missed ticks in order", response_model=BatchReply,
        response_model_exclude_none=True,
    )  # fmt: skip
    def post_batch(batch: Batch):
        # Each tick is applied as POST /readings would apply it, in order; the first refused one stops the
        # batch with its error and how many were applied before it (those stay applied: they were valid).
        replies = []
        for index, tick in enumerate(batch.ticks):
            try:
                replies.append(apply(tick)[0])
            except (StreamError, UserError) as err:
                status = 409 if isinstance(err, StreamError) else 422
                detail = f"tick {index} ({tick.timestamp.isoformat()}): {err}"
                return JSONResponse(status_code=status, content={"detail": detail, "applied": index})
        return {"applied": len(replies), "ticks": replies}

    @app.get("/metrics", summary="Prometheus metrics: tick latency, ticks accepted / refused, forecast age")
    def get_metrics():
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get(
        "/forecasts", summary="the forecasts of the last tick (JSON records, forecasts.parquet columns)",
        responses={200: {"model": list[ForecastRow]}},
    )  # fmt: skip
    def get_forecasts(
        vd_id: Annotated[list[str] | None, Query(description="VDs (repeat the parameter); default all")] = None,
        horizon: Annotated[list[int] | None, Query(description="horizon steps 1..H, not minutes; default all")] = None,
        variable: Annotated[list[str] | None, Query(description="target variables; default all")] = None,
    ):
        for vd in vd_id or ():
            if vd not in known_vds:
                raise _query_error("vd_id", vd, f"unknown VD {vd!r}")
        for name in variable or ():
            if name not in targets:
                raise _query_error("variable", name, f"unknown target {name!r}: the model forecasts {targets}")
        for h in horizon or ():
            if not 1 <= h <= forecaster.horizon:
                raise _query_error("horizon", h, f"horizon step {h} outside 1..{forecaster.horizon}")
        with service.lock:
            frame = forecaster.latest
        if frame is None:
            return JSONResponse(status_code=404, content={"detail": "no forecasts yet: POST /readings first"})
        keep = pd.Series(True, index=frame.index)
        if vd_id:
            keep &= frame["vd_id"].astype(str).isin(vd_id)
        if horizon:
            keep &= frame["horizon_step"].isin(horizon)
        if variable:
            keep &= frame["variable"].astype(str).isin(variable)
        return Response(forecasts_json(frame[keep]), media_type="application/json")

    @app.get("/health", summary="model, checkpoint, last timestamp, ticks served", response_model=HealthReply)
    def health():
        # No lock: a liveness probe must answer while a large network's tick is computed; each value is one
        # attribute read, at worst one tick behind the other.
        last, served = forecaster.last_timestamp, service.ticks_served
        return {
            "status": "ok",
            "model": _arch(forecaster),
            "mode": forecaster.mode,
            "checkpoint": service.checkpoint,
            "last_timestamp": _iso(last),
            "ticks_served": served,
            "vds": len(forecaster.vd_ids),
            "variables": variables,
            "targets": list(forecaster.targets),
            "freq": str(pd.tseries.frequencies.to_offset(forecaster.freq).freqstr),
            "window": forecaster.window,
            "horizon_steps": forecaster.horizon,
            "state_file": None if service.state_path is None else str(service.state_path),
            "restored_from": service.restored_from,
            "snapshot_every": service.snapshot_every,
            "authentication": api_key is not None,
        }

    return app

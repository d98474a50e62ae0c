"""Payloads of the forecast service: one tick of readings in, checked field by field (docs/service.md).

The reading model is built per checkpoint from the model's input variables, so that a misspelt variable
is refused (422, the field named) instead of silently read as missing. Numbers must be JSON numbers:
``"12.5"``, ``"NaN"``, ``NaN`` and ``Infinity`` are refused; a missing value is ``null`` or left out. A
strict float would also refuse ``true``, which lax pydantic would read as 1.0.

Variables are declared under private field names with the variable as alias, so any column name of a
dataset (``occupancy-%``, ``class``) is accepted as a JSON key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

# JSON numbers only, finite; null or absent = not observed.
Value = Annotated[float | None, Field(strict=True, allow_inf_nan=False)]
# VD ids are strings in the dataset; a client sending LargeST's numeric ids as JSON numbers still matches.
VdId = Annotated[str, Field(min_length=1)]


def reading_model(variables: Sequence[str], max_id_length: int = 256) -> type[BaseModel]:
    """A pydantic model of one VD's reading: ``vd_id`` (at most ``max_id_length`` characters) and any of
    ``variables``, nothing else."""
    fields = {f"v{i}": (Value, Field(None, alias=name)) for i, name in enumerate(variables)}
    return create_model(
        "Reading",
        __config__=ConfigDict(extra="forbid", coerce_numbers_to_str=True),
        vd_id=(Annotated[VdId, Field(max_length=max_id_length)], ...),
        **fields,
    )


def tick_model(variables: Sequence[str], max_readings: int = 200_000, max_id_length: int = 256) -> type[BaseModel]:
    """A pydantic model of ``POST /readings``: a timestamp with its UTC offset and the readings at it
    (at most ``max_readings``)."""
    reading = reading_model(variables, max_id_length)

    class Tick(BaseModel):
        model_config = ConfigDict(extra="forbid")
        timestamp: AwareDatetime = Field(description="ISO-8601 with a UTC offset, e.g. 2024-03-04T08:05:00+08:00")
        readings: list[reading] = Field(description="one entry per VD; VDs may be absent", max_length=max_readings)

        @field_validator("readings")
        @classmethod
        def _one_reading_per_vd(cls, readings):
            seen: set[str] = set()
            for r in readings:
                if r.vd_id in seen:
                    raise ValueError(f"vd_id {r.vd_id!r} appears twice in one tick")
                seen.add(r.vd_id)
            return readings

    Tick.__name__ = "Tick"
    return Tick


def tick_frame(tick: BaseModel, variables: Sequence[str]) -> tuple[pd.Timestamp, pd.DataFrame]:
    """The UTC timestamp and the readings of a validated tick as ``StreamingForecaster.update`` takes them.

    Returns:
        The timestamp in UTC and a frame with ``vd_id`` and one float column per variable (NaN = missing).
    """
    readings = tick.readings
    frame = pd.DataFrame({"vd_id": pd.Series([r.vd_id for r in readings], dtype=object)})
    for i, name in enumerate(variables):
        values = [getattr(r, f"v{i}") for r in readings]
        frame[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return pd.Timestamp(tick.timestamp).tz_convert("UTC"), frame


def forecasts_json(frame: pd.DataFrame) -> str:
    """Forecast rows as a JSON list of records in the ``forecasts.parquet`` columns (times ISO-8601 UTC).

    A tick's rows share one issue time and H target times, and the ids are categorical: each distinct
    value is formatted once and the rows take them by code: ``to_json`` formatting every zone-aware time
    and category itself was an order of magnitude slower for 1000 VDs (scripts/bench_service.py times the
    endpoints). Floats keep 15 significant digits, enough to read a float32 prediction back exactly.
    """
    columns = {}
    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.DatetimeTZDtype):
            codes, uniques = pd.factorize(col)
            columns[name] = np.asarray(uniques.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), dtype=object)[codes]
        elif isinstance(col.dtype, pd.CategoricalDtype):
            columns[name] = col.astype(str).to_numpy(dtype=object)
        else:
            columns[name] = col.to_numpy()
    return pd.DataFrame(columns).to_json(orient="records", double_precision=15)


# --- replies (documented on the OpenAPI page, /docs) -------------------------------------------------------


class TickReply(BaseModel):
    """What ``POST /readings`` answers for an accepted tick (``forecasts`` only with ``?forecasts=true``)."""

    issue_time: str = Field(description="the tick's time, ISO-8601 UTC")
    readings: int = Field(description="readings in the tick (known VDs or not)")
    ignored_vds: list[str] = Field(description="up to 20 of the VD ids the model does not know (not stored)")
    ignored_vd_count: int = Field(description="how many VD ids were unknown")
    implausible: dict[str, int] = Field(description="per variable, readings outside the unit's range, read as missing")
    forecast_rows: int = Field(description="rows forecast: VDs x horizon steps x targets")
    ticks_served: int = Field(description="ticks accepted since the state began (snapshots carry it over)")
    seconds: float = Field(description="time the forecaster took for this tick")
    forecasts: list[dict] | None = Field(None, description="the forecast rows, as GET /forecasts returns them")


class BatchReply(BaseModel):
    """What ``POST /readings/batch`` answers when every tick was accepted."""

    applied: int = Field(description="ticks applied, in the order posted")
    ticks: list[TickReply] = Field(description="each tick's reply, as POST /readings would have answered it")


class ForecastRow(BaseModel):
    """One row of ``GET /forecasts`` (the columns of ``forecasts.parquet``, docs/outputs.md)."""

    issue_time: str = Field(description="ISO-8601 UTC: the tick the forecast was issued at")
    target_time: str = Field(description="ISO-8601 UTC: the time forecast")
    horizon_step: int = Field(description="1..H steps ahead")
    vd_id: str
    variable: str = Field(description="a target variable of the model")
    prediction: float = Field(description="in the variable's unit (dataset.json)")
    actual: float | None = Field(None, description="null: not known yet when the forecast is served")


class HealthReply(BaseModel):
    """``GET /health``: what is served and how far it has got (open without an API key)."""

    status: str
    model: str | None
    mode: str = Field(description="window or state (docs/streaming.md)")
    checkpoint: str | None
    last_timestamp: str | None
    ticks_served: int
    vds: int
    variables: list[str]
    targets: list[str]
    freq: str
    window: int | None
    horizon_steps: int
    state_file: str | None
    restored_from: str | None
    snapshot_every: int | None = Field(description="ticks between periodic snapshots (None: on shutdown only)")
    authentication: bool = Field(description="whether routes other than /health need the API key")

"""``social-xlstm stream``: replay a canonical dataset tick by tick through a :class:`StreamingForecaster`.

Each tick of the dataset's time grid becomes one ``update`` (the readings of every VD at that time,
NaN where missing); the forecasts are written to one Parquet file in pieces (one row group per tick,
``pyarrow.ParquetWriter`` into a temporary path renamed at the end), with ``actual`` filled from the
replayed data where the target time lies inside it. Latency is the wall time of one ``update``
(readings in, forecast table out).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from social_xlstm.atomic import atomic_file
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.panel import Panel, load_panel
from social_xlstm.errors import UserError
from social_xlstm.forecast.streaming import StreamingForecaster
from social_xlstm.outputs import check_output_file
from social_xlstm.progress import progress_enabled


@dataclass
class ReplayReport:
    """What a replay did: ticks, rows written, and the latency of every tick in seconds."""

    ticks: int
    rows: int
    seconds: float
    latencies: list[float] = field(default_factory=list)

    def percentiles(self) -> dict[str, float]:
        """p50, p90, p99 and max of the per-tick latency, in milliseconds."""
        lat = np.asarray(self.latencies) * 1e3
        if lat.size == 0:
            return {}
        return {
            "p50": float(np.percentile(lat, 50)),
            "p90": float(np.percentile(lat, 90)),
            "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()),
        }

    def render(self) -> str:
        rate = self.ticks / self.seconds if self.seconds > 0 else float("nan")
        pct = ", ".join(f"{k} {v:.1f} ms" for k, v in self.percentiles().items())
        return f"{self.ticks} ticks, {self.rows} rows in {self.seconds:.1f} s ({rate:.1f} ticks/s); latency {pct}"


def panel_ticks(panel: Panel, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, pd.DataFrame]]:
    """The readings of panel steps ``start .. stop-1``: ``(step, DataFrame of vd_id + variables)``."""
    ids = np.asarray(panel.vd_ids, dtype=object)
    for t in range(start, panel.num_steps if stop is None else stop):
        frame = pd.DataFrame(panel.values[t], columns=list(panel.variables))  # (N, F), NaN = missing
        frame.insert(0, "vd_id", ids)
        yield t, frame


def _time_arg(value: str | None, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise UserError(f"--{what} {value!r} is not a time: {err}") from None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


class ActualLookup:
    """The replayed data's values of the model's targets at each forecast's target time.

    Shapes: :meth:`at` (H, N, O) float32 for the model's VD and target order, NaN where unknown.
    """

    def __init__(self, panel: Panel, forecaster: StreamingForecaster):
        positions = {v: i for i, v in enumerate(panel.vd_ids)}
        self.vd = np.array([positions.get(v, -1) for v in forecaster.vd_ids])  # (N,) panel column or -1
        self.var = np.array(
            [list(panel.variables).index(t) if t in panel.variables else -1 for t in forecaster.targets]
        )  # (O,)
        self.panel, self.horizon = panel, forecaster.horizon

    def at(self, t: int) -> np.ndarray:
        steps = t + np.arange(1, self.horizon + 1)  # (H,)
        inside = steps < self.panel.num_steps
        values = self.panel.values[np.where(inside, steps, 0)][:, self.vd.clip(0)][:, :, self.var.clip(0)]
        known = inside[:, None, None] & (self.vd >= 0)[None, :, None] & (self.var >= 0)[None, None, :]
        return np.where(known, values, np.nan).astype(np.float32)  # (H, N, O)


@contextmanager
def _progress(total: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar over ticks on stderr, or a no-op under CI or without a terminal."""
    if not progress_enabled(sys.stderr):
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("replaying ticks"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("stream", total=total)
        yield lambda: bar.advance(task)


def replay(
    checkpoint: str | Path,
    dataset: str | Path,
    out: str | Path,
    start: str | None = None,
    end: str | None = None,
    limit: int | None = None,
    mode: str = "auto",
    max_gap: int | None = None,
    at: str | Path | None = None,
    at_edges: str | Path | None = None,
) -> ReplayReport:
    """Replay ``dataset`` (ticks from ``start`` to ``end`` inclusive, at most ``limit``) into ``out``; with
    ``at`` / ``at_edges`` forecast those virtual VDs too, placed by the dataset's stations.

    Raises:
        UserError: a bad checkpoint, dataset or option; no tick in the range; no VD or variable in common.
    """
    check_output_file(out)  # before the checkpoint, the dataset and the whole replay
    forecaster = StreamingForecaster.from_checkpoint(
        checkpoint, mode=mode, max_gap=max_gap, at=at, at_edges=at_edges, stations=dataset
    )
    data = load_dataset(dataset, check_rows=False)
    variables = [v for v in forecaster.variables if v in data.meta.variables]
    if not variables:
        raise UserError(
            f"{dataset}: none of the model's variables ({', '.join(forecaster.variables)}) is in the dataset"
        )
    panel = load_panel(data, variables)
    if not set(panel.vd_ids) & set(forecaster.vd_ids):
        raise UserError(f"{dataset}: no VD of the dataset is one of the model's {len(forecaster.vd_ids)} VDs")
    lo, hi = _time_arg(start, "start"), _time_arg(end, "end")
    grid = panel.timestamps
    first = 0 if lo is None else int(grid.searchsorted(lo, "left"))
    stop = len(grid) if hi is None else int(grid.searchsorted(hi, "right"))
    if limit is not None:
        if limit < 1:
            raise UserError(f"--limit must be >= 1, got {limit}")
        stop = min(stop, first + limit)
    if stop <= first:
        raise UserError(f"{dataset}: no tick between {start or grid[0]} and {end or grid[-1]}")
    actual = ActualLookup(panel, forecaster)
    report = ReplayReport(ticks=0, rows=0, seconds=0.0)
    began = time.perf_counter()
    with atomic_file(out) as tmp, _progress(stop - first) as advance:
        writer = None
        try:
            for t, readings in panel_ticks(panel, first, stop):
                tick = time.perf_counter()
                table = forecaster.update_table(grid[t], readings)
                report.latencies.append(time.perf_counter() - tick)
                table = table.set_column(
                    table.schema.get_field_index("actual"), "actual", pa.array(actual.at(t).ravel(), from_pandas=True)
                )
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
                report.ticks += 1
                report.rows += table.num_rows
                advance()
        finally:
            if writer is not None:
                writer.close()
    report.seconds = time.perf_counter() - began
    return report

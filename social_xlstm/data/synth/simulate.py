"""The simulator end to end: network -> demand and incidents -> CTM -> detectors -> canonical dataset.

Randomness comes from one ``numpy.random.SeedSequence(seed)`` split into four independent streams
(network, demand, incidents, sensors), each a ``numpy.random.Generator``; the same seed gives the same
bytes. The CTM runs continuously over all days (queues carry across midnight); one day at a time is
aggregated to detector intervals, corrupted by the sensors and handed to the writer, so memory does not
grow with the number of days.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import TIME_TYPE, DatasetMeta, write_dataset
from social_xlstm.data.synth.ctm import CellTransmissionModel, FundamentalDiagram
from social_xlstm.data.synth.demand import TIMEZONE, DemandModel, Incident, draw_incidents
from social_xlstm.data.synth.network import Network, build_network
from social_xlstm.data.synth.sensors import SensorConfig, SensorModel
from social_xlstm.errors import UserError
from social_xlstm.outputs import DATASET_MARK, check_output_dir
from social_xlstm.progress import progress_enabled

EFFECTIVE_LENGTH_M = 6.0
"""Vehicle length plus detection zone: occupancy = density per lane * this length."""
WARMUP_HOURS = 3.0
"""Hours simulated before the first day (with that day's late-evening demand) so it does not start empty."""
_DT_CHOICES_S = (20, 15, 10)
"""CTM time steps tried, longest first; the detector interval must be a whole number of steps."""


@dataclass
class DayTruth:
    """Noise-free detector values of one local day, VDs in stations order."""

    start_utc: pd.Timestamp
    """First interval (local midnight) in UTC."""
    flow: np.ndarray
    """(I, V) vehicles per interval, all lanes."""
    speed: np.ndarray
    """(I, V) space-mean speed, km/h."""
    occupancy: np.ndarray
    """(I, V) occupancy, %."""
    density: np.ndarray
    """(I, V) vehicles per km and lane."""


def _whole(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a UserError naming the option."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise UserError(f"--{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _interval(freq: Freq) -> tuple[pd.Timedelta, int]:
    """Detector interval and CTM step (s) of a frequency, or a UserError saying what is allowed."""
    interval = freq.delta
    seconds = interval.total_seconds()
    if not 60 <= seconds <= 3600 or 86400 % seconds:
        raise UserError(
            f"--freq {freq.alias!r}: the interval must be 1 to 60 minutes and divide a day evenly (e.g. 5min)"
        )
    for dt in _DT_CHOICES_S:
        if seconds % dt == 0:
            return interval, dt
    raise UserError(f"--freq {freq.alias!r}: the interval must be a whole number of 10 seconds")


class Simulator:
    """A simulated freeway network with detectors.

    Args:
        vds: number of VDs (>= 2); the network is sized for them (about one VD per km of road).
        seed: seed of every random draw.
        freq: detector interval, a pandas frequency (1 to 60 minutes, dividing a day).
        start: first local day (Asia/Taipei), e.g. ``"2024-03-04"`` (a Monday).
        incidents: incidents to add at known places and times (for experiments and tests).
        random_incidents: also draw random incidents (about one per 80 km of road per day).
        sensors: detector noise and failure rates.
        fd: fundamental diagram of every lane.
    """

    def __init__(
        self,
        vds: int = 60,
        seed: int = 0,
        freq: str | Freq = "5min",
        start: str = "2024-03-04",
        *,
        incidents: Sequence[Incident] = (),
        random_incidents: bool = True,
        sensors: SensorConfig | None = None,
        fd: FundamentalDiagram | None = None,
    ):
        vds, seed = _whole("vds", vds, 2), _whole("seed", seed, 0)
        try:
            start_local = pd.Timestamp(start)
        except (ValueError, TypeError) as err:
            raise UserError(f"--start {start!r} is not a date such as 2024-03-04") from err
        if start_local.tzinfo is not None or start_local != start_local.normalize():
            raise UserError(f"--start {start!r} must be a plain local date such as 2024-03-04")
        self.freq, self.seed = Freq.parse(freq, "--freq"), seed
        self.interval, self.dt_s = _interval(self.freq)
        self.start_local = start_local.tz_localize(TIMEZONE)
        self.fd = fd or FundamentalDiagram()
        self.sensor_config = sensors or SensorConfig()
        self.random_incidents = random_incidents
        self.forced_incidents = list(incidents)
        self._streams = np.random.SeedSequence(self.seed).spawn(4)
        net_rng = np.random.Generator(np.random.PCG64(self._streams[0]))
        cell_min_km = self.fd.free_speed_kmh * self.dt_s / 3600.0
        self.network: Network = build_network(vds, net_rng, cell_min_km)
        self.demand = DemandModel(self.network, self.fd.capacity_vphpl, net_rng)
        for inc in self.forced_incidents:
            self._resolve(inc)  # fail early on a road or time that does not exist

    @property
    def stations(self) -> pd.DataFrame:
        """The canonical stations table (vd_id, lat, lon, road, direction, lanes, name, km)."""
        return self.network.stations

    @property
    def intervals_per_day(self) -> int:
        return round(pd.Timedelta(days=1) / self.interval)

    @property
    def steps_per_interval(self) -> int:
        return round(self.interval.total_seconds() / self.dt_s)

    def meta(self) -> DatasetMeta:
        minutes = self.interval.total_seconds() / 60.0
        unit = f"veh/{minutes:g}min"
        return DatasetMeta(
            name=f"synth-{len(self.stations)}vd-seed{self.seed}",
            freq=self.freq,
            variables={"flow": unit, "speed": "km/h", "occupancy": "%"},
            timezone=TIMEZONE,
            source=f"social-xlstm synth seed={self.seed}",
            licence="CC0",
        )

    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(self._streams[stream]))

    def _resolve(self, inc: Incident) -> tuple[int, int, int, float]:
        """(cell, first interval, end interval, capacity factor) of an incident, intervals from the start."""
        try:
            road = self.network.roads[self.network.road_index(inc.road, inc.direction)]
        except KeyError as err:
            raise UserError(f"incident on {inc.road}-{inc.direction}: {err.args[0]}") from err
        if not 0 <= inc.km <= road.length_km:
            raise UserError(
                f"incident at km {inc.km} is off road {inc.road}-{inc.direction} (0 to {road.length_km:.1f})"
            )
        if not 0 < inc.capacity_factor < 1:
            raise UserError(f"incident capacity_factor must be between 0 and 1, got {inc.capacity_factor}")
        offset = (inc.start_utc() - self.start_local.tz_convert("UTC")) / self.interval
        first = int(np.floor(offset))
        end = max(first + 1, int(np.ceil(offset + pd.Timedelta(minutes=inc.duration_min) / self.interval)))
        return road.cell_at(inc.km), first, end, float(inc.capacity_factor)

    def truth(self, days: int) -> Iterator[DayTruth]:
        """Run the CTM and yield the noise-free detector values day by day.

        Args:
            days: number of days to simulate (>= 1).

        Yields:
            One :class:`DayTruth` per local day, in order.
        """
        days = _whole("days", days, 1)
        net, fd = self.network, self.fd
        demand_rng, incident_rng = self._rng(1), self._rng(2)
        self.demand.reset()
        ctm = CellTransmissionModel(net, fd, self.dt_s)
        n_int, steps = self.intervals_per_day, self.steps_per_interval
        minutes = self.interval.total_seconds() / 60.0
        cells = net.vd_cell
        length, lanes = net.cell_km[cells], net.cell_lanes[cells].astype(float)
        pending = [self._resolve(inc) for inc in self.forced_incidents]
        arrivals = self.demand.day(self.start_local.tz_localize(None), minutes, demand_rng)
        warmup = round(WARMUP_HOURS * 60 / minutes)
        for i in range(n_int - warmup, n_int):
            ctm.advance(arrivals[i], steps)
        for day in range(days):
            date = (self.start_local + pd.Timedelta(days=day)).tz_localize(None)
            if day > 0:
                arrivals = self.demand.day(date, minutes, demand_rng)
            if self.random_incidents:
                pending += [self._resolve(inc) for inc in draw_incidents(net, date, incident_rng)]
            first = day * n_int
            pending = [p for p in pending if p[2] > first]
            today = [p for p in pending if p[1] < first + n_int]
            flow, held = np.empty((n_int, len(cells))), np.empty((n_int, len(cells)))
            active: tuple = ()
            for i in range(n_int):
                now = tuple((c, f) for c, lo, hi, f in today if lo <= first + i < hi)
                if now != active:
                    active = now
                    ctm.set_capacity_factor(
                        np.array([c for c, _ in now], dtype=np.int64), np.array([f for _, f in now])
                    )
                out, occ = ctm.advance(arrivals[i], steps)
                flow[i], held[i] = out[cells], occ[cells]
            # Space-mean speed over the interval: vehicle-km travelled / vehicle-hours spent in the cell.
            with np.errstate(divide="ignore", invalid="ignore"):
                speed = np.where(held > 1e-9, flow * length / (held * ctm.dt_h), fd.free_speed_kmh)
            speed = np.minimum(speed, fd.free_speed_kmh)
            density = held / steps / (length * lanes)
            # veh/km/lane * m -> %: (1 / 1000 km per m) * 100 %.
            occupancy = np.clip(density * EFFECTIVE_LENGTH_M / 10.0, 0.0, 100.0)
            yield DayTruth(
                start_utc=(self.start_local + pd.Timedelta(days=day)).tz_convert("UTC"),
                flow=flow,
                speed=speed,
                occupancy=occupancy,
                density=density,
            )

    def sensor_model(self, days: int) -> SensorModel:
        """The detectors of a ``days``-long run (same draws as :meth:`observations` uses)."""
        n_int = self.intervals_per_day
        return SensorModel(self.sensor_config, len(self.stations), days * n_int, n_int, self._rng(3))

    def observations(self, days: int) -> Iterator[pa.Table]:
        """Detector readings day by day as canonical long tables: timestamp, vd_id, flow, speed, occupancy."""
        sensors = self.sensor_model(days)
        ids = pa.array(self.stations["vd_id"].tolist(), type=pa.string())
        n_vds = len(ids)
        step_us = int(self.interval / pd.Timedelta(microseconds=1))
        for day, truth in enumerate(self.truth(days)):
            values, present = sensors.observe(truth.flow, truth.speed, truth.occupancy, day * self.intervals_per_day)
            rows = np.flatnonzero(present.ravel())  # (I*V,) time-major, VDs in stations order
            t0_us = (truth.start_utc - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(microseconds=1)
            columns = {
                "timestamp": pa.array(t0_us + (rows // n_vds) * step_us, type=TIME_TYPE),
                "vd_id": ids.take(pa.array(rows % n_vds)),
            }
            columns.update({name: pa.array(arr.ravel()[rows]) for name, arr in values.items()})
            yield pa.table(columns)

    def write(self, out_dir: str | Path, days: int, *, overwrite: bool = False, progress: bool = True) -> Path:
        """Simulate ``days`` days and write the canonical dataset (one observations part per day)."""
        days = _whole("days", days, 1)
        with _progress_bar(progress, days) as advance:
            return write_dataset(
                out_dir,
                _counted(self.observations(days), advance),
                self.stations,
                self.meta(),
                overwrite=overwrite,
            )


def _counted(tables: Iterable[pa.Table], advance: Callable[[], None]) -> Iterator[pa.Table]:
    for table in tables:
        yield table
        advance()


@contextmanager
def _progress_bar(enabled: bool, days: int) -> Iterator[Callable[[], None]]:
    """A rich progress bar over simulated days, or a no-op when disabled, under CI or without a terminal."""
    if not enabled or not progress_enabled():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("simulating days"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("synth", total=days)
        yield lambda: bar.advance(task)


def simulate(
    out_dir: str | Path,
    vds: int = 60,
    days: int = 14,
    seed: int = 0,
    freq: str = "5min",
    start: str = "2024-03-04",
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Simulate a freeway network and write it as a canonical dataset directory.

    Args:
        out_dir: dataset directory to create.
        vds: number of VDs (>= 2).
        days: number of days (>= 1).
        seed: random seed; the same seed gives byte-identical files.
        freq: detector interval (pandas frequency, 1 to 60 minutes).
        start: first local day (Asia/Taipei).
        overwrite: replace an existing non-empty ``out_dir``.
        progress: show a progress bar (also off under CI or without a terminal).

    Returns:
        The dataset directory.
    """
    days = _whole("days", days, 1)
    check_output_dir(out_dir, overwrite, [DATASET_MARK])  # before minutes of simulation
    sim = Simulator(vds=vds, seed=seed, freq=freq, start=start)
    return sim.write(out_dir, days, overwrite=overwrite, progress=progress)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm synth``."""
    parser.add_argument("--out", required=True, type=Path, help="dataset directory to create")
    parser.add_argument("--vds", type=int, default=60, help="number of vehicle detectors (default 60)")
    parser.add_argument("--days", type=int, default=14, help="number of days (default 14)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default 0)")
    parser.add_argument("--freq", default="5min", help="detector interval, 1 to 60 minutes (default 5min)")
    parser.add_argument("--start", default="2024-03-04", help="first local day, Asia/Taipei (default 2024-03-04)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run ``social-xlstm synth`` from parsed options; prints where the dataset went."""
    t0 = time.perf_counter()
    out = simulate(
        args.out,
        vds=args.vds,
        days=args.days,
        seed=args.seed,
        freq=args.freq,
        start=args.start,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    print(f"wrote {out} ({args.vds} VDs x {args.days} days at {args.freq}, {time.perf_counter() - t0:.1f} s)")
    return 0

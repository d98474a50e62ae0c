"""Traffic demand of the simulator: daily and weekly profiles, per-day variation, incidents.

Demand enters at the origins (road starts and on-ramps) as arrival rates. A road's profile depends on its
direction: inbound roads (towards the city) carry the morning peak, outbound roads the evening peak;
weekends have no commuter peaks and less traffic overall. Every day draws its own level and peak timing,
and a slow AR(1) noise per origin makes the five-minute demand wander.

The rates are calibrated on the network: with all profiles at their weekday peak (1.0), the busiest cell
of each road would be loaded to a target between 100% and 115% of its capacity, computed from the static
flow the split fractions imply. So peaks sometimes, not always, exceed the bottlenecks (lane drops,
junction merges, the trunks' entry into the city) and queues form there on some days and not others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from social_xlstm.data.synth.network import RAMP_CAPACITY_VPH, Network

TIMEZONE = "Asia/Taipei"
"""Local time of the simulated network; profiles and incident times are in local time."""


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hours - centre) / width) ** 2)


def _daytime(hours: np.ndarray, rise: float, fall: float) -> np.ndarray:
    """Smooth plateau: about 0 at night, about 1 between ``rise`` and ``fall``."""
    return 1.0 / (1.0 + np.exp(-(hours - rise) / 0.6)) / (1.0 + np.exp(-(fall - hours) / 1.0))


def _raw_profile(hours: np.ndarray, inbound: bool, weekend: bool) -> np.ndarray:
    if weekend:
        return (
            0.10 + 0.48 * _daytime(hours, 8.0, 22.5) + 0.12 * _bump(hours, 11.5, 1.8) + 0.10 * _bump(hours, 17.0, 1.8)
        )
    am, pm = (0.45, 0.18) if inbound else (0.18, 0.45)
    return 0.10 + 0.52 * _daytime(hours, 6.0, 22.0) + am * _bump(hours, 8.0, 0.8) + pm * _bump(hours, 17.8, 1.0)


_GRID = np.linspace(0.0, 24.0, 24 * 60 + 1)
_PEAK = {inbound: float(_raw_profile(_GRID, inbound, False).max()) for inbound in (True, False)}


def profile(hours: np.ndarray, inbound: bool, weekend: bool, shift_h: float = 0.0) -> np.ndarray:
    """Relative demand at local ``hours`` (0-24); the weekday peak of each direction is 1.0.

    Args:
        hours: local time of day in hours, any shape.
        inbound: direction towards the city (morning peak) or outward (evening peak).
        weekend: Saturday/Sunday profile (no commuter peaks, lower level).
        shift_h: delay of the whole day (positive = later peaks).

    Returns:
        Demand relative to the weekday peak, same shape as ``hours``.
    """
    return _raw_profile(np.asarray(hours, dtype=float) - shift_h, inbound, weekend) / _PEAK[inbound]


@dataclass(frozen=True)
class Incident:
    """A capacity drop on one cell for a while (crash, breakdown, roadworks)."""

    road: str
    """Freeway name, e.g. ``"F1"``."""
    direction: str
    """Direction of travel, e.g. ``"N"``."""
    km: float
    """Position along the direction of travel (the stations' ``km``)."""
    start: str | pd.Timestamp
    """Start time; a naive time is local (Asia/Taipei)."""
    duration_min: float
    """How long the capacity stays reduced."""
    capacity_factor: float
    """Share of the cell's capacity left while it lasts (0 < factor < 1)."""

    def start_utc(self) -> pd.Timestamp:
        ts = pd.Timestamp(self.start)
        return (ts.tz_localize(TIMEZONE) if ts.tzinfo is None else ts).tz_convert("UTC")


def _static_flows(network: Network, rates: np.ndarray) -> np.ndarray:
    """Flow through every node (R, M) implied by origin rates (R, O) and the split fractions.

    The flow graph is acyclic (inbound roads only feed inbound roads, outbound only outbound), so
    repeated propagation reaches the fixed point after at most the longest path's number of passes.
    """
    n_rows, n_nodes, n_cells = rates.shape[0], network.n_nodes, network.n_cells
    src, dst, frac = network.src, network.dst, network.frac
    inject = np.zeros((n_rows, n_nodes))
    inject[:, n_cells : n_cells + network.n_origins] = rates
    flow = inject.copy()
    offsets = (np.arange(n_rows) * n_nodes)[:, None]  # (R, 1): one bincount for all rows at once
    for _ in range(n_nodes):
        moved = np.bincount((dst[None, :] + offsets).ravel(), (flow[:, src] * frac).ravel(), n_rows * n_nodes)
        new = inject + moved.reshape(n_rows, n_nodes)  # (R, M)
        if np.allclose(new, flow, rtol=1e-10, atol=1e-9):
            return new
        flow = new
    raise RuntimeError("static flows did not converge: the network has a cycle")


class DemandModel:
    """Arrival rates at every origin for any day.

    Args:
        network: the road network.
        capacity_vphpl: lane capacity of the fundamental diagram (for the calibration).
        rng: generator of the network stream (fixes the calibration targets).
    """

    def __init__(self, network: Network, capacity_vphpl: float, rng: np.random.Generator):
        self.network = network
        n_roads = len(network.roads)
        first_cap = np.array([network.cell_lanes[r.first_cell] * capacity_vphpl for r in network.roads])
        raw = np.where(
            network.origin_is_ramp,
            rng.uniform(0.25, 0.5, network.n_origins) * RAMP_CAPACITY_VPH,
            0.45 * first_cap[network.origin_road],
        )
        # Each road's origins in their own row, so the load is linear in the per-road scales.
        per_road = np.zeros((n_roads, network.n_origins))
        per_road[network.origin_road, np.arange(network.n_origins)] = raw
        flows = _static_flows(network, per_road)[:, : network.n_cells]  # (R, C)
        cell_cap = network.cell_lanes * capacity_vphpl
        target = rng.uniform(1.0, 1.15, n_roads)
        scale = np.ones(n_roads)
        fed = np.isin(np.arange(n_roads), network.origin_road)
        reach = flows > 1e-6 * flows.max(axis=1, keepdims=True)  # (R, C) cells each road's traffic uses
        for _ in range(200):
            # Raise or lower each road's own demand towards its target, then hold back roads whose traffic
            # overloads a cell downstream (a branch feeding a full trunk), until both settle.
            load = (scale @ flows) / cell_cap  # (C,)
            busiest = np.zeros(n_roads)
            np.maximum.at(busiest, network.cell_road, load)
            scale = np.where(fed, scale * (target / busiest) ** 0.5, scale)
            slack = target[network.cell_road] / ((scale @ flows) / cell_cap)  # (C,) < 1 where over target
            limit = np.where(reach, slack[None, :], np.inf).min(axis=1)  # (R,)
            scale = np.clip(scale * np.minimum(limit, 1.0) ** 0.5, 0.4, 5.0)
        rates = raw * scale[network.origin_road]
        self.base_vph = np.where(network.origin_is_ramp, np.minimum(rates, 0.95 * RAMP_CAPACITY_VPH), rates)
        """(O,) arrival rate at each origin when its profile is at the weekday peak."""
        self.inbound = np.array([network.roads[r].inbound for r in network.origin_road])
        self._noise = np.zeros(network.n_origins)

    def day(self, date_local: pd.Timestamp, freq_minutes: float, rng: np.random.Generator) -> np.ndarray:
        """Arrival rates (I, O) in veh/h for the intervals of one local day.

        Draws the day's level, per-road levels, peak shift and the AR(1) noise from ``rng`` (call once per
        day, in order: the noise carries over from the previous day).
        """
        n_int = round(24 * 60 / freq_minutes)
        hours = (np.arange(n_int) + 0.5) * freq_minutes / 60.0
        weekend = date_local.day_of_week >= 5
        shift = rng.normal(0.0, 0.15)
        level = np.exp(rng.normal(0.0, 0.05) + rng.normal(0.0, 0.03, len(self.network.roads)))
        rel = {inbound: profile(hours, inbound, weekend, shift) for inbound in (True, False)}
        shape = np.where(self.inbound[None, :], rel[True][:, None], rel[False][:, None])  # (I, O)
        # AR(1) in log space, stationary s.d. 0.06, correlation 0.9 per 5 minutes.
        phi = 0.9 ** (freq_minutes / 5.0)
        shocks = rng.normal(0.0, 0.06 * np.sqrt(1.0 - phi**2), (n_int, self.network.n_origins))
        noise = np.empty_like(shocks)
        state = self._noise
        for i in range(n_int):
            state = phi * state + shocks[i]
            noise[i] = state
        self._noise = state
        return self.base_vph * level[self.network.origin_road] * shape * np.exp(noise)

    def reset(self) -> None:
        """Forget the AR(1) state (start of a new simulation)."""
        self._noise = np.zeros(self.network.n_origins)


def draw_incidents(
    network: Network,
    date_local: pd.Timestamp,
    rng: np.random.Generator,
    per_km_day: float = 0.012,
) -> list[Incident]:
    """Random incidents starting on one local day: Poisson(per_km_day * road km), busy hours likelier.

    Args:
        network: the road network.
        date_local: local midnight of the day.
        rng: generator of the incident stream.
        per_km_day: expected incidents per km of (directed) road per day.

    Returns:
        The day's incidents, 20 to 90 minutes long, leaving 20% to 60% of a cell's capacity.
    """
    total_km = float(network.cell_km.sum())
    count = rng.poisson(per_km_day * total_km)
    weekend = date_local.day_of_week >= 5
    minutes = np.arange(24 * 60)
    incidents = []
    for _ in range(count):
        cell = int(rng.choice(network.n_cells, p=network.cell_km / total_km))
        road = network.roads[network.cell_road[cell]]
        weight = profile(minutes / 60.0, road.inbound, weekend) ** 2
        start = int(rng.choice(minutes, p=weight / weight.sum()))
        km = (cell - road.first_cell + rng.uniform(0.1, 0.9)) * road.cell_km
        incidents.append(
            Incident(
                road=road.name,
                direction=road.direction,
                km=float(km),
                start=date_local + pd.Timedelta(minutes=start),
                duration_min=float(rng.uniform(20.0, 90.0)),
                capacity_factor=float(rng.uniform(0.2, 0.6)),
            )
        )
    return incidents

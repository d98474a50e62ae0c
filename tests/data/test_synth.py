"""Tests of the simulated road network (``social-xlstm synth``)."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from social_xlstm.data.synth import (
    CellTransmissionModel,
    FundamentalDiagram,
    Incident,
    Simulator,
    add_arguments,
    run,
    simulate,
)
from social_xlstm.data.synth.demand import profile
from social_xlstm.data.synth.network import Network
from social_xlstm.errors import UserError

SMALL = {"vds": 12, "days": 2, "progress": False}


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("synth") / "ds", seed=0, **SMALL)


def _observations(root) -> pd.DataFrame:
    return pq.read_table(root / "observations").to_pandas()


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_different_seed_different_data(tmp_path, small_dataset):
    again = simulate(tmp_path / "again", seed=0, **SMALL)
    parts = sorted(p.name for p in (small_dataset / "observations").iterdir())
    assert parts == ["part-00001.parquet", "part-00002.parquet"]  # one part per day
    for name in [f"observations/{p}" for p in parts] + ["stations.parquet", "dataset.json"]:
        assert (again / name).read_bytes() == (small_dataset / name).read_bytes(), name

    other = simulate(tmp_path / "other", seed=1, **SMALL)
    a, b = _observations(small_dataset), _observations(other)
    assert not a["vd_id"].equals(b["vd_id"]) or not np.allclose(a["flow"], b["flow"], equal_nan=True)


# ---------------------------------------------------------------- schema


def test_schema_grid_and_stations(small_dataset):
    table = pq.read_table(small_dataset / "observations")
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("vd_id").type == pa.string()
    for var in ("flow", "speed", "occupancy"):
        assert table.schema.field(var).type == pa.float32()
    obs = table.to_pandas()
    # Local midnight of 2024-03-04 in Taipei (UTC+8) is 16:00 UTC the day before; 2 days at 5 minutes.
    grid = pd.date_range("2024-03-03 16:00", periods=2 * 288, freq="5min", tz="UTC")
    stamps = pd.DatetimeIndex(obs["timestamp"].unique())
    assert stamps.isin(grid).all()
    assert stamps.min() == grid[0] and stamps.max() == grid[-1]
    assert not obs.duplicated(["timestamp", "vd_id"]).any()

    stations = pd.read_parquet(small_dataset / "stations.parquet")
    assert list(stations.columns) == ["vd_id", "lat", "lon", "road", "direction", "lanes", "name", "km"]
    assert len(stations) == 12 and stations["vd_id"].is_unique
    assert stations["lat"].between(24.6, 25.5).all() and stations["lon"].between(121.0, 122.0).all()
    assert set(stations["direction"]) <= {"N", "S", "E", "W"}
    assert (stations["lanes"] >= 2).all() and (stations["km"] >= 0).all()
    assert set(obs["vd_id"]) <= set(stations["vd_id"])
    # The id carries road, direction and km, like the freeway bureau's VD-N3-S-15.700.
    first = stations.iloc[0]
    assert first["vd_id"] == f"VD-{first['road']}-{first['direction']}-{first['km']:05.1f}"

    meta = json.loads((small_dataset / "dataset.json").read_text())
    assert meta["variables"] == {"flow": "veh/5min", "speed": "km/h", "occupancy": "%"}
    assert meta["timezone"] == "Asia/Taipei" and meta["licence"] == "CC0"
    assert meta["source"] == "social-xlstm synth seed=0" and meta["freq"] == "5min"


def test_vd_positions_follow_their_road(small_dataset):
    """Along each road, consecutive VDs are close (a polyline, not scattered points) and ordered by km."""
    stations = pd.read_parquet(small_dataset / "stations.parquet")
    for _, road in stations.groupby(["road", "direction"]):
        road = road.sort_values("km")
        if len(road) < 2:
            continue
        dlat = np.diff(road["lat"].to_numpy()) * 111.32
        dlon = np.diff(road["lon"].to_numpy()) * 111.32 * np.cos(np.deg2rad(25.0))
        step_km = np.hypot(dlat, dlon)
        dkm = np.diff(road["km"].to_numpy())
        # Straight-line distance never exceeds the along-road distance (+ rounding of km to 0.1).
        assert (step_km <= dkm + 0.11).all()
        assert (step_km >= 0.5 * dkm).all()  # roads bend gently


# ---------------------------------------------------------------- physics


def test_truth_obeys_the_fundamental_diagram():
    sim = Simulator(vds=12, seed=2, random_incidents=False)  # an incident cell has its own, lower capacity
    fd, lanes = sim.fd, sim.stations["lanes"].to_numpy()
    interval_h = 5 / 60
    for day in sim.truth(2):
        assert np.isfinite(day.flow).all() and np.isfinite(day.speed).all()
        assert (day.speed >= 0).all() and (day.speed <= fd.free_speed_kmh + 1e-9).all()
        assert (day.flow >= 0).all()
        assert (day.flow <= fd.capacity_vphpl * lanes * interval_h + 1e-6).all()
        assert (day.occupancy >= 0).all() and (day.occupancy <= 100).all()
        assert (day.density <= fd.jam_density_vpkpl + 1e-9).all()
        # Edie's definitions make q = k * v hold exactly for every interval (all lanes).
        rate = day.flow / interval_h
        np.testing.assert_allclose(rate, day.density * lanes * day.speed, rtol=1e-9, atol=1e-9)
        # Nothing leaves a cell faster than its vehicles can drive: q <= v_f * k, equality in free flow.
        assert (rate <= fd.free_speed_kmh * day.density * lanes * (1 + 1e-9)).all()
        assert np.median(day.speed) == pytest.approx(fd.free_speed_kmh)


def test_observed_values_are_in_range(small_dataset):
    obs = _observations(small_dataset).dropna()
    assert obs["speed"].between(0, 120).all()
    assert obs["occupancy"].between(0, 100).all()
    assert (obs["flow"] >= 0).all() and (obs["flow"] == np.round(obs["flow"])).all()  # vehicle counts


def _straight_road(lanes: list[int], cell_km: float) -> Network:
    """One road: origin -> cells -> sink, no ramps, no VDs."""
    n = len(lanes)
    src = np.array([*range(n), n], dtype=np.int64)
    dst = np.array([*range(1, n), n + 1, 0], dtype=np.int64)
    return Network(
        corridors=[],
        roads=[],
        cell_km=np.full(n, cell_km),
        cell_lanes=np.array(lanes),
        cell_road=np.zeros(n, dtype=np.int64),
        origin_road=np.zeros(1, dtype=np.int64),
        origin_capacity_vph=np.array([np.inf]),
        origin_is_ramp=np.array([False]),
        src=src,
        dst=dst,
        frac=np.ones(n + 1),
        stations=pd.DataFrame(),
        vd_cell=np.zeros(0, dtype=np.int64),
    )


def test_ctm_free_flow_and_bottleneck_queue_match_hand_values():
    fd = FundamentalDiagram()  # v_f 100 km/h, 2000 veh/h/lane, 150 veh/km/lane -> w = 2000/130 km/h
    dt_s = 20.0
    cell_km = fd.free_speed_kmh * dt_s / 3600.0
    steps = 15  # 5 minutes

    # Below capacity: every cell carries the demand at v_f, density q / v_f.
    ctm = CellTransmissionModel(_straight_road([3] * 10, cell_km), fd, dt_s)
    for _ in range(24):
        out, held = ctm.advance(np.array([4500.0]), steps)
    np.testing.assert_allclose(out[:10] * 12, 4500.0, rtol=1e-9)  # veh/5min -> veh/h
    np.testing.assert_allclose(held[:10] / steps / (3 * cell_km), 4500.0 / 3 / fd.free_speed_kmh, rtol=1e-9)

    # 5000 veh/h into a 3-lane road that drops to 2 lanes (4000 veh/h): the drop discharges at capacity and
    # the queue upstream sits on the congested branch: q = 4000/3 per lane, k = k_jam - q / w.
    ctm = CellTransmissionModel(_straight_road([3] * 30 + [2] * 5, cell_km), fd, dt_s)
    left = 0.0
    for _ in range(12):  # one hour: the queue grows upstream but has not reached the first 12 cells
        out, held = ctm.advance(np.array([5000.0]), steps)
        left += out[34]
    np.testing.assert_allclose(out[30:35] * 12, 4000.0, rtol=1e-6)
    q_lane = 4000.0 / 3
    k_queue = fd.jam_density_vpkpl - q_lane / fd.wave_speed_kmh  # 63.33 veh/km/lane
    density = held / steps / (3 * cell_km)
    np.testing.assert_allclose(density[26:29], k_queue, rtol=1e-3)
    speed = out[:35] * cell_km / (held[:35] * dt_s / 3600.0)
    np.testing.assert_allclose(speed[26:29], q_lane / k_queue, rtol=1e-3)  # about 21 km/h
    np.testing.assert_allclose(speed[:5], fd.free_speed_kmh, rtol=1e-9)  # upstream of the queue tail
    # Conservation: one hour of arrivals = vehicles still on the road or queued at the origin + those gone.
    assert ctm.n[:36].sum() + left == pytest.approx(5000.0, rel=1e-9)


def test_incident_queue_travels_upstream_from_vd_to_vd():
    base = Simulator(vds=30, seed=4, random_incidents=False)
    stations = base.stations
    counts = stations.groupby(["road", "direction"]).size()
    road, direction = counts.idxmax()
    on_road = stations[(stations["road"] == road) & (stations["direction"] == direction)].sort_values("km")
    km = float(on_road["km"].iloc[-2]) + 0.3  # just downstream of the second-to-last VD
    start = pd.Timestamp("2024-03-04 11:00")  # Monday midday: busy but below capacity
    incident = Incident(road, direction, km, start, duration_min=60, capacity_factor=0.2)
    sim = Simulator(vds=30, seed=4, random_incidents=False, incidents=[incident])

    hit = next(iter(sim.truth(1))).speed
    calm = next(iter(base.truth(1))).speed
    t0 = (11 * 60) // 5
    window = slice(t0, t0 + 30)  # 2.5 hours from the start of the incident
    upstream = on_road[on_road["km"] < km].sort_values("km", ascending=False)  # nearest first
    columns = [stations.index.get_loc(i) for i in upstream.index]
    assert (calm[window][:, columns] > 80).all()  # without the incident nothing queues here
    first_slow = []
    for c in columns:
        slow = np.flatnonzero(hit[window, c] < 50)
        if len(slow) == 0:
            break
        first_slow.append(int(slow[0]))
    assert len(first_slow) >= 3, first_slow
    assert first_slow == sorted(first_slow), first_slow  # the farther upstream, the later
    assert first_slow[-1] > first_slow[0]
    # Downstream of the incident the road empties: still free-flowing.
    downstream = [stations.index.get_loc(i) for i in on_road[on_road["km"] > km].index]
    assert (hit[window][:, downstream] > 90).all()


# ---------------------------------------------------------------- demand


def test_profiles_peak_by_direction_and_weekday():
    hours = np.linspace(0, 24, 24 * 60 + 1)
    inbound, outbound = profile(hours, True, False), profile(hours, False, False)
    assert inbound.max() == pytest.approx(1.0) and outbound.max() == pytest.approx(1.0)
    assert 7 <= hours[inbound.argmax()] <= 9  # inbound: morning peak
    assert 17 <= hours[outbound.argmax()] <= 19  # outbound: evening peak
    assert profile(hours, True, True).max() < 0.85
    assert profile(np.array([3.0]), True, False)[0] < 0.2


def test_weekday_peak_flow_exceeds_weekend():
    sim = Simulator(vds=12, seed=0, start="2024-03-08", random_incidents=False)  # Friday, Saturday
    friday, saturday = list(sim.truth(2))
    peak = slice(7 * 12, 9 * 12)
    assert friday.flow[peak].sum() > 1.2 * saturday.flow[peak].sum()


# ---------------------------------------------------------------- sensors


def test_scattered_gaps_and_an_outage(small_dataset):
    obs = _observations(small_dataset)
    stations = pd.read_parquet(small_dataset / "stations.parquet")
    grid = pd.date_range("2024-03-03 16:00", periods=2 * 288, freq="5min", tz="UTC")
    wide = obs.pivot(index="timestamp", columns="vd_id", values="flow").reindex(
        index=grid, columns=stations["vd_id"]
    )
    absent = ~pd.MultiIndex.from_product([grid, stations["vd_id"]]).isin(
        pd.MultiIndex.from_frame(obs[["timestamp", "vd_id"]])
    )
    assert absent.any() and obs["flow"].isna().any()  # both forms of gap are written
    missing = wide.isna().to_numpy()  # (T, V)
    in_outage = np.zeros_like(missing)
    outages = 0
    for v in range(missing.shape[1]):
        runs = np.flatnonzero(np.diff(np.r_[0, missing[:, v].astype(int), 0]))
        for lo, hi in zip(runs[::2], runs[1::2], strict=True):
            if hi - lo >= 24:  # two hours or more
                outages += 1
                in_outage[lo:hi, v] = True
    assert outages >= 1
    scattered = missing[~in_outage].mean()
    assert 0.005 <= scattered <= 0.04  # configured 1% to 3% per VD


# ---------------------------------------------------------------- options and command


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vds": 1}, "--vds"),
        ({"days": 0}, "--days"),
        ({"freq": "7min"}, "--freq"),
        ({"freq": "soon"}, "--freq"),
        ({"freq": "2h"}, "--freq"),
        ({"start": "yesterday-ish"}, "--start"),
    ],
)
def test_bad_options_raise_user_error(tmp_path, kwargs, message):
    options = {**SMALL, **kwargs}
    with pytest.raises(UserError, match=message):
        simulate(tmp_path / "bad", **options)
    assert not (tmp_path / "bad").exists()


def test_incident_on_unknown_road_is_a_user_error():
    with pytest.raises(UserError, match="F99-N"):
        Simulator(vds=12, incidents=[Incident("F99", "N", 1.0, "2024-03-04 08:00", 30, 0.5)])


def test_command_line_writes_a_dataset(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "cli"), "--vds", "4", "--days", "1", "--freq", "15min"])
    assert run(args) == 0
    assert "wrote" in capsys.readouterr().out
    obs = _observations(tmp_path / "cli")
    assert obs["timestamp"].nunique() <= 96 and obs["vd_id"].nunique() == 4
    meta = json.loads((tmp_path / "cli" / "dataset.json").read_text())
    assert meta["variables"]["flow"] == "veh/15min"
    with pytest.raises(UserError, match="not empty"):
        run(args)

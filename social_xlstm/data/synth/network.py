"""Layout of the simulated freeway network: corridors, ramps, junctions, CTM cells and VD placement.

The network is a set of radial freeways around Taipei. A few *trunks* start near the city centre and run
outward; every other corridor *branches* off an earlier one at a system interchange: its inbound road
ends by merging into the parent's inbound road, and the parent's outbound road diverges part of its
traffic into the branch's outbound road. Each corridor carries both directions (two *roads*); every road
has off-ramps and on-ramps at its interchanges and may have a lane drop. Roads are chopped into CTM cells
of one length per road, at least the distance a free-flowing vehicle covers in one time step (CFL).

The CTM works on *nodes*: the cells, then one origin queue per on-ramp or road start, then one sink.
Traffic moves along *edges* ``src -> dst`` with a split fraction; a node has at most two outgoing edges
(the mainline and one branch: an off-ramp or a junction diverge), which is what lets the CTM apply the
first-in-first-out diverge rule with two array lookups.

Positions: ``km`` is the distance along the direction of travel from the road's start, so larger ``km``
is downstream on every road (both roads of a corridor share the geometry, mirrored).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CENTER_LAT = 25.045
"""Latitude of the city centre (Taipei Main Station)."""
CENTER_LON = 121.517
"""Longitude of the city centre."""
KM_PER_DEG_LAT = 111.32
"""Kilometres per degree of latitude (and of longitude at the equator)."""
GEOMETRY_STEP_KM = 0.25
"""Spacing of the centreline polyline vertices."""
LANE_OFFSET_KM = 0.015
"""Lateral offset of each carriageway from the centreline (traffic drives on the right)."""
VD_SPACING_KM = 1.0
"""Mean distance between neighbouring VDs on a road."""
MIN_ROAD_KM = 8.0
"""Shortest corridor, so that even tiny networks have room for ramps and queues."""
RAMP_CAPACITY_VPH = 1800.0
"""Discharge capacity of an on-ramp (one lane)."""


@dataclass
class Corridor:
    """One freeway, both directions, described from its inner (city) end outward."""

    name: str
    """Freeway name, e.g. ``"F2"``."""
    parent: int | None
    """Index of the corridor it branches from; ``None`` for a trunk."""
    attach_km: float
    """Distance from the parent's inner end to the junction (0 for a trunk)."""
    length_km: float
    """Length from the inner end to the outer end."""
    lanes: int
    """Basic number of lanes per direction."""
    xy: np.ndarray
    """Centreline vertices (P, 2), km east/north of the centre, every GEOMETRY_STEP_KM from the inner end."""
    interchanges: list[float] = field(default_factory=list)
    """Distances from the inner end of the interchanges (ramps in both directions)."""


@dataclass
class Road:
    """One direction of a corridor: a chain of equal CTM cells."""

    corridor: int
    """Index of its corridor."""
    name: str
    """Freeway name shared by both directions."""
    direction: str
    """Compass direction of travel: N, S, E or W."""
    inbound: bool
    """True when it leads towards the city centre (morning peak), False outward (evening peak)."""
    first_cell: int
    """Index of its first (most upstream) cell."""
    n_cells: int
    """Number of cells."""
    cell_km: float
    """Length of each of its cells."""

    @property
    def length_km(self) -> float:
        return self.n_cells * self.cell_km

    def cell_at(self, km: float) -> int:
        """Global index of the cell containing travel position ``km`` (clipped to the road)."""
        k = int(np.clip(np.floor(km / self.cell_km), 0, self.n_cells - 1))
        return self.first_cell + k


@dataclass
class Network:
    """Everything the CTM, the demand model and the sensors need to know about the roads."""

    corridors: list[Corridor]
    roads: list[Road]
    cell_km: np.ndarray
    """(C,) length of every cell."""
    cell_lanes: np.ndarray
    """(C,) number of lanes of every cell."""
    cell_road: np.ndarray
    """(C,) index of the road of every cell."""
    origin_road: np.ndarray
    """(O,) road whose demand profile drives each origin."""
    origin_capacity_vph: np.ndarray
    """(O,) discharge capacity of each origin (inf for a road start: the first cell limits it)."""
    origin_is_ramp: np.ndarray
    """(O,) True for on-ramps, False for road starts."""
    src: np.ndarray
    """(E,) node each edge leaves."""
    dst: np.ndarray
    """(E,) node each edge enters."""
    frac: np.ndarray
    """(E,) share of the sending node's traffic that takes the edge."""
    stations: pd.DataFrame
    """One row per VD: vd_id, lat, lon, road, direction, lanes, name, km (canonical stations table)."""
    vd_cell: np.ndarray
    """(V,) cell each VD measures, in ``stations`` order."""

    @property
    def n_cells(self) -> int:
        return len(self.cell_km)

    @property
    def n_origins(self) -> int:
        return len(self.origin_road)

    @property
    def n_nodes(self) -> int:
        """Cells, origins and the sink."""
        return self.n_cells + self.n_origins + 1

    @property
    def sink(self) -> int:
        return self.n_nodes - 1

    def road_index(self, name: str, direction: str) -> int:
        """Index of the road ``name`` (e.g. ``"F1"``) in ``direction`` (e.g. ``"N"``)."""
        for i, road in enumerate(self.roads):
            if road.name == name and road.direction == direction:
                return i
        known = sorted(f"{r.name}-{r.direction}" for r in self.roads)
        raise KeyError(f"no road {name}-{direction}; the network has {known}")


def _unit(bearing_deg: np.ndarray | float) -> np.ndarray:
    """(..., 2) east/north unit vector of a compass bearing (clockwise from north)."""
    rad = np.deg2rad(bearing_deg)
    return np.stack([np.sin(rad), np.cos(rad)], axis=-1)


def _centreline(start: np.ndarray, bearing: float, length_km: float, rng: np.random.Generator) -> np.ndarray:
    """A gently curving polyline: the heading random-walks but stays within 25 degrees of ``bearing``."""
    n_steps = int(np.ceil(length_km / GEOMETRY_STEP_KM))
    heading = bearing + np.clip(np.cumsum(rng.normal(0.0, 1.5, n_steps)), -25.0, 25.0)
    steps = GEOMETRY_STEP_KM * _unit(heading)  # (P-1, 2)
    return start + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])  # (P, 2)


def _point_at(xy: np.ndarray, s_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position (n, 2) and unit heading (n, 2) at distances ``s_km`` along a centreline."""
    pos = np.clip(np.asarray(s_km, dtype=float) / GEOMETRY_STEP_KM, 0.0, len(xy) - 1.000001)
    i = np.floor(pos).astype(int)
    seg = xy[i + 1] - xy[i]  # (n, 2)
    point = xy[i] + (pos - i)[:, None] * seg
    return point, seg / np.linalg.norm(seg, axis=1, keepdims=True)


def _to_latlon(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local east/north km -> WGS84 degrees (equirectangular around the centre, fine at city scale)."""
    lat = CENTER_LAT + xy[:, 1] / KM_PER_DEG_LAT
    lon = CENTER_LON + xy[:, 0] / (KM_PER_DEG_LAT * np.cos(np.deg2rad(CENTER_LAT)))
    return lat, lon


def _compass(heading: np.ndarray) -> str:
    """N/S/E/W of a mean east/north heading vector."""
    east, north = heading
    if abs(north) >= abs(east):
        return "N" if north > 0 else "S"
    return "E" if east > 0 else "W"


def _layout_corridors(vds: int, rng: np.random.Generator) -> list[Corridor]:
    """Corridor tree: trunks radiating from the centre, branches attached to earlier corridors."""
    n_corr = max(2, round(np.sqrt(vds / 6.7)))
    n_trunks = max(1, n_corr // 3)
    mean_len = max(MIN_ROAD_KM, VD_SPACING_KM * vds / (2 * n_corr) + 1.0)
    rotation = rng.uniform(0.0, 360.0)
    corridors: list[Corridor] = []
    for k in range(n_corr):
        length = max(MIN_ROAD_KM, mean_len * rng.uniform(0.8, 1.2))
        if k < n_trunks:
            bearing = rotation + 360.0 * k / n_trunks + rng.uniform(-20.0, 20.0)
            start = 1.5 * _unit(bearing)
            parent, attach, lanes = None, 0.0, int(rng.integers(3, 5))
        else:
            parent = int(rng.integers(0, k))
            host = corridors[parent]
            attach = float(rng.uniform(0.3, 0.7) * host.length_km)
            start, heading = _point_at(host.xy, np.array([attach]))
            side = rng.choice([-1.0, 1.0])
            bearing = np.rad2deg(np.arctan2(heading[0, 0], heading[0, 1])) + side * rng.uniform(35.0, 65.0)
            start, lanes = start[0], int(rng.integers(2, 4))
        xy = _centreline(start, bearing, length, rng)
        corridors.append(Corridor(f"F{k + 1}", parent, attach, length, lanes, xy))
    for k, corr in enumerate(corridors):
        # Interchanges keep clear of system junctions so that no cell is both a ramp and a junction.
        busy = [c.attach_km for c in corridors if c.parent == k] + [0.0]
        s = rng.uniform(1.5, 3.0)
        while s < corr.length_km - 1.5:
            if all(abs(s - b) > 1.5 for b in busy):
                corr.interchanges.append(float(s))
            s += rng.uniform(2.5, 5.0)
    return corridors


def build_network(vds: int, rng: np.random.Generator, cell_min_km: float) -> Network:
    """Lay out corridors, cut them into cells, connect ramps and junctions and place ``vds`` detectors.

    Args:
        vds: number of VDs to place (>= 2); the network grows with it (about one VD per km of road).
        rng: the random generator of the network stream.
        cell_min_km: shortest allowed cell, ``v_f * dt`` (the CTM's stability condition).

    Returns:
        The network, with its stations table in (corridor, direction, km) order.
    """
    corridors = _layout_corridors(vds, rng)
    roads: list[Road] = []
    lanes_parts: list[np.ndarray] = []
    first = 0
    for k, corr in enumerate(corridors):
        n_cells = max(4, int(corr.length_km // cell_min_km))
        mean_heading = corr.xy[-1] - corr.xy[0]
        for inbound in (True, False):
            heading = -mean_heading if inbound else mean_heading
            road = Road(k, corr.name, _compass(heading), inbound, first, n_cells, corr.length_km / n_cells)
            lanes = np.full(n_cells, corr.lanes)
            if rng.random() < 0.6 and corr.lanes >= 3:
                # A lane drop over a bridge or tunnel: a bottleneck where the peak queues up.
                a = rng.uniform(0.35, 0.75) * road.length_km
                cells = (np.arange(n_cells) + 0.5) * road.cell_km
                lanes[(cells > a) & (cells < a + rng.uniform(1.0, 3.0))] -= 1
            if inbound and corr.parent is None and not any(c.parent == k for c in corridors):
                # A trunk without branches narrows where it enters the city streets.
                lanes[(np.arange(n_cells) + 0.5) * road.cell_km > road.length_km - 1.5] -= 1
            lanes_parts.append(np.maximum(lanes, 2))
            roads.append(road)
            first += n_cells
    for corr in corridors:
        if corr.parent is not None:
            # The parent carries the branch's traffic between the junction and the city: it widens by
            # one lane less than the branch brings, so the merge itself is a bottleneck.
            p_in, p_out = 2 * corr.parent, 2 * corr.parent + 1
            extra = max(1, corr.lanes - 1)
            centre_in = (np.arange(roads[p_in].n_cells) + 0.5) * roads[p_in].cell_km
            lanes_parts[p_in][centre_in > roads[p_in].length_km - corr.attach_km] += extra
            centre_out = (np.arange(roads[p_out].n_cells) + 0.5) * roads[p_out].cell_km
            lanes_parts[p_out][centre_out < corr.attach_km] += extra
    lanes_parts = [np.minimum(lanes, 6) for lanes in lanes_parts]
    n_cells_total = first
    cell_km = np.concatenate([np.full(r.n_cells, r.cell_km) for r in roads])
    cell_road = np.concatenate([np.full(r.n_cells, i) for i, r in enumerate(roads)])
    cell_lanes = np.concatenate(lanes_parts)

    # Edges first with origins and the sink as symbolic ids, resolved once origins are counted.
    edges: list[tuple[int, int, float]] = []
    origin_road: list[int] = []
    origin_cap: list[float] = []
    origin_ramp: list[bool] = []
    origin_edges: list[tuple[int, int]] = []  # (origin number, cell)
    sink = -1
    branch_of: dict[int, tuple[int, float]] = {}  # diverge cell -> (destination node, fraction)
    merge_into: dict[int, int] = {}  # last cell of a branch's inbound road -> merge cell on the parent
    ramps_on: dict[int, list[int]] = {}  # road -> on-ramp cells
    for k, corr in enumerate(corridors):
        r_in, r_out = 2 * k, 2 * k + 1
        if corr.parent is not None:
            p_in, p_out = roads[2 * corr.parent], roads[2 * corr.parent + 1]
            host_len = corridors[corr.parent].length_km
            merge_into[roads[r_in].first_cell + roads[r_in].n_cells - 1] = p_in.cell_at(host_len - corr.attach_km + 0.1)
            branch_of[p_out.cell_at(corr.attach_km - 0.1)] = (roads[r_out].first_cell, rng.uniform(0.2, 0.4))
        for r in (r_in, r_out):
            road = roads[r]
            ramps_on[r] = []
            for s in corr.interchanges:
                x = corr.length_km - s if road.inbound else s
                off, on = road.cell_at(x - 0.3), road.cell_at(x + 0.3)
                last = road.first_cell + road.n_cells - 1
                if off <= road.first_cell or on >= last:
                    continue
                on = max(on, off + 1)
                branch_of[off] = (sink, rng.uniform(0.05, 0.15))
                ramps_on[r].append(on)
    for r, road in enumerate(roads):
        corr = corridors[road.corridor]
        is_branch_start = corr.parent is not None and not road.inbound
        if not is_branch_start:
            origin_edges.append((len(origin_road), road.first_cell))
            origin_road.append(r)
            origin_cap.append(np.inf)
            origin_ramp.append(False)
        for on in ramps_on[r]:
            origin_edges.append((len(origin_road), on))
            origin_road.append(r)
            origin_cap.append(RAMP_CAPACITY_VPH)
            origin_ramp.append(True)
        for c in range(road.first_cell, road.first_cell + road.n_cells):
            last = c == road.first_cell + road.n_cells - 1
            downstream = merge_into.get(c, sink) if last else c + 1
            if c in branch_of:
                node, share = branch_of[c]
                edges.append((c, downstream, 1.0 - share))
                edges.append((c, node, share))
            else:
                edges.append((c, downstream, 1.0))
    n_origins = len(origin_road)
    sink_node = n_cells_total + n_origins
    src = np.array([e[0] for e in edges] + [n_cells_total + o for o, _ in origin_edges], dtype=np.int64)
    dst = np.array([e[1] for e in edges] + [c for _, c in origin_edges], dtype=np.int64)
    dst[dst == sink] = sink_node
    frac = np.array([e[2] for e in edges] + [1.0] * n_origins)

    stations, vd_cell = _place_vds(vds, corridors, roads, cell_lanes, rng)
    return Network(
        corridors=corridors,
        roads=roads,
        cell_km=cell_km,
        cell_lanes=cell_lanes,
        cell_road=cell_road,
        origin_road=np.array(origin_road, dtype=np.int64),
        origin_capacity_vph=np.array(origin_cap),
        origin_is_ramp=np.array(origin_ramp),
        src=src,
        dst=dst,
        frac=frac,
        stations=stations,
        vd_cell=vd_cell,
    )


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (largest remainders)."""
    share = total * weights / weights.sum()
    counts = np.floor(share).astype(int)
    rest = total - counts.sum()
    counts[np.argsort(-(share - counts), kind="stable")[:rest]] += 1
    return counts


def _place_vds(
    vds: int, corridors: list[Corridor], roads: list[Road], cell_lanes: np.ndarray, rng: np.random.Generator
) -> tuple[pd.DataFrame, np.ndarray]:
    """Spread the VDs evenly (with jitter) over the roads, one VD per cell at most."""
    counts = _allocate(vds, np.array([r.n_cells for r in roads], dtype=float))
    rows: list[dict] = []
    cells: list[int] = []
    for road, m in zip(roads, counts, strict=True):
        if m == 0:
            continue
        if m > road.n_cells:
            raise ValueError(f"{m} VDs do not fit on {road.n_cells} cells")
        gap = road.n_cells / m
        base = np.floor((np.arange(m) + 0.5) * gap).astype(int)
        jitter = int((np.floor(gap) - 1) // 2)
        local = base + rng.integers(-jitter, jitter + 1, m) if jitter > 0 else base
        km = np.round((local + rng.uniform(0.2, 0.8, m)) * road.cell_km, 1)
        corr = corridors[road.corridor]
        s = corr.length_km - km if road.inbound else km
        point, heading = _point_at(corr.xy, s)
        heading = -heading if road.inbound else heading
        right = np.stack([heading[:, 1], -heading[:, 0]], axis=1)  # heading turned 90 degrees clockwise
        lat, lon = _to_latlon(point + LANE_OFFSET_KM * right)
        bound = "inbound" if road.inbound else "outbound"
        for j in range(m):
            cell = road.first_cell + int(local[j])
            cells.append(cell)
            rows.append(
                {
                    "vd_id": f"VD-{road.name}-{road.direction}-{km[j]:05.1f}",
                    "lat": round(float(lat[j]), 6),
                    "lon": round(float(lon[j]), 6),
                    "road": road.name,
                    "direction": road.direction,
                    "lanes": int(cell_lanes[cell]),
                    "name": f"{road.name} {road.direction}-bound ({bound}) km {km[j]:.1f}",
                    "km": float(km[j]),
                }
            )
    stations = pd.DataFrame(rows)
    stations["lanes"] = stations["lanes"].astype("int32")
    return stations, np.array(cells, dtype=np.int64)

"""Cell transmission model (Daganzo 1994/1995) on the simulator's node/edge network.

Each cell holds ``n`` vehicles. With a triangular fundamental diagram (free-flow speed ``v_f``, capacity
``q_max`` per lane, jam density ``k_jam`` per lane, backward wave speed ``w = q_max / (k_jam - k_crit)``)
a cell of length ``L`` with ``l`` lanes can, in one step ``dt``,

    send     S = min(n * v_f dt / L,  q_max l dt)
    receive  R = min(q_max l dt,  w dt / L * (k_jam l L - n))

Every edge ``e = (i -> j)`` asks for ``d_e = frac_e * S_i``. A receiving node that is asked for more than it
can take shares ``R_j`` in proportion to the demands (the demand-proportional merge rule), and a sending
node with two outgoing edges moves at the pace of its most restricted one (the first-in-first-out diverge
rule: a queue on the mainline also holds back the vehicles that want the off-ramp). Vectorised over all
nodes, each time step is a couple of dozen numpy calls; only the time loop is in Python.

Origins (ramp and road-start queues) have unlimited storage and send up to their discharge capacity; the
sink swallows everything, so an incident (a capacity drop on one cell) is the only thing that can make
the queue spill back, besides the bottlenecks built into the network (merges, lane drops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from social_xlstm.data.synth.network import Network


@dataclass(frozen=True)
class FundamentalDiagram:
    """Triangular flow-density relation shared by all freeway lanes."""

    free_speed_kmh: float = 100.0
    """Free-flow speed v_f."""
    capacity_vphpl: float = 2000.0
    """Capacity per lane q_max (veh/h/lane)."""
    jam_density_vpkpl: float = 150.0
    """Jam density per lane k_jam (veh/km/lane)."""

    @property
    def critical_density(self) -> float:
        """Density at capacity, q_max / v_f (veh/km/lane)."""
        return self.capacity_vphpl / self.free_speed_kmh

    @property
    def wave_speed_kmh(self) -> float:
        """Speed at which congestion travels upstream, w (km/h)."""
        return self.capacity_vphpl / (self.jam_density_vpkpl - self.critical_density)


class CellTransmissionModel:
    """State and time stepping of the CTM on one network.

    Args:
        network: the road network (cells, origins, sink, edges).
        fd: the fundamental diagram.
        dt_s: time step in seconds; every cell must be at least ``v_f * dt`` long.
    """

    def __init__(self, network: Network, fd: FundamentalDiagram, dt_s: float):
        self.network, self.fd, self.dt_h = network, fd, dt_s / 3600.0
        n_cells, n_nodes = network.n_cells, network.n_nodes
        if np.any(network.cell_km < fd.free_speed_kmh * self.dt_h - 1e-9):
            raise ValueError(f"cells shorter than v_f * dt = {fd.free_speed_kmh * self.dt_h:.3f} km break the CTM")
        lanes = network.cell_lanes.astype(float)
        self.base_capacity = np.full(n_nodes, np.inf)  # veh per step
        self.base_capacity[:n_cells] = fd.capacity_vphpl * lanes * self.dt_h
        self.base_capacity[n_cells : n_cells + network.n_origins] = network.origin_capacity_vph * self.dt_h
        self.capacity = self.base_capacity.copy()
        self.storage = np.full(n_nodes, np.inf)  # jam storage, veh
        self.storage[:n_cells] = fd.jam_density_vpkpl * lanes * network.cell_km
        self.send_rate = np.ones(n_nodes)  # share of a cell's vehicles that can leave in one step
        self.send_rate[:n_cells] = fd.free_speed_kmh * self.dt_h / network.cell_km
        self.send_rate[-1] = 0.0  # the sink sends nothing
        self.recv_rate = np.ones(n_nodes)
        self.recv_rate[:n_cells] = fd.wave_speed_kmh * self.dt_h / network.cell_km
        self.n = np.zeros(n_nodes)
        # Outgoing edges of every node: the mainline and the branch, or a dummy edge with ratio 1.
        n_edges = len(network.src)
        out_first = np.full(n_nodes, n_edges)
        out_second = np.full(n_nodes, n_edges)
        for e in range(n_edges - 1, -1, -1):
            node = network.src[e]
            out_second[node] = out_first[node]
            out_first[node] = e
        self._out_first, self._out_second = out_first, out_second
        self._origins = slice(n_cells, n_cells + network.n_origins)

    def set_capacity_factor(self, cells: np.ndarray, factors: np.ndarray) -> None:
        """Scale the capacity of ``cells`` by ``factors`` (incidents); all other cells get full capacity."""
        self.capacity[:] = self.base_capacity
        if len(cells):
            np.minimum.at(self.capacity, cells, self.base_capacity[cells] * factors)

    def advance(self, arrivals_vph: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Run ``steps`` time steps with constant origin arrival rates.

        Args:
            arrivals_vph: (O,) demand arriving at each origin queue, veh/h.
            steps: number of CTM steps.

        Returns:
            ``(outflow, occupancy)``, both (M,) summed over the steps: vehicles that left each node, and
            vehicles present in each node at the start of each step (veh * steps).
        """
        net = self.network
        src, dst, frac = net.src, net.dst, net.frac
        n, cap, store = self.n, self.capacity, self.storage
        send_rate, recv_rate = self.send_rate, self.recv_rate
        n_nodes, n_edges = len(n), len(src)
        arrivals = arrivals_vph * self.dt_h
        send, recv = np.empty(n_nodes), np.empty(n_nodes)
        demand = np.empty(n_edges)
        ratio_e = np.ones(n_edges + 1)  # last slot: the dummy edge of nodes with a single outlet
        ratio_a, ratio_b = np.empty(n_nodes), np.empty(n_nodes)
        out_total, n_total = np.zeros(n_nodes), np.zeros(n_nodes)
        first, second = self._out_first, self._out_second
        for _ in range(steps):
            n[self._origins] += arrivals
            n_total += n
            np.multiply(n, send_rate, out=send)
            np.minimum(send, cap, out=send)
            np.subtract(store, n, out=recv)
            np.multiply(recv, recv_rate, out=recv)
            np.minimum(recv, cap, out=recv)
            np.take(send, src, out=demand)
            demand *= frac
            asked = np.bincount(dst, weights=demand, minlength=n_nodes)
            # Share of what each node is asked for that it can take (1 where it is not asked at all).
            np.maximum(asked, 1e-12, out=asked)
            np.divide(recv, asked, out=asked)
            np.minimum(asked, 1.0, out=asked)
            np.take(asked, dst, out=ratio_e[:n_edges])
            np.take(ratio_e, first, out=ratio_a)
            np.take(ratio_e, second, out=ratio_b)
            np.minimum(ratio_a, ratio_b, out=ratio_a)
            demand *= ratio_a[src]
            outflow = np.bincount(src, weights=demand, minlength=n_nodes)
            n += np.bincount(dst, weights=demand, minlength=n_nodes)
            n -= outflow
            out_total += outflow
        np.maximum(n, 0.0, out=n)  # float round-off only; conservation keeps n >= 0 exactly otherwise
        n[-1] = 0.0  # the sink's count has no meaning; keep it from growing without bound
        return out_total, n_total

"""Held-out VDs: score forecasts at places the model never observed (the intervals / virtual-VD issue).

``data.holdout_vds`` (a share in (0, 1), or a list of VD ids) hides those VDs completely, as if no
detector stood there:

* their inputs are missing in every split (``x_mask`` False, ``x`` 0) and the model reads them with the
  embedding's shared fallback row, not a row of their own (``DataInfo.holdout_vds``);
* no other VD reads them: their out-edges leave the graph (self loops stay), so the observed network
  trains exactly as without them, and a held-out VD reads only its neighbours;
* their targets are left out of the loss and of validation (early stopping and calibration never see
  them), and the scaler is fitted without them;
* the test scores forecasts **only** at them, against their real readings; the baselines become their
  neighbours' (inverse-distance weighting, :mod:`social_xlstm.forecast.interpolation`).

A share draws ``round(share * N)`` VDs (at least 1, never all) with ``data.holdout_seed``, independently
of the run's seed: the same draw for every model and seed of a comparison, another draw per holdout seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from social_xlstm.data.graph import Graph
from social_xlstm.errors import UserError


def draw_holdout(vd_ids: Sequence[str], spec: float | Sequence[str] | None, seed: int = 0) -> np.ndarray:
    """Which VDs are held out.

    Args:
        vd_ids: the network's VDs in panel order (N).
        spec: a share in (0, 1), a list of VD ids, or None (none held out).
        seed: the draw's seed (a share only).

    Returns:
        (N,) bool, True where held out.

    Raises:
        UserError: a share outside (0, 1), unknown or repeated ids, or every VD held out.
    """
    n = len(vd_ids)
    hidden = np.zeros(n, dtype=bool)
    if spec is None or (isinstance(spec, Sequence) and not isinstance(spec, str) and len(spec) == 0):
        return hidden
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        if not 0.0 < float(spec) < 1.0:
            raise UserError(f"data.holdout_vds: a share must lie in (0, 1), got {spec}")
        count = min(max(int(round(float(spec) * n)), 1), n - 1)
        if n < 2:
            raise UserError(f"data.holdout_vds: the network has {n} VD; holding one out leaves none to read")
        hidden[np.random.default_rng(seed).permutation(n)[:count]] = True
        return hidden
    if isinstance(spec, str):
        raise UserError(f"data.holdout_vds: give a share in (0, 1) or a list of VD ids, got the string {spec!r}")
    ids = [str(v) for v in spec]
    position = {vd: i for i, vd in enumerate(vd_ids)}
    unknown = [vd for vd in ids if vd not in position]
    if unknown:
        raise UserError(f"data.holdout_vds: {len(unknown)} id(s) not in the dataset: {unknown[:10]}")
    repeated = sorted({vd for vd in ids if ids.count(vd) > 1})
    if repeated:
        raise UserError(f"data.holdout_vds: id(s) listed more than once: {repeated[:10]}")
    hidden[[position[vd] for vd in ids]] = True
    if hidden.all():
        raise UserError(f"data.holdout_vds holds every one of the {n} VDs: none is left to read")
    return hidden


def drop_reads_of(graph: Graph, hidden: np.ndarray) -> Graph:
    """The graph without the edges out of held-out VDs (their self loops stay): nothing reads them.

    Shapes:
        hidden: (N,) bool.
    """
    src, dst = graph.edge_index_array
    keep = ~hidden[src] | (src == dst)
    return replace(
        graph,
        edge_index_array=np.ascontiguousarray(graph.edge_index_array[:, keep]),
        edge_attr_array=np.ascontiguousarray(graph.edge_attr_array[keep]),
    )


def unread(graph: Graph, hidden: np.ndarray) -> list[int]:
    """Positions of held-out VDs that read no observed VD (their forecast is the calendar's alone)."""
    src, dst = graph.edge_index_array
    reads = np.zeros(len(hidden), dtype=bool)
    reads[dst[(src != dst) & ~hidden[src]]] = True
    return np.flatnonzero(hidden & ~reads).tolist()

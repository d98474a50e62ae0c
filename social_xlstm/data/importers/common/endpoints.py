"""What an edge list's endpoints are: VD ids, or 0- or 1-based positions in the VD order (``--edge-ids``).

Graph papers publish ``i j w`` lines of column positions; releases with ids (DCRNN) publish the ids. The
rule, the base and the range checks are here, so every reader of edge lists applies the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.errors import DataError, UserError

EDGE_IDS = ("auto", "id", "index")
"""``--edge-ids``: what an edge list's endpoints are (VD ids, positions in the VD order, or found)."""


def resolve_endpoints(
    edges: pd.DataFrame, ids: Sequence[str] | None, path: str | Path, endpoints: str = "auto", base: int | None = None
) -> tuple[pd.DataFrame, bool]:
    """Endpoints as VD ids: kept when they are ids, else read as positions in ``ids``.

    ``endpoints="auto"`` keeps them when every one is a VD id (or ``ids`` is None), else reads them as
    positions when every one is an integer; ``"index"`` always reads positions, ``"id"`` never. The base
    of positions is ``base``, else 0 when one is 0, 1 when the largest is ``len(ids)``; a list that says
    neither (every position in 1 .. N-1) needs ``base``.

    Returns:
        ``(edges, positions)``: the frame with id endpoints, and whether they were positions.
    """
    if endpoints not in EDGE_IDS:
        raise UserError(f"--edge-ids {endpoints!r}: valid are {', '.join(EDGE_IDS)}")
    if base not in (None, 0, 1):
        raise UserError(f"--edge-base {base!r}: positions count from 0 or 1")
    if endpoints == "id" or ids is None:
        return edges, False
    ids = [str(i) for i in ids]
    both = pd.concat([edges["src"], edges["dst"]], ignore_index=True)
    if endpoints == "auto" and both.isin(set(ids)).all():
        return edges, False
    position = pd.to_numeric(both, errors="coerce")
    whole = position.notna() & (position == np.floor(position))
    if not whole.all():
        if endpoints == "auto":
            return edges, False  # names of VDs: finish_edges says which are unknown
        first = int(np.flatnonzero(~whole.to_numpy())[0])
        raise DataError(
            f"{path}: --edge-ids index, but endpoint {both.iloc[first]!r} (row {first % len(edges)}) is not an "
            "integer position"
        )
    low, high, n = int(position.min()), int(position.max()), len(ids)
    if base is None:
        if low == 0:
            base = 0
        elif high == n:
            base = 1
        elif endpoints == "auto" and (low < 0 or high > n):
            return edges, False
        else:
            raise DataError(
                f"{path}: endpoints are positions {low} .. {high} among {n} VDs, which say neither 0- nor "
                "1-based: give --edge-base 0 or 1"
            )
    if low < base or high > n - 1 + base:
        if endpoints == "auto":
            return edges, False
        raise DataError(
            f"{path}: endpoints are {base}-based positions {low} .. {high}, but there are {n} VDs "
            f"(positions {base} .. {n - 1 + base}; rows and columns follow the stations file, else the series)"
        )
    order = np.asarray(ids, dtype=object)
    resolved = edges.copy()
    for col in ("src", "dst"):
        resolved[col] = order[pd.to_numeric(edges[col]).to_numpy(dtype=np.int64) - base]
    return resolved, True

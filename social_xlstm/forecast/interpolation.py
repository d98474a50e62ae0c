"""Forecasts at places without a detector from the detectors around them: inverse-distance weighting.

The baselines a held-out (or virtual) VD's forecast is scored against (the intervals / virtual-VD
issue): any forecast of the observed VDs (persistence, the historical average, the model's own) carried
to each held-out VD as the weighted mean of its ``k`` nearest observed VDs, weights ``1 / d^power``
(great-circle distance, at least 1 m). Spatial interpolation as road operators use it, and what a
social layer that reads neighbours has to beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from social_xlstm.data.format.geo import haversine_m

IDW_NEIGHBOURS = 4
"""Observed VDs each held-out VD's interpolation reads."""
IDW_POWER = 2.0
"""Exponent of the inverse distance (2: the usual choice of spatial interpolation)."""
_CHUNK = 1024  # held-out VDs whose distances to every observed VD are held at once


class NeighbourInterpolation:
    """Each target VD's value as the inverse-distance-weighted mean of its nearest source VDs' values.

    Args:
        lat, lon: (N,) degrees of every network VD (NaN where unknown).
        targets: (N,) bool, the VDs to interpolate (held out).
        sources: (N,) bool, the VDs read (observed, with coordinates); never a target.
        k: sources per target (fewer when fewer exist).
        power: exponent of the inverse distance.

    Attributes:
        target_pos: (Nt,) int64 positions of the targets; source_pos: (Nt, k) their sources;
        weights: (Nt, k) float32, each row summing to 1.

    Raises:
        ValueError: a target without coordinates, or no source at all.
    """

    def __init__(
        self,
        lat: np.ndarray,
        lon: np.ndarray,
        targets: np.ndarray,
        sources: np.ndarray,
        k: int = IDW_NEIGHBOURS,
        power: float = IDW_POWER,
    ):
        lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        target_pos = np.flatnonzero(targets)
        source_pos = np.flatnonzero(sources & ~targets & np.isfinite(lat) & np.isfinite(lon))
        if len(source_pos) == 0:
            raise ValueError("no observed VD with coordinates to interpolate from")
        unplaced = target_pos[~(np.isfinite(lat[target_pos]) & np.isfinite(lon[target_pos]))]
        if len(unplaced):
            where = unplaced[:5].tolist()
            raise ValueError(f"{len(unplaced)} VD(s) to interpolate have no coordinates (positions {where})")
        k = min(k, len(source_pos))
        nearest = np.empty((len(target_pos), k), dtype=np.int64)
        dist = np.empty((len(target_pos), k))
        for lo in range(0, len(target_pos), _CHUNK):
            t = target_pos[lo : lo + _CHUNK]
            d = haversine_m(lat[t][:, None], lon[t][:, None], lat[source_pos][None], lon[source_pos][None])
            part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else np.tile(np.arange(k), (len(t), 1))
            nearest[lo : lo + len(t)] = source_pos[part]
            dist[lo : lo + len(t)] = np.take_along_axis(d, part, axis=1)
        weights = 1.0 / np.maximum(dist, 1.0) ** power
        self.target_pos = torch.from_numpy(target_pos)
        self.source_pos = torch.from_numpy(nearest)
        self.weights = torch.from_numpy((weights / weights.sum(1, keepdims=True)).astype(np.float32))
        self.k, self.power = k, power

    def __call__(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` with every target column replaced by its sources' weighted mean.

        Shapes:
            values: (B, H, N, O); returns (B, H, N, O).
        """
        out = values.clone()
        read = values[:, :, self.source_pos.to(values.device)]  # (B, H, Nt, k, O)
        weights = self.weights.to(values.device, values.dtype)[None, None, :, :, None]  # (1, 1, Nt, k, 1)
        out[:, :, self.target_pos.to(values.device)] = (read * weights).sum(3)
        return out


def station_coordinates(stations: pd.DataFrame, vd_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of ``vd_ids`` from a stations table (NaN for a VD it lacks), both (N,) float64."""
    table = stations.assign(vd_id=stations["vd_id"].astype(str)).drop_duplicates("vd_id").set_index("vd_id")
    rows = table.reindex([str(v) for v in vd_ids])
    return rows["lat"].to_numpy(dtype=np.float64), rows["lon"].to_numpy(dtype=np.float64)

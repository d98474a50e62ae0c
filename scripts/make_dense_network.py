"""Write a simulated network as a city network is often published: wide speeds and a dense weight matrix.

    python scripts/make_dense_network.py --vds 500 --days 30 --out DIR
    social-xlstm ingest wide DIR/speed.csv --variable speed --unit km/h --edges DIR/adj.npy --out DS
    social-xlstm validate DS

What comes out (the shape of the networks the ``wide`` importer and ``data.max_neighbours`` are for):

* ``speed.csv``: a ``timestamp`` column (local time with its UTC offset, e.g. ``2024-03-04T00:05:00+08:00``)
  and one column per VD of 5-minute speeds in km/h; empty cells where the simulated detector missed.
* ``adj.npy``: a dense (N, N) float32 weight matrix in the column order of ``speed.csv``: the Gaussian kernel
  ``exp(-(d / sigma)^2)`` of the great-circle distance ``d`` between VDs, ``sigma`` the standard deviation of
  all pairwise distances (DCRNN's choice), set to 0 below the threshold that keeps ``--density`` of the
  ordered pairs. The diagonal is 1. No distances and no coordinates are written: the weights are the graph.

With the defaults (500 VDs, density 0.4) the in-degrees span tens to hundreds, like the issue's
published network (in-degrees 86 to 316, about 110,000 edges).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from social_xlstm.data.format.geo import haversine_m
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.panel import load_panel
from social_xlstm.data.synth import simulate


def gaussian_adjacency(lat: np.ndarray, lon: np.ndarray, density: float) -> np.ndarray:
    """(N, N) float32 thresholded Gaussian kernel of the pairwise great-circle distances.

    Args:
        lat, lon: (N,) WGS84 degrees.
        density: share of ordered off-diagonal pairs kept as edges (0 < density <= 1).
    """
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])  # (N, N) metres
    off = ~np.eye(len(lat), dtype=bool)
    sigma = float(d[off].std()) or 1.0
    weight = np.exp(-((d / sigma) ** 2))
    # the weakest kept weight: pairs at or above it are `density` of the off-diagonal pairs
    threshold = np.quantile(weight[off], 1.0 - density)
    adj = np.where(weight >= threshold, weight, 0.0)
    np.fill_diagonal(adj, 1.0)
    return adj.astype(np.float32)


def make_dense_network(out: Path, vds: int = 500, days: int = 30, density: float = 0.4, seed: int = 0) -> Path:
    """Simulate ``vds`` VDs for ``days`` days and write ``speed.csv`` and ``adj.npy`` under ``out``."""
    if not 0 < density <= 1:
        raise SystemExit(f"--density must be in (0, 1], got {density}")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out) as tmp:
        dataset = load_dataset(simulate(Path(tmp) / "sim", vds=vds, days=days, seed=seed, progress=False))
        panel = load_panel(dataset, ["speed"])
    local = panel.timestamps.tz_convert(panel.timezone)
    stamps = local.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)
    speed = pd.DataFrame(panel.values[:, :, 0], columns=panel.vd_ids)  # (T, N)
    speed.insert(0, "timestamp", stamps)
    speed.to_csv(out / "speed.csv", index=False, float_format="%.2f")
    stations = dataset.stations.set_index("vd_id").loc[panel.vd_ids]
    adj = gaussian_adjacency(stations["lat"].to_numpy(), stations["lon"].to_numpy(), density)
    np.save(out / "adj.npy", adj)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vds", type=int, default=500, help="number of VDs (default 500)")
    parser.add_argument("--days", type=int, default=30, help="number of days (default 30)")
    parser.add_argument("--density", type=float, default=0.4, help="share of VD pairs that are edges (default 0.4)")
    parser.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="folder for speed.csv and adj.npy")
    args = parser.parse_args(argv)
    out = make_dense_network(args.out, args.vds, args.days, args.density, args.seed)
    adj = np.load(out / "adj.npy")
    degree = (adj > 0).sum(axis=0)  # column j: the in-edges of VD j, self loop included
    print(
        f"{out / 'speed.csv'}: {adj.shape[0]} VDs; {out / 'adj.npy'}: {int((adj > 0).sum() - adj.shape[0])} edges "
        f"without self loops, in-degree incl. self loop {degree.min()} to {degree.max()} (median {np.median(degree):g})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

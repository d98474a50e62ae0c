"""Time and peak memory of loading a canonical dataset into a panel (and optionally the datamodule).

    python scripts/bench_load.py DIR                      # load_dataset + load_panel
    python scripts/bench_load.py DIR --datamodule         # the full TrafficDataModule
    python scripts/bench_load.py DIR --make --days 90 --vds 2000   # first write a synthetic test dataset

``--make`` writes one Parquet file per day (``observations/part-*.parquet``), 3 variables, 2% of rows
absent, so a large directory can be produced without the simulator. Peak RSS comes from
``resource.getrusage`` (the high-water mark of this process).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from social_xlstm.data.format.schema import DatasetMeta, write_dataset


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def make_dataset(out: Path, days: int, vds: int, seed: int = 0) -> None:
    """Write a synthetic ``days`` x ``vds`` dataset at 5-minute resolution, one file per day."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"VD{i:05d}" for i in range(vds)], dtype=object)
    steps = 288

    def parts():
        for day in range(days):
            stamps = pd.date_range(
                pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=day), periods=steps, freq="5min"
            )
            keep = rng.random(steps * vds) > 0.02
            t = np.repeat(np.arange(steps), vds)[keep]
            v = np.tile(np.arange(vds), steps)[keep]
            n = int(keep.sum())
            yield pa.table(
                {
                    "timestamp": pa.array(stamps.values[t], pa.timestamp("ns")).cast(
                        pa.timestamp("us", tz="UTC")
                    ),
                    "vd_id": pa.array(ids[v], pa.string()),
                    "flow": rng.gamma(4.0, 20.0, n).astype(np.float32),
                    "speed": rng.normal(80, 10, n).astype(np.float32),
                    "occupancy": rng.uniform(0, 0.5, n).astype(np.float32),
                }
            )

    stations = pd.DataFrame(
        {"vd_id": ids, "lat": 25.0 + rng.uniform(0, 0.5, vds), "lon": 121.3 + rng.uniform(0, 0.5, vds)}
    )
    meta = DatasetMeta(
        "bench",
        "5min",
        {"flow": "veh/5min", "speed": "km/h", "occupancy": "%"},
        timezone="Asia/Taipei",
        source="scripts/bench_load.py --make",
    )
    write_dataset(out, parts(), stations, meta, overwrite=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path)
    parser.add_argument("--make", action="store_true", help="first write a synthetic dataset to ROOT")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--vds", type=int, default=2000)
    parser.add_argument("--datamodule", action="store_true", help="build the whole TrafficDataModule")
    args = parser.parse_args()
    if args.make:
        start = time.perf_counter()
        make_dataset(args.root, args.days, args.vds)
        print(
            f"wrote {args.root} in {time.perf_counter() - start:.1f} s; peak RSS {peak_rss_mib():.0f} MiB "
            "(generation only; rerun without --make to measure loading)"
        )
        return

    from social_xlstm.data.format.reader import load_dataset
    from social_xlstm.data.panel import load_panel

    start = time.perf_counter()
    dataset = load_dataset(args.root, check_rows=False)
    panel = load_panel(dataset)
    elapsed = time.perf_counter() - start
    print(
        f"panel {panel.values.shape} ({panel.values.nbytes / 2**20:.0f} MiB values) from "
        f"{len(dataset.observation_files)} file(s) in {elapsed:.1f} s; peak RSS {peak_rss_mib():.0f} MiB"
    )
    if args.datamodule:
        from social_xlstm.data.datamodule import TrafficDataModule

        del panel
        start = time.perf_counter()
        dm = TrafficDataModule(str(args.root))
        print(
            f"datamodule: {len(dm.datasets['train'])} train windows, graph {dm.graph.num_edges} edges, "
            f"{time.perf_counter() - start:.1f} s; peak RSS {peak_rss_mib():.0f} MiB"
        )


if __name__ == "__main__":
    main()

"""Per-tick latency of the streaming forecaster on CPU, ring-buffer (window) and stateful (state) modes.

    python scripts/bench_stream.py                          # N = 60 (reference) and 8600 (LargeST's California)
    python scripts/bench_stream.py --vds 60 8600 --ticks 40 --neighbours 16 --threads 2

An untrained model of the los-loop config's model section (width 64, 2 sLSTM blocks, 4 heads, source-form
social layer, last-value skip) on a **random graph** of ``--vds`` VDs (self loop and ``--neighbours - 1``
random other sources each, the cap ``configs/los_loop.yaml`` uses; random edge features), 2 input and
2 target variables, W = H = 12, 5-minute ticks. Each tick is one ``StreamingForecaster.update`` with a
DataFrame of every VD's readings (5% missing) and returns the forecasts DataFrame (N * H * O rows); the
latency is its wall time. ``--warmup`` ticks are run first and not counted. The split of one tick into
its parts (readings -> tensors, the network and within it the encoder and the fusion, the forecast table;
medians over the ticks) is printed beside it.
Prints Markdown tables; writes nothing.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

from bench_epoch import _cpu_model, _random_graph  # noqa: E402

from social_xlstm.data.info import DataInfo  # noqa: E402
from social_xlstm.forecast.streaming import StreamingForecaster  # noqa: E402
from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape  # noqa: E402

VARIABLES = ["flow", "speed"]


def build(nodes: int, neighbours: int, model_cfg: dict, window: int, horizon: int) -> tuple[Forecaster, DataInfo]:
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    edge_index, edge_attr = _random_graph(nodes, neighbours, gen)
    info = DataInfo(
        vd_ids=[f"VD{i:05d}" for i in range(nodes)],
        variables=VARIABLES,
        targets=VARIABLES,
        mean=[100.0, 80.0],
        std=[30.0, 10.0],
        edge_index=edge_index.T.tolist(),
        edge_attr=edge_attr.tolist(),
        window=window,
        horizon=horizon,
        timezone="America/Los_Angeles",
    )
    net = Forecaster(ModelConfig(**model_cfg), NetworkShape.from_info(info))
    return net.eval(), info


def readings(nodes: int, rng: np.random.Generator, ids: list[str]) -> pd.DataFrame:
    values = rng.normal([100.0, 80.0], [30.0, 10.0], size=(nodes, 2))
    values[rng.random(values.shape) < 0.05] = np.nan
    return pd.DataFrame({"vd_id": ids, "flow": values[:, 0], "speed": values[:, 1]})


def run(forecaster: StreamingForecaster, nodes: int, ticks: int, warmup: int) -> dict:
    rng = np.random.default_rng(0)
    frames = [readings(nodes, rng, forecaster.vd_ids) for _ in range(4)]
    start = pd.Timestamp("2024-03-04T00:00Z")
    latencies, parts = [], {k: [] for k in ("readings", "network", "encoder", "fusion", "table")}
    timer = _PartTimer(forecaster, parts)
    for k in range(warmup + ticks):
        tick = time.perf_counter()
        forecaster.update(start + k * forecaster.freq, frames[k % len(frames)])
        if k >= warmup:
            latencies.append(time.perf_counter() - tick)
        else:
            for v in parts.values():
                v.clear()
    timer.restore()
    lat = np.asarray(latencies) * 1e3
    out = {q: float(np.percentile(lat, q)) for q in (50, 90, 99)}
    out["max"] = float(lat.max())
    # per tick: the encoder and fusion parts summed over their calls of the tick (median over ticks)
    calls = {k: max(1, len(v) // max(1, len(latencies))) for k, v in parts.items()}
    out.update({f"part_{k}": float(np.median(np.add.reduceat(v, range(0, len(v), calls[k])))) * 1e3
                for k, v in parts.items() if v})  # fmt: skip
    return out


class _PartTimer:
    """Wraps the forecaster's readings parser, network and table builder to time each part of a tick."""

    def __init__(self, forecaster: StreamingForecaster, parts: dict):
        import social_xlstm.forecast.streaming as streaming

        self.module, self.forecaster = streaming, forecaster
        self.saved = (streaming.tick_arrays, forecaster._table, forecaster.net.forward, forecaster.net.step)

        def timed(fn, key):
            def wrapper(*args, **kwargs):
                begin = time.perf_counter()
                result = fn(*args, **kwargs)
                parts[key].append(time.perf_counter() - begin)
                return result

            return wrapper

        streaming.tick_arrays = timed(streaming.tick_arrays, "readings")
        forecaster._table = timed(forecaster._table, "table")
        net = forecaster.net
        self.wrapped = [(net, "forward"), (net, "step")]
        self.wrapped += [(m, name) for m in (net.encoder, net.fusion) for name in ("forward", "forward_state")]
        for module, name in self.wrapped:
            key = "network" if module is net else ("encoder" if module is net.encoder else "fusion")
            setattr(module, name, timed(getattr(module, name), key))

    def restore(self) -> None:
        self.module.tick_arrays, self.forecaster._table = self.saved[:2]
        for module, name in self.wrapped:  # drop the instance attributes: back to the class's methods
            delattr(module, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vds", type=int, nargs="+", default=[60, 8600])
    parser.add_argument("--neighbours", type=int, default=16, help="in-edges per VD incl. the self loop")
    parser.add_argument("--ticks", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    parser.add_argument("--config", default=str(REPO / "configs" / "los_loop.yaml"))
    parser.add_argument("--modes", nargs="+", default=["window", "state"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg = yaml.safe_load(Path(args.config).read_text())["model"]
    model_cfg = {k: v for k, v in model_cfg.items() if k not in ("optim", "loss", "loss_scale", "mape_floor", "tbptt")}
    print(
        f"CPU: {_cpu_model()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}, "
        f"Python {platform.python_version()}; model: {Path(args.config).name} model section, "
        f"K={args.neighbours}, W=H=12, F=O=2; {args.ticks} ticks after {args.warmup} warm-up\n"
    )
    columns = ("p50", "p90", "p99", "max", "readings", "network", "encoder", "fusion", "table")
    print("| N | mode | " + " | ".join(f"{c} ms" for c in columns) + " |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for nodes in args.vds:
        net, info = build(nodes, args.neighbours, model_cfg, 12, 12)
        for mode in args.modes:
            res = run(StreamingForecaster(net, info, mode=mode), nodes, args.ticks, args.warmup)
            print(
                f"| {nodes} | {mode} | {res[50]:.1f} | {res[90]:.1f} | {res[99]:.1f} | {res['max']:.1f} | "
                f"{res['part_readings']:.1f} | {res['part_network']:.1f} | {res['part_encoder']:.1f} | "
                f"{res['part_fusion']:.1f} | {res['part_table']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

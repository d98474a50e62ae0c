"""What the HTTP service adds to a streaming tick: ``POST /readings`` and ``GET /forecasts`` vs ``update`` alone.

    python scripts/bench_service.py                         # N = 60 and 1000 VDs
    python scripts/bench_service.py --vds 60 8600 --ticks 20 --threads 2

The untrained model and random graph of ``scripts/bench_stream.py`` (``build``), served in ``window`` mode
by ``social_xlstm.forecast.service.create_app`` under uvicorn on 127.0.0.1 (a thread of this process),
called with httpx from the main thread. Per tick, in the same run and on the same readings (5% missing):

* ``update``: ``StreamingForecaster.update`` on a second forecaster, no HTTP (the baseline);
* ``POST``: ``POST /readings`` (JSON body of every VD's readings), summary reply;
* ``POST+rows``: the same with ``?forecasts=true`` (the N * H * O forecast rows in the reply);
* ``GET all`` / ``GET 1 VD``: ``GET /forecasts`` of the last tick, whole or filtered to one VD.

Wall times are medians over ``--ticks`` ticks after ``--warmup``; ratios are against ``update`` in the same
run. Prints a Markdown table; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from bench_stream import build, readings  # noqa: E402

from social_xlstm.forecast.service import create_app  # noqa: E402
from social_xlstm.forecast.service_run import bind  # noqa: E402
from social_xlstm.forecast.streaming import StreamingForecaster  # noqa: E402

MODEL = dict(arch="social_xlstm", d_model=64, encoder={"layers": 2, "heads": 4}, social={"form": "source", "heads": 4})


def body(ts: pd.Timestamp, frame: pd.DataFrame) -> bytes:
    rows = [
        {k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))}
        for rec in frame.to_dict("records")
    ]
    return json.dumps({"timestamp": ts.isoformat(), "readings": rows}).encode()


def bench(nodes: int, ticks: int, warmup: int, neighbours: int) -> dict[str, float]:
    net, info = build(nodes, neighbours, MODEL, window=12, horizon=12)
    direct = StreamingForecaster(net, info, mode="window")
    served = StreamingForecaster(net, info, mode="window")
    rng = np.random.default_rng(0)
    frames = [readings(nodes, rng, direct.vd_ids) for _ in range(4)]
    start = pd.Timestamp("2024-03-04T00:00Z")
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(served), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    times: dict[str, list[float]] = {k: [] for k in ("update", "POST", "POST+rows", "GET all", "GET 1 VD")}
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=600) as client:
        for k in range(warmup + ticks):
            frame = frames[k % len(frames)]
            calls = {
                "update": lambda f=frame, t=2 * k: direct.update(start + t * direct.freq, f),
                "POST": lambda f=frame, t=2 * k: client.post("/readings", content=body(start + t * direct.freq, f),
                                                             headers=headers).raise_for_status(),
                "POST+rows": lambda f=frame, t=2 * k + 1: client.post(
                    "/readings", params={"forecasts": "true"}, content=body(start + t * direct.freq, f),
                    headers=headers).raise_for_status(),
                "GET all": lambda: client.get("/forecasts").raise_for_status(),
                "GET 1 VD": lambda: client.get("/forecasts", params={"vd_id": direct.vd_ids[0]}).raise_for_status(),
            }  # fmt: skip
            direct_second = start + (2 * k + 1) * direct.freq  # keep both forecasters on the same tick grid
            for name, call in calls.items():
                began = time.perf_counter()
                call()
                if k >= warmup:
                    times[name].append(time.perf_counter() - began)
                if name == "POST":
                    direct.update(direct_second, frame)
    server.should_exit = True
    thread.join(30)
    sock.close()
    return {name: statistics.median(values) * 1e3 for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vds", type=int, nargs="+", default=[60, 1000])
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} torch threads, "
        f"torch {torch.__version__}; medians of {args.ticks} ticks (ms), ratio to `update` in the same run\n"
    )
    names = ["update", "POST", "POST+rows", "GET all", "GET 1 VD"]
    print("| VDs | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for nodes in args.vds:
        ms = bench(nodes, args.ticks, args.warmup, args.neighbours)
        base = ms["update"]
        cells = [f"{ms['update']:.1f}"] + [f"{ms[n]:.1f} ({ms[n] / base:.2f}x)" for n in names[1:]]
        print(f"| {nodes} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

"""Training steps on sampled VDs of large networks: seconds per step and peak memory as N grows.

    python scripts/bench_sampled_training.py [--vds 1000 4000 8600] [--targets 256] [--neighbours 16]

Each N runs in its own process: random VD coordinates, the graph of each VD's ``--neighbours`` nearest
(self loop included, as ``data.max_neighbours`` builds it), random scaled inputs, and the full model
(``configs/los_loop.yaml``'s sizes: width 64, 2 sLSTM blocks, 4 social heads, source-memory form) trained
with AdamW on batches of 32 windows x (``--targets`` sampled VDs + the in-neighbours they read), cut by
the same :class:`~social_xlstm.data.sampling.NodeSampler` the datamodule uses. Reports the mean VDs run per
step, seconds per optimiser step (after 2 warm-up steps) and the process's peak resident memory; an epoch
is (training windows / 32) such steps whatever N is, so its time follows from the step time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
from social_xlstm.data.sampling import NodeSampler
from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape
nodes, targets, nbrs, steps = (int(a) for a in sys.argv[1:5])
torch.manual_seed(0)
xy = torch.rand(nodes, 2)
near = torch.cat([torch.cdist(chunk, xy).topk(nbrs, largest=False).indices for chunk in xy.split(1024)])  # (N, K)
edge_index = torch.stack([near.flatten(), torch.arange(nodes).repeat_interleave(nbrs)])  # self loop among them
edge_attr = torch.rand(edge_index.shape[1], 3)
config = ModelConfig(d_model=64, dropout=0.0, encoder={"layers": 2, "heads": 4}, social={"heads": 4, "form": "source"},
                     head={"last_value": True})
model = Forecaster(config, NetworkShape(nodes, 3, 1, 12, edge_index, edge_attr))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
sampler = NodeSampler(edge_index.numpy(), nodes, targets)
def item():
    ones = torch.ones(12, nodes, 3, dtype=torch.bool)
    return {"x": torch.randn(12, nodes, 3), "x_mask": ones, "time": torch.randn(12, 4), "y": torch.randn(12, nodes, 1),
            "y_mask": ones[..., :1], "t0": torch.tensor(0)}
batches = [sampler([item() for _ in range(32)]) for _ in range(steps + 2)]
seconds, run = 0.0, []
for i, b in enumerate(batches):
    start = time.perf_counter()
    pred = model(b["x"], b["x_mask"], b["time"], nodes=b["nodes"]).index_select(2, b["target_pos"])
    loss = (pred - b["y"]).abs().mean()
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    if i >= 2:
        seconds += time.perf_counter() - start
        run.append(len(b["nodes"]))
print(json.dumps({"vds_run": sum(run) / len(run), "seconds": seconds / steps,
                  "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vds", nargs="+", type=int, default=[1000, 4000, 8600])
    parser.add_argument("--targets", type=int, default=256)
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; batch 32 windows x W=12, "
        f"{args.targets} sampled targets + their in-neighbours, K={args.neighbours}, width 64, source form\n"
    )
    print("| N | VDs run per step | s / step | peak memory |")
    print("|---:|---:|---:|---:|")
    for nodes in args.vds:
        argv = [sys.executable, "-c", CHILD, str(nodes), str(args.targets), str(args.neighbours), str(args.steps)]
        out = subprocess.run(argv, capture_output=True, text=True)
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            print(f"| {nodes} | failed: {out.stderr.strip().splitlines()[-1:]} | | |", flush=True)
            continue
        r = json.loads(lines[-1])
        print(f"| {nodes:,} | {r['vds_run']:.0f} | {r['seconds']:.2f} | {r['peak_gb']:.2f} GiB |", flush=True)


if __name__ == "__main__":
    main()

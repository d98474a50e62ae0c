"""Peak memory and time of the spatial fusion's training step (forward + backward) as the network grows.

    python scripts/bench_memory.py [--vds 500 2000 8600] [--neighbours 16] [--batch 32] [--limit-gb 20]

Each (fusion, N) runs in its own process on random encoder states (B, W=12, N, D=64) and a random graph of
K in-edges per VD (self loop included), so the peak resident memory (``ru_maxrss``) is that case's alone;
the table reports it minus the same process's memory just before the step (inputs and libraries
excluded). A case that needs more than ``--limit-gb`` (an address-space limit set in the child) is
reported as out of memory instead of taking the machine down. Fusions: the social mLSTM layer in its
target-memory form (each VD's memory holds its neighbours' keys: O(B * E * T * DH)) and its source-memory
form (each VD's own memory: O(B * N * DH^2)), and the plain-pooling ablation for scale.
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
import torch
limit = int(float(sys.argv[5]) * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from social_xlstm.nn.fusion import NeighbourPool, SocialMLSTM, SourceSocialMLSTM
fusion, nodes, nbrs, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.manual_seed(0)
others = torch.stack([torch.randperm(nodes - 1)[: nbrs - 1] for _ in range(nodes)])
others = others + (others >= torch.arange(nodes)[:, None]).long()  # K - 1 distinct neighbours, not itself
src = torch.cat([torch.arange(nodes), others.flatten()])
dst = torch.cat([torch.arange(nodes), torch.arange(nodes).repeat_interleave(nbrs - 1)])
edge_index, edge_attr = torch.stack([src, dst]), torch.randn(src.numel(), 4)
d = 64
if fusion == "pool":
    layer = NeighbourPool(d, edge_index, edge_attr, nodes)
else:
    cls = SocialMLSTM if fusion == "social_target" else SourceSocialMLSTM
    layer = cls(d, edge_index, edge_attr, nodes, heads=4)
h = torch.randn(batch, nodes, 12, d).transpose(1, 2).requires_grad_()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    layer(h).square().mean().backward()
    result = {"peak_gb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20,
              "seconds": time.perf_counter() - start}
except (RuntimeError, MemoryError) as err:
    result = {"error": "out of memory" if "alloc" in str(err) or isinstance(err, MemoryError) else str(err)[:80]}
print(json.dumps(result))
"""


def run_case(fusion: str, nodes: int, nbrs: int, batch: int, limit_gb: float) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, fusion, str(nodes), str(nbrs), str(batch), str(limit_gb)],
        capture_output=True,
        text=True,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        last = out.stderr.strip().splitlines()[-1:] if out.stderr else ["no output"]
        return {"error": f"exit {out.returncode}: {last[0][:80]}"}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vds", nargs="+", type=int, default=[500, 2000, 8600])
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--fusions", nargs="+", default=["social_target", "social_source", "pool"])
    parser.add_argument("--limit-gb", type=float, default=20.0)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; B={args.batch}, W=12, "
        f"D=64, 4 heads, K={args.neighbours}; fusion forward + backward; peak RSS above the inputs (GiB), seconds\n"
    )
    print("| fusion | " + " | ".join(f"N={n}" for n in args.vds) + " |")
    print("|---|" + "---:|" * len(args.vds))
    for fusion in args.fusions:
        cells = []
        for nodes in args.vds:
            r = run_case(fusion, nodes, args.neighbours, args.batch, args.limit_gb)
            cells.append(r["error"] if "error" in r else f"{r['peak_gb']:.2f} GiB, {r['seconds']:.1f} s")
        print(f"| {fusion} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()

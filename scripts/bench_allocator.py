"""The allocator setting's effect on a training step (social_xlstm/allocator.py), side by side in one run.

    python scripts/bench_allocator.py [--archs lstm slstm_only social_xlstm] [--vds 500 --neighbours 16]

For each architecture and each setting (``kept``: what fit does; ``system``: ``SOCIAL_XLSTM_MALLOC=system``,
glibc's defaults) one subprocess builds ``scripts/bench_epoch.py``'s step (the model section of
``--config`` on a random graph, B=32 windows of W=12 steps), runs a warm-up step and ``--steps`` timed
ones, and reports the CPU seconds per step (process time, so other jobs on the machine matter less than
for wall time), the minor page faults per step and the peak RSS. Prints a Markdown table with the ratios
against ``lstm`` under the same setting. Writes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, resource, sys, time
sys.path.insert(0, {scripts!r})
import torch
from social_xlstm.allocator import keep_freed_memory
applied = keep_freed_memory()
from bench_epoch import model_section, random_problem
torch.set_num_threads({threads})
model = dict(model_section({config!r}), arch={arch!r})
net, _, (x, mask, calendar, y) = random_problem(model, {vds}, {neighbours}, 32, 12, 12)
def step():
    loss = (net(x * mask, mask, calendar) - y).abs().mean()
    loss.backward()
    net.zero_grad(set_to_none=True)
step()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu, faults = time.process_time(), usage.ru_minflt
for _ in range({steps}):
    step()
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"applied": applied, "cpu": (time.process_time() - cpu) / {steps},
                  "faults": (usage.ru_minflt - faults) / {steps}, "maxrss_mb": usage.ru_maxrss / 1024}}))
"""


def run(arch: str, setting: str, args) -> dict:
    env = dict(os.environ)
    env.pop("SOCIAL_XLSTM_MALLOC", None)
    if setting == "system":
        env["SOCIAL_XLSTM_MALLOC"] = "system"
    code = WORKER.format(scripts=str(Path(__file__).resolve().parent), threads=args.threads, config=args.config,
                         vds=args.vds, neighbours=args.neighbours, arch=arch, steps=args.steps)  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", nargs="+", default=["lstm", "slstm_only", "social_xlstm"])
    parser.add_argument("--config", default="configs/bench_tgcn.yaml")
    parser.add_argument("--vds", type=int, default=500)
    parser.add_argument("--neighbours", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    rows = {(a, s): run(a, s, args) for s in ("system", "kept") for a in args.archs}
    print(f"N={args.vds}, K={args.neighbours}, B=32, W=12, {args.threads} thread(s), "
          f"{args.steps} steps after a warm-up\n")  # fmt: skip
    print("| arch | allocator | CPU s / step | vs lstm | page faults / step | peak RSS (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    for setting in ("system", "kept"):
        base = rows[("lstm", setting)]["cpu"] if "lstm" in args.archs else None
        for arch in args.archs:
            r = rows[(arch, setting)]
            ratio = f"{r['cpu'] / base:.2f}x" if base else "-"
            print(f"| {arch} | {setting} | {r['cpu']:.2f} | {ratio} | {r['faults']:.0f} | {r['maxrss_mb']:.0f} |")


if __name__ == "__main__":
    main()

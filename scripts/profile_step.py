"""Where a training step's time goes: the torch profiler over one step of an architecture, by operator.

    python scripts/profile_step.py --arch social_xlstm [--vds 500 --neighbours 16 --batch 32 --threads 1]

The step is ``scripts/bench_epoch.py``'s (the model section of ``--config`` on a random graph, random
inputs, forward, masked-MAE-like loss, backward, with fit's allocator setting), profiled once after a
warm-up step. Prints the operators
by self CPU time with their share of the step, and the same grouped by input shape, so a line can be read
back to the tensor it worked on. Writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_epoch import model_section, random_problem  # noqa: E402

from social_xlstm.allocator import keep_freed_memory  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="social_xlstm")
    parser.add_argument("--config", default="configs/bench_tgcn.yaml")
    parser.add_argument("--vds", type=int, default=500)
    parser.add_argument("--neighbours", type=int, default=16, help="K, self loop included")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=25, help="operators shown")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as fit does (SOCIAL_XLSTM_MALLOC=system: glibc's defaults)
    model = dict(model_section(args.config), arch=args.arch)
    net, _, (x, mask, calendar, y) = random_problem(
        model, args.vds, args.neighbours, args.batch, args.window, args.horizon
    )

    def step() -> None:
        loss = (net(x * mask, mask, calendar).float() - y).abs().mean()
        loss.backward()
        net.zero_grad(set_to_none=True)

    step()  # warm-up: the allocator, first-call paths
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    print(f"{args.arch}: N={args.vds} K={args.neighbours} B={args.batch} W={args.window}, {args.threads} thread(s); "
          f"step self CPU {total / 1e6:.2f} s\n")  # fmt: skip
    print("| operator | self CPU (ms) | share | calls |\n|---|---:|---:|---:|")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        print(f"| {e.key} | {e.self_cpu_time_total / 1e3:.0f} | {e.self_cpu_time_total / total:.1%} | {e.count} |")
    print("\n| operator | input shapes | self CPU (ms) | calls |\n|---|---|---:|---:|")
    by_shape = prof.key_averages(group_by_input_shape=True)
    for e in sorted(by_shape, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
        print(f"| {e.key} | {str(e.input_shapes)[:120]} | {e.self_cpu_time_total / 1e3:.0f} | {e.count} |")


if __name__ == "__main__":
    main()

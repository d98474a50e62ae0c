"""Demo training-epoch time with each sLSTM backend, measured in one run on the same machine.

    python scripts/bench_epoch.py [--data DIR] [--backends torch cpu] [--batches 30]

"Before" the kernel issue the encoder ran the plain PyTorch reference loop (``backend=torch``); "after"
it runs the hand-written CPU path (``backend=cpu``, what ``auto`` picks on CPU). Times a fixed number
of optimiser steps of the demo config and scales to a full epoch. Writes nothing; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import yaml

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.synth import simulate
from social_xlstm.training.module import ForecastModule
from social_xlstm.training.optim import OptimConfig, build_optimizer

REPO = Path(__file__).resolve().parents[1]


def time_steps(dm: TrafficDataModule, model_cfg: dict, backend: str, batches: int, warmup: int = 2) -> float:
    """Seconds per optimiser step (forward, backward, AdamW) of the demo model with one backend."""
    torch.manual_seed(0)
    encoder = {**model_cfg.get("encoder", {}), "backend": backend}
    module = ForecastModule(**{**model_cfg, "encoder": encoder}, optim=OptimConfig(), data_info=dm.info())
    optimizer, _ = build_optimizer(module.net, OptimConfig(), total_steps=batches + warmup)
    loader = iter(dm.train_dataloader())
    elapsed = 0.0
    for step in range(warmup + batches):
        batch = next(loader)
        start = time.perf_counter()
        loss = module.loss_fn(module(batch), batch["y"], batch["y_mask"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            elapsed += time.perf_counter() - start
    return elapsed / batches


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=None, help="dataset dir (default: simulate the demo's 60 VDs x 14 days)"
    )
    parser.add_argument("--config", default=str(REPO / "configs" / "demo.yaml"))
    parser.add_argument("--backends", nargs="+", default=["torch", "cpu"])
    parser.add_argument("--batches", type=int, default=30)
    args = parser.parse_args()
    cfg = yaml.safe_load(Path(args.config).read_text())
    data = args.data or str(simulate(Path(tempfile.mkdtemp()) / "data", progress=False))
    data_cfg = {k: v for k, v in cfg["data"].items() if k != "data_dir"}
    dm = TrafficDataModule(data, **data_cfg)
    per_epoch = len(dm.train_dataloader())
    model_cfg = {k: v for k, v in cfg["model"].items() if k not in ("optim", "loss", "loss_scale", "mape_floor")}
    results = {b: time_steps(dm, model_cfg, b, args.batches) for b in args.backends}
    base = results[args.backends[0]]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(
        f"demo config, batch {dm.batch_size} windows x {dm.panel.num_vds} VDs, {per_epoch} steps per epoch\n"
    )
    print(f"| sLSTM backend | s / step | s / epoch | vs {args.backends[0]} |")
    print("|---|---:|---:|---:|")
    for backend, sec in results.items():
        print(f"| {backend} | {sec:.3f} | {sec * per_epoch:.1f} | {sec / base:.2f}x |")


if __name__ == "__main__":
    main()

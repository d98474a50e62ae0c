"""Training-step time of the architectures (or of the sLSTM backends), measured side by side in one run.

    python scripts/bench_epoch.py --archs lstm slstm_only slstm_pool social_xlstm --vds 500 --neighbours 16
    python scripts/bench_epoch.py --archs lstm slstm_only --compile --before /path/to/old/worktree
    python scripts/bench_epoch.py --archs lstm slstm_only slstm_pool social_xlstm --cpp   (the fused C++ kernel)
    python scripts/bench_epoch.py --backends torch cpu [--data DIR] [--batches 30]   (demo epoch, per backend)

Architecture mode (``--archs``): each architecture is built with the model section of ``--config`` (the
los-loop config by default: width 64, 2 layers, 4 heads, no dropout, last-value skip) on a **random graph**
(each VD, its self loop and ``--neighbours - 1`` random other VDs, random edge features) with random inputs
of ``--batch`` windows of ``--window`` steps; no dataset is read. Each architecture runs in its own
subprocess (so its peak memory, ``ru_maxrss``, is its own), and the subprocesses run round-robin for
``--rounds`` rounds; the table shows the fastest round of each, whose time is the mean of ``--steps``
optimiser steps (forward, masked-MAE-like loss, backward, clipping, AdamW) after a warm-up step.
``--bf16`` adds ``<arch>+bf16`` rows, the step under ``torch.autocast(dtype=bfloat16)`` (what
``trainer.precision: bf16-mixed`` does; the CPU's AVX512-BF16/AMX units where it has them). ``--cpp`` adds
``<arch>+cpp`` rows (``encoder.backend: cpp``, the fused C++ sLSTM kernel; built before
the timing) for the sLSTM architectures. ``--compile`` adds ``<arch>+compile`` rows (``encoder.compile``)
for the sLSTM architectures, with the
time of their first (compiling) step; ``--before DIR`` adds ``<arch>@before`` rows run with ``DIR`` (a
git worktree of an older commit) first on the import path. Ratios are against ``lstm`` and ``slstm_pool``
of the same code version.

Backend mode (``--backends``, no ``--archs``): the demo config on the simulated demo dataset (or
``--data``), once per sLSTM backend; "before" the kernel issue the encoder ran the plain PyTorch loop
(``torch``), "after" the hand-written CPU path (``cpu``, what ``auto`` picks on CPU). Scales to an epoch.
Writes nothing; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SLSTM_ARCHS = ("social_xlstm", "slstm_pool", "slstm_only")
MODEL_KEYS_DROPPED = ("optim", "loss", "loss_scale", "mape_floor")


# ----------------------------------------------------------------------------------------- arch mode
def _random_graph(nodes: int, neighbours: int, gen):
    """Self loops plus ``neighbours - 1`` random sources per VD; 6 random edge features."""
    import torch

    # K - 1 distinct other VDs per target: a graph file never repeats an edge (the social layer checks it).
    others = torch.stack([torch.randperm(nodes - 1, generator=gen)[: neighbours - 1] for _ in range(nodes)])
    src = others + (others >= torch.arange(nodes)[:, None]).long()  # (N, K-1), skipping the VD itself
    dst = torch.arange(nodes)[:, None].expand(nodes, neighbours - 1)
    loops = torch.arange(nodes).expand(2, nodes)
    edge_index = torch.cat([loops, torch.stack([src.flatten(), dst.flatten()])], 1)  # (2, N*K)
    return edge_index, torch.randn(edge_index.shape[1], 6, generator=gen)


def random_problem(model_cfg: dict, nodes: int, neighbours: int, batch: int, window: int, horizon: int,
                   features: int = 3, outputs: int = 1, device="cpu"):  # fmt: skip
    """A network of ``model_cfg`` (arch included) on :func:`_random_graph` and one batch of random inputs,
    seeded 0: ``(net, edge_index, (x, x_mask, calendar, y))``, shapes as the datamodule's batches."""
    import torch

    from social_xlstm.nn import Forecaster, ModelConfig, NetworkShape

    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    edge_index, edge_attr = _random_graph(nodes, neighbours, gen)
    shape = NetworkShape(nodes, features, outputs, horizon, edge_index, edge_attr)
    net = Forecaster(ModelConfig(**model_cfg), shape).to(device)
    x = torch.randn(batch, window, nodes, features, generator=gen).to(device)
    x_mask = (torch.rand(batch, window, nodes, features, generator=gen) > 0.05).to(device)
    calendar = torch.randn(batch, window, 4, generator=gen).to(device)
    y = torch.randn(batch, horizon, nodes, outputs, generator=gen).to(device)
    return net, edge_index, (x, x_mask, calendar, y)


def model_section(config: str | Path) -> dict:
    """The model options of a config file that shape the network (the training ones dropped)."""
    model = yaml.safe_load(Path(config).read_text())["model"]
    return {k: v for k, v in model.items() if k not in MODEL_KEYS_DROPPED}


def worker(spec: dict) -> dict:
    """Build one architecture, time ``steps`` optimiser steps after one warm-up; runs in a subprocess."""
    import torch

    import social_xlstm

    try:  # as fit does; SOCIAL_XLSTM_MALLOC=system measures glibc's defaults (a --before tree may lack it)
        from social_xlstm.allocator import keep_freed_memory

        keep_freed_memory()
    except ImportError:
        pass

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    nodes = spec["vds"]
    model_cfg = dict(spec["model"], arch=spec["arch"])
    if spec["compile"]:
        model_cfg["encoder"] = {**model_cfg.get("encoder", {}), "compile": True}
    if spec.get("backend"):
        model_cfg["encoder"] = {**model_cfg.get("encoder", {}), "backend": spec["backend"]}
    device = torch.device(spec.get("device", "cpu"))
    net, edge_index, (x, x_mask, calendar, y) = random_problem(
        model_cfg, nodes, spec["neighbours"], spec["batch"], spec["window"], spec["horizon"],
        spec["features"], spec["outputs"], device,
    )  # fmt: skip
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(spec.get("bf16")))
    sampler = None
    if spec.get("sample"):  # node sampling as data.node_sample: the targets and the in-neighbours they read
        from social_xlstm.data.sampling import NodeSampler

        sampler = NodeSampler(edge_index.numpy(), nodes, spec["sample"])
    run_vds = []

    def step():
        with autocast:  # what trainer.precision bf16-mixed does: matmuls in bf16, the rest and the weights fp32
            if sampler is None:
                loss = (net(x * x_mask, x_mask, calendar).float() - y).abs().mean()
            else:
                picked, target_pos = sampler.draw()
                picked, target_pos = picked.to(device), target_pos.to(device)
                xs, ms = x.index_select(2, picked), x_mask.index_select(2, picked)
                pred = net(xs * ms, ms, calendar, nodes=picked).index_select(2, target_pos).float()
                loss = (pred - y.index_select(2, picked[target_pos])).abs().mean()
                run_vds.append(len(picked))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    step()  # warm-up: allocator, and for +compile the compilation
    sync()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(spec["steps"]):
        step()
    sync()  # GPU kernels run asynchronously: time them to completion
    return {
        "sec": (time.perf_counter() - start) / spec["steps"],
        "first": first,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "package": str(Path(social_xlstm.__file__).parent),
        "threads": torch.get_num_threads(),
        "vds_run": sum(run_vds) / len(run_vds) if run_vds else nodes,
    }


def _run_worker(spec: dict, path: str | None) -> dict:
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"worker {spec['arch']} (path {path}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def arch_mode(args, model_cfg: dict) -> None:
    rows = []  # (label, arch, compile, path, backend, bf16)
    versions = [("", None)] + ([("@before", args.before)] if args.before else [])
    for suffix, path in versions:
        for arch in args.archs:
            rows.append((arch + suffix, arch, False, path, None, False))
            if args.compile and arch in SLSTM_ARCHS and not path:
                rows.append((f"{arch}+compile{suffix}", arch, True, path, None, False))
            if args.cpp and arch in SLSTM_ARCHS and not path:
                rows.append((f"{arch}+cpp{suffix}", arch, False, path, "cpp", False))
            if args.bf16 and not path:
                rows.append((f"{arch}+bf16{suffix}", arch, False, path, None, True))
    if args.cpp:  # build the kernel once here, so no worker times the compiler
        from social_xlstm.ops.slstm.cpp_build import kernel_available

        if not kernel_available():
            raise SystemExit("--cpp: the fused C++ kernel cannot be built on this machine")
    base = {
        "vds": args.vds, "neighbours": args.neighbours, "batch": args.batch, "window": args.window,
        "horizon": args.horizon, "features": 3, "outputs": 1, "steps": args.steps, "threads": args.threads,
        "model": model_cfg, "device": args.device,
    }  # fmt: skip
    results: dict[str, list[dict]] = {label: [] for label, *_ in rows}
    for rnd in range(args.rounds):
        for label, arch, comp, path, backend, bf16 in rows:
            res = _run_worker({**base, "arch": arch, "compile": comp, "backend": backend, "bf16": bf16}, path)
            results[label].append(res)
            print(f"round {rnd + 1}: {label}: {res['sec']:.3f} s/step ({res['package']})", file=sys.stderr)
    best = {label: min(r, key=lambda r: r["sec"]) for label, r in results.items()}
    threads = next(iter(best.values()))["threads"]
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} logical cores, torch {_torch_version()}, {threads} threads; "
        f"load average at the end {os.getloadavg()[0]:.1f}\n"
    )
    print(
        f"N={args.vds} VDs, K={args.neighbours} neighbours (random graph), B={args.batch}, W={args.window}, "
        f"H={args.horizon}, D={model_cfg.get('d_model')}; fastest of {args.rounds} round-robin rounds, "
        f"each the mean of {args.steps} steps\n"
    )
    print("| arch | s / step | peak RSS (MB) | vs lstm | vs slstm_pool | first step (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, res in best.items():
        suffix = "@before" if label.endswith("@before") else ""
        ratios = []
        for ref in ("lstm", "slstm_pool"):
            other = best.get(ref + suffix)
            ratios.append(f"{res['sec'] / other['sec']:.2f}x" if other else "-")
        print(
            f"| {label} | {res['sec']:.3f} | {res['maxrss_mb']:.0f} | {ratios[0]} | {ratios[1]} | {res['first']:.1f} |"
        )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_version() -> str:
    import torch

    return torch.__version__


# -------------------------------------------------------------------------------------- backend mode
def time_steps(dm, model_cfg: dict, backend: str, batches: int, warmup: int = 2) -> float:
    """Seconds per optimiser step (forward, backward, AdamW) of the demo model with one backend."""
    import torch

    from social_xlstm.training.module import ForecastModule
    from social_xlstm.training.optim import OptimConfig, build_optimizer

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


def backend_mode(args, cfg: dict, model_cfg: dict) -> None:
    import torch

    from social_xlstm.data.datamodule import TrafficDataModule
    from social_xlstm.data.synth import simulate

    data = args.data or str(simulate(Path(tempfile.mkdtemp()) / "data", progress=False))
    data_cfg = {k: v for k, v in cfg["data"].items() if k != "data_dir"}
    dm = TrafficDataModule(data, **data_cfg)
    per_epoch = len(dm.train_dataloader())
    results = {b: time_steps(dm, model_cfg, b, args.batches) for b in args.backends}
    base = results[args.backends[0]]
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"demo config, batch {dm.batch_size} windows x {dm.panel.num_vds} VDs, {per_epoch} steps per epoch\n")
    print(f"| sLSTM backend | s / step | s / epoch | vs {args.backends[0]} |")
    print("|---|---:|---:|---:|")
    for backend, sec in results.items():
        print(f"| {backend} | {sec:.3f} | {sec * per_epoch:.1f} | {sec / base:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", default=None, help="model config (default: los_loop.yaml with --archs, else demo.yaml)"
    )
    parser.add_argument("--archs", nargs="+", default=None, help="architectures to time side by side")
    parser.add_argument("--vds", type=int, default=500, help="N (arch mode)")
    parser.add_argument("--neighbours", type=int, default=16, help="K, self loop included (arch mode)")
    parser.add_argument("--batch", type=int, default=32, help="B windows per step (arch mode)")
    parser.add_argument("--window", type=int, default=12, help="W input steps (arch mode)")
    parser.add_argument("--horizon", type=int, default=12, help="H forecast steps (arch mode)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per round (arch mode)")
    parser.add_argument("--rounds", type=int, default=2, help="round-robin rounds; the fastest counts (arch mode)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the arch-mode steps run")
    parser.add_argument("--compile", action="store_true", help="also time encoder.compile for the sLSTM archs")
    parser.add_argument("--cpp", action="store_true", help="also time encoder.backend cpp for the sLSTM archs")
    parser.add_argument("--bf16", action="store_true", help="also time each arch under bf16 autocast (bf16-mixed)")
    parser.add_argument("--before", default=None, help="also run from this directory (an older worktree)")
    parser.add_argument("--data", default=None, help="dataset dir (backend mode; default: simulate the demo's)")
    parser.add_argument("--backends", nargs="+", default=["torch", "cpu"], help="sLSTM backends (backend mode)")
    parser.add_argument("--batches", type=int, default=30, help="timed steps (backend mode)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    name = "los_loop.yaml" if args.archs else "demo.yaml"
    cfg = yaml.safe_load(Path(args.config or REPO / "configs" / name).read_text())
    model_cfg = {k: v for k, v in cfg["model"].items() if k not in MODEL_KEYS_DROPPED and k != "arch"}
    if args.archs:
        arch_mode(args, model_cfg)
    else:
        backend_mode(args, cfg, {**model_cfg, "arch": cfg["model"]["arch"]})


if __name__ == "__main__":
    main()

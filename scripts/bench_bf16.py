"""bf16 on CPU: the demo trained in fp32 and in ``trainer.precision: bf16-mixed``, side by side in one run.

    python scripts/bench_bf16.py [--threads 1] [--out runs/bf16]

Each precision runs the whole demo (``social-xlstm demo`` with ``configs/demo.yaml``, only
``trainer.precision`` changed) in its own subprocess with the same thread count; prints the machine (and
whether its CPU has AVX512-BF16 / AMX, the units that make bf16 matmuls fast), the demo's wall time and the
masked test MAE of flow and speed at 15 / 30 / 60 minutes for each, and the ratios. Writes only under
``--out``. The model's step timings under autocast: ``scripts/bench_epoch.py --bf16``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("32-true", "bf16-mixed")
MINUTES = (15, 30, 60)


def cpu_bf16_units() -> str:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        return "unknown"
    found = [name for name in ("avx512_bf16", "amx_bf16") if name in flags]
    return ", ".join(found) or "none (bf16 is emulated: expect it slower)"


def run(precision: str, out: Path, threads: int) -> dict:
    config = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    config["trainer"]["precision"] = precision
    path = out / f"demo-{precision}.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    cmd = [sys.executable, "-m", "social_xlstm", "demo", "--out", str(out / precision), "--config", str(path),
           "--overwrite"]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"demo with precision {precision} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((out / precision / "metrics.json").read_text())
    model = next(m for m in metrics["models"] if m not in ("persistence", "historical_average"))
    mae = {
        variable: {s["minutes"]: s["mae"] for s in report["steps"]}
        for variable, report in metrics["models"][model].items()
        if isinstance(report, dict) and "steps" in report
    }
    return {"seconds": seconds, "mae": mae}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each demo (default 1)")
    parser.add_argument("--out", default="runs/bf16", help="where the two demo runs go")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = {p: run(p, out, args.threads) for p in PRECISIONS}
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")  # fmt: skip
    print(f"machine: {cpu}, {os.cpu_count()} cores, bf16 units: {cpu_bf16_units()}; torch {torch.__version__}, "
          f"{args.threads} thread(s) per demo\n")  # fmt: skip
    base = results[PRECISIONS[0]]
    variables = list(base["mae"])
    header = " | ".join(f"{v} MAE {m}" for v in variables for m in MINUTES)
    print(f"| precision | demo (s) | vs fp32 | {header} |")
    print("|---|---:|---:|" + "---:|" * (len(variables) * len(MINUTES)))
    for precision, res in results.items():
        cells = " | ".join(
            f"{res['mae'][v][m]:.2f}" + ("" if res is base else f" ({res['mae'][v][m] / base['mae'][v][m] - 1:+.1%})")
            for v in variables
            for m in MINUTES
        )
        print(f"| {precision} | {res['seconds']:.0f} | {res['seconds'] / base['seconds']:.2f}x | {cells} |")


if __name__ == "__main__":
    main()

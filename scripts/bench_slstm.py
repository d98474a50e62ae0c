"""Benchmark the sLSTM op (forward + backward) against the reference, flashrnn and nn.LSTM.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_slstm.py --threads 1 --repeats 5
    python scripts/bench_slstm.py --device cuda          # Triton kernels vs flashrnn fused kernels

Contenders, all timed in the same run, each as forward + backward (gradients of every input):

* ours: ``slstm(backend="cpu")`` on CPU, ``backend="triton"`` on CUDA; also ours plus the input
  ``Linear`` (hidden -> 4 * hidden), which is what ``nn.LSTM`` includes;
* ``slstm_reference`` (autograd through the plain loop);
* ``flashrnn``'s sLSTM (``vanilla_fwbw`` on CPU; ``triton_fused`` and ``cuda_fused`` on CUDA),
  skipped with a note when it cannot be imported or run. Its cell clamps ``n`` at 1, so its
  numbers are a speed reference, not a numerical one;
* ``torch.nn.LSTM`` of the same width (hidden = NH * DH, input size = hidden).

Writes a Markdown section (medians, ratios ours / each, machine, command) into
``docs/benchmarks.md`` between ``<!-- slstm-bench:start -->`` and ``<!-- slstm-bench:end -->``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from social_xlstm.ops import slstm, slstm_reference

SHAPES = {"traffic": (4096, 12, 4, 32), "long": (64, 288, 4, 32)}
START, END = "<!-- slstm-bench:start -->", "<!-- slstm-bench:end -->"


def median_seconds(
    fns: dict[str, Callable[[], None]], repeats: int, warmup: int, device: torch.device
) -> dict[str, float]:
    """Median wall time of each closure over ``repeats`` rounds after ``warmup`` untimed ones.

    The closures run round-robin (one of each per round), so that load swings on a shared
    machine hit all contenders alike and the ratios stay meaningful.
    """
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def contenders(shape, device, dtype) -> dict[str, Callable[[], None] | str]:
    """Name -> a forward+backward closure, or a string saying why it was skipped."""
    batch, steps, heads, width = shape
    hidden = heads * width
    gen = torch.Generator().manual_seed(0)
    wx = torch.randn(batch, steps, 4, heads, width, generator=gen).to(device, dtype).requires_grad_()
    r = (0.1 * torch.randn(4, heads, width, width, generator=gen)).to(device, dtype).requires_grad_()
    b = torch.randn(4, heads, width, generator=gen).to(device, dtype).requires_grad_()
    x = torch.randn(batch, steps, hidden, generator=gen).to(device, dtype).requires_grad_()
    proj = torch.nn.Linear(hidden, 4 * hidden, bias=False).to(device, dtype)
    lstm = torch.nn.LSTM(hidden, hidden, batch_first=True).to(device, dtype)
    ours_backend = "triton" if device.type == "cuda" else "cpu"

    def ours():
        h_seq, _ = slstm(wx, r, b, backend=ours_backend)
        torch.autograd.grad(h_seq.sum(), (wx, r, b))

    def ours_with_linear():
        w = proj(x).view(batch, steps, 4, heads, width)  # (B, T, 4, NH, DH)
        h_seq, _ = slstm(w, r, b, backend=ours_backend)
        torch.autograd.grad(h_seq.sum(), (x, proj.weight, r, b))

    def reference():
        h_seq, _ = slstm_reference(wx, r, b)
        torch.autograd.grad(h_seq.sum(), (wx, r, b))

    def nn_lstm():
        out, _ = lstm(x)
        torch.autograd.grad(out.sum(), (x, *lstm.parameters()))

    result: dict[str, Callable[[], None] | str] = {
        f"ours ({ours_backend})": ours,
        f"ours ({ours_backend}) + input Linear": ours_with_linear,
        "slstm_reference": reference,
    }
    flash_backends = ["triton_fused", "cuda_fused"] if device.type == "cuda" else ["vanilla_fwbw"]
    for backend in flash_backends:
        result[f"flashrnn {backend}"] = _flashrnn(backend, wx, r, b, dtype)
    result[f"nn.LSTM (hidden {hidden})"] = nn_lstm
    return result


def _flashrnn(backend, wx, r, b, dtype) -> Callable[[], None] | str:
    try:
        from flashrnn import flashrnn
    except Exception as exc:  # any import failure just means "not available here"
        return f"skipped: flashrnn not importable ({type(exc).__name__}: {exc})"
    kernel_dtype = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]

    def run():
        states, _ = flashrnn(wx, r, b, function="slstm", backend=backend, dtype=kernel_dtype)
        torch.autograd.grad(states[0].sum(), (wx, r, b))  # states: (S, B, T, NH, DH), S=0 is h

    try:
        run()  # compile / check once; a failing backend is reported, not fatal
    except Exception as exc:
        return f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return run


def machine_description(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = (
        f"CPU: {cpu}, {os.cpu_count()} logical cores; torch {torch.__version__}, "
        f"{torch.get_num_threads()} intra-op threads"
    )
    if device.type == "cuda":
        text += f"; GPU: {torch.cuda.get_device_name(device)}"
    return text


def run(args) -> str:
    device = torch.device(args.device)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[args.dtype]
    lines = [
        START,
        "### Latest run: forward + backward",
        "",
        f"Machine: {machine_description(device)}. {args.note}".rstrip(),
        "",
        f"Command: `{shlex.join(['python', *sys.argv])}` (dtype {args.dtype}, median of {args.repeats} "
        f"round-robin rounds after {args.warmup} warm-up)",
        "",
    ]
    for name in args.shapes:
        shape = SHAPES[name]
        batch, steps, heads, width = shape
        print(f"[{name}] B={batch} T={steps} NH={heads} DH={width}", flush=True)
        found = contenders(shape, device, dtype)
        measured = median_seconds(
            {k: fn for k, fn in found.items() if not isinstance(fn, str)}, args.repeats, args.warmup, device
        )
        timings: dict[str, float | str] = {k: measured.get(k, fn) for k, fn in found.items()}
        for label, value in timings.items():
            print(f"  {label}: {value}", flush=True)
        ours_label, linear_label = list(timings)[:2]
        ours, ours_linear = timings[ours_label], timings[linear_label]
        lines += [
            f"#### {name}: B={batch}, T={steps}, NH={heads}, DH={width} (hidden {heads * width})",
            "",
            f"| contender | median (ms) | {ours_label} / contender | {linear_label} / contender |",
            "|---|---:|---:|---:|",
        ]
        for label, value in timings.items():
            if isinstance(value, str):
                lines.append(f"| {label} | {value} | | |")
            else:
                lines.append(
                    f"| {label} | {value * 1e3:.1f} | {ours / value:.2f}x | {ours_linear / value:.2f}x |"
                )
        lines += [
            "",
            "The op takes `wx` precomputed; `nn.LSTM` includes its input projection, so the like-for-like",
            f"comparison with it is the last column ({linear_label}).",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the marked section of ``path`` (or append it), writing through a temporary file."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--note", default="", help="free text added after the machine line")
    default_output = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
    parser.add_argument("--output", type=Path, default=default_output)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    section = run(args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_section(args.output, section)
    print(section)


if __name__ == "__main__":
    main()

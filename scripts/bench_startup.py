"""Whole-process time of quick `social-xlstm` commands: help, validate, ingest and option errors.

    python scripts/bench_startup.py [--checkout DIR ...] [--repeat 5]

Each command runs in a fresh interpreter (what a user waits for, imports included) with the package
imported from each ``--checkout`` (default: this repository), so two checkouts (before / after a change)
are measured in one run on the same machine. Prints the median seconds per command as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command_line(checkout: Path, args: list[str]) -> list[str]:
    code = f"import sys; sys.path.insert(0, {str(checkout)!r}); from social_xlstm.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code, *args]


def seconds(checkout: Path, args: list[str], repeat: int) -> tuple[float, int]:
    """Median wall time over ``repeat`` runs, and the exit status."""
    times, code = [], 0
    env = {**os.environ, "CI": "1"}
    for _ in range(repeat):
        start = time.perf_counter()
        code = subprocess.run(command_line(checkout, args), capture_output=True, env=env).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", nargs="+", type=Path, default=[REPO], help="repository roots to compare")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    data = work / "data"
    subprocess.run(
        command_line(args.checkout[-1], ["synth", "--out", str(data), "--vds", "6", "--days", "1"]),
        check=True,
        capture_output=True,
    )
    config = REPO / "configs" / "demo.yaml"
    commands = {
        "--help": ["--help"],
        "validate DIR": ["validate", str(data)],
        "ingest long --help": ["ingest", "long", "--help"],
        "ingest long, missing file": ["ingest", "long", str(work / "none.csv"), "--out", str(work / "o")],
        "fit, unknown option": ["fit", "--config", str(config), "--data.data_dir", str(data), "--model.nope", "1"],
        "fit --help": ["fit", "--help"],
    }
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; median of {args.repeat} runs, seconds\n"
    )
    print("| command | " + " | ".join(str(c) for c in args.checkout) + " |")
    print("|---|" + "---:|" * len(args.checkout))
    for name, argv in commands.items():
        cells = []
        for checkout in args.checkout:
            sec, code = seconds(checkout, argv, args.repeat)
            cells.append(f"{sec:.2f} (exit {code})")
        print(f"| `{name}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""How much the neighbours add to a VD's own history, by a per-VD linear probe (seconds, no training).

    python scripts/spatial_information.py --dataset runs/data/sim-60 --protocol standard --max-neighbours 9
    python scripts/spatial_information.py --dataset runs/data/los-loop --protocol tgcn --max-neighbours 16

Same split, window and horizon as the accuracy benchmark's protocol and the same graph as its configs
(``data.max_neighbours``); writes ``OUT/<dataset>-spatial.md`` and ``.json``. Logic and caveats in
:mod:`social_xlstm.spatial_probe`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from social_xlstm.atomic import atomic_file, write_json_atomic
from social_xlstm.benchmark import PROTOCOLS
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.graph import graph_from_coordinates, graph_from_edges
from social_xlstm.data.panel import load_panel
from social_xlstm.errors import DataError, UserError
from social_xlstm.spatial_probe import PROBES, probe_spatial_information, render_probe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, help="canonical dataset directory")
    parser.add_argument("--protocol", required=True, choices=list(PROTOCOLS))
    parser.add_argument("--targets", nargs="+", default=None, help="target variables (default: flow, speed present)")
    parser.add_argument("--max-neighbours", type=int, default=9, help="in-edges per VD, self loop included")
    parser.add_argument("--out", default="docs/results")
    parser.add_argument("--name", default=None, help="dataset name in the output file names")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    try:
        if not Path(args.dataset).is_dir():
            raise UserError(f"{args.dataset}: dataset directory not found")
        dataset = load_dataset(args.dataset, check_rows=False)
        targets = args.targets or [v for v in ("flow", "speed") if v in dataset.variables]
        if not targets:
            raise UserError(f"{args.dataset}: no flow or speed variable; name the targets with --targets")
        panel = load_panel(dataset)
        if dataset.edges is not None:
            graph = graph_from_edges(dataset.stations, dataset.edges, args.max_neighbours)
        else:
            graph = graph_from_coordinates(dataset.stations, args.max_neighbours)
        protocol = PROTOCOLS[args.protocol]
        result = probe_spatial_information(panel, graph, targets, protocol.window, protocol.horizon, protocol.split)
    except (UserError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    name = args.name or Path(args.dataset).resolve().name
    command = "python scripts/spatial_information.py " + " ".join(map(shlex.quote, argv))
    points = [p for p in (3, 6, 9, 12) if p <= protocol.horizon]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        {
            "dataset": name,
            "protocol": args.protocol,
            "max_neighbours": args.max_neighbours,
            "targets": result.targets,
            "freq_minutes": result.freq_minutes,
            "test_windows": result.test_windows,
            "alpha": result.alpha,
            "mae": {p: result.mae[p].tolist() for p in PROBES},
            "command": command,
        },
        out / f"{name}-spatial.json",
    )
    with atomic_file(out / f"{name}-spatial.md") as tmp:
        tmp.write_text(render_probe(result, name, command, points))
    print(render_probe(result, name, command, points))
    return 0


if __name__ == "__main__":
    sys.exit(main())

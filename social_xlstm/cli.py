"""The ``social-xlstm`` command.

    social-xlstm synth --out DIR [--vds N --days D --seed S]     simulate a road network
    social-xlstm ingest FORMAT SRC... --out DIR [options]        import real data
    social-xlstm validate DIR                                    check a dataset (exit 0 usable, 2 not)
    social-xlstm fit|test|predict --config FILE [...]            train / score / forecast (LightningCLI)
    social-xlstm predict ... --at POINTS.csv [--at-edges E.csv]  forecasts at places without a detector too
    social-xlstm evaluate --config FILE --ckpt_path CKPT         metrics.json for the model and baselines
    social-xlstm plot forecast|horizons|map|missing|all ...      PNG plots (docs/plots.md)
    social-xlstm demo --out DIR                                  synth -> fit -> test -> predict -> plots
    social-xlstm serve --checkpoint CKPT [--port P --state FILE] HTTP service: readings in, forecasts out
    social-xlstm stream --checkpoint CKPT --replay DIR --out FILE replay a dataset tick by tick (docs/streaming.md)

Mistakes the user made (a bad file, a bad option) print one message and exit with status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from social_xlstm.errors import UserError

LIGHTNING_COMMANDS = ("fit", "test", "predict", "evaluate")
PREDICT_ALIASES = {"--at": "--data.virtual_points", "--at-edges": "--data.virtual_edges"}
"""``predict``'s short options for virtual VDs (docs/virtual-vds.md), spelled as the data options they set."""


def predict_aliases(argv: list[str]) -> list[str]:
    """``predict --at F`` / ``--at=F`` / ``--at-edges F`` as the LightningCLI data options they stand for."""
    if not argv or argv[0] != "predict":
        return argv
    out = []
    for arg in argv:
        name, eq, value = arg.partition("=")
        if name in PREDICT_ALIASES:
            out.append(PREDICT_ALIASES[name] + (eq + value if eq else ""))
        else:
            out.append(arg)
    return out


def _add_synth(sub) -> None:
    from social_xlstm.data import synth

    p = sub.add_parser(
        "synth",
        help="simulate a freeway network and write a canonical dataset",
        description="Simulate corridors with ramps and a junction (cell transmission model) "
        "and write a canonical dataset (flow, speed, occupancy).",
    )
    synth.add_arguments(p)
    p.set_defaults(handler=synth.run)


def _add_download(sub) -> None:
    from social_xlstm.data import download

    p = sub.add_parser(
        "download",
        help="fetch a public dataset (sha256-checked, cached, resumable), then the ingest command",
        description="Fetch a public dataset's files (licence and sizes first; sha256-checked, cached, resumable) "
        "and print the ingest command, or run it with --ingest DIR.",
    )
    download.add_arguments(p)
    p.set_defaults(handler=download.run)


def _add_ingest(sub) -> None:
    from social_xlstm.data.importers import IMPORTERS, add_ingest_arguments, run_ingest

    p = sub.add_parser(
        "ingest",
        help="import data in a source format into a canonical dataset",
        description="Import source files into a canonical dataset directory.",
    )
    formats = p.add_subparsers(dest="format", metavar="FORMAT", required=True)
    for name, (_, help_text) in IMPORTERS.items():
        fp = formats.add_parser(name, help=help_text, description=help_text)
        module = add_ingest_arguments(fp, name)
        fp.set_defaults(handler=lambda args, m=module: run_ingest(m, args))


def _run_validate(args) -> int:
    from social_xlstm.data.format.validate import validate_dataset

    report = validate_dataset(args.directory)
    print(report.render())
    return 0 if report.ok else 2


def _run_demo(args) -> int:
    from social_xlstm.demo import run_demo

    run_demo(
        args.out,
        config=args.config,
        vds=args.vds,
        days=args.days,
        seed=args.seed,
        max_epochs=args.max_epochs,
        overwrite=args.overwrite,
    )
    return 0


def _add_virtual_options(p, stations: bool) -> None:
    """``--at`` / ``--at-edges`` of serve and stream: virtual VDs at places without a detector."""
    p.add_argument(
        "--at",
        default=None,
        metavar="POINTS.csv",
        help="also forecast these places without a detector (vd_id, lat, lon; docs/virtual-vds.md)",
    )
    p.add_argument(
        "--at-edges",
        default=None,
        metavar="EDGES.csv",
        help="the virtual VDs' neighbours (vd_id, neighbour, weight...), for an edge-list network",
    )
    if stations:
        p.add_argument(
            "--stations",
            default=None,
            metavar="DATASET",
            help="the dataset whose stations place the --at points (the checkpoint holds no coordinates)",
        )


def _run_serve(args) -> int:
    from social_xlstm.forecast.service_limits import limits_from_options
    from social_xlstm.forecast.service_run import serve

    limits = limits_from_options(args.max_ahead, args.max_jump, args.max_body_mb)
    serve(
        args.checkpoint, host=args.host, port=args.port, state=args.state, mode=args.mode, limits=limits,
        api_key_file=args.api_key_file, snapshot_every=args.snapshot_every, at=args.at, at_edges=args.at_edges,
        stations=args.stations,
    )  # fmt: skip
    return 0


def _run_stream(args) -> int:
    from social_xlstm.forecast.replay import replay

    report = replay(
        args.checkpoint,
        args.replay,
        args.out,
        start=args.start,
        end=args.end,
        limit=args.limit,
        mode=args.mode,
        max_gap=args.max_gap,
        at=args.at,
        at_edges=args.at_edges,
    )
    print(report.render())
    print(f"wrote {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="social-xlstm",
        description="Traffic forecasting on vehicle-detector networks with sLSTM encoders and a social mLSTM layer.",
        epilog="fit | test | predict | evaluate take LightningCLI options: social-xlstm fit --help",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_synth(sub)
    _add_download(sub)
    _add_ingest(sub)
    p = sub.add_parser(
        "validate",
        help="check a canonical dataset directory",
        description="Check a dataset; exit 0 when usable, 2 with the list of problems otherwise.",
    )
    p.add_argument("directory", help="canonical dataset directory")
    p.set_defaults(handler=_run_validate)
    for name, text in (
        ("fit", "train a model"),
        ("test", "score a checkpoint on the test windows"),
        ("predict", "write forecasts.parquet for the test windows"),
        ("evaluate", "metrics.json for a checkpoint and the baselines"),
    ):
        sub.add_parser(name, help=f"{text} (LightningCLI; see social-xlstm {name} --help)", add_help=False)
    sub.add_parser(
        "bench", help="the research harness: bench accuracy | variants | probe (see social-xlstm bench --help)",
        add_help=False,
    )
    p = sub.add_parser(
        "plot",
        help="PNG plots of a dataset or a run",
        description="PNG plots: forecast vs actual, error by horizon, VD map, missing data (docs/plots.md).",
    )
    from social_xlstm.viz.command import add_arguments as add_plot_arguments

    add_plot_arguments(p)
    p = sub.add_parser(
        "demo",
        help="simulate, train, evaluate and plot in one go (about 4 minutes on a 2-core CPU)",
        description="synth -> fit -> test -> predict -> plots, then a table of errors.",
    )
    p.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--config", default=None, help="training config (default configs/demo.yaml)")
    p.add_argument("--vds", type=int, default=60, help="simulated VDs (default 60)")
    p.add_argument("--days", type=int, default=14, help="simulated days (default 14)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulation and the training")
    p.add_argument("--max-epochs", type=int, default=None, help="override the config's trainer.max_epochs")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    p.set_defaults(handler=_run_demo)
    p = sub.add_parser(
        "serve",
        help="HTTP service around the streaming forecaster (pip install 'social-xlstm[serve]')",
        description="POST /readings (one tick), POST /readings/batch, GET /forecasts, GET /health, GET /metrics "
        "(docs/service.md).",
    )
    p.add_argument("--checkpoint", required=True, help="model checkpoint (.ckpt)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--state", default=None, help="state snapshot: restored on start when it exists, written on shutdown"
    )
    p.add_argument("--mode", choices=("auto", "window", "state"), default="auto", help="streaming mode (default auto)")
    p.add_argument(
        "--max-ahead", default="1h", help="refuse ticks further ahead of the server clock (default 1h; none: no bound)"
    )
    p.add_argument("--max-jump", type=int, default=None, help="refuse ticks more steps than this after the last one")
    p.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body in MiB (default 32)")
    p.add_argument(
        "--api-key-file", default=None,
        help="file whose first line is the API key every route but /health needs (else $SOCIAL_XLSTM_API_KEY; "
        "without a key the service listens on 127.0.0.1 only)",
    )  # fmt: skip
    p.add_argument(
        "--snapshot-every", type=int, default=None, metavar="N",
        help="also write the --state snapshot every N ticks, so a crash loses at most N (default: on shutdown)",
    )  # fmt: skip
    _add_virtual_options(p, stations=True)
    p.set_defaults(handler=_run_serve)
    p = sub.add_parser(
        "stream",
        help="replay a dataset tick by tick through the streaming forecaster",
        description="Replay a canonical dataset tick by tick, write the forecasts (forecasts.parquet schema, "
        "actual filled from the replayed data) and report ticks per second and the latency (docs/streaming.md).",
    )
    p.add_argument("--checkpoint", required=True, help="model checkpoint (.ckpt)")
    p.add_argument("--replay", required=True, metavar="DATASET", help="canonical dataset directory to replay")
    p.add_argument("--out", required=True, help="forecasts Parquet file to write")
    p.add_argument("--start", default=None, help="first tick (ISO time; UTC if no offset); default the first")
    p.add_argument("--end", default=None, help="last tick, inclusive; default the last")
    p.add_argument("--limit", type=int, default=None, help="replay at most this many ticks")
    p.add_argument("--mode", choices=("auto", "window", "state"), default="auto", help="streaming mode (default auto)")
    p.add_argument("--max-gap", type=int, default=None, help="state mode: longest gap filled (default W)")
    _add_virtual_options(p, stations=False)
    p.set_defaults(handler=_run_stream)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            from social_xlstm.experiment import run_lightning_cli

            run_lightning_cli(predict_aliases(argv))
            return 0
        if argv and argv[0] == "bench":  # its parsers import the harness, so they are built only when asked
            from social_xlstm.bench.command import main as bench_main

            return bench_main(argv[1:])
        args = build_parser().parse_args(argv)
        result = args.handler(args)
        if isinstance(result, int):
            return result
        if result is not None:  # synth and importers return the dataset they wrote
            print(f"wrote {result}")
        return 0
    except UserError as err:
        print(f"social-xlstm: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `social-xlstm validate DIR | head`: the reader is gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 0

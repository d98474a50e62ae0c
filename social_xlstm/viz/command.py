"""``social-xlstm plot forecast|horizons|map|missing|sources|all``: one PNG per call (``all``: the standard set)."""

from __future__ import annotations

import argparse
from pathlib import Path

from social_xlstm.errors import UserError

# Plotting modules (matplotlib) are imported by the handlers, so `social-xlstm --help` stays quick.


def _context(args) -> tuple[dict[str, str], str]:
    """Units and time zone: the dataset's, overridden by ``--unit`` / ``--timezone``."""
    from social_xlstm.viz.report import dataset_context

    units, timezone = dataset_context(args.dataset)
    if getattr(args, "unit", None):
        if not args.variable:
            raise UserError("--unit needs --variable (the variable it is the unit of)")
        units[args.variable] = args.unit
    return units, getattr(args, "timezone", None) or timezone


def _variable(args, variables: list[str], where: str) -> str:
    from social_xlstm.viz.common import check_variable

    variable = args.variable or variables[0]
    check_variable(variable, variables, where)
    return variable


def run_forecast(args) -> Path:
    from social_xlstm.viz.common import read_forecasts, save_figure
    from social_xlstm.viz.forecasts import plot_forecast_vs_actual
    from social_xlstm.viz.report import eventful_vds

    forecasts = read_forecasts(args.forecasts)
    baselines = read_forecasts(args.baselines) if args.baselines else None
    units, timezone = _context(args)
    variable = _variable(args, list(dict.fromkeys(forecasts["variable"].astype(str))), args.forecasts)
    horizon = args.horizon or [int(forecasts["horizon_step"].max())]
    fig = plot_forecast_vs_actual(
        forecasts, args.vds or eventful_vds(forecasts, variable), variable, horizon, baselines=baselines,
        label=args.label, units=units, timezone=timezone, start=args.start, end=args.end,
    )  # fmt: skip
    return save_figure(fig, args.out)


def run_horizons(args) -> Path:
    from social_xlstm.viz.common import read_metrics, save_figure
    from social_xlstm.viz.horizons import plot_error_by_horizon

    runs = [read_metrics(path) for path in args.metrics]
    labels = args.labels or [_run_label(Path(p)) for p in args.metrics]
    first = runs[0]["models"][next(iter(runs[0]["models"]))]
    units, _ = _context(args)
    variable = _variable(args, list(first), args.metrics[0])
    fig = plot_error_by_horizon(runs, variable, args.metric, units=units, labels=labels)
    return save_figure(fig, args.out)


def _run_label(path: Path) -> str:
    """A metrics file's run name: its directory (``runs/lstm/metrics.json`` -> ``lstm``)."""
    return path.parent.name if path.name == "metrics.json" and path.parent.name else path.stem


def run_map(args) -> Path:
    from social_xlstm.data.format.schema import STATIONS
    from social_xlstm.viz.common import read_forecasts, read_stations, save_figure
    from social_xlstm.viz.forecasts import vd_errors
    from social_xlstm.viz.maps import plot_error_map, plot_vd_map

    if not (args.stations or args.dataset):
        raise UserError("plot map needs --stations FILE or --dataset DIR")
    stations = read_stations(args.stations or Path(args.dataset) / STATIONS)
    if args.forecasts is None:
        return save_figure(plot_vd_map(stations, title=f"{len(stations)} VDs"), args.out)
    forecasts = read_forecasts(args.forecasts)
    units, _ = _context(args)
    variable = _variable(args, list(dict.fromkeys(forecasts["variable"].astype(str))), args.forecasts)
    errors = vd_errors(forecasts, variable, args.horizon)[args.metric]
    at = f" at step {args.horizon}" if args.horizon else ", all steps"
    metric_name = f"masked {args.metric.upper()} of {variable}"
    fig = plot_error_map(stations, errors, variable, args.metric, units, title=f"{metric_name} per VD{at}")
    return save_figure(fig, args.out)


def run_missing(args) -> Path:
    from social_xlstm.data.panel import load_panel
    from social_xlstm.viz.common import save_figure
    from social_xlstm.viz.data import plot_missing

    panel = load_panel(args.dataset)
    variables = [args.variable] if args.variable else None
    return save_figure(plot_missing(panel, variables), args.out)


def run_sources(args) -> list[Path]:
    from social_xlstm.data.format.schema import STATIONS
    from social_xlstm.network import learned_source_edges, load_network
    from social_xlstm.viz.common import read_stations, save_figure
    from social_xlstm.viz.sources import learned_source_table, plot_learned_sources, source_distances_km

    if not (args.stations or args.dataset):
        raise UserError("plot sources needs --stations FILE or --dataset DIR (the VDs' coordinates)")
    net, info = load_network(args.ckpt)
    table = learned_source_table(learned_source_edges(net), info.vd_ids)
    stations = read_stations(args.stations or Path(args.dataset) / STATIONS)
    table["distance_km"] = source_distances_km(table, stations)
    written = [save_figure(plot_learned_sources(stations, table, args.vds), args.out)]
    if args.table:
        table.to_csv(args.table, index=False)
        written.append(Path(args.table))
    km = table["distance_km"].dropna()
    if len(km):
        print(
            f"learned sources: {len(table)} edges, {table['vd_id'].nunique()} VDs; distance to the reader "
            f"median {km.median():.2f} km, 90% below {km.quantile(0.9):.2f} km"
        )
    return written


def run_all(args) -> list[Path]:
    from social_xlstm.viz.report import write_plots

    return write_plots(
        args.forecasts, args.metrics, args.out, stations=args.stations, vds=args.vds, variable=args.variable,
        dataset=args.dataset,
    )  # fmt: skip


def _print(handler):
    def run(args) -> int:
        written = handler(args)
        for path in written if isinstance(written, list) else [written]:
            print(f"plot: {path}")
        return 0

    return run


def add_arguments(plot: argparse.ArgumentParser) -> None:
    """The ``plot`` subcommands on the ``plot`` parser."""
    kinds = plot.add_subparsers(dest="kind", metavar="KIND", required=True)

    def kind(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        p = kinds.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=_print(handler))
        return p

    def common(p, out_help="PNG file to write", dataset_help="dataset directory: units and local time zone"):
        p.add_argument("--out", required=True, help=out_help)
        p.add_argument("--dataset", default=None, help=dataset_help)
        p.add_argument("--variable", default=None, help="variable to draw (default: the first)")

    p = kind("forecast", "forecast vs actual for a few VDs, on local time", run_forecast)
    p.add_argument("--forecasts", required=True, help="forecasts.parquet")
    p.add_argument("--baselines", default=None, help="a second forecasts file (e.g. the baselines') drawn dashed")
    common(p)
    p.add_argument("--vds", nargs="+", default=None, help="VDs to draw (default: the 3 whose actual values vary most)")
    p.add_argument("--horizon", nargs="+", type=int, default=None, help="horizon step(s) to draw (default: the last)")
    p.add_argument("--start", default=None, help="first local time to draw, e.g. '2024-03-12 06:00'")
    p.add_argument("--end", default=None, help="last local time to draw")
    p.add_argument("--label", default="forecast", help="legend name of the forecasts (default 'forecast')")
    p.add_argument("--unit", default=None, help="unit of --variable when no --dataset gives it")
    p.add_argument("--timezone", default=None, help="time zone of the axis when no --dataset gives it (default UTC)")

    p = kind("horizons", "error by lead time, one line per model (several metrics.json: one per run)", run_horizons)
    p.add_argument("--metrics", required=True, nargs="+", help="metrics.json file(s)")
    p.add_argument("--labels", nargs="+", default=None, help="run names (default: each file's directory)")
    p.add_argument(
        "--metric", default="mae", help="error measure, one of the metrics the file lists (default mae)"
    )
    common(p)
    p.add_argument("--unit", default=None, help="unit of --variable when no --dataset gives it")

    p = kind("map", "the VDs on their coordinates, coloured by error with --forecasts", run_map)
    p.add_argument("--stations", default=None, help="stations.parquet (or --dataset)")
    p.add_argument("--forecasts", default=None, help="forecasts.parquet: colour the VDs by their error")
    p.add_argument("--metric", choices=("mae", "rmse"), default="mae", help="error measure (default mae)")
    p.add_argument("--horizon", type=int, default=None, help="one horizon step (default: all steps pooled)")
    common(p)
    p.add_argument("--unit", default=None, help="unit of --variable when no --dataset gives it")

    p = kind("missing", "heatmap of missing readings: VDs x local time", run_missing)
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--dataset", required=True, help="dataset directory")
    p.add_argument("--variable", default=None, help="one variable (default: the share over all variables)")

    p = kind("sources", "which sources each VD learned to read (social.graph learned | both), on the map", run_sources)
    p.add_argument("--ckpt", required=True, help="checkpoint of a model trained with learned sources")
    p.add_argument("--stations", default=None, help="stations.parquet (or --dataset)")
    p.add_argument("--vds", nargs="+", default=None, help="draw only these VDs' sources (default: every VD's)")
    p.add_argument("--table", default=None, help="also write the learned edges as CSV (layer, vd_id, source_id, ...)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--dataset", default=None, help="dataset directory (its stations.parquet)")

    p = kind("all", "the standard plots of a run (forecast, horizons, map) per variable", run_all)
    p.add_argument("--forecasts", required=True, help="forecasts.parquet")
    p.add_argument("--metrics", required=True, help="metrics.json")
    p.add_argument("--stations", default=None, help="stations.parquet (for the error map; default the dataset's)")
    p.add_argument("--vds", nargs="+", default=None, help="VDs to draw (default: the 3 whose actual values vary most)")
    common(p, out_help="directory for the PNG files")

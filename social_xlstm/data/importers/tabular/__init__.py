"""Importers for generic tables: ``long`` (one row per timestamp and VD) and ``wide`` (one column per VD).

``long``: CSV or Parquet files with a time column (``--time-col``), a VD id column (``--id-col``; a comma
list such as ``intersection,detector`` joins several columns with ``-``) and value columns
(``--value-cols flow=total,speed``: ``name=column`` renames, a bare name keeps it). Several SRC files are
concatenated. When every SRC is Parquet (a file, several files or a directory of them) the import
streams (:mod:`.stream`). CSV sources are read whole into memory (convert a CSV larger than a few
million rows to Parquet first). The work is done by
:func:`~social_xlstm.data.importers.tabular.long.import_long` and
:func:`~social_xlstm.data.importers.tabular.wide.import_wide`; this module is their command line.

``wide``: one CSV/Parquet/HDF5 table whose time column (``--time-col``; default a column named timestamp/time/
datetime/date, else the first column; a Parquet DatetimeIndex also works) is followed by one column per
VD; the values are the variable ``--variable`` in ``--unit``.

Both:

* Timestamps with a UTC offset are exact; naive ones need ``--tz`` (the local zone; a repeated wall-clock
  hour reads as daylight time first, standard time second; a skipped one fails unless ``--dst-gap drop``).
  A column mixing naive and offset times is an error.
* ``--freq`` is checked against the data (every timestamp on the grid, the usual step equal to it);
  without it the interval is inferred. Missing slots are fine (they are missing observations).
* Coordinates come from ``--stations`` (id, lat, lon columns found by name or named by ``--station-cols``),
  the graph from ``--edges`` (an edge list, or a dense matrix whose rows follow the stations file, else
  the series' VD order: a wide table's columns, a long table's sorted ids; a CSV matrix may carry its ids as
  header). A VD with observations needs coordinates unless ``--edges`` is given (then missing coordinates
  are null, and an edge needs a weight or a distance in the edge file).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from social_xlstm.data.importers.common.files import expand_sources
from social_xlstm.data.importers.common.options import add_graph_arguments, parse_freq, parse_list, parse_pairs
from social_xlstm.data.importers.tabular.long import import_long
from social_xlstm.data.importers.tabular.wide import import_wide
from social_xlstm.errors import UserError

__all__ = ["add_arguments", "import_long", "import_wide", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``social-xlstm ingest long`` and ``social-xlstm ingest wide``."""
    parser.add_argument("--time-col", default=None, help="timestamp column (long: required; wide: found by name)")
    parser.add_argument(
        "--id-col",
        default=None,
        help="long: VD id column(s), comma separated (joined with '-'; two tuples joining to one id are refused)",
    )
    parser.add_argument("--value-cols", default=None, help="long: value columns, e.g. 'flow=total,speed'")
    parser.add_argument("--variable", default="value", help="wide: name of the variable (default: value)")
    parser.add_argument("--unit", default="unknown", help="wide: unit of the variable")
    parser.add_argument("--key", default=None, help="wide: the table of an HDF5 file that holds several")
    parser.add_argument("--units", default=None, help="long: units per variable, e.g. 'flow=veh/15min,speed=km/h'")
    parser.add_argument("--tz", default=None, help="time zone of naive timestamps (IANA name; required for them)")
    parser.add_argument(
        "--dst-gap", choices=("raise", "drop"), default="raise", help="naive times in the hour skipped by DST"
    )
    parser.add_argument("--freq", default=None, help="sampling interval, e.g. 15min (default: inferred and checked)")
    parser.add_argument("--name", default=None, help="dataset name (default: the first file's stem)")
    parser.add_argument("--source", default="", help="where the data came from (dataset.json)")
    parser.add_argument("--licence", default="", help="licence of the data (dataset.json)")
    parser.add_argument("--zero-is-missing", default="", help="variables whose 0 means no reading, comma separated")
    add_graph_arguments(parser)


def run(sources: list[str], out: str, args: argparse.Namespace) -> Path:
    """CLI entry of ``long`` and ``wide`` (``args.format``): the options as keywords of the importer."""
    files = expand_sources(sources)
    shared = {
        "tz": args.tz,
        "dst_gap": args.dst_gap,
        "freq": parse_freq(args.freq),
        "stations": args.stations,
        "station_cols": parse_pairs(args.station_cols),
        "edges": args.edges,
        "edge_value": args.edge_value,
        "edge_ids": args.edge_ids,
        "edge_base": args.edge_base,
        "cost_unit": args.cost_unit,
        "name": args.name,
        "source": args.source,
        "licence": args.licence,
        "zero_is_missing": parse_list(args.zero_is_missing),
        "overwrite": args.overwrite,
    }
    if args.format == "wide":
        if len(files) != 1:
            names = ", ".join(f.name for f in files[:6]) + (", ..." if len(files) > 6 else "")
            raise UserError(f"wide: give exactly one table, got {len(files)} files ({names})")
        return import_wide(
            files[0], out, time_col=args.time_col, variable=args.variable, unit=args.unit, key=args.key, **shared
        )
    if not args.time_col or not args.id_col or not args.value_cols:
        raise UserError("long: --time-col, --id-col and --value-cols are required")
    return import_long(
        files,
        out,
        time_col=args.time_col,
        id_cols=parse_list(args.id_col),
        value_cols=parse_pairs(args.value_cols),
        units=parse_pairs(args.units),
        **shared,
    )

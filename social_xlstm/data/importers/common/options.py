"""Command-line options shared by importers, and the small parsers that turn their text into values.

Each importer's ``run(sources, out, args)`` reads its ``argparse`` options with these and calls the
importer function with explicit keywords; the functions themselves take values, never a Namespace.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import DatasetMeta
from social_xlstm.data.importers.common.graphs import COST_UNITS
from social_xlstm.errors import UserError


def parse_pairs(text: str | None) -> dict[str, str]:
    """``"a=b,c=d"`` -> ``{"a": "b", "c": "d"}``; a bare ``"a"`` maps to itself."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        out[name.strip()] = (value or name).strip()
    return out


def parse_list(text: str | None) -> list[str]:
    """``"flow, speed"`` -> ``["flow", "speed"]``; empty items are dropped, None or ``""`` is ``[]``."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_freq(text: str | Freq | None) -> Freq | None:
    """The ``--freq`` option as a :class:`~social_xlstm.data.format.freq.Freq`; None stays None (inferred)."""
    return None if text is None else Freq.parse(text, "--freq")


def check_zero_is_missing(names: Sequence[str], variables: Sequence[str]) -> list[str]:
    """``--zero-is-missing`` names, each of which must be a variable of the dataset."""
    unknown = [v for v in names if v not in variables]
    if unknown:
        raise UserError(f"--zero-is-missing {unknown[0]!r} is not a variable; variables are {list(variables)}")
    return list(names)


def table_meta(
    default_name: str,
    freq: Freq,
    units: dict[str, str],
    *,
    name: str | None,
    tz: str | None,
    source: str,
    licence: str,
    zero_is_missing: Sequence[str],
) -> DatasetMeta:
    """``dataset.json`` of a ``long`` or ``wide`` import from its options (time zone UTC unless ``--tz``)."""
    return DatasetMeta(
        name=name or default_name,
        freq=freq,
        variables=units,
        timezone=tz or "UTC",
        source=source,
        licence=licence,
        zero_is_missing=check_zero_is_missing(zero_is_missing, list(units)),
    )


def add_graph_arguments(
    parser: argparse.ArgumentParser, stations_help: str = "CSV/Parquet with VD id, lat, lon per VD"
) -> None:
    """Options shared by the importers that take a stations file and/or a graph file."""
    parser.add_argument("--stations", metavar="FILE", help=stations_help)
    parser.add_argument(
        "--station-cols",
        metavar="MAP",
        help="column names of the stations file, e.g. 'vd_id=sensor,lat=y,lon=x' (default: found by name)",
    )
    parser.add_argument(
        "--edges",
        metavar="FILE",
        help=(
            "graph: an edge list read by its header (src|from, dst|to, then any of distance|cost and "
            "weight), a headerless 'src dst [value]' list (commas, tabs or blanks), or a square N x N weight "
            "matrix (CSV/text/NPY/pickle); weights alone suffice"
        ),
    )
    parser.add_argument(
        "--edge-value",
        choices=("auto", "distance", "weight"),
        default="auto",
        help="meaning of an edge list's only value column: 'auto' = by its name (weight, or distance|cost), "
        "a headerless one a distance; a dense matrix holds weights unless 'distance' (default: auto)",
    )
    parser.add_argument(
        "--edge-ids",
        choices=("auto", "id", "index"),
        default="auto",
        help="an edge list's endpoints: VD ids, or positions in the VD order (the stations file's, else the "
        "series'); 'auto' = ids when every endpoint is one, else positions (default: auto)",
    )
    parser.add_argument(
        "--edge-base",
        type=int,
        choices=(0, 1),
        default=None,
        help="positions count from 0 or 1 (default: found from the smallest and largest endpoint)",
    )
    add_cost_unit_argument(parser, "edge distances/costs")


def add_cost_unit_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--cost-unit m|km|mi``: the unit of ``what`` (a graph's cost column)."""
    parser.add_argument("--cost-unit", choices=tuple(COST_UNITS), default="m", help=f"unit of {what} (default: m)")

"""Importers: one module per source format, each turning source files into a canonical dataset.

Every importer module exposes:
    add_arguments(parser: argparse.ArgumentParser) -> None   its format options (SRC and --out are added by the CLI)
    run(sources: list[str], out: str, args: argparse.Namespace) -> pathlib.Path
plus a plain Python function doing the work (documented in the module) that ``run`` calls.
The CLI (``social-xlstm ingest FORMAT SRC... --out DIR [--overwrite]``) finds them through this table, and
:func:`ingest` is the same command from Python (``sx.ingest("wide", "speeds.csv", out=..., variable="speed")``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

# format name -> (module, one-line help)
IMPORTERS: dict[str, tuple[str, str]] = {
    "metr-la": (
        "social_xlstm.data.importers.dcrnn",
        "DCRNN release of METR-LA (HDF5 speeds, locations, adjacency)",
    ),
    "pems-bay": (
        "social_xlstm.data.importers.dcrnn",
        "DCRNN release of PEMS-BAY (HDF5 speeds, locations, adjacency)",
    ),
    "los-loop": ("social_xlstm.data.importers.los_loop", "T-GCN los-loop wide CSV + adjacency CSV"),
    "pems": ("social_xlstm.data.importers.pems", "PEMS03/04/07/08 .npz + from,to,cost CSV"),
    "largest": (
        "social_xlstm.data.importers.largest",
        "LargeST release (<name>_his_<year>.h5, <name>_meta.csv, <name>_rn_adj.npy)",
    ),
    "basicts": ("social_xlstm.data.importers.basicts", "BasicTS processed folder (data.dat or *_data.npy)"),
    "libcity": (
        "social_xlstm.data.importers.libcity",
        "LibCity atomic files (.geo, .rel, .dyna, config.json)",
    ),
    "taiwan-vd": (
        "social_xlstm.data.importers.taiwan_vd",
        "Taiwan VD feeds (TDX VDList/VDLiveList XML/JSON, NFB v1.1)",
    ),
    "long": ("social_xlstm.data.importers.tabular", "any long CSV/Parquet with a column mapping"),
    "wide": ("social_xlstm.data.importers.tabular", "a wide table: timestamp + one column per VD"),
}


def load_importer(fmt: str) -> ModuleType:
    """The importer module of a format name."""
    from social_xlstm.errors import UserError

    if fmt not in IMPORTERS:
        raise UserError(f"unknown format {fmt!r}; valid formats: {', '.join(IMPORTERS)}")
    return importlib.import_module(IMPORTERS[fmt][0])


def add_ingest_arguments(parser: argparse.ArgumentParser, fmt: str) -> ModuleType:
    """SRC, ``--out``, ``--overwrite`` and the options of the format's importer, on ``parser``; its module."""
    from social_xlstm.data.importers.common.times import time_zone

    parser.add_argument("sources", nargs="+", metavar="SRC", help="source files, directories or archives")
    parser.add_argument("--out", required=True, help="output dataset directory (must not exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    module = load_importer(fmt)
    module.add_arguments(parser)
    for action in parser._actions:  # one check of --tz for every importer, at parse time (nothing written yet)
        if "--tz" in action.option_strings:
            action.type = time_zone
    return module


def run_ingest(module: ModuleType, args: argparse.Namespace) -> Path:
    """Check the output, then import: the one path of the CLI and of :func:`ingest`."""
    from social_xlstm.outputs import DATASET_MARK, check_output_dir

    # before any source is read: the output must be ours to write, and must not hold a source
    sources = [*args.sources, *(getattr(args, o) for o in ("stations", "edges", "locations") if getattr(args, o, None))]
    check_output_dir(args.out, args.overwrite, [DATASET_MARK], sources)
    return module.run(args.sources, args.out, args)


class _Refusing(argparse.ArgumentParser):
    """Option errors as a :class:`~social_xlstm.errors.UserError` (a Python caller gets an exception, not an exit)."""

    def error(self, message: str):
        from social_xlstm.errors import UserError

        raise UserError(f"{self.prog}: {message}")


def _option_text(value) -> str:
    if isinstance(value, Mapping):  # --value-cols, --station-cols: 'key=value,...'
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):  # --id-col, --zero-is-missing: comma separated
        return ",".join(map(str, value))
    return str(value)


def ingest(fmt: str, sources: str | Path | Sequence[str | Path], out: str | Path, **options) -> Path:
    """``social-xlstm ingest FMT SRC... --out OUT [options]`` from Python: the same parsing, checks and files.

    Args:
        fmt: a format name of :data:`IMPORTERS` (``"wide"``, ``"metr-la"``, ``"taiwan-vd"``, ...).
        sources: the source file(s), directories or archives.
        out: the dataset directory to write.
        options: the command's options by their Python names (``--edge-ids`` is ``edge_ids``); ``True``
            sets a flag, ``None`` or ``False`` leaves it out, a dict is ``key=value,...``, a list comma separated.

    Returns:
        The dataset directory.

    Raises:
        UserError: an unknown format or option, or a value the command refuses (the message names it).
        DataError: a problem in the source files (nothing is written).
    """
    from social_xlstm.errors import UserError

    parser = _Refusing(prog=f"ingest {fmt}", add_help=False)
    module = add_ingest_arguments(parser, fmt)
    known = {a.dest: a for a in parser._actions if a.option_strings}
    argv = [str(s) for s in ([sources] if isinstance(sources, (str, Path)) else sources)] + ["--out", str(out)]
    for name, value in options.items():
        action = known.get(name)
        if action is None:
            valid = ", ".join(sorted(n for n in known if n != "out"))
            raise UserError(f"ingest {fmt}: unknown option {name!r}; valid: {valid}")
        if value is None or value is False:
            continue
        flag = action.option_strings[-1]
        argv += [flag] if action.nargs == 0 else [flag, _option_text(value)]
    args = parser.parse_args(argv)
    args.format = fmt
    return run_ingest(module, args)

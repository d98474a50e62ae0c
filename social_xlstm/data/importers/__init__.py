"""Importers: one module per source format, each turning source files into a canonical dataset.

Every importer module exposes:
    add_arguments(parser: argparse.ArgumentParser) -> None   its format options (SRC and --out are added by the CLI)
    run(sources: list[str], out: str, args: argparse.Namespace) -> pathlib.Path
plus a plain Python function doing the work (documented in the module) that ``run`` calls.
The CLI (``social-xlstm ingest FORMAT SRC... --out DIR [--overwrite]``) finds them through this table.
"""

from __future__ import annotations

import importlib
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

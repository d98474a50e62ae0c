"""Wide tables in HDF5: a pandas HDFStore of a DataFrame (timestamp index, one column per sensor).

Many traffic releases ship this (DCRNN's METR-LA and PEMS-BAY, LargeST, a city's own export). The file is
checked by :func:`~.safe_pickle.check_hdf5` and read with PyTables' unpickling restricted to data, so a
crafted file cannot run code. A store of several tables needs ``key``; the message lists the keys.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from social_xlstm.data.importers.common.files import check_file
from social_xlstm.data.importers.common.safe_pickle import check_hdf5, read_hdf
from social_xlstm.errors import DataError, UserError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".he5")


def _need_pytables(path: Path) -> None:
    try:
        import tables  # noqa: F401  (pandas needs it for read_hdf; imported here to say so clearly)
    except ImportError as err:
        raise UserError(f"{path}: reading HDF5 needs PyTables: pip install tables (or 'social-xlstm[hdf5]')") from err


def hdf_keys(path: str | Path) -> list[str]:
    """The pandas tables of an HDF5 file (``/df``, ``/speed``, ...), after :func:`check_hdf5`."""
    path = check_file(path, "HDF5 file")
    _need_pytables(path)
    check_hdf5(path)
    with pd.HDFStore(path, mode="r") as store:
        return list(store.keys())


def read_h5(path: str | Path, key: str | None = None) -> pd.DataFrame:
    """The wide table of a pandas HDF5 file (T rows with a DatetimeIndex, N sensor columns).

    Args:
        path: the ``.h5`` file.
        key: the table to read; None: the only one (a store of several names them in the error).

    Raises:
        UserError: PyTables is not installed.
        DataError: unreadable file, ``key`` not among its tables, several tables and no ``key``, or not
            a table with a DatetimeIndex.
    """
    path = check_file(path, "HDF5 file")
    _need_pytables(path)
    keys = hdf_keys(path)
    if key is not None and "/" + key.lstrip("/") not in keys:
        raise DataError(f"{path}: no table {key!r} in the file; its tables: {', '.join(keys) or 'none'}")
    if key is None and len(keys) > 1:
        raise DataError(f"{path}: the file holds {len(keys)} tables ({', '.join(keys)}); choose one with --key")
    try:
        # PyTables unpickles object columns and non-native attributes: read with that restricted to data
        frame = read_hdf(path, key=key)
    except DataError:  # a refused pickle inside the file, or not HDF5 at all: already one clear message
        raise
    except ImportError as err:
        raise UserError(f"{path}: reading HDF5 needs PyTables: pip install tables (or 'social-xlstm[hdf5]')") from err
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        raise DataError(f"{path}: not a readable pandas HDF5 file, truncated or corrupt ({err})") from err
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(
            f"{path}: expected a wide DataFrame with a DatetimeIndex (one column per sensor), got "
            f"{type(frame).__name__}" + (f" indexed by {type(frame.index).__name__}" if hasattr(frame, "index") else "")
        )
    if frame.empty:
        raise DataError(f"{path}: the table has no rows or no columns")
    return frame

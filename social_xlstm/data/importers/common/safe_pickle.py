"""Reading pickles and HDF5 files from strangers without running their code.

A pickle is a program: every global it names is imported and may be called (``os.system`` included), so
``pickle.load`` of a downloaded adjacency file runs whatever its author put in it. The files our importers
read only ever hold plain data (DCRNN's ``[sensor_ids, sensor_id_to_ind, adj_mx]``, bare matrices, pandas
HDF5 tables), so :class:`RestrictedUnpickler` rebuilds exactly that and refuses every other global with one
error naming the file and the global:

* containers and scalars need no global at all (lists, dicts, tuples, strings, numbers, None, bools);
* ``set``, ``frozenset``, ``complex``, ``bytearray``, ``collections.OrderedDict``;
* ``_codecs.encode`` with the latin-1 codec only: how Python 3 writes ``bytes`` in a protocol-2 pickle
  (Python 2 pickles need nothing more: their ``str`` is read back with ``encoding="latin1"``);
* numpy arrays, dtypes and scalars (``_reconstruct``, ``ndarray``, ``dtype``, ``scalar``, ``_frombuffer``,
  under both the ``numpy.core`` and the numpy 2 ``numpy._core`` names);
* pandas date offsets (``Minute``, ``Hour``, ...): pandas stores a ``DatetimeIndex``'s ``freq`` in an HDF5
  attribute as a pickle, so every METR-LA-style file holds one.

Why an allow-list and not a deny-list of dangerous names: the dangerous set is open (any callable of any
importable module), the data set is closed. An object-dtype numpy array is still safe: its items go
through the same unpickler.

HDF5 (:func:`read_hdf`): PyTables unpickles two things behind pandas' back, node attributes that are not
native HDF5 types and ``ObjectAtom`` arrays (how pandas stores an object-dtype column). The file is first
inspected with PyTables: a node holding pickled objects is refused by name before anything of it is
read; then every attribute and the table itself are read with PyTables' unpickling routed through
:class:`RestrictedUnpickler`, so nothing a check missed can run either.
"""

from __future__ import annotations

import codecs
import io
import pickle
import threading
import types
from contextlib import contextmanager
from pathlib import Path

from social_xlstm.errors import DataError

_BUILTINS = {"set": set, "frozenset": frozenset, "complex": complex, "bytearray": bytearray}
_NUMPY_NAMES = {
    "multiarray": ("_reconstruct", "scalar"),
    "numeric": ("_frombuffer",),
    "": ("ndarray", "dtype"),
}
_OFFSET_MODULES = ("pandas._libs.tslibs.offsets", "pandas.tseries.offsets")


class UnsafePickleError(DataError):
    """A pickle names a global that is not plain data; nothing of it was run."""


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 pickles bytes for protocol 2 as _codecs.encode(text, "latin1"); no other codec is data.
    if encoding.replace("-", "").replace("_", "").lower() not in ("latin1", "iso88591"):
        raise pickle.UnpicklingError(f"_codecs.encode with codec {encoding!r}")
    return codecs.encode(text, "latin1", errors)


def _numpy_global(module: str, name: str):
    import numpy as np

    for prefix in ("numpy.core", "numpy._core", "numpy"):
        for sub, names in _NUMPY_NAMES.items():
            full = f"{prefix}.{sub}" if sub else prefix
            if module == full and name in names:
                if name in ("ndarray", "dtype"):
                    return getattr(np, name)
                core = getattr(np, "_core", None) or np.core
                return getattr(getattr(core, sub), name)
    return None


def _offset_global(module: str, name: str):
    if module not in _OFFSET_MODULES:
        return None
    from pandas.tseries import offsets

    cls = getattr(offsets, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, offsets.BaseOffset) else None


def safe_global(module: str, name: str):
    """The object a pickle may name as ``module.name``, or None when it is not plain data."""
    if module in ("builtins", "__builtin__") and name in _BUILTINS:
        return _BUILTINS[name]
    if module == "collections" and name == "OrderedDict":
        from collections import OrderedDict

        return OrderedDict
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    if module.startswith("numpy"):
        return _numpy_global(module, name)
    return _offset_global(module, name)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds plain data only (the module docstring lists what) and refuses the rest.

    Args:
        file: the open binary file.
        source: what to name in the error (the file's path, and the HDF5 node when there is one).
        encoding: how Python 2 ``str`` objects are decoded (``latin1`` keeps numpy buffers intact).
    """

    def __init__(self, file, source: str, encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str):
        found = safe_global(module, name)
        if found is None:
            raise UnsafePickleError(
                f"{self.source}: refused to unpickle the global {module}.{name}: a pickle can run code, so "
                "only plain data is read (lists, dicts, tuples, strings, numbers, numpy arrays, pandas "
                "date offsets); nothing of this file was run"
            )
        return found

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: refused a persistent id in the pickle ({pid!r:.60})")


def loads(data: bytes, source: str, encoding: str = "latin1") -> object:
    """:func:`pickle.loads` through :class:`RestrictedUnpickler` (raises :class:`UnsafePickleError`)."""
    return RestrictedUnpickler(io.BytesIO(data), source, encoding=encoding).load()


def load_pickle(path: str | Path) -> object:
    """Unpickle a data file written by Python 2 or 3, refusing anything but plain data.

    Raises:
        UnsafePickleError: the pickle names a global that is not plain data (nothing was run).
        DataError: the file is missing, truncated or not a pickle.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return RestrictedUnpickler(fh, str(path)).load()
    except UnsafePickleError:
        raise
    except OSError as err:
        raise DataError(f"{path}: cannot read the pickle ({err.strerror or err})") from err
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as err:
        raise DataError(f"{path}: not a readable pickle, truncated or corrupt ({err})") from err


_PYTABLES_LOCK = threading.Lock()


@contextmanager
def _restricted_pytables(path: Path, refused: list[UnsafePickleError]):
    """Route PyTables' own ``pickle.loads`` (attributes, ObjectAtom arrays) through the restricted one.

    PyTables swallows some unpickling errors and returns the raw bytes instead, so every refusal is also
    recorded in ``refused`` for the caller to raise after the read.
    """
    import tables.atom
    import tables.attributeset

    def restricted_loads(data, *args, encoding: str = "latin1", **kwargs):
        try:
            return loads(bytes(data), f"{path} (HDF5)", encoding=encoding if encoding != "bytes" else "latin1")
        except UnsafePickleError as err:
            refused.append(err)
            raise

    shim = types.SimpleNamespace(**{k: getattr(pickle, k) for k in ("dumps", "UnpicklingError", "HIGHEST_PROTOCOL")})
    shim.loads = restricted_loads
    with _PYTABLES_LOCK:
        saved = tables.attributeset.pickle, tables.atom.pickle
        tables.attributeset.pickle = tables.atom.pickle = shim
        try:
            yield
        finally:
            tables.attributeset.pickle, tables.atom.pickle = saved


def check_hdf5(path: str | Path) -> None:
    """Refuse an HDF5 file whose nodes hold pickled Python objects; read every attribute restrictedly.

    Raises:
        UnsafePickleError: a node is an object (pickled) array, or an attribute pickles a non-data global.
        DataError: the file is not HDF5.
    """
    import tables

    path = Path(path)
    refused: list[UnsafePickleError] = []
    with _restricted_pytables(path, refused):
        try:
            handle = tables.open_file(str(path), mode="r")
        except (OSError, tables.HDF5ExtError, ValueError) as err:
            # PyTables' message is HDF5's whole back trace; its last line says what failed
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(err).__name__
            raise DataError(f"{path}: not a readable pandas HDF5 file, truncated or corrupt ({reason})") from err
        try:
            for node in handle.walk_nodes("/"):
                if isinstance(getattr(node, "atom", None), tables.ObjectAtom):
                    raise UnsafePickleError(
                        f"{path}: HDF5 node {node._v_pathname} holds pickled Python objects (an object-dtype "
                        "column); only numeric and string columns are read, nothing of it was run"
                    )
                attrs = node._v_attrs
                for name in attrs._v_attrnamesuser:
                    try:
                        getattr(attrs, name)
                    except UnsafePickleError:
                        raise
                    except Exception as err:  # noqa: BLE001 - a damaged attribute; the read below reports it
                        if refused:
                            raise refused[0] from err
        finally:
            handle.close()
    if refused:
        raise refused[0]


def read_hdf(path: str | Path, key: str | None = None):
    """``pandas.read_hdf`` of a file checked by :func:`check_hdf5`, with PyTables' unpickling restricted.

    Raises:
        UnsafePickleError: as :func:`check_hdf5`.
    """
    import pandas as pd

    path = Path(path)
    check_hdf5(path)
    refused: list[UnsafePickleError] = []
    with _restricted_pytables(path, refused):
        try:
            frame = pd.read_hdf(path, key=key)
        except UnsafePickleError:
            raise
        except Exception:
            if refused:
                raise refused[0] from None
            raise
    if refused:
        raise refused[0]
    return frame

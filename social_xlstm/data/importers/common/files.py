"""Reading source files safely: CSV, Parquet, JSON, pickles (data only, never code) and arrays, values as
numbers, and SRC lists.

Every reader turns a problem in a file (missing, empty, truncated, corrupt, text where numbers belong)
into a :class:`~social_xlstm.errors.DataError` naming the file (and the column and example rows where
there are some), so an importer never catches library exceptions itself.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from social_xlstm.data.format.checks import require_columns, suggest
from social_xlstm.data.importers.common.archives import is_archive, unpack
from social_xlstm.data.importers.common.kinds import refuse_binary
from social_xlstm.errors import DataError, UserError

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: Path) -> bool:
    """Parquet by extension (``.parquet``, ``.pq``); everything else is read as CSV."""
    return path.suffix.lower() in PARQUET_SUFFIXES


def check_file(path: str | Path, what: str = "file") -> Path:
    """A path that exists, is a file and is not empty.

    Raises:
        DataError: missing, a directory, or zero bytes.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: {what} not found")
    if not path.is_file():
        raise DataError(f"{path}: {what} is not a file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: {what} is empty (0 bytes)")
    return path


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


WHITESPACE = " "
"""The separator :func:`separator` returns for cells split by runs of spaces and tabs (``0 1 0.5``)."""


def separator(path: Path) -> str:
    """A text table's cell separator, from its first non-empty line: ``,`` where it has one, else a tab,
    ``;``, or :data:`WHITESPACE` for cells between runs of blanks (graph papers' ``i j w`` lines)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = next((text for text in fh if text.strip()), "")
    for sep in (",", "\t", ";"):
        if sep in line:
            return sep
    return WHITESPACE if len(line.split()) > 1 else ","


def first_line(path: Path) -> list[str]:
    """The cells of a text table's first line (a header, or the first data row), unquoted; split by the
    file's :func:`separator`."""
    sep = separator(path)
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = next((text for text in fh if text.strip()), "")
    cells = line.split() if sep == WHITESPACE else line.split(sep)
    return [t.strip().strip('"') for t in cells]


def column_names(path: Path) -> list[str]:
    """Column names of a CSV (its first line) or Parquet file, without reading its data."""
    if is_parquet(path):
        try:
            return list(pq.read_schema(path).names)
        except (pa.ArrowInvalid, OSError) as err:
            raise DataError(f"{path}: not a readable Parquet file, truncated or corrupt ({err})") from err
    refuse_binary(path)
    return first_line(path)


def read_csv(
    path: str | Path,
    *,
    header: bool = True,
    string_cols: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV with pyarrow (multi-threaded, lean); headerless files get columns ``0, 1, ...``.

    Args:
        path: the CSV file.
        header: whether the first line holds column names.
        string_cols: columns kept as text (ids, timestamps parsed later with better messages).
        columns: read only these columns (by header name); None reads all.
    """
    path = check_file(path)
    refuse_binary(path)
    sep = separator(path)
    if sep == WHITESPACE:
        return _read_blank_separated(path, header, string_cols, columns)
    read_opts = pacsv.ReadOptions(autogenerate_column_names=not header)
    # Only an empty cell is missing: text such as "n/a" must fail loudly in to_float, not become NaN.
    convert = pacsv.ConvertOptions(
        include_columns=list(columns) if columns is not None else None,
        column_types={c: pa.string() for c in string_cols},
        null_values=[""],
    )
    try:
        table = pacsv.read_csv(
            path, read_options=read_opts, parse_options=pacsv.ParseOptions(delimiter=sep), convert_options=convert
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a readable CSV file ({err})") from err
    frame = table.to_pandas()
    if not header:
        frame.columns = range(frame.shape[1])
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def _read_blank_separated(
    path: Path, header: bool, string_cols: Sequence[str], columns: Sequence[str] | None
) -> pd.DataFrame:
    """:func:`read_csv` for cells between runs of blanks (pyarrow reads one-character separators only)."""
    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+",
            header=0 if header else None,
            usecols=list(columns) if columns is not None else None,
            dtype={c: str for c in string_cols} or None,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise DataError(f"{path}: not a readable blank-separated table ({err})") from err
    if not header:
        frame.columns = range(frame.shape[1])
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def read_table(path: str | Path, columns: Sequence[str] | None = None, string_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet table (by extension), only ``columns`` when given.

    Raises:
        DataError: empty, truncated or corrupt file, or a requested column missing.
    """
    path = check_file(path)
    if columns is not None:
        require_columns(path, column_names(path), columns)
    if not is_parquet(path):
        return read_csv(path, string_cols=string_cols, columns=columns)
    try:
        frame = pq.read_table(path, columns=list(columns) if columns is not None else None).to_pandas()
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path}: not a readable Parquet file, truncated or corrupt ({err})") from err
    if frame.empty:
        raise DataError(f"{path}: no data rows")
    return frame


def read_json(path: str | Path) -> dict:
    """A JSON object from a file, with a DataError naming the file when it is not valid JSON."""
    path = check_file(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return raw


def load_pickle(path: str | Path) -> object:
    """Unpickle a data file written by Python 2 or 3 (``encoding="latin1"``, as the DCRNN pickles need),
    refusing every global that is not plain data, so a pickle cannot run code (:mod:`.safe_pickle`)."""
    from .safe_pickle import load_pickle as load_restricted

    return load_restricted(check_file(path))


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """An array from ``.npy`` or ``.npz`` (``key`` picks the member; the only member when omitted).

    Raises:
        DataError: truncated/corrupt file, or ``key`` missing (the message lists the keys present).
    """
    path = check_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            keys = list(loaded.files)
            if key is None and len(keys) == 1:
                key = keys[0]
            if key not in keys:
                raise DataError(f"{path}: no array {key!r}{suggest(str(key), keys)}; arrays are {keys}")
            return loaded[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{path}: not a readable .npy/.npz file, truncated or corrupt ({err})") from err


def to_float(values: pd.Series, path: str | Path, column: str) -> np.ndarray:
    """Column values as float64; text that is not a number raises with example rows.

    Empty cells become NaN (missing); text such as ``"n/a"`` is an error, never a silent NaN.
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy())[:3]
        examples = ", ".join(f"row {r}: {values.iloc[r]!r}" for r in rows)
        raise DataError(f"{path}: column {column!r} holds non-numeric values ({int(bad.sum())} rows, e.g. {examples})")
    return parsed.to_numpy(dtype="float64", na_value=np.nan)


def expand_sources(sources: Sequence[str | Path]) -> list[Path]:
    """Files named in SRC; a directory stands for the files directly in it (sorted, hidden ones skipped),
    an archive (zip, tar[.gz], 7z, a gzipped file) for the files inside it (unpacked to a temporary folder:
    :mod:`.archives`)."""
    if not sources:
        raise UserError("no source files given (SRC...)")
    files: list[Path] = []
    for src in map(Path, sources):
        if src.is_dir():
            inside = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
            files += [f for p in inside for f in (unpack(p) if is_archive(p) else [p])]
        elif src.exists():
            files += unpack(src) if is_archive(src) else [src]
        else:
            raise DataError(f"{src}: source not found")
    return files


def pick_file(files: Sequence[Path], what: str, *patterns: str, required: bool = True) -> Path | None:
    """The one file among ``files`` whose name matches a glob pattern (tried in order).

    Raises:
        DataError: several files match a pattern, or none matches and ``required``.
    """
    for pattern in patterns:
        hits = [f for f in files if f.match(pattern)]
        if len(hits) > 1:
            raise DataError(f"several {what} files match {pattern!r}: {[str(h) for h in hits]}; name one in SRC")
        if hits:
            return hits[0]
    if required:
        raise DataError(f"no {what} file ({' or '.join(patterns)}) among {[str(f) for f in files]}")
    return None

"""What kind a file is by its first bytes, and the one message for a binary file where text is read.

A user hands a text importer an HDF5 store, a NumPy array or an archive by mistake (or by its published
name): the message says what the file is and which importer or option reads it, instead of a CSV parser's
complaint about its bytes.
"""

from __future__ import annotations

from pathlib import Path

from social_xlstm.errors import DataError

# Leading bytes of the file kinds a user hands a text importer by mistake, and what reads each instead.
SIGNATURES = (
    (b"\x89HDF\r\n\x1a\n", "HDF5"),
    (b"PAR1", "Parquet"),
    (b"\x93NUMPY", "NumPy"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip: its end record only
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
READ_BY = {
    "HDF5": "a pandas HDF5 store of a wide table (one column per sensor) is read by `ingest wide FILE.h5` "
    "(--key where it holds several), METR-LA/PEMS-BAY by `ingest metr-la|pems-bay`, LargeST by `ingest largest`",
    "Parquet": "name it .parquet: tables are read as Parquet by their extension",
    "NumPy": "an (N, N) matrix is a graph (--edges); (T, N, C) traffic arrays are read by `ingest pems` or "
    "`ingest basicts`",
    "pickle": "an adjacency pickle (DCRNN's adj_mx.pkl) is a graph (--edges FILE.pkl)",
    "tar": "an archive: unpack it and give the file inside",
}


def file_kind(path: Path) -> str | None:
    """The binary kind of a file by its first bytes (HDF5, Parquet, NumPy, zip, gzip, 7z, tar, pickle,
    ...), or None for anything else (text)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    for signature, kind in SIGNATURES:
        if head.startswith(signature):
            return kind
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    return None


def refuse_binary(path: Path, what: str = "a CSV table") -> None:
    """A clear :class:`DataError` for a binary file where text is read: what kind it is, what reads it."""
    kind = file_kind(path)
    if kind is not None:
        hint = READ_BY.get(kind, READ_BY["tar"])
        raise DataError(f"{path}: this file is {kind}, not {what}; {hint}")

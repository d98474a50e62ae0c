"""Finding and opening Taiwan VD source files: directories, zip archives, gzip, XML vs JSON by content.

The second half of the parsing of the ``taiwan-vd`` importer (records and value cleaning are in
:mod:`.parse`). The format of a file is decided by its content, never its name: gzip magic
bytes (any depth, e.g. a ``.xml`` that is gzip), zip magic bytes, else the first character after an
optional UTF-8 byte-order mark and whitespace (``<`` XML, ``{``/``[`` JSON). XML is streamed with
``iterparse`` and every record element freed once read, so a national snapshot (~3,300 VDs) or a long
file never sits in memory as a tree. A corrupt gzip/zip/XML/JSON file raises
:class:`~social_xlstm.errors.DataError` naming the file, and ``archive.zip:member`` inside archives.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from social_xlstm.data.importers.taiwan_vd.parse import (
    Interval,
    Record,
    element_obj,
    items,
    local_name,
    nfb_live,
    nfb_static,
    norm_json,
    tdx_live,
    tdx_live_element,
    tdx_static,
    to_int,
)
from social_xlstm.errors import DataError

_SNIFF_BYTES = 512
_KNOWN_ROOTS = frozenset({"vdlivelist", "vdlist", "xml_head"})
log = logging.getLogger(__name__)

# Exceptions a broken gzip / zip / XML / JSON stream raises while being read.
CORRUPT = (
    ET.ParseError,
    OSError,
    EOFError,
    zlib.error,
    zipfile.BadZipFile,
    json.JSONDecodeError,
    UnicodeDecodeError,
)


def iter_xml(stream: BinaryIO, label: str) -> Iterator[Record]:
    """Stream the records of one XML file (TDX VDLiveList / VDList, NFB v1.1); elements are freed as read."""
    found = nfb_readings = 0
    header_interval = None
    # "end" events only: start events would double the Python work; the root is known once parsing ends
    events = ET.iterparse(stream, events=("end",))
    for _, el in events:
        tag = local_name(el.tag)
        if tag == "vdlive":
            yield tdx_live_element(el)
        elif tag == "vd":
            yield tdx_static(element_obj(el))
        elif tag == "info" and el.attrib:
            live = "datacollecttime" in {k.lower() for k in el.attrib}
            nfb_readings += live
            yield nfb_live(el) if live else nfb_static(el)
        else:
            if tag == "updateinterval":
                header_interval = to_int(el.text)
            continue
        found += 1
        el.clear()  # the record is read: free its subtree (an empty shell stays in its parent)
    root = events.root
    if local_name(root.tag) == "vdlivelist" and header_interval:
        yield Interval(header_interval, label)
    # NFB v1.1 declares the interval on the root (vd_value: 60 or 300 s; vd_info: 86400 s, not a reading)
    root_interval = to_int({k.lower(): v for k, v in root.attrib.items()}.get("interval"))
    if nfb_readings and root_interval:
        yield Interval(root_interval, label)
    if not found and local_name(root.tag) in _KNOWN_ROOTS:
        log.warning("taiwan-vd: %s: a <%s> without any record (empty snapshot), skipped", label, local_name(root.tag))
    elif not found:
        raise DataError(
            f"{label}: no VDLive, VD or Info records in this XML file "
            f"(root element <{local_name(root.tag)}>); "
            "expected a TDX VDLiveList/VDList or an NFB v1.1 vd_info/vd_value file"
        )


def iter_json(stream: BinaryIO, label: str) -> Iterator[Record]:
    """The records of one JSON reply: ``{"VDLives": [...]}``, ``{"VDs": [...]}`` or a bare array of either."""
    doc = norm_json(json.loads(stream.read().decode("utf-8-sig")))
    if isinstance(doc, dict):
        if doc.get("vdlives") is not None:
            interval = to_int(doc.get("updateinterval"))
            if interval:
                yield Interval(interval, label)
            yield from (tdx_live(x) for x in items(doc, "vdlives", "vdlive"))
            return
        if doc.get("vds") is not None:
            yield from (tdx_static(x) for x in items(doc, "vds", "vd"))
            return
        doc = [doc]
    entries = [x for x in doc if isinstance(x, dict)] if isinstance(doc, list) else []
    if entries and all("datacollecttime" in x for x in entries):
        yield from (tdx_live(x) for x in entries)
    elif entries and all("vdid" in x for x in entries):
        yield from (tdx_static(x) for x in entries)
    else:
        keys = sorted(doc[0]) if isinstance(doc, list) and doc and isinstance(doc[0], dict) else []
        raise DataError(f"{label}: JSON without VDLives or VDs (first entry keys: {keys[:8]})")


class _Prefixed(io.RawIOBase):
    """A stream that replays the bytes already sniffed, then continues with the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._head[: len(buffer)] if self._head else self._rest.read(len(buffer))
        self._head = self._head[len(data) :] if self._head else b""
        buffer[: len(data)] = data
        return len(data)


def _sniff(stream: BinaryIO) -> tuple[bytes, BinaryIO]:
    head = b""
    while len(head) < _SNIFF_BYTES:
        chunk = stream.read(_SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head, io.BufferedReader(_Prefixed(head, stream))


MAX_NESTING = 8
"""Gzip or zip layers one file may have: published feeds have one or two (a zip of ``.xml.gz``); more is
a crafted file, refused before the nesting exhausts the stack."""


def iter_stream(stream: BinaryIO, label: str, depth: int = 0) -> Iterator[Record]:
    """Records of one file's bytes, whatever it is: gzip or zip (up to :data:`MAX_NESTING` layers), XML or JSON."""
    head, stream = _sniff(stream)
    packed = head[:2] == b"\x1f\x8b" or head[:4] in (b"PK\x03\x04", b"PK\x05\x06")
    if packed and depth >= MAX_NESTING:
        raise DataError(f"{label}: gzip or zip nested more than {MAX_NESTING} levels deep; not a published feed file")
    if head[:2] == b"\x1f\x8b":
        yield from iter_stream(gzip.GzipFile(fileobj=stream), label, depth + 1)
        return
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        yield from iter_zip(io.BytesIO(stream.read()), label, depth + 1)
        return
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text[:1] == b"<":
        yield from iter_xml(stream, label)
    elif text[:1] in (b"{", b"["):
        yield from iter_json(stream, label)
    elif not text:
        raise DataError(f"{label}: file is empty")
    else:
        raise DataError(f"{label}: neither XML, JSON, gzip nor zip (starts with {head[:16]!r})")


def _wanted(name: str) -> bool:
    base = name.rstrip("/").rpartition("/")[2]
    return not (name.endswith("/") or base.startswith(".") or "__MACOSX" in name)


def iter_zip(file: str | Path | BinaryIO, label: str, depth: int = 0) -> Iterator[Record]:
    """Records of every member of a zip archive, members in name order."""
    with zipfile.ZipFile(file) as archive:
        for name in sorted(n for n in archive.namelist() if _wanted(n)):
            member = f"{label}:{name}"
            try:
                with archive.open(name) as fh:
                    yield from iter_stream(fh, member, depth)
            except CORRUPT as err:
                raise DataError(f"{member}: cannot be read ({type(err).__name__}: {err})") from err


def list_files(sources: list[str]) -> list[Path]:
    """Every file named by ``sources``: files as given, directories walked recursively in name order.

    Raises:
        DataError: a source does not exist, or a directory holds no files.
    """
    files: list[Path] = []
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found = sorted(
                Path(root) / name
                for root, dirs, names in os.walk(path)
                for name in names
                if not name.startswith(".") and not any(p.startswith(".") for p in Path(root).relative_to(path).parts)
            )
            if not found:
                raise DataError(f"{path}: directory holds no files (expected VDList/VDLiveList XML or JSON files)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"{path}: no such file or directory")
    return files


def iter_file(path: Path) -> Iterator[Record]:
    """Records of one source file (plain, gzip or zip); corrupt content raises DataError naming the file."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            fh.seek(0)
            if head in (b"PK\x03\x04", b"PK\x05\x06"):
                yield from iter_zip(path, str(path))
            else:
                yield from iter_stream(fh, str(path))
    except CORRUPT as err:
        raise DataError(f"{path}: cannot be read ({type(err).__name__}: {err})") from err

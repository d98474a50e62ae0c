"""Archives as published: a ``.zip``, ``.tar[.gz|.bz2|.xz]``, ``.7z`` or a single gzipped file given where
an importer reads files is unpacked, and the files inside stand for it (as a directory's files do).

Unpacking is for data only: a member whose name leaves the archive's folder (absolute, ``..``), a link, a
device or a nested archive is refused naming it, and the total unpacked size is bounded
(:data:`MAX_UNPACKED`), so a crafted archive cannot write outside its folder or fill the disk. The files go
to a temporary folder removed when the process ends; ``.7z`` needs ``py7zr`` (``social-xlstm[archives]``).
"""

from __future__ import annotations

import atexit
import gzip
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from social_xlstm.data.importers.common.kinds import file_kind
from social_xlstm.errors import DataError, UserError

MAX_UNPACKED = 256 * 2**30
"""Bytes an archive may unpack to (the largest public releases, LargeST's, are about 100 GiB)."""
ARCHIVE_KINDS = ("zip", "tar", "7z", "gzip", "bzip2", "xz")
SKIPPED = ("__MACOSX",)
"""Folders of archiving tools' metadata, not data."""


NOT_ARCHIVES = (".npz", ".xlsx", ".docx", ".ods")
"""Zip files that are one document, read whole by their own readers (NumPy's ``.npz``: PEMS0x series)."""


def is_archive(path: Path) -> bool:
    """An archive by its first bytes (``.tar.gz`` is gzip, a plain ``.tar`` its ``ustar`` header)."""
    return path.is_file() and path.suffix.lower() not in NOT_ARCHIVES and file_kind(path) in ARCHIVE_KINDS


def unpack(path: Path) -> list[Path]:
    """The data files of an archive, unpacked to a temporary folder (sorted by their name inside it).

    Raises:
        DataError: a corrupt archive, an unsafe or nested member, more than :data:`MAX_UNPACKED` bytes,
            or no file inside.
        UserError: a ``.7z`` without ``py7zr`` installed.
    """
    folder = Path(tempfile.mkdtemp(prefix="social-xlstm-unpack-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    kind = file_kind(path)
    try:
        if kind == "zip":
            _unzip(path, folder)
        elif kind == "7z":
            _un7z(path, folder)
        elif kind in ("gzip", "bzip2", "xz") and not _is_compressed_tar(path):
            _decompress(path, folder, kind)
        else:
            _untar(path, folder)
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise DataError(f"{path}: not a readable {kind} archive, truncated or corrupt ({err})") from err
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") or part in SKIPPED
                                                               for part in p.relative_to(folder).parts)
    )  # fmt: skip
    if not files:
        raise DataError(f"{path}: the archive holds no files")
    nested = [p for p in files if is_archive(p)]
    if nested:
        raise DataError(f"{path}: holds another archive ({nested[0].relative_to(folder)}); unpack it yourself")
    return files


def _safe_name(archive: Path, name: str) -> PurePosixPath:
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise DataError(f"{archive}: member {name!r} would be written outside the archive's folder; refused")
    return member


class _Budget:
    """The bytes unpacked so far, refused past :data:`MAX_UNPACKED`."""

    def __init__(self, archive: Path):
        self.archive, self.used = archive, 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > MAX_UNPACKED:
            raise DataError(f"{self.archive}: unpacks to more than {MAX_UNPACKED / 2**30:.0f} GiB; refused")


def _copy(source, target: Path, budget: _Budget) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        while chunk := source.read(2**20):
            budget.take(len(chunk))  # counted as written, whatever the headers claim
            out.write(chunk)


def _unzip(path: Path, folder: Path) -> None:
    budget = _Budget(path)
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            member = _safe_name(path, info.filename)
            if info.is_dir():
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise DataError(f"{path}: member {info.filename!r} is a symbolic link; refused")
            with archive.open(info) as source:
                _copy(source, folder / member, budget)


def _is_compressed_tar(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:*") as archive:
            archive.next()
        return True
    except (tarfile.TarError, OSError, EOFError):
        return False


def _untar(path: Path, folder: Path) -> None:
    budget = _Budget(path)
    with tarfile.open(path, "r:*") as archive:
        for info in archive:
            member = _safe_name(path, info.name)
            if info.isdir():
                continue
            if not info.isfile():
                raise DataError(f"{path}: member {info.name!r} is a link or device, not a file; refused")
            _copy(archive.extractfile(info), folder / member, budget)


def _decompress(path: Path, folder: Path, kind: str) -> None:
    import bz2
    import lzma

    opener = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    name = path.name
    for suffix in (".gz", ".gzip", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    with opener(path, "rb") as source:
        _copy(source, folder / (name or "data"), _Budget(path))


def _un7z(path: Path, folder: Path) -> None:
    try:
        import py7zr
    except ImportError as err:
        raise UserError(f"{path}: reading .7z archives needs py7zr: pip install 'social-xlstm[archives]'") from err
    budget = _Budget(path)
    try:
        with py7zr.SevenZipFile(path, "r") as archive:
            for info in archive.list():
                _safe_name(path, info.filename)
                if info.is_directory:
                    continue
                if getattr(info, "is_symlink", False):
                    raise DataError(f"{path}: member {info.filename!r} is a symbolic link; refused")
                budget.take(int(info.uncompressed or 0))
            archive.extractall(path=folder)
    except py7zr.exceptions.ArchiveError as err:
        raise DataError(f"{path}: not a readable 7z archive, truncated or corrupt ({err})") from err

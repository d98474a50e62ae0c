"""``social-xlstm download NAME --out DIR``: the public datasets the importers read, one command away.

:data:`REGISTRY_FILE` lists each dataset's files with their published URL (pinned to a commit where the
host allows it), sha256, size and licence, and the ``ingest`` command that follows. A download:

1. says what it will fetch: the licence, and each file's size (before any byte is fetched);
2. keeps files already in ``DIR`` whose hash matches (the cache: a second call fetches nothing);
3. fetches the others into ``DIR/.NAME.part``, resuming a part left by an interrupted call (an HTTP
   ``Range`` request; a mirror that ignores it restarts the file), and renames a part only once its sha256
   matches, so a corrupt or changed file is refused and never takes the file's name;
4. prints the exact ingest command, or with ``--ingest`` runs it.

Files a script cannot fetch (behind a login page) are ``manual``: the command says where to get them and
checks them by hash once they are there. ``--mirror URL`` (or ``SOCIAL_XLSTM_MIRROR``) fetches every file
from ``URL/NAME/FILE`` instead: a local copy (``file:///data/mirror``) for machines without internet, and
what the tests use.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from social_xlstm.errors import DataError, UserError

REGISTRY_FILE = Path(__file__).with_name("registry.yaml")
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the download folder and where it comes from."""

    name: str
    url: str | None
    sha256: str | None
    size: int | None
    manual: str | None = None


@dataclass(frozen=True)
class Entry:
    """A dataset of the registry."""

    name: str
    description: str
    licence: str
    homepage: str
    files: tuple[RemoteFile, ...]
    ingest: dict

    def ingest_argv(self, raw: Path, out: str) -> list[str]:
        """The ``social-xlstm ingest`` arguments that import the downloaded folder ``raw`` into ``out``."""
        fill = lambda text: str(text).replace("{raw}", str(raw))  # noqa: E731
        argv = [self.ingest["format"], *(fill(s) for s in self.ingest.get("sources", []))]
        for key, value in (self.ingest.get("options") or {}).items():
            argv += [f"--{key.replace('_', '-')}", fill(value)]
        return [*argv, "--out", out]


def load_registry(path: str | Path = REGISTRY_FILE) -> dict[str, Entry]:
    """The registry, checked: every file has a URL or a manual note, hashes are 64 hex digits."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--registry {path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        if not isinstance(raw, dict):
            raise DataError(f"{path}: a registry is a mapping of dataset names")
        return _entries(path, raw)
    except yaml.YAMLError as err:
        raise DataError(f"{path}: not valid YAML ({err})") from err
    except (KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path}: a registry entry lacks {err} (see {REGISTRY_FILE.name} for the format)") from err


def _entries(path: Path, raw: dict) -> dict[str, Entry]:
    entries = {}
    for name, spec in raw.items():
        files = []
        for f in spec.get("files") or []:
            item = RemoteFile(f["name"], f.get("url"), f.get("sha256"), f.get("size"), f.get("manual"))
            if (item.url is None) == (item.manual is None):
                raise DataError(f"{path}: {name}/{item.name}: give exactly one of url and manual")
            if item.sha256 is not None and (len(item.sha256) != 64 or set(item.sha256) - set("0123456789abcdef")):
                raise DataError(f"{path}: {name}/{item.name}: sha256 must be 64 lowercase hex digits")
            if Path(item.name).name != item.name or item.name.startswith("."):
                raise DataError(f"{path}: {name}/{item.name}: a file name, not a path")
            files.append(item)
        entries[name] = Entry(name, spec["description"], spec["licence"], spec.get("homepage", ""), tuple(files),
                              spec["ingest"])  # fmt: skip
    return entries


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _size_text(size: int | None) -> str:
    if size is None:
        return "size unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _source_url(entry: Entry, item: RemoteFile, mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{entry.name}/{item.name}" if mirror else str(item.url)


def fetch(url: str, target: Path, expected: str | None, size: int | None, advance: Callable[[int], None]) -> str:
    """Download ``url`` to ``target`` through ``target``'s ``.part`` sibling, resuming it; returns the sha256.

    Raises:
        DataError: the source cannot be reached, or the bytes do not hash to ``expected`` (the part is
            removed, so the next call starts again).
    """
    part = target.with_name(f".{target.name}.part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = have and (getattr(response, "status", None) == 206 or url.startswith("file:"))
            if url.startswith("file:") and have:
                response.read(have)  # a file URL ignores Range: skip what the part holds
            mode = "ab" if resumed else "wb"
            if not resumed:
                have = 0
            advance(have)
            with open(part, mode) as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    advance(len(chunk))
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        kept = " the part fetched so far is kept for the next try;" if part.exists() and part.stat().st_size else ""
        raise DataError(
            f"{url}: cannot download ({reason});{kept} without internet, give a local copy with "
            "--mirror file:///PATH (files at PATH/<dataset>/<file>)"
        ) from err
    got = sha256_of(part)
    if expected is not None and got != expected:
        part.unlink()
        raise DataError(
            f"{url}: the download does not match the registry's sha256 (expected {expected}, got {got}): it "
            "is corrupt or the file changed at its source; it was removed, nothing was kept"
        )
    part.replace(target)
    return got


def _progress(total: int | None, label: str):
    """A rich byte bar on stderr for a person at a terminal; a no-op otherwise."""
    from contextlib import nullcontext

    from social_xlstm.progress import progress_enabled

    if not progress_enabled(sys.stderr):
        return nullcontext(lambda n: None)
    from contextlib import contextmanager

    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    @contextmanager
    def bar():
        columns = (TextColumn(label), BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, transient=True, console=Console(stderr=True)) as progress:
            task = progress.add_task(label, total=total)
            yield lambda n: progress.advance(task, n)

    return bar()


def download(
    name: str,
    out: str | Path,
    *,
    mirror: str | None = None,
    allow_unverified: bool = False,
    registry: dict[str, Entry] | None = None,
    say: Callable[[str], None] = print,
) -> tuple[Entry, list[RemoteFile]]:
    """Fetch dataset ``name`` into ``out``; returns the entry and the manual files still missing.

    Raises:
        UserError: an unknown name, or an unverified file without ``allow_unverified``.
        DataError: a download that fails or does not match its sha256; a manual file that does not.
    """
    registry = load_registry() if registry is None else registry
    if name not in registry:
        raise UserError(f"unknown dataset {name!r}; the registry has: {', '.join(sorted(registry))}")
    entry = registry[name]
    mirror = mirror or os.environ.get("SOCIAL_XLSTM_MIRROR") or None
    unverified = [f.name for f in entry.files if f.url and f.sha256 is None]
    if unverified and not allow_unverified:
        raise UserError(f"{name}: {', '.join(unverified)} have no verified sha256 in the registry; "
                        "--allow-unverified downloads them and prints the hash it got")  # fmt: skip
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: a file, not a folder")
    say(f"{entry.name}: {entry.description}")
    say(f"licence: {entry.licence}")
    if entry.homepage or mirror:
        say(f"source: {entry.homepage or '-'}" + (f" (fetched from the mirror {mirror})" if mirror else ""))
    for item in entry.files:
        how = "by hand" if item.manual else "download"
        say(f"  {item.name:32} {_size_text(item.size):>12}  {how}")
    out.mkdir(parents=True, exist_ok=True)
    missing = []
    for item in entry.files:
        target = out / item.name
        if target.exists() and item.sha256 is not None:
            got = sha256_of(target)
            if got == item.sha256:
                say(f"  {item.name}: cached (sha256 matches)")
                continue
            if item.manual:
                raise DataError(f"{target}: does not match the registry's sha256 (expected {item.sha256}, got {got})")
            say(f"  {item.name}: present but its sha256 differs; downloading again")
        elif target.exists():
            say(f"  {item.name}: present (no sha256 in the registry to check it against)")
            continue
        if item.manual:
            missing.append(item)
            continue
        with _progress(item.size, item.name) as advance:
            got = fetch(_source_url(entry, item, mirror), target, item.sha256, item.size, advance)
        say(f"  {item.name}: downloaded" + ("" if item.sha256 else f", sha256 {got} (unverified)"))
    for item in missing:
        say(f"  {item.name}: fetch it by hand: {item.manual}")
    return entry, missing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="dataset name (--list shows them)")
    parser.add_argument("--out", help="folder for the downloaded files (default raw/NAME)")
    parser.add_argument("--list", action="store_true", help="list the registry's datasets and exit")
    parser.add_argument("--mirror", default=None, help="fetch from MIRROR/NAME/FILE instead (file:// or http(s)://)")
    parser.add_argument("--allow-unverified", action="store_true", help="download files without a known sha256")
    parser.add_argument("--ingest", default=None, metavar="DIR", help="then run the ingest command into DIR")
    parser.add_argument("--overwrite", action="store_true", help="with --ingest: replace an existing dataset")
    parser.add_argument("--registry", default=str(REGISTRY_FILE), help="a registry file of your own (same format)")


def run(args: argparse.Namespace) -> int:
    """CLI entry of ``social-xlstm download``."""
    registry = load_registry(args.registry)
    if args.list or not args.name:
        for entry in registry.values():
            manual = sum(1 for f in entry.files if f.manual)
            note = f"; {manual} file(s) by hand" if manual else ""
            print(f"{entry.name:12} {entry.description}\n{'':12} licence: {entry.licence}{note}")
        return 0
    out = Path(args.out or Path("raw") / args.name)
    entry, missing = download(args.name, out, mirror=args.mirror, allow_unverified=args.allow_unverified,
                              registry=registry)  # fmt: skip
    dataset = args.ingest or f"data/{entry.name}"
    argv = entry.ingest_argv(out, dataset)
    command = "social-xlstm ingest " + shlex.join(argv)
    if missing:
        names = ", ".join(f.name for f in missing)
        if args.ingest:
            raise UserError(f"{entry.name}: {names} must be fetched by hand first (see above); then: {command}")
        print(f"then, with {names} in {out}:\n  {command}")
        return 0
    if not args.ingest:
        print(f"next:\n  {command}")
        return 0
    from social_xlstm.data.importers import add_ingest_arguments, run_ingest

    parser = argparse.ArgumentParser(prog=f"social-xlstm ingest {argv[0]}")
    module = add_ingest_arguments(parser, argv[0])
    ingest_args = parser.parse_args(argv[1:] + (["--overwrite"] if args.overwrite else []))
    ingest_args.format = argv[0]
    print(f"running: {command}")
    print(f"wrote {run_ingest(module, ingest_args)}")
    return 0

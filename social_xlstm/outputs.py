"""What a command may write over: ``--out`` checked before anything is read, computed or deleted.

Every writer of the project writes atomically (:mod:`social_xlstm.atomic`), and ``--overwrite`` replaces
an earlier output. That is safe only for an output the tool itself wrote. :func:`check_output_dir` is the
one rule every directory writer runs first (the importers, ``synth``, ``demo``):

* ``--out`` naming a file, the current directory or one of its parents is refused;
* an output that is, holds or lies inside any source the command reads is refused (replacing it would
  delete the source);
* an existing non-empty directory is replaced only with ``--overwrite`` and only when it carries the mark
  of a directory this tool wrote (``dataset.json`` of a dataset, ``social-xlstm-run.json`` of a run);
  anything else is refused with its name, so a thesis folder or a home directory is never deleted.

:func:`check_output_file` is the same for a file writer (``stream --out``): a directory is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from social_xlstm.errors import UserError

RUN_MARK = "social-xlstm-run.json"
"""Written first into a run directory (``demo --out``) so that ``--overwrite`` knows it is ours."""
DATASET_MARK = "dataset.json"
"""A canonical dataset's metadata: the mark of a directory an importer or ``synth`` wrote."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output_dir(
    out: str | Path, overwrite: bool, marks: Iterable[str], sources: Iterable[str | Path] = (), what: str = "--out"
) -> Path:
    """Refuse an output directory that is not ours to write (see the module docstring); returns it.

    Args:
        out: the output directory.
        overwrite: the user's ``--overwrite``.
        marks: file names, any of which marks a directory this tool wrote.
        sources: the files and directories the command reads.
        what: the option's name in the messages.

    Raises:
        UserError: the first reason the output cannot be written, naming the path.
    """
    out = Path(out)
    resolved = out.resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"{what} {out}: is a file, not a directory; name a new directory")
    if _inside(Path.cwd().resolve(), resolved):
        raise UserError(f"{what} {out}: is the current directory or holds it; name a new directory")
    for source in sources:
        src = Path(source).resolve()
        if _inside(src, resolved) or _inside(resolved, src):
            raise UserError(
                f"{what} {out}: {'holds' if _inside(src, resolved) else 'lies inside'} the source {source}; "
                "replacing it would delete the source, so write the output elsewhere"
            )
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{what} {out}: exists and is not empty (use --overwrite to replace it, or another {what})")
        marks = list(marks)
        if not any((out / mark).is_file() for mark in marks):
            found = sorted(p.name for p in out.iterdir())
            raise UserError(
                f"{what} {out}: --overwrite replaces only a directory this tool wrote (one holding "
                f"{' or '.join(marks)}); it holds {found[:5]}{' ...' if len(found) > 5 else ''}, so nothing "
                "was deleted; name a new directory"
            )
    return out


def mark_run(out: str | Path, command: str) -> None:
    """Write the run mark into ``out`` (created), so a later ``--overwrite`` may replace it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_MARK).write_text(json.dumps({"written_by": "social-xlstm", "command": command}) + "\n")


def check_output_file(out: str | Path, what: str = "--out") -> Path:
    """Refuse a file output that names a directory (before any work is done); returns it."""
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{what} {out}: is a directory; name the file to write, e.g. {out / 'forecasts.parquet'}")
    if out.parent.exists() and not out.parent.is_dir():
        raise UserError(f"{what} {out}: {out.parent} is a file, not a directory")
    return out

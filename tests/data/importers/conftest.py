"""Shared helpers for the importer tests: where the real data lives, and the no-output check."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or skip the test saying what is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} is absent")
    return path


def namespace(parser_fn, fmt: str, **values) -> argparse.Namespace:
    """The Namespace the CLI would build: an importer's defaults plus ``values``."""
    parser = argparse.ArgumentParser()
    parser_fn(parser)
    args = parser.parse_args([])
    args.format = fmt
    args.overwrite = False
    for key, value in values.items():
        setattr(args, key, value)
    return args


def no_output(out: Path) -> bool:
    """True when neither the dataset nor a temporary sibling is left behind."""
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    return not out.exists() and not leftovers

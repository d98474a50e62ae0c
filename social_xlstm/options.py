"""Option dataclasses as plain dicts and back: how configs travel through checkpoints and hparams.yaml.

A checkpoint stores every config as a dict of its constructor arguments (no project class is needed to
read it); loading rebuilds the dataclass, whose ``__post_init__`` recomputes the derived fields.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import TypeVar

from social_xlstm.errors import UserError

T = TypeVar("T")


def init_fields(obj) -> dict:
    """The constructor arguments of a dataclass instance (derived fields left out), nested ones as dicts."""
    return {
        f.name: init_fields(getattr(obj, f.name)) if is_dataclass(getattr(obj, f.name)) else getattr(obj, f.name)
        for f in fields(obj)
        if f.init
    }


def as_dataclass(cls: type[T], value, error: type[Exception] = UserError) -> T:
    """A fresh ``cls`` from an instance, a dict of its fields, or None (the defaults).

    An instance is copied (a default instance may be shared by several owners). Derived fields in a
    dict (``asdict()`` writes them) are ignored and recomputed.

    Raises:
        error: a dict with unknown keys (the message lists the valid ones), or a value of another type.
    """
    if value is None:
        return cls()
    if isinstance(value, cls):
        return cls(**{f.name: getattr(value, f.name) for f in fields(cls) if f.init})
    if isinstance(value, dict):
        settable = {f.name for f in fields(cls) if f.init}
        derived = {f.name for f in fields(cls) if not f.init}
        unknown = sorted(set(value) - settable - derived)
        if unknown:
            raise error(f"{cls.__name__}: unknown option(s) {unknown}; valid: {sorted(settable)}")
        return cls(**{k: v for k, v in value.items() if k in settable})
    raise error(f"expected {cls.__name__} or a dict, got {type(value).__name__}")

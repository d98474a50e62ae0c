"""State snapshots of the forecast service: written on shutdown, restored on start.

A snapshot is one ``torch.save`` file (read back with ``weights_only=True``: tensors and plain values,
no code) holding the forecaster's ``state_dict()``, the count of ticks served and the SHA-256 of the
checkpoint it was written with. A snapshot is only valid for the weights that produced it: restoring
the recurrent state of one model into another would run without error and forecast nonsense, so a
snapshot from another checkpoint file is refused with both names. It is written through
:func:`social_xlstm.atomic.atomic_file`, so a crash while writing leaves the previous snapshot whole.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from social_xlstm.atomic import atomic_file
from social_xlstm.errors import UserError

SNAPSHOT_FORMAT = "social-xlstm-serve-state"
SNAPSHOT_VERSION = 1


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def save_snapshot(path: str | Path, forecaster, *, ticks_served: int, checkpoint: str | None, sha256: str | None):
    """Write the forecaster's state and the service counters to ``path``, atomically."""
    snapshot = {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "checkpoint": checkpoint,
        "checkpoint_sha256": sha256,
        "ticks_served": int(ticks_served),
        "forecaster": forecaster.state_dict(),
    }
    with atomic_file(path) as tmp:
        torch.save(snapshot, tmp)
    return Path(path)


def load_snapshot(path: str | Path, forecaster, *, checkpoint: str | None, sha256: str | None) -> dict:
    """Restore the forecaster from the snapshot at ``path``; return the snapshot's service counters.

    Raises:
        UserError: the file is not a snapshot of this service, or was written with another checkpoint.
    """
    try:
        snapshot = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated, foreign or pickled-code file: all are the user's file
        raise UserError(f"{path}: not a readable state snapshot ({type(err).__name__}: {err})") from None
    if not isinstance(snapshot, dict) or snapshot.get("format") != SNAPSHOT_FORMAT:
        raise UserError(f"{path}: not a social-xlstm serve state snapshot")
    if snapshot.get("version") != SNAPSHOT_VERSION:
        raise UserError(f"{path}: snapshot version {snapshot.get('version')}, this service reads {SNAPSHOT_VERSION}")
    if sha256 is not None and snapshot["checkpoint_sha256"] != sha256:
        raise UserError(
            f"{path}: state snapshot written with checkpoint {snapshot['checkpoint']} "
            f"(sha256 {str(snapshot['checkpoint_sha256'])[:12]}), not with {checkpoint} (sha256 {sha256[:12]}); "
            "serve that checkpoint, or move the snapshot away to start from an empty state"
        )
    forecaster.load_state_dict(snapshot["forecaster"])
    return {"ticks_served": snapshot["ticks_served"], "checkpoint": snapshot["checkpoint"]}

"""Lightning's checkpoint plugin for this project: atomic writes, weights-only reads.

Writing goes through :class:`AtomicCheckpointIO`: the file is written to a temporary sibling and renamed
into place, so a run killed while saving leaves the previous ``last.ckpt`` / ``best.ckpt`` whole.
Lightning's own writer stages the bytes in the system temporary directory and moves them, which is a copy
(not a rename) whenever that directory is on another file system.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from social_xlstm.atomic import atomic_file
from social_xlstm.checkpoint import read_checkpoint
from social_xlstm.errors import UserError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint plugin, writing each file atomically and reading it with :func:`read_checkpoint`.

    The CLI installs it unless the user configures another ``CheckpointIO``.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        with atomic_file(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        if weights_only is False:
            raise UserError(f"{path}: checkpoints are read with weights_only=True only")
        return read_checkpoint(path, map_location=map_location or "cpu")

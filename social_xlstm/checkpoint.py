"""Reading and writing the project's checkpoint files: one reader for training, forecasting and evaluation.

A checkpoint is Lightning's file with two entries of ours: ``hyper_parameters`` (the model, optimiser and
loss options as plain dicts) and ``data_info`` (VD ids, variables, scaler, graph: everything needed to
predict without the training dataset). Neither needs a project class to be read, and neither do
Lightning's own entries (loop progress, callback states, optimiser and scheduler state dicts): every file
holds only tensors, numbers, strings, lists and dicts, so it is read with ``weights_only=True`` and a
checkpoint from somewhere else cannot run code when it is opened.

This module is file I/O only: building the network a checkpoint describes is
:mod:`social_xlstm.network`'s job.

Writing goes through :class:`AtomicCheckpointIO`: the file is written to a temporary sibling and renamed
into place, so a run killed while saving leaves the previous ``last.ckpt`` / ``best.ckpt`` whole.
Lightning's own writer stages the bytes in the system temporary directory and moves them, which is a copy
(not a rename) whenever that directory is on another file system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from social_xlstm.atomic import atomic_file
from social_xlstm.errors import UserError

# What a damaged or foreign file raises inside torch.load: a truncated zip (RuntimeError "failed finding
# central directory"), a file that is no zip and no pickle (UnpicklingError), a pickle of a class that
# weights_only refuses (UnpicklingError), a file cut inside a record (EOFError); and random bytes read as a
# legacy pickle reach the weights-only unpickler's internals, which fail with IndexError, KeyError,
# TypeError, struct.error, UnicodeDecodeError... Any Exception from decoding a file means the file is not
# a checkpoint (torch.load runs no user code under weights_only=True), so all of them are caught.
_UNREADABLE = (Exception,)


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a Lightning checkpoint file (``weights_only=True``), with one clear error for a bad file.

    Raises:
        UserError: the file does not exist, cannot be read as a checkpoint (truncated, garbage, holding
            objects other than tensors and plain values) or holds no ``state_dict``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found" + (" (a directory)" if path.is_dir() else ""))
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except _UNREADABLE as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: not a readable checkpoint (truncated or damaged?): {first_line}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def read_forecaster_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """:func:`read_checkpoint` for a Social-xLSTM checkpoint: it must carry hyper-parameters and data facts."""
    checkpoint = read_checkpoint(path, map_location)
    if "data_info" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise UserError(f"{path}: not a Social-xLSTM checkpoint (no data_info / hyper_parameters)")
    return checkpoint


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

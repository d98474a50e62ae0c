"""Reading and writing the project's checkpoint files: one reader for training, forecasting and evaluation.

A checkpoint is Lightning's file with two entries of ours: ``hyper_parameters`` (the model, optimiser and
loss options as plain dicts) and ``data_info`` (VD ids, variables, scaler, graph: everything needed to
predict without the training dataset). Neither needs a project class to be read, and neither do
Lightning's own entries (loop progress, callback states, optimiser and scheduler state dicts): every file
holds only tensors, numbers, strings, lists and dicts, so it is read with ``weights_only=True`` and a
checkpoint from somewhere else cannot run code when it is opened.

This module is file reading only (torch, nothing of the model, the trainer or Lightning), so the data layer
may read a checkpoint's data facts through it: building the network a checkpoint describes is
:mod:`social_xlstm.network`'s job, and writing is :mod:`social_xlstm.training.checkpoint_io`'s.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

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
        raise UserError(f"{path}: {_why_unreadable(err)}") from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def read_forecaster_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """:func:`read_checkpoint` for a Social-xLSTM checkpoint: it must carry hyper-parameters and data facts."""
    checkpoint = read_checkpoint(path, map_location)
    if "data_info" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise UserError(f"{path}: not a Social-xLSTM checkpoint (no data_info / hyper_parameters)")
    return checkpoint


def _why_unreadable(err: Exception) -> str:
    """torch.load's failure in our words; torch's own text goes on to suggest ``weights_only=False``, i.e.
    running the file's code, which is never an option here, so only the reason it names is kept."""
    text = str(err)
    refused = re.search(r"GLOBAL (\S+)", text)
    if refused:
        return (
            f"refused: the checkpoint holds Python objects other than tensors and plain values (the global "
            f"{refused.group(1)}), which are never unpickled (a checkpoint from elsewhere must not run code)"
        )
    if "weights only load failed" in text.lower():
        reason = text.split("WeightsUnpickler error:")[-1] if "WeightsUnpickler error:" in text else ""
        lines = [line.strip() for line in reason.splitlines() if line.strip()]
        first_line = lines[0] if lines and "weights_only" not in lines[0] else type(err).__name__
    else:
        first_line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"not a readable checkpoint (truncated or damaged?): {first_line}"

"""Reading the project's checkpoint files: one reader for training (resume, ``from_checkpoint``) and forecasting.

A checkpoint is Lightning's file with two entries of ours: ``hyper_parameters`` (the model, optimiser and
loss options as plain dicts) and ``data_info`` (VD ids, variables, scaler, graph: everything needed to
predict without the training dataset). Neither needs a project class to be read.
"""

from __future__ import annotations

from pathlib import Path

import torch

from social_xlstm.errors import UserError


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a Lightning checkpoint file, with one clear error for a missing or foreign file.

    Raises:
        UserError: the file does not exist or holds no ``state_dict``.
    """
    if not Path(path).exists():
        raise UserError(f"{path}: checkpoint not found")
    checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


def read_forecaster_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """:func:`read_checkpoint` for a Social-xLSTM checkpoint: it must carry hyper-parameters and data facts."""
    checkpoint = read_checkpoint(path, map_location)
    if "data_info" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise UserError(f"{path}: not a Social-xLSTM checkpoint (no data_info / hyper_parameters)")
    return checkpoint

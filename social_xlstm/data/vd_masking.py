"""Training batches with whole VDs hidden: the model learns to forecast a VD from its neighbours alone.

``data.mask_vds: p`` hides each VD's whole input window with probability ``p``, independently per training
window (its readings become missing: ``x_mask`` False, ``x`` 0, as a detector that is down), while its
targets stay: the loss then asks for its future from what the social layer reads of its neighbours. A
hidden VD also reads the VD embedding's fallback row instead of its own (``batch["vd_hidden"]``), as a
place without a detector does (held-out and virtual VDs), so the fallback row learns that role. It
is what a forecast at a closed detector, or a place without one, needs (the intervals / virtual-VD issue),
and an augmentation against outages. Validation, test and prediction are never masked. Draws come from
the global generator (as node sampling's), so a resumed run masks as the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import default_collate

from social_xlstm.errors import UserError


class VDMasking:
    """A collate function: ``collate``'s batch with each (window, VD) input hidden with probability ``p``.

    Shapes:
        batch["x"], batch["x_mask"]: (B, W, N, F) (or (B, T, N, F) in sequence mode); targets untouched.
    """

    def __init__(self, p: float, collate: Callable[[list[dict]], dict] | None = None):
        if not 0.0 <= p < 1.0:
            raise UserError(f"data.mask_vds must be in [0, 1), got {p}")
        self.p, self.collate = p, collate or default_collate

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.collate(items)
        x, x_mask = batch["x"], batch["x_mask"]
        hidden = torch.rand(x.shape[0], 1, x.shape[2], 1) < self.p  # (B, 1, N, 1): a whole window of a VD
        batch["x_mask"] = x_mask & ~hidden
        batch["x"] = x.masked_fill(hidden, 0.0)
        batch["vd_hidden"] = hidden[:, 0, :, 0]
        return batch

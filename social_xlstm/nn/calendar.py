"""The calendar part of the input embedding: sin/cos features, learned time-of-day and day-of-week tables.

The data layer hands every model four calendar features per step (:mod:`social_xlstm.data.timefeatures`):
sin/cos of the local time of day and of the local week fraction. A linear map of those four numbers
(``mode="sincos"``, what every model had so far) is a smooth function of the clock with one harmonic:
it cannot draw a rush-hour profile, a sharp morning peak next to a flat midday. ``mode="learned"``
gives every time-of-day slot and every weekday a row of its own (the STID / STAEformer choice), so the
profile is whatever the data says; ``"both"`` sums the two.

Why decode the slot from the sin/cos features instead of passing integer indices: every producer of the
time tensor (training windows, long sequences, the streaming forecaster, the service) already builds the
four features, and checkpoints, batches and state files carry exactly them. The angle decodes exactly:
a slot of 5 minutes is 2 pi / 288 = 0.022 rad wide, float32's error on ``atan2`` is about 1e-7 rad, so
rounding to the nearest slot never errs (the test checks every slot of a week in several time zones).

    tod   = atan2(tod_sin, tod_cos) / 2 pi  mod 1             fraction of the local day
    slot  = round(tod * slots_per_day)      mod slots_per_day
    week  = atan2(dow_sin, dow_cos) / 2 pi  mod 1             (weekday + tod) / 7
    wday  = round(week * 7 - tod)           mod 7              Monday = 0

A holiday flag (an optional (B, W) input, 1 on public holidays) adds a two-row table.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import CALENDAR_MODES

__all__ = ["CALENDAR_MODES", "CalendarEmbedding", "decode_calendar"]


def decode_calendar(time: Tensor, slots_per_day: int) -> tuple[Tensor, Tensor]:
    """Time-of-day slot and weekday indices from the four calendar features.

    Shapes:
        time: (..., 4) ``[tod_sin, tod_cos, dow_sin, dow_cos]`` -> slot (...) in [0, slots_per_day),
        weekday (...) in [0, 7), both int64.
    """
    two_pi = 2 * math.pi
    angles = torch.atan2(time[..., 0::2].double(), time[..., 1::2].double())  # (..., 2)
    tod = torch.remainder(angles[..., 0] / two_pi, 1.0)  # (...)
    week = torch.remainder(angles[..., 1] / two_pi, 1.0)  # (...)
    slot = torch.remainder(torch.round(tod * slots_per_day), slots_per_day).long()
    weekday = torch.remainder(torch.round(week * 7 - tod), 7).long()
    return slot, weekday


class CalendarEmbedding(nn.Module):
    """Calendar features -> D channels per step (broadcast over VDs by the caller).

    Args:
        d_model: output width D.
        slots_per_day: time-of-day slots (1440 / the sampling interval in minutes); used by learned modes.
        mode: ``sincos`` (a linear map of the four features), ``learned`` (slot and weekday tables) or
            ``both`` (their sum).
        holidays: whether a holiday flag is embedded too (a (2, D) table).

    Shapes:
        time: (B, W, 4); holiday: optional (B, W) in {0, 1}; output (B, W, D).
    """

    def __init__(self, d_model: int, slots_per_day: int = 288, mode: str = "sincos", holidays: bool = False):
        super().__init__()
        if mode not in CALENDAR_MODES:
            raise ValueError(f"unknown calendar mode {mode!r}; valid: {', '.join(CALENDAR_MODES)}")
        if slots_per_day < 1:
            raise ValueError(f"slots_per_day must be >= 1, got {slots_per_day}")
        self.mode, self.slots_per_day = mode, slots_per_day
        # Only the parts the mode uses exist, so a sincos model keeps exactly today's parameters.
        self.time_proj = nn.Linear(4, d_model, bias=False) if mode != "learned" else None
        self.slot_table = nn.Embedding(slots_per_day, d_model) if mode != "sincos" else None
        self.weekday_table = nn.Embedding(7, d_model) if mode != "sincos" else None
        self.holiday_table = nn.Embedding(2, d_model) if holidays else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.time_proj is not None:
            self.time_proj.reset_parameters()
        # Small rows (std 0.02, as token embeddings in GPT-2): the tables add to the value projection, and
        # unit-variance rows would drown the readings at the first steps.
        for table in (self.slot_table, self.weekday_table):
            if table is not None:
                nn.init.normal_(table.weight, std=0.02)
        if self.holiday_table is not None:
            nn.init.zeros_(self.holiday_table.weight)  # an ordinary day until the data says otherwise

    def forward(self, time: Tensor, holiday: Tensor | None = None) -> Tensor:
        out = None
        if self.time_proj is not None:
            out = self.time_proj(time)  # (B, W, D)
        if self.slot_table is not None:
            slot, weekday = decode_calendar(time, self.slots_per_day)  # (B, W) each
            learned = self.slot_table(slot) + self.weekday_table(weekday)  # (B, W, D)
            out = learned if out is None else out + learned
        if self.holiday_table is not None and holiday is not None:
            out = out + self.holiday_table(holiday.long())
        return out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, slots_per_day={self.slots_per_day}, holidays={self.holiday_table is not None}"

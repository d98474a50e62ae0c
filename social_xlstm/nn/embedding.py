"""Input embedding (docs/model.md): values, missing mask, calendar and VD identity -> width D."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .calendar import CalendarEmbedding


class InputEmbedding(nn.Module):
    """Embed each (step, VD) reading into D channels.

    The sum of three projections: the scaled values with their observed-mask (a 0 that is missing must
    look different from a 0 that is the mean), the calendar (computed once per step and broadcast over
    VDs: a linear map of the four sin/cos features, learned time-of-day slot and weekday rows, or both;
    :mod:`social_xlstm.nn.calendar`), and a learned VD embedding. The embedding table has ``num_vds + 1`` rows: row
    ``num_vds`` is a shared fallback for VDs unseen in training. With ``fallback_prob > 0`` training
    replaces each VD's row by the fallback with that probability, so the fallback row learns an "average
    VD" instead of staying at its random initialisation. VDs with no detector of their own (held out,
    ``fallback_vds``) always read the fallback row, as do the VDs a training batch hides (``fallback``).

    Args:
        num_features: input variables F.
        num_vds: VDs N seen in training.
        d_model: output width D.
        vd_dim: width of the VD embedding table.
        fallback_prob: training-time probability of using the fallback row.
        calendar: ``sincos``, ``learned`` or ``both`` (see :class:`~social_xlstm.nn.calendar.CalendarEmbedding`).
        slots_per_day: time-of-day slots of the learned calendar (1440 / the interval in minutes).
        fallback_vds: positions of VDs always read with the fallback row (``data.holdout_vds``).

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4); vd_index: (N,) or (B, N) int64 VD positions in
        [0, num_vds] (``num_vds``: the fallback); fallback: optional (B, N) bool, True: the fallback row;
        output: (B, W, N, D).
    """

    def __init__(
        self,
        num_features: int,
        num_vds: int,
        d_model: int,
        vd_dim: int,
        fallback_prob: float = 0.0,
        calendar: str = "sincos",
        slots_per_day: int = 288,
        fallback_vds: tuple[int, ...] = (),
    ):
        super().__init__()
        self.num_features = num_features
        self.num_vds = num_vds
        self.fallback_prob = fallback_prob
        self.value_proj = nn.Linear(2 * num_features, d_model)
        # The sin/cos map keeps its name and place (sincos models and their checkpoints are unchanged);
        # the learned tables live beside it and are created last, so they take no random numbers from it.
        self.time_proj = nn.Linear(4, d_model, bias=False) if calendar != "learned" else None
        self.vd_table = nn.Embedding(num_vds + 1, vd_dim)
        self.vd_proj = nn.Linear(vd_dim, d_model, bias=False)
        self.calendar = CalendarEmbedding(d_model, slots_per_day, "learned") if calendar != "sincos" else None
        # the table row each VD position reads (a held-out VD: the fallback); not saved, a data fact
        row_of = torch.arange(num_vds + 1)
        row_of[list(fallback_vds)] = num_vds
        self.has_fallback_vds = bool(fallback_vds)
        self.register_buffer("row_of", row_of, persistent=False)
        self.register_buffer("default_index", row_of[:num_vds].clone(), persistent=False)
        self.reset_parameters()

    @property
    def fallback_index(self) -> int:
        """Row of the shared fallback embedding."""
        return self.num_vds

    def reset_parameters(self) -> None:
        self.value_proj.reset_parameters()
        if self.time_proj is not None:
            self.time_proj.reset_parameters()
        self.vd_proj.reset_parameters()
        nn.init.normal_(self.vd_table.weight, std=0.1)
        if self.calendar is not None:
            self.calendar.reset_parameters()

    def vd_embedding(self, batch: int, vd_index: Tensor | None = None, fallback: Tensor | None = None) -> Tensor:
        """Per-VD embedding after projection, with training-time fallback dropout.

        Shapes:
            vd_index: (N,) or (B, N) VD positions; fallback: (B, N) bool; returns (B, N, D) or (1, N, D).
        """
        index = self.default_index if vd_index is None else vd_index
        if (
            vd_index is not None
            and vd_index.numel()
            and (vd_index.min() < 0 or vd_index.max() > self.num_vds)
        ):
            raise ValueError(f"vd_index must lie in [0, {self.num_vds}] ({self.num_vds} = fallback)")
        if vd_index is not None and self.has_fallback_vds:
            index = self.row_of[index]
        if index.dim() == 1:
            index = index[None]  # (1, N)
        if fallback is not None:  # VDs a training batch hides read as places without a detector
            index = index.expand(batch, -1).masked_fill(fallback, self.fallback_index)  # (B, N)
        if self.training and self.fallback_prob > 0:
            index = index.expand(batch, -1)  # (B, N)
            drop = torch.rand(index.shape, device=index.device) < self.fallback_prob
            index = index.masked_fill(drop, self.fallback_index)
        return self.vd_proj(self.vd_table(index))  # (B|1, N, D)

    def calendar_embedding(self, time: Tensor) -> Tensor:
        """The calendar's channels per step. Shapes: time (B, W, 4) -> (B, W, D)."""
        out = None if self.time_proj is None else self.time_proj(time)
        if self.calendar is not None:
            learned = self.calendar(time)  # (B, W, D)
            out = learned if out is None else out + learned
        return out

    def forward(
        self, x: Tensor, x_mask: Tensor, time: Tensor, vd_index: Tensor | None = None, fallback: Tensor | None = None
    ) -> Tensor:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"x has {x.shape[-1]} features, the model was built for {self.num_features}")
        # Computed node-major, so that the encoder's (B*N, W, D) fold of the result is a free view;
        # only the narrow (F-wide) inputs are transposed.
        raw = torch.cat([x, x_mask.to(x.dtype)], dim=-1).transpose(1, 2)  # (B, N, W, 2F)
        values = self.value_proj(raw)  # (B, N, W, D)
        calendar = self.calendar_embedding(time.to(x.dtype))[:, None]  # (B, 1, W, D)
        identity = self.vd_embedding(x.shape[0], vd_index, fallback)[:, :, None]  # (B|1, N, 1, D)
        return (values + calendar + identity).transpose(1, 2)  # (B, W, N, D), a node-major view

    def extra_repr(self) -> str:
        return (
            f"num_features={self.num_features}, num_vds={self.num_vds} (+1 fallback), "
            f"fallback_prob={self.fallback_prob}"
        )

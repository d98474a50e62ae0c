"""Forecasting head (docs/model.md): each VD's fused state -> all horizons and outputs at once."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional


class ForecastHead(nn.Module):
    """MLP from a VD's state to its H x O forecast, shared by all VDs.

    Emitting every horizon at once (not autoregressively) keeps errors from compounding over the
    horizon and costs one matmul.

    Args:
        d_model: input width D.
        hidden: hidden width of the MLP.
        horizon: forecast steps H.
        num_outputs: target variables O.
        dropout: dropout after the hidden activation.

    With ``quantiles`` Q > 1 levels it forecasts Q values per (horizon, output), sorted by construction:
    the median is a free output, and each level above (below) it adds (subtracts) a softplus gap to its
    neighbour nearer the median, so quantiles never cross and every gradient flows (no post-hoc sort).

    Shapes:
        z: (B, N, D) -> (B, H, N, O); with Q > 1 quantiles (B, H, N, O, Q)
    """

    def __init__(
        self,
        d_model: int,
        hidden: int,
        horizon: int,
        num_outputs: int,
        dropout: float = 0.0,
        quantiles: int = 1,
        median_index: int = 0,
        detach_median: bool = False,
    ):
        super().__init__()
        self.horizon, self.num_outputs = horizon, num_outputs
        self.quantiles, self.median_index = quantiles, median_index
        self.detach_median = detach_median
        self.norm = nn.LayerNorm(d_model)
        self.hidden = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, horizon * num_outputs * quantiles)

    def reset_parameters(self) -> None:
        for mod in (self.norm, self.hidden, self.out):
            mod.reset_parameters()

    def forward(self, z: Tensor) -> Tensor:
        batch, nodes, _ = z.shape
        y = self.out(self.dropout(self.act(self.hidden(self.norm(z)))))  # (B, N, H*O*Q)
        if self.quantiles == 1:
            y = y.view(batch, nodes, self.horizon, self.num_outputs)  # (B, N, H, O)
            return y.transpose(1, 2)  # (B, H, N, O)
        y = y.view(batch, nodes, self.horizon, self.num_outputs, self.quantiles)  # (B, N, H, O, Q)
        return sorted_quantiles(y, self.median_index, self.detach_median).transpose(1, 2)  # (B, H, N, O, Q)

    def extra_repr(self) -> str:
        q = f", quantiles={self.quantiles}" if self.quantiles > 1 else ""
        return f"horizon={self.horizon}, num_outputs={self.num_outputs}{q}"


def sorted_quantiles(raw: Tensor, median: int, detach_median: bool = False) -> Tensor:
    """Raw outputs ``(..., Q)`` -> increasing quantiles: the median as is, the others at softplus gaps from it.

    ``raw[..., median]`` is the median; ``raw[..., median + k]`` (``k >= 1``) is the gap between levels
    ``median + k - 1`` and ``median + k``, and below the median likewise downwards, so the result is
    strictly increasing along the last axis for any input. ``detach_median``: the other levels hang from
    the median's value without sending it gradient (``head.point_weight``: the median is trained alone).
    """
    mid = raw[..., median : median + 1]
    anchor = mid.detach() if detach_median else mid
    up = functional.softplus(raw[..., median + 1 :]).cumsum(-1)
    down = functional.softplus(raw[..., :median].flip(-1)).cumsum(-1).flip(-1)
    return torch.cat([anchor - down, mid, anchor + up], dim=-1)

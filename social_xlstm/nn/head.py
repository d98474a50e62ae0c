"""Forecasting head (docs/model.md): each VD's fused state -> all horizons and outputs at once."""

from __future__ import annotations

from torch import Tensor, nn


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

    Shapes:
        z: (B, N, D) -> (B, H, N, O)
    """

    def __init__(self, d_model: int, hidden: int, horizon: int, num_outputs: int, dropout: float = 0.0):
        super().__init__()
        self.horizon, self.num_outputs = horizon, num_outputs
        self.norm = nn.LayerNorm(d_model)
        self.hidden = nn.Linear(d_model, hidden)
        self.act = nn.GELU()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, horizon * num_outputs)

    def reset_parameters(self) -> None:
        for mod in (self.norm, self.hidden, self.out):
            mod.reset_parameters()

    def forward(self, z: Tensor) -> Tensor:
        batch, nodes, _ = z.shape
        y = self.out(self.dropout(self.act(self.hidden(self.norm(z)))))  # (B, N, H*O)
        y = y.view(batch, nodes, self.horizon, self.num_outputs)  # (B, N, H, O)
        return y.transpose(1, 2)  # (B, H, N, O)

    def extra_repr(self) -> str:
        return f"horizon={self.horizon}, num_outputs={self.num_outputs}"

"""The window MLP encoder of the ``stid`` model: STID's recipe on the shared input embedding.

STID (Shao et al., CIKM 2022, "Spatial-Temporal Identity") forecasts with no recurrence and no graph: the
window of readings goes through one linear map, the VD's identity and the step's time-of-day and weekday
are learned embeddings added to it, and a few residual MLP layers map the sum to every horizon. It is the
cheap, strong baseline of the METR-LA / PEMS-BAY tables. Here the identity and calendar embeddings are the
shared input embedding's (``embedding.vd_dim``, ``embedding.calendar: learned``), so STID differs from the
other models only in its encoder: the embedded window flattened, one linear map, ``encoder.layers``
residual blocks ``x + W2 dropout(relu(W1 x))``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:  # annotations only
    from .config import ModelConfig
    from .shape import NetworkShape


class WindowMLPEncoder(nn.Module):
    """The whole window at once: (M, W, D) -> one state per VD, repeated over the window's steps.

    Args:
        d_model: width D (input and output).
        window: W, the steps the model reads (fixed: the first linear map reads W * D numbers).
        layers: residual MLP blocks.
        dropout: dropout inside each block.

    Shapes:
        x: (M, W, D) -> (M, W, D), with M = B * N; every step holds the same state (a view), so a fusion
        that reads the last step (``last``) reads it.
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> WindowMLPEncoder:
        """The encoder slot's entry: ``config.encoder.layers`` blocks of width ``config.d_model``."""
        return cls(config.d_model, shape.window, config.encoder.layers, config.dropout)

    def __init__(self, d_model: int, window: int, layers: int, dropout: float = 0.0):
        super().__init__()
        self.window = window
        self.window_proj = nn.Linear(window * d_model, d_model)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d_model, d_model)
            )
            for _ in range(layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        rows, steps, _ = x.shape
        if steps != self.window:
            raise ValueError(f"the stid encoder reads windows of {self.window} steps, got {steps}")
        h = self.window_proj(x.reshape(rows, -1))  # (M, D)
        for block in self.blocks:
            h = h + block(h)  # (M, D)
        return h[:, None].expand(rows, steps, -1)  # (M, W, D), a view

    def extra_repr(self) -> str:
        return f"window={self.window}"

"""The per-VD ``torch.nn.LSTM`` encoder of the ``lstm`` baseline: the recurrent yardstick for the sLSTM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from .state import State, zeros

if TYPE_CHECKING:  # annotations only
    from .config import ModelConfig
    from .shape import NetworkShape


class LSTMEncoder(nn.Module):
    """Stacked ``torch.nn.LSTM`` (width D, ``layers`` deep) with a final LayerNorm, weights shared by all VDs.

    Args:
        d_model: width D (input and hidden).
        layers: stacked LSTM layers.
        dropout: dropout between layers (none with one layer, as ``nn.LSTM`` requires).

    Shapes:
        x: (M, T, D) -> (M, T, D), with M = B * N (VDs folded into the batch).
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> LSTMEncoder:
        """The encoder slot's entry: ``config.encoder.layers`` nn.LSTM layers of width ``config.d_model``."""
        return cls(config.d_model, config.encoder.layers, config.dropout)

    def __init__(self, d_model: int, layers: int, dropout: float = 0.0):
        super().__init__()
        between = dropout if layers > 1 else 0.0
        self.lstm = nn.LSTM(d_model, d_model, num_layers=layers, batch_first=True, dropout=between)
        self.norm = nn.LayerNorm(d_model)

    def reset_parameters(self) -> None:
        self.lstm.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.lstm(x)  # (M, T, D) the last layer's state at every step
        return self.norm(out)  # (M, T, D)

    def initial_state(self, batch: int) -> State:
        """``nn.LSTM``'s zero state. Shapes: h, c (layers, M, D)."""
        like = self.norm.weight
        shape = (self.lstm.num_layers, batch, self.lstm.hidden_size)
        return {"h": zeros(*shape, like=like), "c": zeros(*shape, like=like)}

    def forward_state(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """:meth:`forward` continued from ``state``. Shapes: x (M, T, D) -> (M, T, D)."""
        out, (h, c) = self.lstm(x, (state["h"].to(x.dtype), state["c"].to(x.dtype)))
        return self.norm(out), {"h": h, "c": c}

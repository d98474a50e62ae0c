"""The no-graph fusion: each VD keeps its own state at the last input step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

if TYPE_CHECKING:  # annotations only
    from ..config import ModelConfig
    from ..shape import NetworkShape


class LastStep(nn.Module):
    """No fusion: each VD's state at the last input step.

    Shapes:
        h: (B, T, N, D) -> (B, N, D)
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> LastStep:
        """The fusion slot's entry (nothing to configure)."""
        return cls()

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        return h[:, -1]  # (B, N, D); which VDs the columns are does not matter here

    def initial_state(self, batch: int, nodes: int) -> dict[str, Tensor]:
        return {}  # nothing carried: each step's state is the encoder's

    def forward_state(self, h: Tensor, state: dict[str, Tensor], nodes: Tensor | None = None):
        """Every step's fused state (B, T, N, D): the encoder's own."""
        return h, {}

"""The plain-pooling fusion (the ``slstm_pool`` ablation): the yardstick the social mLSTM layer must beat."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from .neighbours import NeighbourTableMixin

if TYPE_CHECKING:  # annotations only
    from ..config import ModelConfig
    from ..shape import NetworkShape


class NeighbourPool(NeighbourTableMixin, nn.Module):
    """Edge-weighted mean of neighbour states (last step), added to each VD's own state.

    Weights ``a_ij = softmax_j(w . e_ij + b)`` over j's edges into i (self loop included). ``w`` starts
    at 0, so the layer starts as the plain neighbour mean and may learn distance/direction preferences.

    Args:
        d_model: state width D.
        edge_index: (2, E) static graph, src -> dst, self loops included.
        edge_attr: (E, Fe) edge features (already scaled; Fe may be 0).
        num_nodes: N.
        dropout: dropout on the residual branch.

    Shapes:
        h: (B, T, N, D) -> (B, N, D)
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> NeighbourPool:
        """The fusion slot's entry, on ``shape``'s graph (edge features already scaled)."""
        return cls(config.d_model, shape.edge_index, shape.edge_attr, shape.num_vds, config.dropout)

    def __init__(
        self, d_model: int, edge_index: Tensor, edge_attr: Tensor, num_nodes: int, dropout: float = 0.0
    ):
        super().__init__()
        self.register_graph(edge_index, edge_attr, num_nodes)
        self.d_model = d_model
        fe = self.nbr_attr.shape[-1]
        self.score = nn.Linear(fe, 1) if fe else None
        self.norm = nn.LayerNorm(d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.score is not None:
            nn.init.zeros_(self.score.weight)
            nn.init.zeros_(self.score.bias)
        self.norm.reset_parameters()
        self.proj.reset_parameters()

    def weights(self, mask: Tensor | None = None, attr: Tensor | None = None) -> Tensor:
        """(N, K) neighbour weights, rows summing to 1, 0 on padding (default: the whole graph's table)."""
        mask = self.nbr_mask if mask is None else mask
        attr = self.nbr_attr if attr is None else attr
        logits = self.score(attr)[..., 0] if self.score is not None else mask.float() * 0
        return torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)  # (N, K)

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        """h (B, T, N', D) over all VDs, or over the sorted global ids ``nodes`` (N',) -> (B, N', D)."""
        index, mask, attr = self.table(nodes)
        last = h[:, -1]  # (B, N, D)
        batch, count, d = last.shape
        nbrs = index.shape[1]
        gathered = last.index_select(1, index.flatten()).view(batch, count, nbrs, d)  # (B, N, K, D)
        pooled = (self.weights(mask, attr)[..., None] * gathered).sum(2)  # (B, N, D)
        return last + self.dropout(self.proj(self.norm(pooled)))

    def initial_state(self, batch: int, nodes: int) -> dict[str, Tensor]:
        return {}  # pooling reads only the current step: nothing is carried

    def forward_state(self, h: Tensor, state: dict[str, Tensor], nodes: Tensor | None = None):
        """Every step pooled on its own: h (B, T, N, D) -> (B, T, N, D), as :meth:`forward` at each step."""
        batch, steps = h.shape[:2]
        out = self(h.reshape(batch * steps, 1, *h.shape[2:]), nodes)  # (B*T, N, D) steps folded into the batch
        return out.view(batch, steps, *out.shape[1:]), {}

    def __repr__(self) -> str:
        nbrs = self.nbr_index.shape[1]
        return f"{self.__class__.__name__}({self.d_model}, nodes={self.num_nodes}, max_neighbours={nbrs})"

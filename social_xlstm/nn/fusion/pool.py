"""The plain-pooling fusion (the ``slstm_pool`` ablation): the yardstick the social mLSTM layer must beat."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .neighbours import neighbour_table, subgraph_table


class NeighbourPool(nn.Module):
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

    def __init__(
        self, d_model: int, edge_index: Tensor, edge_attr: Tensor, num_nodes: int, dropout: float = 0.0
    ):
        super().__init__()
        index, mask, attr = neighbour_table(edge_index, edge_attr.float(), num_nodes)
        self.register_buffer("edge_index", edge_index, persistent=False)  # for subgraphs of sampled VDs
        self.register_buffer("edge_attr", edge_attr.float(), persistent=False)
        self.register_buffer("nbr_index", index)
        self.register_buffer("nbr_mask", mask)
        self.register_buffer("nbr_attr", attr)
        self.d_model, self.num_nodes = d_model, num_nodes
        self.score = nn.Linear(attr.shape[-1], 1) if attr.shape[-1] else None
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

    def table(self, nodes: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """The neighbour table (index, mask, attr) of the whole graph, or of the subgraph of ``nodes``."""
        if nodes is None:
            return self.nbr_index, self.nbr_mask, self.nbr_attr
        return subgraph_table(self.edge_index, self.edge_attr, nodes, self.num_nodes)

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

    def __repr__(self) -> str:
        nbrs = self.nbr_index.shape[1]
        return f"{self.__class__.__name__}({self.d_model}, nodes={self.num_nodes}, max_neighbours={nbrs})"

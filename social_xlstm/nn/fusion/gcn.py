"""The graph-convolutional GRU fusion of the ``gru_gcn`` baseline (T-GCN, Zhao et al. 2019).

Unlike the other fusions it reads the whole embedded window, not an encoder's output: the recurrence
itself mixes the neighbours at every step, so the forecaster runs it with the identity encoder.
torch-geometric is imported when this layer is built, not when the package is imported: it costs
seconds and only this baseline needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .neighbours import induced_subgraph

if TYPE_CHECKING:  # annotations only
    from ..config import ModelConfig
    from ..shape import NetworkShape


class TGCNCell(nn.Module):
    """GRU cell whose gates are graph convolutions of ``[x_t, h_{t-1}]`` (T-GCN).

    ``GCNConv`` propagates over the node axis ``-2``, so one static graph serves a (B, N, C) batch.
    The symmetric normalisation is computed once per sequence by the caller and passed in.

    Shapes:
        x: (B, N, D); h: (B, N, D) -> (B, N, D)
    """

    def __init__(self, d_model: int):
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.gates = GCNConv(2 * d_model, 2 * d_model, add_self_loops=False, normalize=False)
        self.candidate = GCNConv(2 * d_model, d_model, add_self_loops=False, normalize=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.gates.reset_parameters()
        self.candidate.reset_parameters()
        # Update gate biased towards keeping h (GRU practice): u = sigmoid(1) at start.
        with torch.no_grad():
            self.gates.bias[self.gates.out_channels // 2 :] = 1.0

    def forward(self, x: Tensor, h: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        gates = torch.sigmoid(self.gates(torch.cat([x, h], -1), edge_index, edge_weight))  # (B, N, 2D)
        reset, update = gates.chunk(2, dim=-1)
        cand = torch.tanh(self.candidate(torch.cat([x, reset * h], -1), edge_index, edge_weight))  # (B, N, D)
        return update * h + (1 - update) * cand


class GCNGRUFusion(nn.Module):
    """A graph-convolutional GRU over the window; its last state, normalised, is each VD's fused state.

    Edge weights are ``softplus(w . e_ij + b)`` of the (standardised) edge features, learned, starting
    equal for all edges; GCN's symmetric normalisation is applied once per forward.

    Args:
        d_model: state width D.
        edge_index: (2, E) static graph, src -> dst, self loops included.
        edge_attr: (E, Fe) edge features (already scaled; Fe may be 0).
        num_nodes: N.

    Shapes:
        h: (B, T, N, D) -> (B, N, D)
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> GCNGRUFusion:
        """The fusion slot's entry, on ``shape``'s graph (edge features already scaled)."""
        return cls(config.d_model, shape.edge_index, shape.edge_attr, shape.num_vds)

    def __init__(self, d_model: int, edge_index: Tensor, edge_attr: Tensor, num_nodes: int):
        super().__init__()
        self.num_nodes = num_nodes
        # The forecaster keeps the graph in its own (persistent) buffers; these are views for this layer.
        self.register_buffer("edge_index", edge_index, persistent=False)
        self.register_buffer("edge_attr", edge_attr, persistent=False)
        fe = edge_attr.shape[-1]
        self.edge_score = nn.Linear(fe, 1) if fe else None
        self.cell = TGCNCell(d_model)
        self.norm = nn.LayerNorm(d_model)
        if self.edge_score is not None:
            nn.init.zeros_(self.edge_score.weight)
            nn.init.constant_(self.edge_score.bias, 0.5413)  # softplus(0.5413) = 1

    def edge_weight(self, nodes: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """GCN-normalised ``(edge_index, weight)`` of the learned edge weights (of the subgraph of ``nodes``)."""
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        edge_index, edge_attr, count = self.edge_index, self.edge_attr, self.num_nodes
        if nodes is not None:
            edge_index, edge_attr = induced_subgraph(edge_index, edge_attr, nodes, self.num_nodes)
            count = len(nodes)
        if self.edge_score is None:
            raw = torch.ones(edge_index.shape[1], device=edge_index.device)
        else:
            raw = F.softplus(self.edge_score(edge_attr))[:, 0]  # (E,)
        return gcn_norm(edge_index, raw, count, add_self_loops=False)

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        edge_index, weight = self.edge_weight(nodes)
        state = torch.zeros_like(h[:, 0])  # (B, N, D)
        for t in range(h.shape[1]):
            state = self.cell(h[:, t], state, edge_index, weight)
        return self.norm(state)  # (B, N, D)

    def initial_state(self, batch: int, nodes: int) -> dict[str, Tensor]:
        """The GRU's zero state. Shapes: h (B, N, D)."""
        like = self.norm.weight
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        return {"h": torch.zeros(batch, nodes, like.shape[0], dtype=dtype, device=like.device)}

    def forward_state(self, h: Tensor, state: dict[str, Tensor], nodes: Tensor | None = None):
        """The GRU continued from ``state``; every step's normalised state. h (B, T, N, D) -> (B, T, N, D)."""
        edge_index, weight = self.edge_weight(nodes)
        current, outs = state["h"].to(h.dtype), []
        for t in range(h.shape[1]):
            current = self.cell(h[:, t], current, edge_index, weight)
            outs.append(self.norm(current))
        return torch.stack(outs, dim=1), {"h": current}

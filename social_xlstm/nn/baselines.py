"""Learned baselines, with the same constructor and forward signature as the model.

* :class:`LSTMBaseline` -- a per-VD ``torch.nn.LSTM`` with the same input embedding (VD identity
  included) and head; no graph.
* :class:`GRUGCNBaseline` -- T-GCN (Zhao et al. 2019): a GRU whose gates are graph convolutions
  (``torch_geometric.nn.GCNConv``) over the static graph.
* :class:`NeighbourPool` -- the fusion of the ``slstm_pool`` ablation: each VD's last state plus an
  edge-weighted mean of its neighbours' last states (the plain-pooling yardstick for the social layer).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from .common import last_observed, standardise_edge_attr, target_index_tensor
from .config import ModelConfig
from .embedding import InputEmbedding
from .head import ForecastHead
from .social import neighbour_table


class NeighbourPool(nn.Module):
    """Edge-weighted mean of neighbour states (last step), added to each VD's own state.

    Weights ``a_ij = softmax_j(w . e_ij + b)`` over j's edges into i (self loop included). ``w`` starts
    at 0, so the layer starts as the plain neighbour mean and may learn distance/direction preferences.

    Shapes:
        h: (B, T, N, D) -> (B, N, D)
    """

    def __init__(
        self, d_model: int, edge_index: Tensor, edge_attr: Tensor, num_nodes: int, dropout: float = 0.0
    ):
        super().__init__()
        index, mask, attr = neighbour_table(edge_index, edge_attr.float(), num_nodes)
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

    def weights(self) -> Tensor:
        """(N, K) neighbour weights, rows summing to 1, 0 on padding."""
        logits = self.score(self.nbr_attr)[..., 0] if self.score is not None else self.nbr_mask.float() * 0
        return torch.softmax(logits.masked_fill(~self.nbr_mask, float("-inf")), dim=-1)  # (N, K)

    def forward(self, h: Tensor) -> Tensor:
        last = h[:, -1]  # (B, N, D)
        batch, nodes, d = last.shape
        nbrs = self.nbr_index.shape[1]
        gathered = last.index_select(1, self.nbr_index.flatten()).view(batch, nodes, nbrs, d)  # (B, N, K, D)
        pooled = (self.weights()[..., None] * gathered).sum(2)  # (B, N, D)
        return last + self.dropout(self.proj(self.norm(pooled)))

    def __repr__(self) -> str:
        nbrs = self.nbr_index.shape[1]
        return f"{self.__class__.__name__}({self.d_model}, nodes={self.num_nodes}, max_neighbours={nbrs})"


class _Baseline(nn.Module):
    """Shared parts: buffers for the graph and targets, the input embedding, the head, the skip."""

    def __init__(
        self, config, num_vds, num_features, num_outputs, horizon, edge_index, edge_attr, target_index
    ):
        super().__init__()
        self.config, self.num_vds = config, num_vds
        self.register_buffer("edge_index", edge_index.long().clone())
        self.register_buffer("edge_attr", standardise_edge_attr(edge_attr))
        self.register_buffer("target_index", target_index_tensor(target_index, num_features, num_outputs))
        self.embedding = InputEmbedding(
            num_features, num_vds, config.d_model, config.vd_embedding_dim, config.vd_fallback_prob
        )
        self.head = ForecastHead(config.d_model, config.head_dim_hidden, horizon, num_outputs, config.dropout)

    def fuse(self, emb: Tensor) -> Tensor:
        """Sequence model of the baseline: (B, W, N, D) -> (B, N, D)."""
        raise NotImplementedError

    def forward(self, x: Tensor, x_mask: Tensor, time: Tensor, vd_index: Tensor | None = None) -> Tensor:
        if x.shape[2] != self.num_vds:
            raise ValueError(f"x has {x.shape[2]} VDs, the model was built for {self.num_vds}")
        y = self.head(self.fuse(self.embedding(x, x_mask, time, vd_index)))  # (B, H, N, O)
        if self.config.last_value:
            y = y + last_observed(x, x_mask, self.target_index)[:, None]  # (B, H, N, O)
        return y


class LSTMBaseline(_Baseline):
    """Per-VD LSTM (``config.num_blocks`` layers, width ``d_model``), shared weights, no graph.

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4) -> (B, H, N, O)
    """

    def __init__(
        self,
        config: ModelConfig,
        num_vds: int,
        num_features: int,
        num_outputs: int,
        horizon: int,
        edge_index: Tensor,
        edge_attr: Tensor,
        target_index: list[int] | None = None,
    ):
        super().__init__(
            config, num_vds, num_features, num_outputs, horizon, edge_index, edge_attr, target_index
        )
        d = config.d_model
        self.lstm = nn.LSTM(
            d,
            d,
            num_layers=config.num_blocks,
            batch_first=True,
            dropout=config.dropout if config.num_blocks > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(d)

    def fuse(self, emb: Tensor) -> Tensor:
        batch, steps, nodes, d = emb.shape
        folded = emb.transpose(1, 2).reshape(batch * nodes, steps, d)  # (B*N, W, D)
        _, (h, _) = self.lstm(folded)  # h: (layers, B*N, D)
        return self.norm(h[-1].view(batch, nodes, d))  # (B, N, D)


class TGCNCell(nn.Module):
    """GRU cell whose gates are graph convolutions of ``[x_t, h_{t-1}]`` (T-GCN).

    ``GCNConv`` propagates over the node axis ``-2``, so one static graph serves a (B, N, C) batch.
    The symmetric normalisation is computed once per sequence by the caller and passed in.

    Shapes:
        x: (B, N, D); h: (B, N, D) -> (B, N, D)
    """

    def __init__(self, d_model: int):
        super().__init__()
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


class GRUGCNBaseline(_Baseline):
    """T-GCN style baseline: the embedding feeds a graph-convolutional GRU over the window.

    Edge weights are ``softplus(w . e_ij + b)`` of the (standardised) edge features, learned, starting
    equal for all edges; GCN's symmetric normalisation is applied once per forward.

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4) -> (B, H, N, O)
    """

    def __init__(
        self,
        config: ModelConfig,
        num_vds: int,
        num_features: int,
        num_outputs: int,
        horizon: int,
        edge_index: Tensor,
        edge_attr: Tensor,
        target_index: list[int] | None = None,
    ):
        super().__init__(
            config, num_vds, num_features, num_outputs, horizon, edge_index, edge_attr, target_index
        )
        fe = self.edge_attr.shape[-1]
        self.edge_score = nn.Linear(fe, 1) if fe else None
        self.cell = TGCNCell(config.d_model)
        self.norm = nn.LayerNorm(config.d_model)
        if self.edge_score is not None:
            nn.init.zeros_(self.edge_score.weight)
            nn.init.constant_(self.edge_score.bias, 0.5413)  # softplus(0.5413) = 1

    def edge_weight(self) -> tuple[Tensor, Tensor]:
        """GCN-normalised ``(edge_index, weight)`` of the learned edge weights."""
        if self.edge_score is None:
            raw = torch.ones(self.edge_index.shape[1], device=self.edge_index.device)
        else:
            raw = F.softplus(self.edge_score(self.edge_attr))[:, 0]  # (E,)
        return gcn_norm(self.edge_index, raw, self.num_vds, add_self_loops=False)

    def fuse(self, emb: Tensor) -> Tensor:
        edge_index, weight = self.edge_weight()
        h = torch.zeros_like(emb[:, 0])  # (B, N, D)
        for t in range(emb.shape[1]):
            h = self.cell(emb[:, t], h, edge_index, weight)
        return self.norm(h)  # (B, N, D)

"""A network-wide read: every VD writes into one matrix memory that every VD's query reads.

Per batch element and head, over the N VDs of the network (or of the sampled VDs), with ``x = LayerNorm(h)``::

    k_j = Wk x_j / sqrt(DH)    v_j = Wv x_j    i~_j = wi x_j + bi    q_i = Wq x_i
    m = max_j i~_j             (the stabiliser: exp never overflows)
    C = sum_j exp(i~_j - m) v_j k_j^T      n = sum_j exp(i~_j - m) k_j
    read_i = C q_i / max(|n . q_i|, exp(-m))
    delta_i = W_out (sigmoid(Wo x_i) * GroupNorm_per_head(read_i))

``max(|n . q|, exp(-m))`` is the mLSTM normaliser ``max(|n' . q|, 1)`` of the unstabilised sums
``n' = exp(m) n`` divided through by ``exp(m)``: the read is exactly what the plain equations give.

Why linear attention over space and not softmax attention: softmax attention over all VDs (the
STAEformer-style spatial attention that leads the METR-LA tables) builds an (N x N) score matrix per head
and batch, 74 million entries at 8,600 VDs. The matrix memory has the same "every VD reads every VD"
reach at O(N * DH^2) work and O(DH^2) state per head, so it scales with the network like the rest of
the model. What it gives up is a per-pair weight: each query reads one summary of the network, weighted
by the writers' input gates, which is what a far-away VD can usefully add beyond its road neighbours.

``W_out`` starts at zero, so a model with the read switched on starts as the model without it and the
read earns its weight by gradient (the same choice as the zero-initialised edge MLP of :mod:`.edge_gate`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..multihead_norm import MultiHeadLayerNorm


class GlobalRead(nn.Module):
    """One network-wide linear-attention memory per head, written and read by every VD.

    Args:
        d_model: input and output width D.
        heads: NH.
        head_dim: DH (default D // NH).

    Shapes:
        h: (B, N, D) -> delta (B, N, D), to be added to the VDs' states (a residual branch);
        writers: optional (N,) bool, the VDs that write (places without a detector read but never write,
        so adding one changes no other VD's forecast).
    """

    def __init__(self, d_model: int, heads: int = 4, head_dim: int | None = None):
        super().__init__()
        self.d_model = d_model
        self.heads = heads
        self.head_dim = head_dim or d_model // heads
        channels = heads * self.head_dim
        self.norm = nn.LayerNorm(d_model)
        # rows [q (C), o (C)] and [k (C), v (C), i (NH)]: the layout the dense-reference test reads
        self.query = nn.Linear(d_model, 2 * channels)
        self.source = nn.Linear(d_model, 2 * channels + heads)
        self.out_norm = MultiHeadLayerNorm(heads, channels)
        self.out_proj = nn.Linear(channels, d_model, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.norm.reset_parameters()
        self.query.reset_parameters()
        self.source.reset_parameters()
        # Input gates start equal (weight and bias 0): at first every VD writes with the same weight,
        # i.e. the read starts as a mean over the network, and learns whom to listen to.
        channels = self.heads * self.head_dim
        nn.init.zeros_(self.source.weight[2 * channels :])
        nn.init.zeros_(self.source.bias[2 * channels :])
        self.out_norm.reset_parameters()
        nn.init.zeros_(self.out_proj.weight)  # starts as the identity residual (module docstring)

    def forward(self, h: Tensor, writers: Tensor | None = None) -> Tensor:
        batch, nodes, _ = h.shape
        channels = self.heads * self.head_dim
        x = self.norm(h)  # (B, N, D)
        q, gate = self.query(x).chunk(2, dim=-1)  # (B, N, C) each
        kv, i_pre = self.source(x).split([2 * channels, self.heads], dim=-1)
        k, v = kv.chunk(2, dim=-1)  # (B, N, C)

        def heads_first(t: Tensor) -> Tensor:
            return t.view(batch, nodes, self.heads, self.head_dim).transpose(1, 2)  # (B, NH, N, DH)

        q, k, v = heads_first(q), heads_first(k) / math.sqrt(self.head_dim), heads_first(v)
        i_pre = i_pre.transpose(1, 2)  # (B, NH, N)
        if writers is not None:
            i_pre = i_pre.masked_fill(~writers, float("-inf"))  # a silent VD's weight exp(-inf) = 0
        m = i_pre.amax(dim=-1, keepdim=True)  # (B, NH, 1)
        weight = torch.exp(i_pre - m)  # (B, NH, N), in (0, 1]
        memory = torch.matmul(v.transpose(-1, -2), k * weight[..., None])  # (B, NH, DH, DH): sum_j w_j v_j k_j^T
        norm = (k * weight[..., None]).sum(dim=2)  # (B, NH, DH)
        read = torch.matmul(q, memory.transpose(-1, -2))  # (B, NH, N, DH): C q_i
        denom = torch.maximum((q * norm[:, :, None]).sum(-1).abs(), torch.exp(-m))  # (B, NH, N)
        read = read / denom[..., None]
        read = read.transpose(1, 2).reshape(batch, nodes, channels)  # (B, N, C)
        return self.out_proj(torch.sigmoid(gate) * self.out_norm(read))  # (B, N, D)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, heads={self.heads}, head_dim={self.head_dim}"

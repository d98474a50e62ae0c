"""Learned neighbours: each VD also reads K sources chosen by learned VD embeddings (``social.graph``).

The road graph says who is upstream; it cannot say that two detectors on parallel freeways see the same
rush hour, or that a ramp far down the road queues back first. Graph WaveNet, AGCRN and MTGNN learn an
adjacency from node embeddings instead; here the learned part is kept sparse so the social layer stays
O(E) in memory and one sparse matmul per head (the source-memory form)::

    s_ij = <t_i, u_j> / sqrt(De)                     t, u: (N, De) target and source embeddings
    L_i  = top-K_j s_ij over j not already a road source of i (nor i itself)    refreshed every R steps
    b_ij = cap(a_h s_ij + c_h)   ke_ij = k_h          for j in L_i: the edge gate and key offset per head

``L`` (the buffer ``learned_src``, (N, K), -1 where a VD has fewer than K candidates) is chosen without
gradient; the gates ``b_ij`` of the chosen edges carry the gradient into ``t`` and ``u``. Since every
score shares the embeddings, moving them for the chosen edges re-ranks all the others, and the next
refresh picks what the gradient now prefers (the top-k adjacency of MTGNN, refreshed instead of rebuilt
every step so a step costs O(E De), not O(N^2 De)). A refresh scores the network in blocks of rows, so
its memory is O(block * N), never N x N.

``k_h`` (one key offset per head, zero at first) lets a reader tell what a learned source says from what
a road neighbour says. ``c_h`` starts at -2: at initialisation a learned source is written with about a
tenth of a road neighbour's weight, so ``both`` starts close to the road-only model.

The chosen edges are a buffer, so a checkpoint holds the sources the model was validated with, and
``predict``, ``stream`` and ``serve`` read exactly those (no refresh outside training).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .neighbours import induced_subgraph

REFRESH_BLOCK = 1024
"""Rows scored at once by a refresh: (1024, N) scores, 35 MB at 8,600 VDs."""


class LearnedSources(nn.Module):
    """The learned source set of a social layer, and the gates and key offsets of its edges.

    Args:
        num_nodes: N.
        heads: NH.
        head_dim: DH.
        k: sources learned per VD (K).
        dim: embedding width De.
        refresh: training steps between two refreshes of the top-k choice.
        road_src, road_dst: the road edges (self loops included); a learned source is never one of them.
        gate_cap: the soft cap of the social layer's gates.

    Shapes:
        :meth:`edges`: src, dst (E',), gate (NH, E'), key offset (NH, E', DH), global ids (or the
        positions within ``nodes``).
    """

    def __init__(
        self,
        num_nodes: int,
        heads: int,
        head_dim: int,
        k: int,
        dim: int,
        refresh: int,
        road_src: Tensor,
        road_dst: Tensor,
        gate_cap: float,
    ):
        super().__init__()
        self.num_nodes, self.heads, self.head_dim, self.k, self.dim = num_nodes, heads, head_dim, k, dim
        self.refresh_every, self.gate_cap = refresh, gate_cap
        self.target = nn.Parameter(torch.empty(num_nodes, dim))
        self.source = nn.Parameter(torch.empty(num_nodes, dim))
        self.gate_scale = nn.Parameter(torch.empty(heads))
        self.gate_bias = nn.Parameter(torch.empty(heads))
        self.key = nn.Parameter(torch.empty(heads, head_dim))
        self.register_buffer("road_src", road_src.long(), persistent=False)
        self.register_buffer("road_dst", road_dst.long(), persistent=False)
        self.register_buffer("learned_src", torch.full((num_nodes, k), -1, dtype=torch.long))
        self._steps = 0
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.target)
        nn.init.normal_(self.source)
        nn.init.ones_(self.gate_scale)
        nn.init.constant_(self.gate_bias, -2.0)
        nn.init.zeros_(self.key)
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Choose each VD's K best-scoring sources among those not already its road sources."""
        n = self.num_nodes
        chosen = torch.full((n, self.k), -1, dtype=torch.long, device=self.target.device)
        take = min(self.k, n)
        for start in range(0, n, REFRESH_BLOCK):
            stop = min(start + REFRESH_BLOCK, n)
            scores = self.target[start:stop] @ self.source.T  # (rows, N)
            rows = (self.road_dst >= start) & (self.road_dst < stop)
            scores[self.road_dst[rows] - start, self.road_src[rows]] = float("-inf")
            value, index = scores.topk(take, dim=1)  # (rows, K)
            chosen[start:stop, :take] = index.masked_fill(value == float("-inf"), -1)
        self.learned_src.copy_(chosen)

    def maybe_refresh(self) -> None:
        """In training (with autograd), refresh every ``refresh`` steps, starting with the first."""
        if self.training and torch.is_grad_enabled():
            if self._steps % self.refresh_every == 0:
                self.refresh()
            self._steps += 1

    def edges(self, nodes: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """The learned edges (src -> dst) of the whole network, or among the sorted global ids ``nodes``
        (renumbered to their positions; a learned source outside the sample is dropped)."""
        dst = torch.arange(self.num_nodes, device=self.learned_src.device)[:, None].expand_as(self.learned_src)
        valid = self.learned_src >= 0
        src, dst = self.learned_src[valid], dst[valid]  # (E',) global ids, grouped by target
        score = (self.target[dst] * self.source[src]).sum(-1) / math.sqrt(self.dim)  # (E',)
        if nodes is not None:
            (src, dst), score = induced_subgraph(torch.stack([src, dst]), score[:, None], nodes, self.num_nodes)
            score = score[:, 0]
        pre = self.gate_scale[:, None] * score + self.gate_bias[:, None]  # (NH, E')
        gate = self.gate_cap * torch.tanh(pre / self.gate_cap)
        key = self.key[:, None].expand(-1, src.numel(), -1)  # (NH, E', DH)
        return src, dst, gate, key

    def fit_added_vds(self, state: dict[str, Tensor], prefix: str, trained: int) -> None:
        """Make a checkpoint's entries fit this module built for ``trained`` VDs plus added ones.

        The checkpoint's VDs keep their embeddings and learned sources; an added VD learns none (its
        rows are zero and it reads only the road), and no checkpoint VD reads it (its ids are not in the
        trained table), as alignment promises.
        """
        added = self.num_nodes - trained
        for name in ("target", "source"):
            rows = state[prefix + name]
            state[prefix + name] = torch.cat([rows, rows.new_zeros(added, rows.shape[1])])
        table = state[prefix + "learned_src"]
        state[prefix + "learned_src"] = torch.cat([table, table.new_full((added, table.shape[1]), -1)])

    def extra_repr(self) -> str:
        return f"nodes={self.num_nodes}, k={self.k}, dim={self.dim}, refresh={self.refresh_every}"

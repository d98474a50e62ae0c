"""Social mLSTM layer (docs/model.md, "Social mLSTM layer"): each VD reads its graph neighbours into a matrix memory.

Per head, with ``x = LayerNorm(h)`` and edge features ``e_ij`` of the edge j -> i (self loop included)::

    q_it = Wq x_it / sqrt(DH)    k_ijt = Wk_h x_jt + Wk_e e_ij    v_jt = Wv x_jt
    i~_ijt = wi_h x_jt + wi_e e_ij + bi       f~_it = wf x_it + bf,  logf = logsigmoid(f~)
    C_it = f_it C_i,t-1 + sum_j exp(i~_ijt) v_jt k_ijt^T     n_it likewise with k_ijt
    out_it = C_it q_it / max(|n_it . q_it|, 1)              (stabilised by a max-state, see ops.mlstm)
    h'_it = h_it + Dropout(W_out (sigmoid(Wo x_it) * GroupNorm_per_head(out_it)))

``Wk [h_j, e_ij] = Wk_h h_j + Wk_e e_ij``: the node part is projected once per VD and gathered for its K
neighbours, the edge part has its own small projection and is added (docs/model.md, "Cost rules").

Why a dense padded (N, K) neighbour table instead of a PyG ``MessagePassing`` with scatter: the memory
contracts over (source step, neighbour) pairs, which is a batched matmul only when every VD has the same
number of neighbour slots. Road graphs have small, even in-degrees (K of 2 to 10), so padding wastes
little, while scatter-based message passing would materialise one (T x DH) message per edge and reduce
with ``index_add`` that does not fuse with the softmax-like stabilisation. Padded slots get input gate
``-inf``, i.e. weight exactly 0.

Parameter layout (what the dense-reference test reads): ``query.weight`` rows ``[q (C), o (C)]``;
``source.weight`` rows ``[k (C), v (C), i (NH), f (NH)]``; ``edge.weight`` rows ``[k_e (C), i_e (NH)]``;
C = NH * DH, head-major (channel ``c`` belongs to head ``c // DH``). ``edge_gate="mlp"`` keeps ``edge.weight``
and adds a zero-initialised MLP (``edge.hidden``, ``edge.out``; :mod:`.edge_gate`); ``edge_features=False``
drops the edge terms (``edge`` is None, as for a graph without features).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from social_xlstm.ops.mlstm import MLSTMState, social_mlstm_parallel, social_mlstm_step

from ..multihead_norm import MultiHeadLayerNorm
from ..state import State, empty_max_state, zeros
from .edge_gate import EdgeMLP, edge_projection
from .neighbours import NeighbourTableMixin

if TYPE_CHECKING:  # annotations only
    from ..config import ModelConfig
    from ..shape import NetworkShape


class SocialMLSTM(NeighbourTableMixin, nn.Module):
    """Neighbour-reading mLSTM memory on a static graph, with residual output.

    Args:
        d_model: input and output width D.
        edge_index: (2, E) static graph, src -> dst, self loops included.
        edge_attr: (E, Fe) edge features (already scaled; Fe may be 0).
        num_nodes: N.
        heads: NH.
        head_dim: DH (default D // NH).
        context: ``"last"`` -- only the last step queries the memory (output (B, N, D)); ``"all"`` --
            every step does (output (B, T, N, D)).
        dropout: dropout on the residual branch.
        forget_init: forget bias of head 0; heads spread linearly over [forget_init, forget_init + 3].
        edge_gate: ``"linear"`` or ``"mlp"`` edge projection (:mod:`social_xlstm.nn.fusion.edge_gate`).
        edge_features: False ignores ``edge_attr`` (the ablation: the graph without its features).

    Shapes:
        h: (B, T, N, D) -> (B, N, D) with context "last", (B, T, N, D) with "all".
        :meth:`step`: h_t (B, N, D), state ``(C (B, NH, N, DH, DH), n (B, NH, N, DH), m (B, NH, N))``.
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape, context: str | None = None) -> SocialMLSTM:
        """The layer ``config.social`` describes on ``shape``'s graph (edge features already scaled), with
        ``context`` (default ``config.social.context``; ``"all"`` between sLSTM blocks)."""
        c = config.social
        return cls(
            config.d_model,
            shape.edge_index,
            shape.edge_attr,
            shape.num_vds,
            heads=c.heads,
            head_dim=c.dim,
            context=context or c.context,
            dropout=config.dropout,
            forget_init=c.forget_init,
            edge_gate=c.edge_gate,
            edge_features=c.edge_features,
        )

    def __init__(
        self,
        d_model: int,
        edge_index: Tensor,
        edge_attr: Tensor,
        num_nodes: int,
        heads: int = 4,
        head_dim: int | None = None,
        context: str = "last",
        dropout: float = 0.0,
        forget_init: float = 3.0,
        edge_gate: str = "linear",
        edge_features: bool = True,
    ):
        super().__init__()
        if context not in ("last", "all"):
            raise ValueError(f"context must be 'last' or 'all', got {context!r}")
        self.d_model, self.heads = d_model, heads
        self.head_dim = head_dim or d_model // heads
        self.num_nodes, self.context, self.forget_init = num_nodes, context, forget_init
        channels = heads * self.head_dim
        # Zero feature columns, not a flag: the layer then runs the path of a graph without features.
        self.register_graph(edge_index, edge_attr if edge_features else edge_attr[:, :0], num_nodes)
        self.edge_dim = self.nbr_attr.shape[-1]
        self.norm = nn.LayerNorm(d_model)
        self.query = nn.Linear(d_model, 2 * channels)
        self.source = nn.Linear(d_model, 2 * channels + 2 * heads)
        self.edge = edge_projection(self.edge_dim, channels + heads, edge_gate) if self.edge_dim else None
        self.out_norm = MultiHeadLayerNorm(heads, channels)  # GroupNorm per head, the fast way on CPUs
        self.out_proj = nn.Linear(channels, d_model)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    @property
    def max_neighbours(self) -> int:
        """K, the width of the padded neighbour table."""
        return self.nbr_index.shape[1]

    def reset_parameters(self) -> None:
        channels = self.heads * self.head_dim
        std = math.sqrt(2.0 / (5.0 * self.d_model))
        for lin in (self.query, self.source):
            nn.init.normal_(lin.weight, std=std)
            nn.init.zeros_(lin.bias)
        with torch.no_grad():
            # Input gates start flat (every neighbour and step is written with the same strength, so
            # early reads are attention-like averages); forget biases start high, one timescale per head.
            self.source.weight[2 * channels : 2 * channels + self.heads].zero_()
            forget = torch.linspace(self.forget_init, self.forget_init + 3.0, self.heads)
            self.source.bias[2 * channels + self.heads :] = forget
        if self.edge is not None:
            nn.init.normal_(self.edge.weight, std=std)
            with torch.no_grad():
                self.edge.weight[channels:].zero_()
        self.norm.reset_parameters()
        self.out_norm.reset_parameters()
        self.out_proj.reset_parameters()
        if isinstance(self.edge, EdgeMLP):  # its MLP part starts at 0: the layer starts as the linear gate's
            self.edge.reset_mlp()

    def _sources(self, x: Tensor, table: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Project each VD once, then gather its K neighbours (node parts only; see :meth:`_edge_terms`).

        The gather reads the head-major view directly, so its output is already the memory-major
        layout (B, NH, N, K, T, DH) the batched matmuls need: no copy of the K-times larger tensor.

        Shapes:
            x: (B, N, T, D) normalised states, node-major; returns k, v (B, NH, N, K, T, DH),
            igate (B, NH, N, K, T) (padding -inf), logf (B, NH, N, T).
        """
        batch, nodes, steps, _ = x.shape
        index, mask, _ = table
        heads, width, nbrs = self.heads, self.head_dim, index.shape[1]
        channels = heads * width
        k, v, i_pre, f_pre = self.source(x).split([channels, channels, heads, heads], dim=-1)
        flat = index.flatten()  # (N*K,)

        def gather(t: Tensor) -> Tensor:
            heads_first = t.unflatten(-1, (heads, -1)).permute(0, 3, 1, 2, 4)  # (B, NH, N, T, DH|1), a view
            out = heads_first.index_select(2, flat)  # (B, NH, N*K, T, DH|1)
            return out.view(batch, heads, nodes, nbrs, steps, -1)  # (B, NH, N, K, T, DH|1)

        igate = gather(i_pre)[..., 0]  # (B, NH, N, K, T)
        if self.edge is not None:
            igate = igate + self._edge_terms(table)[1][..., None]  # (B, NH, N, K, T)
        igate = igate.masked_fill(~mask[:, :, None], float("-inf"))
        logf = F.logsigmoid(f_pre).permute(0, 3, 1, 2)  # (B, NH, N, T)
        return gather(k), gather(v), igate, logf

    def _edge_terms(self, table: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """Edge parts of keys and input gates. Shapes: k_edge (NH, N, K, DH), i_edge (NH, N, K)."""
        channels = self.heads * self.head_dim
        k_edge, i_edge = self.edge(table[2]).split([channels, self.heads], dim=-1)  # (N, K, C), (N, K, NH)
        k_edge = k_edge.unflatten(-1, (self.heads, self.head_dim)).permute(2, 0, 1, 3)  # (NH, N, K, DH)
        return k_edge, i_edge.permute(2, 0, 1)  # (NH, N, K, DH), (NH, N, K)

    def _queries(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Scaled queries, heads first, and output gates.

        Shapes:
            x: (B, N, T', D) -> q (B, NH, N, T', DH), gate (B, N, T', C).
        """
        q, gate = self.query(x).chunk(2, dim=-1)
        q = q.unflatten(-1, (self.heads, self.head_dim)).permute(0, 3, 1, 2, 4) / math.sqrt(self.head_dim)
        return q, gate  # (B, NH, N, T', DH), (B, N, T', C)

    def _output(self, h: Tensor, out: Tensor, gate: Tensor) -> Tensor:
        """Per-head GroupNorm, output gate, projection and residual.

        Shapes:
            h: (B, N, T', D); out: (B, NH, N, T', DH); gate: (B, N, T', C) -> (B, N, T', D).
        """
        out = out.permute(0, 2, 3, 1, 4).flatten(-2)  # (B, N, T', C)
        normed = self.out_norm(out)  # (B, N, T', C)
        return h + self.dropout(self.out_proj(torch.sigmoid(gate) * normed))

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        """h (B, T, N', D) over all VDs, or over the sorted global ids ``nodes`` (N',)."""
        if h.shape[2] != (self.num_nodes if nodes is None else len(nodes)):
            raise ValueError(f"h has {h.shape[2]} VDs, the graph has {self.num_nodes}")
        last = self.context == "last"
        table = self.table(nodes)
        # Node-major inside: the encoder's (B*N, T, D) output viewed as (B, T, N, D) is transposed back
        # for free, and the gather over nodes then reads contiguous time series.
        h = h.transpose(1, 2)  # (B, N, T, D)
        x = self.norm(h)  # (B, N, T, D)
        k, v, igate, logf = self._sources(x, table)
        h_query, x_query = (h[:, :, -1:], x[:, :, -1:]) if last else (h, x)  # (B, N, T', D)
        q, gate = self._queries(x_query)  # (B, NH, N, T', DH), (B, N, T', C)
        k_edge = self._edge_terms(table)[0] if self.edge is not None else None  # (NH, N, K, DH)
        out = social_mlstm_parallel(q, k, v, igate, logf, k_edge=k_edge, last_only=last)  # (B, NH, N, T', DH)
        out = self._output(h_query, out, gate)  # (B, N, T', D)
        return out[:, :, 0] if last else out.transpose(1, 2)  # (B, N, D) or (B, T, N, D)

    def step(
        self, h_t: Tensor, state: MLSTMState | None = None, nodes: Tensor | None = None
    ) -> tuple[Tensor, MLSTMState]:
        """One streaming step of the recurrent form (O(K * DH^2) per VD and head).

        Returns the fused state of the current step (B, N, D) and the new memory state
        ``(C (B, NH, N, DH, DH), n (B, NH, N, DH), m (B, NH, N))``; ``nodes`` as in :meth:`forward`.
        """
        h = h_t[:, :, None]  # (B, N, 1, D)
        x = self.norm(h)
        table = self.table(nodes)
        k, v, igate, logf = self._sources(x, table)  # k, v: (B, NH, N, K, 1, DH)
        k = k[..., 0, :]  # (B, NH, N, K, DH)
        if self.edge is not None:
            k = k + self._edge_terms(table)[0]
        q, gate = self._queries(x)  # (B, NH, N, 1, DH), (B, N, 1, C)
        out, state = social_mlstm_step(q[..., 0, :], k, v[..., 0, :], igate[..., 0], logf[..., 0], state)
        return self._output(h, out[..., None, :], gate)[:, :, 0], state  # (B, N, D)

    def initial_state(self, batch: int, nodes: int) -> State:
        """The empty memories. Shapes: c (B, NH, N, DH, DH), n (B, NH, N, DH), m (B, NH, N) = -inf."""
        like, shape = self.norm.weight, (batch, self.heads, nodes)
        return {
            "c": zeros(*shape, self.head_dim, self.head_dim, like=like),
            "n": zeros(*shape, self.head_dim, like=like),
            "m": empty_max_state(*shape, like=like),
        }

    def pack(self, memory) -> State:
        """The op's memory as the flat state dict (inverse :meth:`unpack`)."""
        return dict(zip("cnm", memory, strict=True))

    def unpack(self, state: State):
        return tuple(state[name] for name in "cnm")

    def forward_state(self, h: Tensor, state: State, nodes: Tensor | None = None) -> tuple[Tensor, State]:
        """The recurrent form from ``state``: every step reads. h (B, T, N, D) -> (B, T, N, D).

        From :meth:`initial_state` the last step equals :meth:`forward` on the window (the two forms
        compute the same numbers, see the module docstring of ``ops.mlstm.reference``).
        """
        memory, outs = self.unpack(state), []
        for t in range(h.shape[1]):
            out, memory = self.step(h[:, t], memory, nodes)
            outs.append(out)
        return torch.stack(outs, dim=1), self.pack(memory)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.d_model}, heads={self.heads}, head_dim={self.head_dim}, "
            f"nodes={self.num_nodes}, max_neighbours={self.max_neighbours}, edge_dim={self.edge_dim}, "
            f"edge_gate={'mlp' if isinstance(self.edge, EdgeMLP) else 'linear'!r}, context={self.context!r})"
        )

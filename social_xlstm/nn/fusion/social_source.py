"""Social mLSTM layer, source-memory form: each VD's own temporal matrix memory, read by its neighbours.

Same parameters and output path as :class:`~social_xlstm.nn.fusion.social.SocialMLSTM`; what changes is
where the matrix memory lives (equations in :mod:`social_xlstm.ops.mlstm.source_memory`)::

    x = LayerNorm(h);  k_jt, v_jt, a~_jt, f~_jt = source(x_jt)       written once per VD, not per edge
    a_jt = cap(a~_jt)   logf_jt = logsigmoid(f~_jt)                    source input and forget gates
    b_ij = cap(wi_e e_ij)   ke_ij = Wk_e e_ij                          static edge gate and key offset
    read_i = sum_j exp(b_ij) C_j q_i  (+ the edge-key part)  / max(|...|, 1)
    h'_i = h_i + Dropout(W_out (sigmoid(Wo x_i) * GroupNorm_per_head(read_i)))

Why: the target-memory form keeps, for every VD, the keys and values of its K neighbours at every step,
O(B * E * T * DH) per head; on published graphs (hundreds of in-edges) or thousands of VDs that tensor
does not fit. Here the state is O(B * N * DH^2) and a read is one sparse (N x N) times dense matmul per
head, O(B * E * DH^2) work but no per-edge tensor larger than (B, NH, E, DH). The price: a memory decays
by its owner's forget gate, not the reader's, and the input gate splits into a source part and an edge
part (``exp(a + b)``), so a reader cannot re-weight one neighbour's steps by its own state.

``cap(x) = 15 tanh(x / 15)`` bounds gate pre-activations (as soft-capping in xLSTM-7B does), so the
per-row rescaling of a read never underflows a whole neighbourhood (see the op's docstring); near 0 it
is the identity, so at initialisation the layer equals the uncapped equations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from social_xlstm.ops.mlstm import SourceMemory, read_neighbour_memories, source_memory_parallel, source_memory_step

from ..config import SOCIAL_GRAPHS
from ..state import State, empty_max_state, zeros
from .learned_graph import LearnedSources
from .neighbours import induced_subgraph
from .social import SocialMLSTM

if TYPE_CHECKING:  # annotations only
    from ..config import ModelConfig
    from ..shape import NetworkShape

GATE_CAP = 15.0
"""Soft cap of the gate pre-activations: exp(2 * 15) stays far inside fp32's range."""


def soft_cap(x: Tensor, cap: float = GATE_CAP) -> Tensor:
    return cap * torch.tanh(x / cap)


class SourceSocialMLSTM(SocialMLSTM):
    """The social layer with one matrix memory per source VD (arguments as :class:`SocialMLSTM`).

    Beyond those, ``graph`` says which sources a VD reads (``social.graph``): ``road`` (the graph's
    edges), ``learned`` (its own memory, i.e. the self loops, and ``learned_k`` sources chosen by learned
    VD embeddings, :mod:`.learned_graph`) or ``both`` (the road edges and ``learned_k`` more).

    Shapes:
        h: (B, T, N, D) -> (B, N, D) with context "last", (B, T, N, D) with "all".
        :meth:`step`: h_t (B, N, D), state :class:`~social_xlstm.ops.mlstm.SourceMemory` over (NH, N, B).
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape, context: str | None = None) -> SocialMLSTM:
        layer = super().from_config(config, shape, context)
        c = config.social
        layer.learn_sources(c.graph, c.learned_k, c.learned_dim, c.learned_refresh)
        return layer

    def __init__(self, d_model: int, edge_index: Tensor, edge_attr: Tensor, num_nodes: int, **kwargs):
        super().__init__(d_model, edge_index, edge_attr, num_nodes, **kwargs)
        self.graph = "road"
        self.learned: LearnedSources | None = None
        src, dst = edge_index.long()
        order = torch.argsort(dst * num_nodes + src)  # sorted by (target, source): a coalesced sparse matrix
        src, dst = src[order], dst[order]
        if bool(((src[1:] == src[:-1]) & (dst[1:] == dst[:-1])).any()):
            raise ValueError("edge_index holds duplicate edges; each (src, dst) pair may appear once")
        self.register_buffer("edge_src", src, persistent=False)
        self.register_buffer("edge_dst", dst, persistent=False)
        # [:, :edge_dim]: without edge features (edge_features=False) the parent kept no columns.
        self.register_buffer("edge_feat", edge_attr.float()[order][:, : self.edge_dim], persistent=False)
        self._edge_cache: tuple | None = None  # (key, edges) of the whole graph, reused without autograd

    def learn_sources(self, graph: str = "road", k: int = 8, dim: int = 16, refresh: int = 20) -> None:
        """Read learned sources beside (``both``) or instead of (``learned``) the road's; ``road`` is a no-op.

        Called after construction: a road-only layer (the default) is built exactly as before.
        """
        if graph not in SOCIAL_GRAPHS:
            raise ValueError(f"graph must be one of {', '.join(SOCIAL_GRAPHS)}, got {graph!r}")
        self.graph = graph
        if graph == "road":
            return
        if graph == "learned":  # a VD keeps reading its own memory, and only that, of the road graph
            own = self.edge_src == self.edge_dst
            self.edge_src, self.edge_dst, self.edge_feat = self.edge_src[own], self.edge_dst[own], self.edge_feat[own]
        self.learned = LearnedSources(
            self.num_nodes, self.heads, self.head_dim, k, dim, refresh, self.edge_src, self.edge_dst, GATE_CAP
        ).to(self.edge_feat.device)

    def _projections(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Keys, values, capped input gates and log forget gates of every VD, in the op's layout.

        Shapes:
            x: (B, N, T, D) -> k, v (NH, N, B, T, DH); igate, logf (NH, N, B, T).
        """
        channels = self.heads * self.head_dim
        weight, bias = self.source.weight, self.source.bias
        # Two products instead of one split: the gates' backward keeps their own small output alive, not
        # a view into the (B, N, T, 2C + 2NH) projection, which is freed once k and v are laid out.
        k, v = F.linear(x, weight[: 2 * channels], bias[: 2 * channels]).chunk(2, dim=-1)
        i_pre, f_pre = F.linear(x, weight[2 * channels :], bias[2 * channels :]).chunk(2, dim=-1)

        def heads_first(t: Tensor) -> Tensor:
            return t.unflatten(-1, (self.heads, -1)).permute(3, 1, 0, 2, 4)  # (NH, N, B, T, DH|1)

        igate = soft_cap(heads_first(i_pre)[..., 0])  # (NH, N, B, T)
        logf = F.logsigmoid(heads_first(f_pre)[..., 0])  # (NH, N, B, T)
        return heads_first(k).contiguous(), heads_first(v).contiguous(), igate, logf

    def _edges(self, nodes: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """src, dst (E,), capped edge gates (NH, E) and edge key offsets (NH, E, DH) (None without edge
        features), of the whole graph or of the subgraph of the sorted global ids ``nodes``.

        Without autograd (streaming: one step per tick) the whole graph's are projected once and reused
        until the edge weights change (another ``load_state_dict``, an optimiser step, a move).
        """
        if nodes is not None or torch.is_grad_enabled():
            return self._all_edges(nodes)
        params = [self.edge_feat, *([] if self.edge is None else self.edge.parameters())]
        if self.learned is not None:
            params += [*self.learned.parameters(), self.learned.learned_src]
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        if self._edge_cache is None or self._edge_cache[0] != key:
            self._edge_cache = (key, self._all_edges(None))
        return self._edge_cache[1]

    def _all_edges(self, nodes: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """The road edges and, with learned sources, theirs, sorted by (target, source) as the read needs."""
        road = self._project_edges(nodes)
        if self.learned is None:
            return road
        src, dst, gate, key = self.learned.edges(nodes)
        road_key = road[3] if road[3] is not None else gate.new_zeros(self.heads, road[0].numel(), self.head_dim)
        src, dst = torch.cat([road[0], src]), torch.cat([road[1], dst])
        gate, key = torch.cat([road[2], gate], dim=1), torch.cat([road_key, key], dim=1)
        count = self.num_nodes if nodes is None else nodes.numel()
        order = torch.argsort(dst * count + src)
        return src[order], dst[order], gate[:, order], key[:, order]

    def _project_edges(self, nodes: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        src, dst, feat = self.edge_src, self.edge_dst, self.edge_feat
        if nodes is not None:
            (src, dst), feat = induced_subgraph(torch.stack([src, dst]), feat, nodes, self.num_nodes)
        if self.edge is None:
            return src, dst, torch.zeros(self.heads, src.numel(), device=src.device), None
        channels = self.heads * self.head_dim
        k_edge, i_edge = self.edge(feat).split([channels, self.heads], dim=-1)  # (E, C), (E, NH)
        k_edge = k_edge.unflatten(-1, (self.heads, self.head_dim)).transpose(0, 1)  # (NH, E, DH)
        return src, dst, soft_cap(i_edge).transpose(0, 1), k_edge  # (NH, E), (NH, E, DH)

    def _read(self, memory: SourceMemory, x_query: Tensor, nodes: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Queries of the targets read the memories.

        Shapes:
            x_query: (B, N, 1, D) -> out (B, NH, N, 1, DH) (a view), output gate (B, N, 1, C).
        """
        q, gate = self._queries(x_query)  # (B, NH, N, 1, DH), (B, N, 1, C)
        q = q[..., 0, :].permute(1, 2, 0, 3)  # (NH, N, B, DH)
        src, dst, edge_gate, k_edge = self._edges(nodes)
        out = read_neighbour_memories(memory, q, edge_gate, src, dst, k_edge)  # (NH, N, B, DH)
        return out.permute(2, 0, 1, 3)[..., None, :], gate  # (B, NH, N, 1, DH)

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        """h (B, T, N', D) over all VDs, or over the sorted global ids ``nodes`` (N',)."""
        if h.shape[2] != (self.num_nodes if nodes is None else len(nodes)):
            raise ValueError(f"h has {h.shape[2]} VDs, the graph has {self.num_nodes}")
        if self.learned is not None:
            self.learned.maybe_refresh()  # once per training step, whatever the context
        if self.context == "all":  # every step reads: run the recurrent form (on the subgraph of ``nodes``)
            state, outs = None, []
            for t in range(h.shape[1]):
                out, state = self.step(h[:, t], state, nodes)
                outs.append(out)
            return torch.stack(outs, dim=1)  # (B, T, N, D)
        h = h.transpose(1, 2)  # (B, N, T, D) node-major, a free view of the encoder's output
        x = self.norm(h)  # (B, N, T, D)
        memory = source_memory_parallel(*self._projections(x))
        out, gate = self._read(memory, x[:, :, -1:], nodes)
        return self._output(h[:, :, -1:], out, gate)[:, :, 0]  # (B, N, D)

    def step(
        self, h_t: Tensor, state: SourceMemory | None = None, nodes: Tensor | None = None
    ) -> tuple[Tensor, SourceMemory]:
        """One streaming step: O(DH^2) per VD to write, O(E * DH^2) to read.

        Returns the fused state of the current step (B, N, D) and the new memories (layout (NH, N, B));
        ``nodes`` as in :meth:`forward`.
        """
        h = h_t[:, :, None]  # (B, N, 1, D)
        x = self.norm(h)
        k, v, igate, logf = self._projections(x)  # k, v: (NH, N, B, 1, DH)
        state = source_memory_step(k[..., 0, :], v[..., 0, :], igate[..., 0], logf[..., 0], state)
        out, gate = self._read(state, x, nodes)
        return self._output(h, out, gate)[:, :, 0], state  # (B, N, D)

    def forward_state(self, h: Tensor, state: State, nodes: Tensor | None = None) -> tuple[Tensor, State]:
        if self.learned is not None:
            self.learned.maybe_refresh()
        return super().forward_state(h, state, nodes)

    def initial_state(self, batch: int, nodes: int) -> State:
        """The empty memories, layout (NH, N, B): c (.., DH, DH), n and v (.., DH), w, m (= -inf)."""
        like, shape, width = self.norm.weight, (self.heads, nodes, batch), self.head_dim
        return {
            "c": zeros(*shape, width, width, like=like),
            "n": zeros(*shape, width, like=like),
            "v": zeros(*shape, width, like=like),
            "w": zeros(*shape, like=like),
            "m": empty_max_state(*shape, like=like),
        }

    def pack(self, memory: SourceMemory) -> State:
        return memory._asdict()

    def unpack(self, state: State) -> SourceMemory:
        return SourceMemory(**{name: state[name] for name in SourceMemory._fields})

    def __repr__(self) -> str:
        graph = "" if self.learned is None else f"graph={self.graph!r}, learned_k={self.learned.k}, "
        return super().__repr__().replace("context=", f"form='source', {graph}context=")

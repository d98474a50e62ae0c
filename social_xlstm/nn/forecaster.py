"""The one forecaster skeleton every learned model uses (docs/model.md).

    x, x_mask, time --InputEmbedding--> (B, W, N, D) --fold VDs--> (B*N, W, D) --encoder--> (B*N, W, D)
    --unfold--> (B, W, N, D) --fusion--> (B, N, D) --ForecastHead--> (B, H, N, O) [+ last observed value]

An architecture (:mod:`social_xlstm.nn.registry`) only chooses the encoder and the fusion; the graph
buffers, the embedding, the head and the last-value skip are written once, here. The Social-xLSTM model,
its ablations and the LSTM and T-GCN baselines therefore differ in exactly the part they claim to.

With ``social.placement: between`` (the social_xlstm arch only) the encoder is an
:class:`~social_xlstm.nn.interleaved.InterleavedEncoder`: social layers between the sLSTM blocks, so it
reads (B, W, N, D) and the graph instead of the folded VDs.

The recurrent form (:meth:`Forecaster.forward_sequence`, :meth:`Forecaster.step`) runs the same parts
with their state carried in a flat dict (:mod:`social_xlstm.nn.state`): forecasts after every step, for
long-context training and streaming; from the zero state it equals the windowed forward.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from .common import last_observed, running_last_observed, standardise_edge_attr, target_index_tensor
from .config import ModelConfig, ModelConfigError
from .embedding import InputEmbedding
from .encoders import ENCODERS
from .fusion import FUSIONS, SocialFusion
from .fusion.global_read import GlobalRead
from .head import ForecastHead
from .interleaved import InterleavedEncoder
from .registry import ARCHITECTURES, interleaves
from .shape import NetworkShape
from .state import State, part, prefixed, zeros


class Forecaster(nn.Module):
    """Input embedding -> temporal encoder -> spatial fusion -> head -> optional last-value skip.

    Args:
        config: model configuration; ``config.arch`` picks the encoder and the fusion.
        shape: the dataset's facts (:class:`~social_xlstm.nn.shape.NetworkShape`: N, F, O, H, the graph
            with its raw edge features, standardised here per column, and the targets' positions among
            the inputs, used by the last-value skip).

    Returns (forward):
        (B, H, N, O) forecasts in scaled units of the targets.

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4); vd_index: optional (N,) or (B, N) rows of the VD
        embedding (``num_vds`` = the fallback for unseen VDs); output (B, H, N, O).

    Raises:
        ModelConfigError (a ``ValueError`` and a ``UserError``): unknown ``config.arch``; the message
        lists the valid names.
    """

    def __init__(self, config: ModelConfig, shape: NetworkShape):
        super().__init__()
        arch = ARCHITECTURES.get(config.arch)
        if arch is None:  # the config checks this too; a caller may have changed it afterwards
            raise ModelConfigError(f"unknown model arch {config.arch!r}; valid names: {', '.join(ARCHITECTURES)}")
        self.config = config
        self.num_vds = num_vds = shape.num_vds
        self.register_buffer("edge_index", shape.edge_index.long().clone())
        self.register_buffer("edge_attr", standardise_edge_attr(shape.edge_attr, shape.edge_attr_stats))
        # VDs without a detector (held out, virtual) write nothing into the network-wide memory
        silent = torch.zeros(num_vds, dtype=torch.bool)
        silent[list(shape.fallback_vds)] = True
        self.register_buffer("writers", ~silent if silent.any() else None, persistent=False)
        target_index = None if shape.target_index is None else list(shape.target_index)
        self.register_buffer(
            "target_index", target_index_tensor(target_index, shape.num_features, shape.num_outputs)
        )
        # The slots read the graph from the buffers above (standardised edge features).
        graph = replace(shape, edge_index=self.edge_index, edge_attr=self.edge_attr)
        # Built in data-flow order: the order decides which random numbers initialise which part.
        self.embedding = InputEmbedding(
            shape.num_features,
            num_vds,
            config.d_model,
            config.embedding.vd_dim,
            config.embedding.fallback_prob,
            config.embedding.calendar,
            shape.slots_per_day,
            shape.fallback_vds,
        )
        encoder = ENCODERS[arch.encoder]
        self.encoder = None if encoder is None else encoder.from_config(config, graph)
        self.interleaved = interleaves(config.arch, config.social.placement)
        if self.interleaved:
            self.encoder = InterleavedEncoder(self.encoder, lambda: SocialFusion.from_config(config, graph, "all"))
        self.fusion = FUSIONS[arch.fusion].from_config(config, graph)
        levels = config.head.levels
        self.head = ForecastHead(
            config.d_model, config.head.hidden_dim, shape.horizon, shape.num_outputs, config.dropout,
            quantiles=max(len(levels), 1), median_index=config.head.median_index if levels else 0,
            detach_median=bool(levels) and config.head.point_weight > 0,
        )  # fmt: skip
        # Created last (the other parts keep their random numbers); a residual read of the whole network.
        self.global_read = (
            GlobalRead(config.d_model, config.social.heads, config.social.head_dim)
            if config.social.global_read and arch.fusion == "social"
            else None
        )

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> Forecaster:
        """The skeleton of ``config.arch`` for the dataset ``shape`` describes (untrained)."""
        return cls(config, shape)

    def encode(
        self,
        x: Tensor,
        x_mask: Tensor,
        time: Tensor,
        vd_index: Tensor | None = None,
        nodes: Tensor | None = None,
        fallback: Tensor | None = None,
    ) -> Tensor:
        """Embedding and temporal encoder, every VD with the same weights. Returns (B, W, N, D).

        ``nodes`` (the sampled VDs' sorted global ids) only matters to an interleaved encoder's graph;
        ``fallback`` (B, N) bool marks VDs read with the embedding's fallback row.
        """
        emb = self.embedding(x, x_mask, time, vd_index, fallback)  # (B, W, N, D), a node-major view
        if self.encoder is None:
            return emb
        if self.interleaved:
            return self.encoder(emb, nodes)  # (B, W, N, D)
        batch, steps, nodes, _ = x.shape
        folded = emb.transpose(1, 2).reshape(batch * nodes, steps, -1)  # (B*N, W, D), free: node-major
        enc = self.encoder(folded).view(batch, nodes, steps, -1)  # (B, N, W, D)
        return enc.transpose(1, 2)  # (B, W, N, D)

    def forward(
        self,
        x: Tensor,
        x_mask: Tensor,
        time: Tensor,
        vd_index: Tensor | None = None,
        nodes: Tensor | None = None,
        quantiles: bool = False,
        fallback: Tensor | None = None,
    ) -> Tensor:
        """Forecast every VD, or, with ``nodes``, the sampled VDs whose columns ``x`` holds.

        ``nodes`` (N',) are sorted global VD ids (training on a sample of VDs: the fusion reads the
        subgraph among them, the embedding their own rows); ``vd_index`` overrides the embedding rows;
        ``fallback`` (B, N) bool reads those VDs with the fallback row (a batch's hidden VDs, ``data.mask_vds``).
        A quantile model (``head.quantiles``) returns its median, or with ``quantiles`` every level,
        (B, H, N, O, Q).
        """
        expected = self.num_vds if nodes is None else len(nodes)
        if x.shape[2] != expected:
            raise ValueError(f"x has {x.shape[2]} VDs, the model was built for {self.num_vds}")
        if nodes is not None and vd_index is None:
            vd_index = nodes
        fused = self.fusion(self.encode(x, x_mask, time, vd_index, nodes, fallback), nodes)  # (B, N, D) or (B, W, N, D)
        if fused.dim() == 4:  # social context "all": the head reads the last step
            fused = fused[:, -1]  # (B, N, D)
        if self.global_read is not None:  # over the VDs of x (all, or the sample)
            fused = fused + self.global_read(fused, self._writers(nodes))  # (B, N, D)
        y = self.head(fused)  # (B, H, N, O), or (B, H, N, O, Q)
        if self.config.head.last_value:
            last = last_observed(x, x_mask, self.target_index)[:, None]  # (B, 1, N, O)
            y = y + (last[..., None] if y.dim() == 5 else last)
        if y.dim() == 5 and not quantiles:
            return y[..., self.head.median_index]  # (B, H, N, O): the point forecast
        return y

    def _writers(self, nodes: Tensor | None) -> Tensor | None:
        """(N,) or (N',) bool: which VDs of ``x`` write into the network-wide memory (None: all)."""
        if self.writers is None:
            return None
        return self.writers if nodes is None else self.writers[nodes]

    @property
    def supports_state(self) -> bool:
        """Whether :meth:`forward_sequence` and :meth:`step` can carry this model's state (every arch)."""
        parts = [p for p in (self.encoder, self.fusion) if p is not None]
        return all(hasattr(p, "forward_state") for p in parts)

    def initial_state(self, batch: int, nodes: int | None = None) -> State:
        """The state before the first step (zeros, empty memories): what :meth:`forward` starts from.

        Keys: ``encoder.*`` (per-VD recurrences, batch B * N), ``fusion.*`` (graph memories), ``skip.value``
        and ``skip.seen`` (the last-value skip's last observation, (B, N, O)). ``nodes`` is the number of
        VDs (default all; fewer when training on sampled VDs).
        """
        nodes = self.num_vds if nodes is None else nodes
        state: State = {}
        if self.interleaved:
            state.update(prefixed(self.encoder.initial_state(batch, nodes), "encoder."))
        elif self.encoder is not None:
            state.update(prefixed(self.encoder.initial_state(batch * nodes), "encoder."))
        state.update(prefixed(self.fusion.initial_state(batch, nodes), "fusion."))
        if self.config.head.last_value:
            shape = (batch, nodes, len(self.target_index))
            like = self.head.out.weight
            state.update({"skip.value": zeros(*shape, like=like), "skip.seen": zeros(*shape, like=like)})
        return state

    def forward_sequence(
        self,
        x: Tensor,
        x_mask: Tensor,
        time: Tensor,
        state: State | None = None,
        nodes: Tensor | None = None,
        quantiles: bool = False,
    ) -> tuple[Tensor, State]:
        """Forecasts issued after every step of a sequence, continuing from ``state`` (default the zero state).

        The same embedding, encoder, fusion, head and last-value skip as :meth:`forward`, with the
        recurrent state carried instead of restarted: from :meth:`initial_state` the forecasts after the
        last step of a window equal ``forward`` on that window, and one call over T steps equals T calls
        of :meth:`step`. Gradients flow into ``state``, so truncated backpropagation detaches it between
        chunks (``{k: v.detach()}``).

        Shapes:
            x, x_mask: (B, T, N, F); time: (B, T, 4); nodes: optional sorted global VD ids (N,);
            returns y (B, T, H, N, O) scaled forecasts (a quantile model's median, or with ``quantiles``
            every level, (B, T, H, N, O, Q)) and the new state (:meth:`initial_state`'s keys).
        """
        batch, steps, count, _ = x.shape
        expected = self.num_vds if nodes is None else len(nodes)
        if count != expected:
            raise ValueError(f"x has {count} VDs, the model was built for {self.num_vds}")
        if state is None:
            state = self.initial_state(batch, count)
        new: State = {}
        h = self.embedding(x, x_mask, time, nodes)  # (B, T, N, D) node-major view
        if self.interleaved:
            h, enc_state = self.encoder.forward_state(h, part(state, "encoder."), nodes)  # (B, T, N, D)
            new.update(prefixed(enc_state, "encoder."))
        elif self.encoder is not None:
            folded = h.transpose(1, 2).reshape(batch * count, steps, -1)  # (B*N, T, D)
            enc, enc_state = self.encoder.forward_state(folded, part(state, "encoder."))
            h = enc.view(batch, count, steps, -1).transpose(1, 2)  # (B, T, N, D)
            new.update(prefixed(enc_state, "encoder."))
        fused, fusion_state = self.fusion.forward_state(h, part(state, "fusion."), nodes)  # (B, T, N, D)
        new.update(prefixed(fusion_state, "fusion."))
        fused = fused.reshape(batch * steps, count, -1)  # (B*T, N, D)
        if self.global_read is not None:  # stateless: one read of the network per step
            fused = fused + self.global_read(fused, self._writers(nodes))
        y = self.head(fused)  # (B*T, H, N, O), or (B*T, H, N, O, Q)
        if y.dim() == 5 and not quantiles:  # the point forecast, the median
            y = y[..., self.head.median_index]
        y = y.view(batch, steps, *y.shape[1:])  # (B, T, H, N, O[, Q])
        if self.config.head.last_value:
            last, value, seen = running_last_observed(
                x, x_mask, self.target_index, state["skip.value"], state["skip.seen"]
            )  # (B, T, N, O)
            last = last[:, :, None]  # (B, T, 1, N, O)
            y = y + (last[..., None] if y.dim() == 6 else last)
            new.update({"skip.value": value, "skip.seen": seen})
        return y, new

    def step(
        self,
        x_t: Tensor,
        x_mask_t: Tensor,
        time_t: Tensor,
        state: State | None = None,
        nodes: Tensor | None = None,
        quantiles: bool = False,
    ) -> tuple[Tensor, State]:
        """One streaming tick: the forecasts after one more reading, from the state of the previous tick.

        Work and memory independent of the history's length (the sLSTM op's state, the conv's last
        kernel-1 inputs, the social layer's recurrent memories). :meth:`forward_sequence` with T = 1.

        Shapes:
            x_t, x_mask_t: (B, N, F); time_t: (B, 4); returns ((B, H, N, O), new state); with
            ``quantiles`` a quantile model's every level, (B, H, N, O, Q).
        """
        y, state = self.forward_sequence(x_t[:, None], x_mask_t[:, None], time_t[:, None], state, nodes, quantiles)
        return y[:, 0], state

    def extra_repr(self) -> str:
        return f"arch={self.config.arch!r}, num_vds={self.num_vds}"

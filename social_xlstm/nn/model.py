"""The full Social-xLSTM forecaster (DESIGN.md 5) and its encoder ablations.

    x, x_mask, time --InputEmbedding--> (B, W, N, D) --fold VDs--> (B*N, W, D) --SLSTMEncoder-->
    (B, W, N, D) --fusion--> (B, N, D) --ForecastHead--> (B, H, N, O)

The fusion step is what the ablations change (``config.arch``):

* ``social_xlstm`` -- :class:`~social_xlstm.nn.social.SocialMLSTM` (neighbour matrix memory);
* ``slstm_pool``  -- :class:`~social_xlstm.nn.baselines.NeighbourPool` (edge-weighted neighbour mean);
* ``slstm_only``  -- the last encoder state of each VD, no graph.
"""

from __future__ import annotations

from torch import Tensor, nn

from .baselines import NeighbourPool
from .common import last_observed, standardise_edge_attr, target_index_tensor
from .config import ModelConfig
from .embedding import InputEmbedding
from .encoder import SLSTMEncoder
from .head import ForecastHead
from .social import SocialMLSTM

ENCODER_ARCHS = ("social_xlstm", "slstm_only", "slstm_pool")


class LastStep(nn.Module):
    """No fusion: each VD's state at the last input step. Shapes: (B, T, N, D) -> (B, N, D)."""

    def forward(self, h: Tensor) -> Tensor:
        return h[:, -1]


class SocialXLSTM(nn.Module):
    """sLSTM encoder per VD + social fusion over the graph + multi-horizon head.

    Args:
        config: model configuration; ``config.arch`` picks the fusion (see module docstring).
        num_vds: N.
        num_features: input variables F.
        num_outputs: target variables O.
        horizon: forecast steps H.
        edge_index: (2, E) static graph (src -> dst, self loops included).
        edge_attr: (E, Fe) edge features in raw units (standardised here, per column).
        target_index: positions of the targets among the inputs (default the first O); used by the
            ``last_value`` skip.

    Returns (forward):
        (B, H, N, O) forecasts in scaled units of the targets.

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4); vd_index: optional (N,) or (B, N) rows of the VD
        embedding (``num_vds`` = the fallback for unseen VDs); output (B, H, N, O).
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
        super().__init__()
        if config.arch not in ENCODER_ARCHS:
            raise ValueError(f"SocialXLSTM builds {ENCODER_ARCHS}, not {config.arch!r}; use build_model")
        self.config = config
        self.num_vds = num_vds
        self.register_buffer("edge_index", edge_index.long().clone())
        self.register_buffer("edge_attr", standardise_edge_attr(edge_attr))
        self.register_buffer("target_index", target_index_tensor(target_index, num_features, num_outputs))
        self.embedding = InputEmbedding(
            num_features, num_vds, config.d_model, config.vd_embedding_dim, config.vd_fallback_prob
        )
        self.encoder = SLSTMEncoder(config)
        if config.arch == "social_xlstm":
            self.fusion: nn.Module = SocialMLSTM(
                config.d_model,
                self.edge_index,
                self.edge_attr,
                num_vds,
                heads=config.social_heads,
                head_dim=config.social_dim,
                context=config.social_context,
                dropout=config.dropout,
                forget_init=config.social_forget_init,
            )
        elif config.arch == "slstm_pool":
            self.fusion = NeighbourPool(
                config.d_model, self.edge_index, self.edge_attr, num_vds, config.dropout
            )
        else:
            self.fusion = LastStep()
        self.head = ForecastHead(config.d_model, config.head_dim_hidden, horizon, num_outputs, config.dropout)

    def encode(self, x: Tensor, x_mask: Tensor, time: Tensor, vd_index: Tensor | None = None) -> Tensor:
        """Embedding and sLSTM encoder, every VD with the same weights. Returns (B, W, N, D)."""
        batch, steps, nodes, _ = x.shape
        emb = self.embedding(x, x_mask, time, vd_index)  # (B, W, N, D)
        folded = emb.transpose(1, 2).reshape(batch * nodes, steps, -1)  # (B*N, W, D)
        enc = self.encoder(folded).view(batch, nodes, steps, -1)  # (B, N, W, D)
        return enc.transpose(1, 2)  # (B, W, N, D)

    def forward(self, x: Tensor, x_mask: Tensor, time: Tensor, vd_index: Tensor | None = None) -> Tensor:
        if x.shape[2] != self.num_vds:
            raise ValueError(f"x has {x.shape[2]} VDs, the model was built for {self.num_vds}")
        fused = self.fusion(self.encode(x, x_mask, time, vd_index))  # (B, N, D) or (B, W, N, D)
        if fused.dim() == 4:  # social_context="all": the head reads the last step
            fused = fused[:, -1]  # (B, N, D)
        y = self.head(fused)  # (B, H, N, O)
        if self.config.last_value:
            y = y + last_observed(x, x_mask, self.target_index)[:, None]  # (B, H, N, O)
        return y

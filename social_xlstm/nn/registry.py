"""The one registry of architectures: each is a temporal encoder and a spatial fusion in one skeleton.

Every learned model is a :class:`~social_xlstm.nn.forecaster.Forecaster`
(embedding -> encoder -> fusion -> head -> optional last-value skip); an architecture only names which
encoder and which fusion fill the two middle slots. The names here are plain strings so that the config
can check ``arch`` without importing torch; :mod:`social_xlstm.nn.forecaster` maps them to modules.

| arch           | encoder | fusion  | what                                                              |
|----------------|---------|---------|-------------------------------------------------------------------|
| `social_xlstm` | slstm   | social  | the model: sLSTM per VD, neighbours read into an mLSTM memory     |
| `slstm_pool`   | slstm   | pool    | ablation: edge-weighted mean of the neighbours' last states       |
| `slstm_only`   | slstm   | last    | ablation: no graph                                                |
| `lstm`         | lstm    | last    | baseline: per-VD torch.nn.LSTM, no graph                          |
| `gru_gcn`      | none    | gcn     | baseline (T-GCN): a GRU whose gates are GCNConvs over the graph   |
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """Which parts fill the encoder and fusion slots of the forecaster."""

    encoder: str
    """Key of ``ENCODERS`` in social_xlstm.nn.forecaster: slstm | lstm | none."""
    fusion: str
    """Key of ``FUSIONS`` in social_xlstm.nn.forecaster: last | pool | social | gcn."""
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    "social_xlstm": Architecture("slstm", "social", "sLSTM encoder + social mLSTM fusion"),
    "lstm": Architecture("lstm", "last", "per-VD nn.LSTM, no graph"),
    "gru_gcn": Architecture("none", "gcn", "T-GCN: GRU with graph-convolution gates"),
    "slstm_only": Architecture("slstm", "last", "sLSTM encoder, no graph"),
    "slstm_pool": Architecture("slstm", "pool", "sLSTM encoder + edge-weighted neighbour mean"),
}
"""arch name -> parts; the order is the order of the valid names in error messages."""

ARCHS = tuple(ARCHITECTURES)
"""Valid values of :attr:`ModelConfig.arch`."""

"""The one registry of architectures: each is a temporal encoder and a spatial fusion in one skeleton.

Every learned model is a :class:`~social_xlstm.nn.forecaster.Forecaster`
(embedding -> encoder -> fusion -> head -> optional last-value skip); an architecture only names which
encoder and which fusion fill the two middle slots. The names here are plain strings so that the config
can check ``arch`` without importing torch; the slot tables beside the classes map them to modules
(:data:`social_xlstm.nn.encoders.ENCODERS`, :data:`social_xlstm.nn.fusion.FUSIONS`), and a test keeps
the names equal.

| arch           | encoder | fusion  | what                                                              |
|----------------|---------|---------|-------------------------------------------------------------------|
| `social_xlstm` | slstm   | social  | the model: sLSTM per VD, neighbours read into an mLSTM memory     |
| `slstm_pool`   | slstm   | pool    | ablation: edge-weighted mean of the neighbours' last states       |
| `slstm_only`   | slstm   | last    | ablation: no graph                                                |
| `lstm`         | lstm    | last    | baseline: per-VD torch.nn.LSTM, no graph                          |
| `gru_gcn`      | none    | gcn     | baseline (T-GCN): a GRU whose gates are GCNConvs over the graph   |
| `stid`         | mlp     | last    | baseline (STID): identity + calendar embeddings, MLP over window  |

Published models from a library (``LIBRARY_MODELS``: ``dcrnn``, ``graph_wavenet``) replace the whole skeleton
with an adapter (:mod:`social_xlstm.nn.published`, the optional ``.[bench]`` extra) and are trained by the same
module on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Architecture:
    """Which parts fill the encoder and fusion slots of the forecaster."""

    encoder: str
    """Key of ``ENCODERS`` (social_xlstm.nn.encoders): slstm | lstm | none."""
    fusion: str
    """Key of ``FUSIONS`` (social_xlstm.nn.fusion): last | pool | social | gcn."""
    description: str


ARCHITECTURES: dict[str, Architecture] = {
    "social_xlstm": Architecture("slstm", "social", "sLSTM encoder + social mLSTM fusion"),
    "lstm": Architecture("lstm", "last", "per-VD nn.LSTM, no graph"),
    "gru_gcn": Architecture("none", "gcn", "T-GCN: GRU with graph-convolution gates"),
    "slstm_only": Architecture("slstm", "last", "sLSTM encoder, no graph"),
    "slstm_pool": Architecture("slstm", "pool", "sLSTM encoder + edge-weighted neighbour mean"),
    "stid": Architecture("mlp", "last", "STID: identity and calendar embeddings + an MLP over the window"),
}
"""arch name -> parts; the order is the order of the valid names in error messages."""

ARCHS = tuple(ARCHITECTURES)
"""The forecaster skeleton's architectures."""


@dataclass(frozen=True)
class LibraryModel:
    """A published model from a maintained library, run unchanged through an adapter in place of the skeleton."""

    adapter: str
    """``module:Class`` of the adapter (imported only when the model is built: the library is optional)."""
    library: str
    """Distribution name of the library (the optional extra ``.[bench]`` installs it)."""
    description: str


LIBRARY_MODELS: dict[str, LibraryModel] = {
    "dcrnn": LibraryModel(
        "social_xlstm.nn.published:DCRNN", "torch-spatiotemporal", "DCRNN (Li et al. 2018), tsl's DCRNNModel"
    ),
    "graph_wavenet": LibraryModel(
        "social_xlstm.nn.published:GraphWaveNet",
        "torch-spatiotemporal",
        "Graph WaveNet (Wu et al. 2019), tsl's GraphWaveNetModel",
    ),
}
"""arch name -> library model; trained and scored by the same module, data and metrics as the skeleton's."""

ALL_ARCHS = ARCHS + tuple(LIBRARY_MODELS)
"""Valid values of :attr:`ModelConfig.arch`."""

SOCIAL_FORM_NAMES = ("target", "source")
"""Valid values of ``social.form``: the keys of :data:`social_xlstm.nn.fusion.SOCIAL_FORMS` (a test keeps
the two equal; the names live here so the config is checked without importing torch)."""


def interleaves(arch: str, placement: str) -> bool:
    """Whether ``arch`` with ``social.placement`` puts social layers between its sLSTM blocks.

    Only sLSTM blocks and the social fusion interleave; other archs ignore ``social.*``.
    """
    parts = ARCHITECTURES.get(arch)
    return parts is not None and (parts.encoder, parts.fusion, placement) == ("slstm", "social", "between")


def network_class(arch: str):
    """The class that builds the network of ``arch``: the library adapter, or None for the skeleton's archs."""
    model = LIBRARY_MODELS.get(arch)
    if model is None:
        return None
    import importlib

    module, name = model.adapter.split(":")
    return getattr(importlib.import_module(module), name)

"""Published graph forecasters from a maintained library, run unchanged on our windows (the ``.[bench]`` extra).

The library is torch-spatiotemporal (tsl, https://github.com/TorchSpatiotemporal/tsl): its ``DCRNNModel``
and ``GraphWaveNetModel`` are built as published and fed our batches through a thin adapter, so they are
trained and scored by the same module, data, split, scaler and masked metrics as every other model:

    x, x_mask (B, W, N, F) -> [x, x_mask] (B, W, N, 2F)  the scaled values (0 where missing) and the mask
    time (B, W, 4)         -> u (B, W, 4)              exogenous covariates (sin/cos of day and week)
    graph (2, E)           -> adj_t (N, N) sparse      self loops dropped (both models add their own
                                                        identity term); weight = the ``weight`` edge
                                                        feature when the graph has one, else 1
    model output           -> (B, H, N, O) scaled, plus the last observed value when ``head.last_value``
                              (the harness-wide skip every learned model gets)

Sizes come from the model config: ``d_model`` is the hidden width of both, ``encoder.layers`` the
DCRNN cells; every other hyper-parameter is the library's default (Graph WaveNet: 8 layers of dilated
temporal convolutions, a learned adjacency with 10-dim node embeddings, batch norm, dropout 0.3).

The graph goes in as a torch-sparse ``SparseTensor`` (tsl's ``adj_t`` layout: row = target, column =
source), which tsl's graph convolutions take as well as an edge list and turn into one sparse matmul per
diffusion step; the edge list makes torch-geometric gather a (B, E, C) message tensor per step instead, the
same numbers (``tests/nn/test_published.py``) 3 to 4 times slower on a 207-VD network on 2 CPU cores.

tsl is imported when a model is built, never at import time: the core package does not need it.
"""

from __future__ import annotations

import importlib.metadata

import torch
from torch import Tensor, nn

from social_xlstm.errors import UserError

from .common import last_observed, target_index_tensor
from .config import ModelConfig
from .shape import NetworkShape

LIBRARY = "torch-spatiotemporal"


def library_version() -> str | None:
    """Installed version of the library, or None."""
    try:
        return importlib.metadata.version(LIBRARY)
    except importlib.metadata.PackageNotFoundError:
        return None


def _import_tsl_models():
    try:
        from tsl.nn.models import DCRNNModel, GraphWaveNetModel
    except ImportError as err:
        raise UserError(
            f"the library models (dcrnn, graph_wavenet) need {LIBRARY} and the compiled torch-scatter and "
            f"torch-sparse it imports: pip install 'social-xlstm[bench]' ({type(err).__name__}: {err})"
        ) from err
    return DCRNNModel, GraphWaveNetModel


def _sparse_adjacency(edge_index: Tensor, edge_weight: Tensor, num_nodes: int):
    """The (N, N) transposed adjacency tsl's convolutions read: entry [dst, src] = the edge's weight."""
    from torch_sparse import SparseTensor

    return SparseTensor(row=edge_index[1], col=edge_index[0], value=edge_weight, sparse_sizes=(num_nodes, num_nodes))


def graph_for_library(edge_index: Tensor, edge_attr: Tensor, edge_attr_names: list[str]) -> tuple[Tensor, Tensor]:
    """Our graph as the library wants it: (2, E') without self loops and (E',) float weights.

    Shapes:
        edge_index: (2, E); edge_attr: (E, Fe) raw (not standardised) -> (2, E'), (E',).
    """
    edge_index = edge_index.long()
    if "weight" in edge_attr_names:
        weight = edge_attr[:, edge_attr_names.index("weight")].float()
    else:
        weight = torch.ones(edge_index.shape[1])
    keep = edge_index[0] != edge_index[1]
    return edge_index[:, keep].clone(), weight[keep].clone()


class LibraryForecaster(nn.Module):
    """Adapter base: the forecaster's constructor and call, a library model inside.

    Args:
        as :class:`~social_xlstm.nn.forecaster.Forecaster`; ``shape.edge_attr_names`` finds the edge weights.

    Shapes:
        x, x_mask: (B, W, N, F); time: (B, W, 4) -> (B, H, N, O) scaled targets.
    """

    def __init__(self, config: ModelConfig, shape: NetworkShape):
        super().__init__()
        self.config, self.num_vds = config, shape.num_vds
        names = list(shape.edge_attr_names)
        if len(names) != shape.edge_attr.shape[1]:
            raise ValueError(f"edge_attr has {shape.edge_attr.shape[1]} columns, edge_attr_names {len(names)}")
        lib_index, lib_weight = graph_for_library(shape.edge_index, shape.edge_attr, names)
        self.register_buffer("lib_edge_index", lib_index)
        self.register_buffer("lib_edge_weight", lib_weight)
        target_index = None if shape.target_index is None else list(shape.target_index)
        self.register_buffer(
            "target_index", target_index_tensor(target_index, shape.num_features, shape.num_outputs)
        )
        self.library_model = self.build(
            config, shape.num_vds, 2 * shape.num_features, shape.num_outputs, shape.horizon
        )

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> LibraryForecaster:
        """The library slot's entry: the adapter around the library's model for ``shape``'s dataset."""
        return cls(config, shape)

    def build(self, config: ModelConfig, num_vds: int, input_size: int, output_size: int, horizon: int) -> nn.Module:
        raise NotImplementedError

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
        """The library model's point forecast (B, H, N, O) of the skeleton's inputs. ``vd_index`` and
        ``fallback`` are the skeleton's VD-embedding options: a library model has no VD embedding, so
        they change nothing (its hidden VDs are hidden by their inputs alone); ``quantiles`` is refused
        by the training module (a library model's head is a point one)."""
        if nodes is not None:
            raise UserError(f"{self.__class__.__name__} forecasts the whole graph; it does not train on sampled VDs")
        if x.shape[2] != self.num_vds:
            raise ValueError(f"x has {x.shape[2]} VDs, the model was built for {self.num_vds}")
        inputs = torch.cat([x, x_mask.to(x.dtype)], dim=-1)  # (B, W, N, 2F)
        adj_t = _sparse_adjacency(self.lib_edge_index, self.lib_edge_weight, self.num_vds)  # (N, N), cheap
        y = self.library_model(inputs, adj_t, u=time)  # (B, H, N, O)
        if self.config.head.last_value:
            y = y + last_observed(x, x_mask, self.target_index)[:, None]  # (B, H, N, O)
        return y

    def extra_repr(self) -> str:
        return f"arch={self.config.arch!r}, num_vds={self.num_vds}, library={LIBRARY} {library_version()}"


class DCRNN(LibraryForecaster):
    """tsl's ``DCRNNModel``: diffusion-convolutional GRU cells (order 2), an MLP readout of every horizon."""

    def build(self, config, num_vds, input_size, output_size, horizon):
        model, _ = _import_tsl_models()
        return model(
            input_size=input_size,
            output_size=output_size,
            horizon=horizon,
            exog_size=4,
            hidden_size=config.d_model,
            n_layers=config.encoder.layers,
            dropout=config.dropout,
        )


class GraphWaveNet(LibraryForecaster):
    """tsl's ``GraphWaveNetModel``: dilated temporal convolutions, diffusion and learned-adjacency graph convs."""

    def build(self, config, num_vds, input_size, output_size, horizon):
        _, model = _import_tsl_models()
        return model(
            input_size=input_size,
            output_size=output_size,
            horizon=horizon,
            exog_size=4,
            hidden_size=config.d_model,
            n_nodes=num_vds,
        )


LIBRARY_ADAPTERS: dict[str, type[LibraryForecaster]] = {"dcrnn": DCRNN, "graph_wavenet": GraphWaveNet}
"""The library slot's table: arch -> adapter (``from_config(config, shape)``); its keys are
:data:`social_xlstm.nn.registry.LIBRARY_MODELS`, whose entries name these classes without importing them."""

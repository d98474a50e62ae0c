"""Build a forecaster from its configuration: one place that maps ``config.arch`` to a class."""

from __future__ import annotations

from torch import Tensor, nn

from .baselines import GRUGCNBaseline, LSTMBaseline
from .config import ARCHS, ModelConfig, ModelConfigError
from .model import SocialXLSTM

MODELS: dict[str, type[nn.Module]] = {
    "social_xlstm": SocialXLSTM,
    "slstm_only": SocialXLSTM,
    "slstm_pool": SocialXLSTM,
    "lstm": LSTMBaseline,
    "gru_gcn": GRUGCNBaseline,
}
assert set(MODELS) == set(ARCHS), "MODELS and config.ARCHS must list the same architectures"


def build_model(
    config: ModelConfig,
    num_vds: int,
    num_features: int,
    num_outputs: int,
    horizon: int,
    edge_index: Tensor,
    edge_attr: Tensor,
    target_index: list[int] | None = None,
) -> nn.Module:
    """Instantiate the model named by ``config.arch``.

    Args:
        config: model configuration.
        num_vds: N.
        num_features: input variables F.
        num_outputs: target variables O.
        horizon: forecast steps H.
        edge_index: (2, E) static graph, src -> dst, self loops included.
        edge_attr: (E, Fe) edge features.
        target_index: positions of the targets among the inputs (default the first O).

    Returns:
        A module with ``forward(x, x_mask, time) -> (B, H, N, O)`` in scaled target units.

    Raises:
        ModelConfigError (a ``ValueError`` and a ``UserError``): unknown ``config.arch``; the message
        lists the valid names.
    """
    cls = MODELS.get(config.arch)
    if cls is None:
        raise ModelConfigError(f"unknown model arch {config.arch!r}; valid names: {', '.join(MODELS)}")
    return cls(config, num_vds, num_features, num_outputs, horizon, edge_index, edge_attr, target_index)

"""The one place a network is built: a model config plus the dataset's shape (training and forecasting).

Training builds the network from the datamodule's facts, :func:`load_network` from a checkpoint's, so
forecasting code (the streaming forecaster, the service) gets a trained network without going through
training's Lightning module, and :mod:`social_xlstm.checkpoint` stays file I/O only.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from social_xlstm.checkpoint import read_forecaster_checkpoint
from social_xlstm.nn.config import ModelConfig
from social_xlstm.nn.forecaster import Forecaster
from social_xlstm.nn.registry import network_class
from social_xlstm.nn.shape import NetworkShape
from social_xlstm.options import as_dataclass

if TYPE_CHECKING:
    from social_xlstm.data.info import DataInfo

NET_PREFIX = "net."
"""Where the training module keeps the network's entries in a checkpoint's ``state_dict``."""


def build_network(model: ModelConfig, info: DataInfo) -> nn.Module:
    """The network of ``model.arch`` for the dataset ``info`` describes (the skeleton, or a library adapter).

    Returns:
        a :class:`~social_xlstm.nn.forecaster.Forecaster` (or library model) with untrained weights, mapping
        scaled inputs (B, W, N, F) to scaled forecasts (B, H, N, O).
    """
    builder = network_class(model.arch) or Forecaster  # a published model's adapter, or the skeleton
    return builder.from_config(model, NetworkShape.from_info(info))


def model_config_from_hparams(hparams: dict) -> ModelConfig:
    """The model config a checkpoint's ``hyper_parameters`` hold: nested under ``model`` (today), or
    flat beside the training options (checkpoints written before the module took the config whole)."""
    nested = hparams.get("model")
    source = nested if isinstance(nested, dict) else hparams
    return ModelConfig(**{f.name: source[f.name] for f in fields(ModelConfig) if f.name in source})


def load_network(
    path: str | Path, map_location: str | torch.device = "cpu", info: DataInfo | None = None
) -> tuple[nn.Module, DataInfo]:
    """The trained network of a checkpoint (in eval mode) and the dataset facts it was built for.

    ``info``: facts of data aligned to the checkpoint (VDs added, the graph rebuilt; virtual VDs): the
    network is built for them and the trained weights fitted to it (:mod:`social_xlstm.weights`).
    Default: the checkpoint's own facts.

    Raises:
        UserError: an unreadable or foreign checkpoint (:func:`~social_xlstm.checkpoint.read_forecaster_checkpoint`),
            data not aligned to it.
    """
    from social_xlstm.data.info import DataInfo
    from social_xlstm.weights import fit_trained_weights

    checkpoint = read_forecaster_checkpoint(path, map_location)
    trained = as_dataclass(DataInfo, checkpoint["data_info"])
    info = trained if info is None else info
    net = build_network(model_config_from_hparams(checkpoint["hyper_parameters"]), info)
    state = {k[len(NET_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(NET_PREFIX)}
    net.load_state_dict(fit_trained_weights(net, state, trained, info, prefix=""))
    carry_calibration(net, checkpoint)
    return net.eval(), info


def carry_calibration(net: nn.Module, checkpoint: dict) -> None:
    """A quantile model's calibration lives on the training module (a buffer beside the weights it fits):
    carried to the bare network for the streaming forecaster (``net.quantile_shift``; None when off or absent)."""
    shift = checkpoint["state_dict"].get("quantile_shift")
    calibrate = (checkpoint["hyper_parameters"].get("head") or {}).get("calibrate", True)
    net.quantile_shift = shift.float() if shift is not None and calibrate else None


def learned_source_edges(net: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The learned sources of every social layer of ``net`` (``social.graph: learned | both``).

    Returns:
        layer name -> (src, dst, rank, gate), each (E,): source and target positions in the network, the
        source's rank among its target's (0 = highest score) and its log input gate averaged over heads.
        Empty for a model that reads the road only.
    """
    from social_xlstm.nn.fusion.learned_graph import LearnedSources

    edges = {}
    for name, layer in net.named_modules():
        if isinstance(layer, LearnedSources):
            with torch.no_grad():
                src, dst, gate, _ = layer.edges()
            rank = (layer.learned_src[dst] == src[:, None]).long().argmax(1)
            edges[name.removesuffix(".learned")] = (src, dst, rank, gate.mean(0))
    return edges

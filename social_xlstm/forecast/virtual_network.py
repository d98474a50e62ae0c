"""A checkpoint's network with virtual VDs added, for the streaming forecaster and the service.

``predict --at`` places virtual VDs through the datamodule (:mod:`social_xlstm.data.virtual`); streaming
and serving start from a checkpoint alone, which holds no detector coordinates. Here the dataset whose
stations the checkpoint was trained on (``--stations DIR``, or the replayed dataset) places them the same
way: the network is aligned to the checkpoint with the points added, each reading its nearest detectors
(as many as the checkpoint's VDs read at most) or the edges given, and the trained weights are fitted
to it as for any added VD (the fallback row; the detectors' weights, edges and forecasts unchanged).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from social_xlstm.checkpoint import read_forecaster_checkpoint
from social_xlstm.data.datamodule import TrafficDataModule, reference_info
from social_xlstm.data.info import DataInfo
from social_xlstm.network import NET_PREFIX, build_network, carry_calibration, model_config_from_hparams
from social_xlstm.weights import fit_trained_weights


def network_with_virtual_vds(
    checkpoint: str | Path,
    stations: str | Path,
    points: str | Path | None,
    edges: str | Path | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, DataInfo]:
    """The trained network over the checkpoint's VDs and the virtual ones, in eval mode, and its facts.

    Args:
        checkpoint: the trained model.
        stations: a canonical dataset directory of the checkpoint's network (its stations and graph).
        points, edges: the virtual VDs (``--at``, ``--at-edges``; :mod:`social_xlstm.data.virtual`).

    Raises:
        UserError: a bad points or edges file, data that do not fit the checkpoint.
    """
    trained = reference_info(checkpoint)
    in_degree = np.bincount(np.asarray(trained.edge_index, dtype=np.int64).reshape(-1, 2)[:, 1])
    datamodule = TrafficDataModule(
        str(stations),
        window=trained.window,
        horizon=trained.horizon,
        split=(0.0, 0.0, 1.0),
        max_neighbours=int(in_degree.max()),
        reference=str(checkpoint),
        virtual_points=None if points is None else str(points),
        virtual_edges=None if edges is None else str(edges),
    )
    info = datamodule.info()
    checkpoint_state = read_forecaster_checkpoint(checkpoint, map_location)
    net = build_network(model_config_from_hparams(checkpoint_state["hyper_parameters"]), info)
    weights = {k[len(NET_PREFIX) :]: v for k, v in checkpoint_state["state_dict"].items() if k.startswith(NET_PREFIX)}
    # the fallback row for the added VDs, the aligned graph's buffers (weights.py)
    net.load_state_dict(fit_trained_weights(net, weights, checkpoint_state["data_info"], info, prefix=""))
    carry_calibration(net, checkpoint_state)
    return net.eval(), info

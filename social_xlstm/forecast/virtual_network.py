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

from social_xlstm.data.datamodule import TrafficDataModule, reference_info
from social_xlstm.data.info import DataInfo
from social_xlstm.network import load_network


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
    net, _ = load_network(checkpoint, map_location, info)  # the fallback row for the added VDs (weights.py)
    return net, info

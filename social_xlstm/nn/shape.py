"""What a network needs to know about the dataset it forecasts: one value object instead of eight arguments.

Every network (the forecaster skeleton, the STID baseline, a library adapter) is built as
``Network.from_config(config, shape)``; the shape is made once from the dataset's facts
(:meth:`NetworkShape.from_info`, from the datamodule's or a checkpoint's ``DataInfo``), so a new fact a
network needs (the sampling interval for calendar tables, the window for STID) is one field here, not
one more argument in every constructor and every caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class NetworkShape:
    """The dataset facts a network is built for.

    Shapes:
        edge_index: (2, E) src -> dst, self loops included; edge_attr: (E, Fe) raw edge features.
    """

    num_vds: int
    """N: VDs seen in training (the VD embedding has one more, fallback, row)."""
    num_features: int
    """F: input variables."""
    num_outputs: int
    """O: forecast variables."""
    horizon: int
    """H: forecast steps."""
    edge_index: Tensor
    """(2, E) the static graph."""
    edge_attr: Tensor
    """(E, Fe) its edge features in raw units (the skeleton standardises them per column)."""
    target_index: tuple[int, ...] | None = None
    """Position of each target among the inputs (default the first O), for the last-value skip."""
    edge_attr_names: tuple[str, ...] = ()
    """Names of the edge feature columns (library adapters look up ``weight``)."""
    window: int = 12
    """W: input steps of a window (models that flatten the window, e.g. STID, need it)."""
    freq_minutes: float = 5.0
    """Sampling interval in minutes (learned time-of-day tables have 1440 / freq_minutes rows)."""
    fallback_vds: tuple[int, ...] = ()
    """Positions of VDs without a detector of their own (held out, virtual): read with the embedding's
    fallback row, and writing nothing into the network-wide memory."""
    edge_attr_stats: Tensor | None = None
    """(2, Fe) mean and std that standardise ``edge_attr`` (those of a checkpoint's own edges when VDs
    were added to its network); None: ``edge_attr``'s own."""

    @property
    def slots_per_day(self) -> int:
        """Time-of-day slots of the sampling interval (at least 1)."""
        return max(1, round(1440 / self.freq_minutes))

    @classmethod
    def from_info(cls, info) -> NetworkShape:
        """The shape of the dataset a :class:`~social_xlstm.data.info.DataInfo` describes (duck-typed:
        ``nn`` does not import the data layer)."""
        stats = getattr(info, "edge_attr_stats", None)
        return cls(
            num_vds=info.num_vds,
            num_features=len(info.variables),
            num_outputs=len(info.targets),
            horizon=info.horizon,
            edge_index=info.edge_index_tensor(),
            edge_attr=info.edge_attr_tensor(),
            target_index=tuple(info.target_index),
            edge_attr_names=tuple(info.edge_attr_names),
            window=info.window,
            freq_minutes=info.freq_minutes,
            fallback_vds=tuple(getattr(info, "no_detector_index", ())),
            edge_attr_stats=None if stats is None else torch.tensor(stats, dtype=torch.float32),
        )

"""Spatial fusions, side by side: how each VD's encoded history meets its neighbours'.

Every fusion maps the encoder's states ``(B, T, N, D)`` to one fused state per VD ``(B, N, D)``
(:class:`SocialMLSTM` with ``context="all"`` keeps every step, ``(B, T, N, D)``).
"""

from .gcn import GCNGRUFusion
from .last_step import LastStep
from .neighbours import neighbour_table
from .pool import NeighbourPool
from .social import SocialMLSTM
from .social_source import SourceSocialMLSTM

__all__ = ["GCNGRUFusion", "LastStep", "NeighbourPool", "SocialMLSTM", "SourceSocialMLSTM", "neighbour_table"]

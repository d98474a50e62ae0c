"""Spatial fusions, side by side: how each VD's encoded history meets its neighbours'.

Every fusion maps the encoder's states ``(B, T, N, D)`` to one fused state per VD ``(B, N, D)``
(:class:`SocialMLSTM` with ``context="all"`` keeps every step, ``(B, T, N, D)``).

:data:`FUSIONS` is the fusion slot's table: name -> a class whose ``from_config(config, shape)`` builds it
(the names are the ``fusion`` column of :mod:`social_xlstm.nn.registry`). Adding a fusion is one file
here and one line in this table (docs/architecture.md, "Adding a fusion").
"""

from __future__ import annotations

from .gcn import GCNGRUFusion
from .last_step import LastStep
from .neighbours import neighbour_table
from .pool import NeighbourPool
from .social import SocialMLSTM
from .social_source import SourceSocialMLSTM

SOCIAL_FORMS: dict[str, type[SocialMLSTM]] = {"target": SocialMLSTM, "source": SourceSocialMLSTM}
"""``social.form`` -> the social layer's class (where its matrix memory lives); keys as
:data:`social_xlstm.nn.registry.SOCIAL_FORM_NAMES`."""


class SocialFusion:
    """The fusion slot's social entry: the layer of ``config.social.form`` (:data:`SOCIAL_FORMS`)."""

    @staticmethod
    def from_config(config, shape, context: str | None = None) -> SocialMLSTM:
        return SOCIAL_FORMS[config.social.form].from_config(config, shape, context)


FUSIONS = {"last": LastStep, "pool": NeighbourPool, "social": SocialFusion, "gcn": GCNGRUFusion}
"""fusion name -> builder (``from_config(config, shape)``; ``shape.edge_attr`` already standardised)."""

__all__ = [
    "FUSIONS",
    "GCNGRUFusion",
    "LastStep",
    "NeighbourPool",
    "SOCIAL_FORMS",
    "SocialFusion",
    "SocialMLSTM",
    "SourceSocialMLSTM",
    "neighbour_table",
]

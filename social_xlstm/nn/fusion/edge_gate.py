"""The social layers' edge projection: edge features -> key offset and input gate of every head.

``social.edge_gate: linear`` (the default) is one bias-free matrix, ``[Wk_e; wi_e] e_ij``. A gate linear in
the features cannot peak: it cannot prefer a near downstream neighbour over both a far one and an
upstream one, since the signed along-road offset and the distance enter with one weight each.
``mlp`` adds a two-layer SiLU MLP to the same matrix::

    edge(e) = W e + W2 silu(W1 e + b1) + b2          W2, b2 = 0 at initialisation

so at initialisation the mlp projection is the linear one (same ``weight``, same parameter name in a
checkpoint), and the non-linear part grows from there: W2's gradient ``silu(W1 e + b1)`` is not zero.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import SOCIAL_EDGE_GATES

EDGE_HIDDEN = 32
"""Hidden width of the mlp edge gate: edges have about six features, a road graph a few thousand edges."""


class EdgeMLP(nn.Linear):
    """``W e + W2 silu(W1 e + b1) + b2``, the residual MLP starting at zero.

    Args:
        in_features: edge features Fe.
        out_features: C + NH (key offsets, then input gates; the layout of the linear projection).
        hidden: width of the MLP.

    Shapes:
        e: (..., Fe) -> (..., C + NH)
    """

    def __init__(self, in_features: int, out_features: int, hidden: int = EDGE_HIDDEN):
        super().__init__(in_features, out_features, bias=False)
        self.hidden = nn.Linear(in_features, hidden)
        self.out = nn.Linear(hidden, out_features)
        self.reset_mlp()

    def reset_mlp(self) -> None:
        """The MLP part only (``weight`` is set by the owner as for the linear projection)."""
        self.hidden.reset_parameters()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, e: Tensor) -> Tensor:
        return super().forward(e) + self.out(F.silu(self.hidden(e)))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, hidden={self.hidden.out_features}"


def edge_projection(in_features: int, out_features: int, kind: str = "linear") -> nn.Linear:
    """The edge projection of ``kind`` (``social.edge_gate``: linear | mlp); both have ``weight`` (out, in) on top.

    Raises:
        ValueError: an unknown ``kind``; the message lists the valid names.
    """
    if kind == "linear":
        return nn.Linear(in_features, out_features, bias=False)
    if kind == "mlp":
        return EdgeMLP(in_features, out_features)
    raise ValueError(f"unknown edge_gate {kind!r}; valid: {', '.join(SOCIAL_EDGE_GATES)}")

"""The temporal encoder slot's table: name -> a class whose ``from_config(config, shape)`` builds it.

The names are the ``encoder`` column of :mod:`social_xlstm.nn.registry`; ``none`` means the fusion reads
the embedded window itself (the T-GCN baseline's recurrent graph convolution is its own encoder).
"""

from __future__ import annotations

from .encoder import SLSTMEncoder
from .lstm_encoder import LSTMEncoder
from .mlp_encoder import WindowMLPEncoder

ENCODERS: dict[str, type | None] = {
    "slstm": SLSTMEncoder,
    "lstm": LSTMEncoder,
    "mlp": WindowMLPEncoder,
    "none": None,
}
"""encoder name -> builder class, or None for no encoder."""

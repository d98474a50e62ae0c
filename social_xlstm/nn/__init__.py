"""Modules: the forecaster skeleton and its parts (embedding, encoders, fusions, head), the SLSTM module.

torch-geometric (used only by the T-GCN baseline's fusion) is imported when that layer is built.
"""

from .config import EmbeddingConfig, EncoderConfig, HeadConfig, ModelConfig, ModelConfigError, SocialConfig
from .forecaster import Forecaster
from .fusion import GCNGRUFusion, LastStep, NeighbourPool, SocialMLSTM
from .registry import ARCHITECTURES, ARCHS
from .slstm_module import SLSTM

__all__ = [
    "ARCHITECTURES",
    "ARCHS",
    "EmbeddingConfig",
    "EncoderConfig",
    "Forecaster",
    "GCNGRUFusion",
    "HeadConfig",
    "LastStep",
    "ModelConfig",
    "ModelConfigError",
    "NeighbourPool",
    "SLSTM",
    "SocialConfig",
    "SocialMLSTM",
]

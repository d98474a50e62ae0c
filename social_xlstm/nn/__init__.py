"""Modules: input embedding, sLSTM encoder, social mLSTM layer, head, full model, baselines."""

from .baselines import GRUGCNBaseline, LSTMBaseline, NeighbourPool
from .config import ARCHS, ModelConfig, ModelConfigError
from .factory import build_model
from .model import SocialXLSTM
from .slstm_module import SLSTM
from .social import SocialMLSTM

__all__ = [
    "ARCHS",
    "GRUGCNBaseline",
    "LSTMBaseline",
    "ModelConfig",
    "ModelConfigError",
    "NeighbourPool",
    "SLSTM",
    "SocialMLSTM",
    "SocialXLSTM",
    "build_model",
]

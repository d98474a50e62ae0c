"""Modules: the forecaster skeleton and its parts (embedding, encoders, fusions, head), the SLSTM module.

Names are imported on first use (module ``__getattr__``), so ``social_xlstm.nn.config`` and
``social_xlstm.nn.registry`` (checked by the CLI before anything heavy) never import torch through this
package; torch-geometric (used only by the T-GCN baseline's fusion) is imported when that layer is built.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "ARCHITECTURES": "registry",
    "ARCHS": "registry",
    "EmbeddingConfig": "config",
    "EncoderConfig": "config",
    "HeadConfig": "config",
    "ModelConfig": "config",
    "ModelConfigError": "config",
    "SocialConfig": "config",
    "NetworkShape": "shape",
    "ENCODERS": "encoders",
    "FUSIONS": "fusion",
    "Forecaster": "forecaster",
    "GCNGRUFusion": "fusion",
    "LastStep": "fusion",
    "NeighbourPool": "fusion",
    "SocialMLSTM": "fusion",
    "SLSTM": "slstm_module",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))

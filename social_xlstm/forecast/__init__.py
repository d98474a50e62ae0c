"""Forecasting with trained models: batch forecasts and metrics, the streaming forecaster, the service.

``from social_xlstm.forecast import StreamingForecaster, StreamError`` works; they are imported on first
use, so importing a submodule (e.g. the baselines) does not load the streaming code.
"""

from __future__ import annotations

_LAZY = {
    "StreamingForecaster": "social_xlstm.forecast.streaming",
    "StreamError": "social_xlstm.forecast.streaming_readings",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'social_xlstm.forecast' has no attribute {name!r}")

"""sLSTM op: reference loop, fast CPU path, Triton kernels and the dispatching interface."""

from .interface import BACKENDS, resolve_backend, slstm
from .reference import SLSTMState, slstm_reference

__all__ = ["BACKENDS", "SLSTMState", "resolve_backend", "slstm", "slstm_reference"]

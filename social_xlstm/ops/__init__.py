"""Numeric kernels. ``ops`` imports nothing else of the package."""

from .slstm import slstm, slstm_reference

__all__ = ["slstm", "slstm_reference"]

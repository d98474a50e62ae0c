"""The recurrent state of a forecaster between calls: a flat dict of tensors, one prefix per part.

Why flat: long-context training detaches it between TBPTT chunks with ``{k: v.detach()}`` and a
streaming service saves it in a ``state_dict``; nested tuples (the sLSTM op's ``(h, c, n, m)``, the
social layer's :class:`~social_xlstm.ops.mlstm.SourceMemory`) would need a walker for both. Each part
(``encoder.``, ``fusion.``, ``skip.``) reads and writes its own keys through :func:`part` / :func:`prefixed`.

Max-states start at ``-inf``: every recurrence here computes ``m_t = max(logf + m_{t-1}, i_t)`` and
``f' = exp(logf + m_{t-1} - m_t)``, so an empty memory with ``m = -inf`` gives ``m_1 = i_1`` and
``f' = 0`` exactly -- the same numbers as the ops' "no state" first step, gradients included (all 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

State = dict[str, Tensor]
"""A forecaster's (or one part's) recurrent state."""


def part(state: State, prefix: str) -> State:
    """The keys of one part, without its prefix (``"encoder."`` -> ``{"0.h": ...}``)."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def prefixed(state: State, prefix: str) -> State:
    """``state`` with every key under ``prefix``: the inverse of :func:`part`."""
    return {prefix + k: v for k, v in state.items()}


def state_dtype(dtype: torch.dtype) -> torch.dtype:
    """States are kept in fp32 (fp64 for fp64 models), as the sLSTM op keeps its own."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def empty_max_state(*shape: int, like: Tensor) -> Tensor:
    """A max-state of an empty memory: ``-inf`` (see the module docstring), in ``like``'s state dtype."""
    return torch.full(shape, float("-inf"), dtype=state_dtype(like.dtype), device=like.device)


def zeros(*shape: int, like: Tensor) -> Tensor:
    """Zeros in ``like``'s state dtype and device."""
    return torch.zeros(shape, dtype=state_dtype(like.dtype), device=like.device)

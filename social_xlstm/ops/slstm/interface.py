"""The sLSTM op: one entry point, several backends.

``slstm`` checks its inputs once and dispatches to

* ``"torch"``  -- :func:`~social_xlstm.ops.slstm.reference.slstm_reference`, the plain loop;
* ``"cpu"``    -- :mod:`~social_xlstm.ops.slstm.cpu`, an ``autograd.Function`` with a hand-written
  backward through time (works on any device, tuned for CPUs);
* ``"cpp"``    -- :mod:`~social_xlstm.ops.slstm.cpp`, the fused C++ kernel (CPU tensors, fp32/fp64),
  built just in time on first use; where it cannot be built, a warning and the ``"cpu"`` path;
* ``"triton"`` -- the fused Triton kernels (CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``);
* ``"auto"``   -- ``"triton"`` for non-fp64 CUDA tensors when Triton is installed, else ``"cpu"``.

Modules import only this file.
"""

from __future__ import annotations

import importlib.util
import os

import torch
from torch import Tensor

from .reference import SLSTMState, check_inputs, slstm_reference

BACKENDS = ("auto", "torch", "cpu", "cpp", "triton")


def triton_available() -> bool:
    """Whether the ``triton`` package can be imported (no import is done here)."""
    return importlib.util.find_spec("triton") is not None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def resolve_backend(backend: str, wx: Tensor) -> str:
    """Turn ``backend`` (possibly ``"auto"``) into the concrete backend used for ``wx``.

    Raises:
        ValueError: ``backend`` is not one of :data:`BACKENDS`.
        RuntimeError: ``"triton"`` was asked for but Triton is missing, or the tensors are on
            the CPU without ``TRITON_INTERPRET=1``.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown sLSTM backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    if backend == "auto":
        # the kernels take fp32/bf16/fp16; fp64 (exactness checks) goes to the generic path
        use_triton = wx.is_cuda and wx.dtype != torch.float64 and triton_available()
        return "triton" if use_triton else "cpu"
    if backend == "triton":
        if not triton_available():
            raise RuntimeError(
                "backend='triton' needs the 'triton' package (pip install triton); "
                "use backend='auto' or 'cpu' to run without it"
            )
        if not wx.is_cuda and not _interpreting():
            raise RuntimeError(
                f"backend='triton' needs CUDA tensors (got device {wx.device}); use backend='auto' or "
                "'cpu' on the CPU, or set TRITON_INTERPRET=1 before importing triton to run the "
                "kernels in the interpreter"
            )
    return backend


def slstm(
    wx: Tensor,
    r: Tensor,
    b: Tensor,
    state: SLSTMState | None = None,
    *,
    backend: str = "auto",
    forget: str = "sigmoid",
) -> tuple[Tensor, SLSTMState]:
    """Run the stabilised sLSTM recurrence over a whole sequence.

    Args:
        wx: input pre-activations, gate order (i, f, z, o).
        r: recurrent weights; gate ``g`` of head ``k`` receives ``h_{t-1}[:, k, :] @ r[g, k]``.
        b: biases.
        state: optional initial ``(h, c, n, m)``; ``None`` means zeros with ``m_1 = pre_i``.
        backend: ``"auto"``, ``"torch"`` (reference), ``"cpu"``, ``"cpp"`` or ``"triton"``.
        forget: ``"sigmoid"`` (``logf = logsigmoid(pre_f)``) or ``"exp"`` (``logf = pre_f``).

    Returns:
        ``h_seq`` in the dtype of ``wx`` and the final state ``(h, c, n, m)`` in fp32 (fp64 for
        fp64 inputs). Gradients flow to ``wx``, ``r``, ``b`` and the initial state.

    Shapes:
        wx: (B, T, 4, NH, DH); r: (4, NH, DH, DH); b: (4, NH, DH);
        state tensors: (B, NH, DH); h_seq: (B, T, NH, DH).
    """
    name = resolve_backend(backend, wx)
    check_inputs(wx, r, b, state, forget)
    if name == "torch":
        return slstm_reference(wx, r, b, state, forget=forget)
    if name == "cpp":
        from .cpp_build import kernel_available

        if kernel_available() and not wx.is_cuda:
            from .cpp import slstm_cpp

            return slstm_cpp(wx, r, b, state, forget=forget)
        name = "cpu"  # no compiler here (warned once), or CUDA tensors: the Python path
    if name == "cpu":
        from .cpu import slstm_cpu

        return slstm_cpu(wx, r, b, state, forget=forget)
    from .triton_launch import slstm_triton

    return slstm_triton(wx, r, b, state, forget=forget)

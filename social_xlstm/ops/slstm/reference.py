"""Plain PyTorch reference of the sLSTM recurrence: one obviously-correct loop over time.

Every other backend (the fast CPU path, the Triton kernels) is tested against this function.
Gradients come from autograd through the loop, so it is slow and memory-hungry; use it for
checking, not for training.

Equations (docs/model.md, "sLSTM cell"), per head, for gates g in (i, f, z, o)::

    pre_g = wx_g + h_{t-1} R_g + b_g
    logf  = logsigmoid(pre_f)            (forget="exp": logf = pre_f)
    m_t   = max(logf + m_{t-1}, pre_i)   (first step without a state: m_1 = pre_i)
    i' = exp(pre_i - m_t);  f' = exp(logf + m_{t-1} - m_t)
    c_t = f' c_{t-1} + i' tanh(pre_z);  n_t = f' n_{t-1} + i';  h_t = sigmoid(pre_o) c_t / n_t
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

SLSTMState = tuple[Tensor, Tensor, Tensor, Tensor]

FORGET_MODES = ("sigmoid", "exp")


def check_inputs(wx: Tensor, r: Tensor, b: Tensor, state: SLSTMState | None, forget: str) -> None:
    """Validate shapes and options shared by every backend.

    Raises:
        ValueError: on a wrong shape or an unknown ``forget`` mode.
    """
    if forget not in FORGET_MODES:
        raise ValueError(f"forget must be one of {FORGET_MODES}, got {forget!r}")
    if wx.dim() != 5 or wx.shape[2] != 4:
        raise ValueError(f"wx must be (B, T, 4, NH, DH), got {tuple(wx.shape)}")
    batch, steps, _, heads, width = wx.shape
    if steps < 1:
        raise ValueError("wx must have at least one time step (T >= 1)")
    if tuple(r.shape) != (4, heads, width, width):
        raise ValueError(f"r must be (4, NH, DH, DH) = {(4, heads, width, width)}, got {tuple(r.shape)}")
    if tuple(b.shape) != (4, heads, width):
        raise ValueError(f"b must be (4, NH, DH) = {(4, heads, width)}, got {tuple(b.shape)}")
    if state is not None:
        if len(state) != 4:
            raise ValueError(f"state must be a tuple (h, c, n, m), got {len(state)} tensors")
        for name, s in zip("hcnm", state, strict=True):
            if tuple(s.shape) != (batch, heads, width):
                raise ValueError(
                    f"state {name} must be (B, NH, DH) = {(batch, heads, width)}, got {tuple(s.shape)}"
                )


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """States are kept in fp32 (fp64 when the inputs are fp64), whatever the input precision."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def slstm_reference(
    wx: Tensor,
    r: Tensor,
    b: Tensor,
    state: SLSTMState | None = None,
    *,
    forget: str = "sigmoid",
) -> tuple[Tensor, SLSTMState]:
    """Run the sLSTM recurrence step by step (reference implementation).

    Args:
        wx: input pre-activations, gate order (i, f, z, o).
        r: recurrent weights; gate ``g`` of head ``k`` receives ``h_{t-1}[:, k] @ r[g, k]``.
        b: biases.
        state: optional initial ``(h, c, n, m)``. ``None`` means zeros with ``m_1 = pre_i``.
        forget: ``"sigmoid"`` (``logf = logsigmoid(pre_f)``) or ``"exp"`` (``logf = pre_f``).

    Returns:
        ``h_seq`` in the dtype of ``wx`` and the final state ``(h, c, n, m)`` in fp32 (fp64 for
        fp64 inputs).

    Shapes:
        wx: (B, T, 4, NH, DH); r: (4, NH, DH, DH); b: (4, NH, DH);
        state tensors: (B, NH, DH); h_seq: (B, T, NH, DH).
    """
    check_inputs(wx, r, b, state, forget)
    in_dtype = wx.dtype
    dtype = compute_dtype(in_dtype)
    steps = wx.shape[1]
    wx = wx.to(dtype)
    r = r.to(dtype)
    b = b.to(dtype)
    if state is None:
        h = torch.zeros_like(wx[:, 0, 0])  # (B, NH, DH)
        c, n, m = h, h, None
    else:
        h, c, n, m = (s.to(dtype) for s in state)

    outputs = []
    for t in range(steps):
        # gate g, head k: (B, DH) @ (DH, DH), batched over gates and heads
        rec = torch.einsum("bkd,gkde->bgke", h, r)  # (B, 4, NH, DH)
        pre = wx[:, t] + rec + b  # (B, 4, NH, DH)
        pre_i, pre_f, pre_z, pre_o = pre.unbind(1)  # each (B, NH, DH)
        logf = F.logsigmoid(pre_f) if forget == "sigmoid" else pre_f
        if m is None:
            # First step without a state: c_0 = n_0 = 0, so the forget term vanishes exactly;
            # writing it out avoids exp(-inf) and the inf - inf it could turn into.
            m = pre_i
            i_gate = torch.exp(pre_i - m)
            c = i_gate * torch.tanh(pre_z)
            n = i_gate
        else:
            m_new = torch.maximum(logf + m, pre_i)
            i_gate = torch.exp(pre_i - m_new)
            f_gate = torch.exp(logf + m - m_new)
            c = f_gate * c + i_gate * torch.tanh(pre_z)
            n = f_gate * n + i_gate
            m = m_new
        h = torch.sigmoid(pre_o) * c / n
        outputs.append(h)
    h_seq = torch.stack(outputs, dim=1).to(in_dtype)  # (B, T, NH, DH)
    return h_seq, (h, c, n, m)

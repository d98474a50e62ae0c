"""The fused CPU sLSTM (``cpp_kernel.cpp``): one pass per step forward and backward, in the op's own layout.

Same contract as :func:`~social_xlstm.ops.slstm.cpu.slstm_cpu`. What it saves over the Python path: the
gates, the stabiliser, the normaliser and the state update of a step run in one vectorised loop per row
(no per-step kernels, no gate-major copies in or out: ``wx`` is read as ``(B, T, 4, NH, DH)`` and
``h_seq`` written as ``(B, T, NH, DH)``); rows (VD windows) run in parallel, each walking its sequence
with its state in an L1-resident scratch. Forward keeps the activated gates for backward, so backward
evaluates no transcendental. fp32 and fp64 (bf16/fp16 inputs compute in fp32).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .cpp_build import load_kernel
from .reference import SLSTMState, check_inputs, compute_dtype

_EMPTY = torch.empty(0)


class _FusedSLSTM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, wx, r, b, h0, c0, n0, m0, exp_forget, store):
        kernel = load_kernel()
        dtype = compute_dtype(wx.dtype)
        has_state = h0 is not None

        def prep(t: Tensor | None) -> Tensor:
            return _EMPTY.to(dtype) if t is None else t.detach().to(dtype).contiguous()

        states = [prep(t) for t in (h0, c0, n0, m0)]
        r_c = prep(r)
        out = kernel.forward(prep(wx), r_c, prep(b), *states, has_state, exp_forget, store)
        h_seq, h, c, n, m, acts, sel, dlogf, c_seq, n_seq = out
        ctx.exp_forget, ctx.has_state = exp_forget, has_state
        ctx.dtypes = (wx.dtype, r.dtype, b.dtype, None if h0 is None else h0.dtype)
        if store:
            ctx.save_for_backward(r_c, h_seq, acts, sel, dlogf, c_seq, n_seq, *states[:3])
        return h_seq.to(wx.dtype), h, c, n, m

    @staticmethod
    def backward(ctx, d_hseq, d_h, d_c, d_n, d_m):
        r, h_seq, acts, sel, dlogf, c_seq, n_seq, h0, c0, n0 = ctx.saved_tensors
        dtype = h_seq.dtype
        batch, _, heads, width = h_seq.shape

        def grad(g: Tensor | None, shape) -> Tensor:
            return torch.zeros(shape, dtype=dtype) if g is None else g.to(dtype).contiguous()

        state_shape = (batch, heads, width)
        d_wx, d_r, d_b, dh0, dc0, dn0, dm0 = load_kernel().backward(
            grad(d_hseq, h_seq.shape), grad(d_h, state_shape), grad(d_c, state_shape), grad(d_n, state_shape),
            grad(d_m, state_shape), r, h_seq, acts, sel, dlogf, c_seq, n_seq, h0, c0, n0, ctx.has_state,
            ctx.exp_forget,
        )  # fmt: skip
        wx_t, r_t, b_t, s_t = ctx.dtypes
        states = (dh0, dc0, dn0, dm0) if ctx.has_state else (None,) * 4
        states = tuple(None if g is None else g.to(s_t) for g in states)
        return d_wx.to(wx_t), d_r.to(r_t), d_b.to(b_t), *states, None, None


def slstm_cpp(
    wx: Tensor, r: Tensor, b: Tensor, state: SLSTMState | None = None, *, forget: str = "sigmoid"
) -> tuple[Tensor, SLSTMState]:
    """sLSTM over a sequence through the fused CPU kernel (contract of ``slstm_reference``).

    Shapes:
        wx: (B, T, 4, NH, DH); r: (4, NH, DH, DH); b: (4, NH, DH); state tensors: (B, NH, DH);
        h_seq: (B, T, NH, DH).
    """
    check_inputs(wx, r, b, state, forget)
    h0, c0, n0, m0 = state if state is not None else (None, None, None, None)
    store = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (wx, r, b, h0, c0, n0, m0))
    h_seq, h, c, n, m = _FusedSLSTM.apply(wx, r, b, h0, c0, n0, m0, forget == "exp", store)
    return h_seq, (h, c, n, m)

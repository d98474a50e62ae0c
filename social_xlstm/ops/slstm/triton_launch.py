"""Launchers and the ``autograd.Function`` around the fused Triton sLSTM kernels.

``slstm_triton`` has the contract of :func:`~social_xlstm.ops.slstm.reference.slstm_reference`.
It runs on CUDA tensors, or on CPU tensors when ``TRITON_INTERPRET=1`` was set before this module
(and so ``triton``'s ``@jit``) was first imported.

Inputs may be fp32, bf16 or fp16 (states are fp32 either way). On a GPU the recurrent dot runs
in the inputs' dtype with fp32 accumulation; for fp32 it is IEEE fp32, not TF32, so that the fp32
kernel matches the reference as tightly as the CPU path does. Under the interpreter the dot is
always fp32 (its bf16 ``tl.dot`` is wrong in Triton 3.9).
"""

from __future__ import annotations

import torch
import triton
from torch import Tensor

from . import triton_kernels
from .reference import SLSTMState, check_inputs

_SUPPORTED = (torch.float32, torch.bfloat16, torch.float16)


def _blocks(batch: int, width: int, device: torch.device) -> tuple[int, int]:
    block_d = max(16, triton.next_power_of_2(width))  # tl.dot needs tiles of at least 16
    if device.type != "cuda":
        return 16, block_d  # the interpreter: small tiles keep it quick
    # registers hold 4 R blocks + ~12 (BLOCK_B, BLOCK_D) fp32 tiles; shrink the batch tile as DH grows
    block_b = 64 if block_d <= 32 else (32 if block_d <= 64 else 16)
    return min(block_b, max(16, triton.next_power_of_2(batch))), block_d


class _SLSTMTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, wx, r, b, h0, c0, n0, m0, exp_forget, store):
        batch, steps, _, heads, width = wx.shape
        # Triton 3.9's interpreter computes tl.dot on bf16 operands wrongly (fp16 is fine), so
        # interpreted runs (CPU tensors) do the recurrent dot in fp32; on a GPU it runs in wx's dtype.
        dot_dtype = wx.dtype if wx.is_cuda else torch.float32
        wx_c, r_c, b_c = wx.contiguous(), r.to(dot_dtype).contiguous(), b.contiguous()
        # every state is kept for backward; without gradients only the initial and final ones
        slots = steps + 1 if store else 2
        states = torch.empty(slots, 4, batch, heads, width, device=wx.device, dtype=torch.float32)
        has_state = h0 is not None
        if has_state:
            states[0] = torch.stack([s.float() for s in (h0, c0, n0, m0)])  # (4, B, NH, DH)
        else:
            states[0] = 0.0
        y = torch.empty(batch, steps, heads, width, device=wx.device, dtype=wx.dtype)
        block_b, block_d = _blocks(batch, width, wx.device)
        grid = (triton.cdiv(batch, block_b), heads)
        precision = "ieee"
        triton_kernels.slstm_fwd_kernel[grid](
            wx_c, r_c, b_c, y, states, batch, steps, heads, width,
            HAS_STATE=has_state, EXP_FORGET=exp_forget, STORE_ALL=store, DOT_PRECISION=precision,
            BLOCK_B=block_b, BLOCK_D=block_d,
        )
        ctx.save_for_backward(wx_c, r_c, b_c, states)
        ctx.meta = (has_state, exp_forget, precision, block_b, block_d)
        ctx.dtypes = (wx.dtype, r.dtype, b.dtype)
        ctx.state_dtypes = tuple(s.dtype for s in (h0, c0, n0, m0)) if has_state else None
        h, c, n, m = states[-1].unbind(0)  # each (B, NH, DH)
        return y, h.clone(), c.clone(), n.clone(), m.clone()

    @staticmethod
    def backward(ctx, d_y, d_h, d_c, d_n, d_m):
        wx, r, b, states = ctx.saved_tensors
        has_state, exp_forget, precision, block_b, block_d = ctx.meta
        batch, steps, _, heads, width = wx.shape
        d_last = torch.stack([g.float() for g in (d_h, d_c, d_n, d_m)])  # (4, B, NH, DH)
        d_y = d_y.contiguous()
        d_wx = torch.empty(wx.shape, device=wx.device, dtype=torch.float32)  # (B, T, 4, NH, DH)
        d_first = torch.empty_like(d_last)
        grid = (triton.cdiv(batch, block_b), heads)
        triton_kernels.slstm_bwd_kernel[grid](
            wx, r, b, states, d_y, d_last, d_wx, d_first, batch, steps, heads, width,
            HAS_STATE=has_state, EXP_FORGET=exp_forget, DOT_PRECISION=precision,
            BLOCK_B=block_b, BLOCK_D=block_d,
        )
        # dR[g, k] = sum_{t, b} h_{t-1}[b, k]^T d pre_g[b, t, k]: one bmm over heads, K = T*B
        h_prev = states[:steps, 0].permute(2, 3, 0, 1).reshape(heads, width, steps * batch)  # (NH, DH, T*B)
        d_pre = d_wx.permute(3, 1, 0, 2, 4).reshape(heads, steps * batch, 4 * width)  # (NH, T*B, 4*DH)
        d_r = torch.bmm(h_prev, d_pre).view(heads, width, 4, width).permute(2, 0, 1, 3)  # (4, NH, DH, DH)
        d_b = d_wx.sum((0, 1))  # (4, NH, DH)

        wx_dtype, r_dtype, b_dtype = ctx.dtypes
        grads = [d_wx.to(wx_dtype), d_r.to(r_dtype), d_b.to(b_dtype), None, None, None, None, None, None]
        if has_state:
            for k, sdt in enumerate(ctx.state_dtypes):
                grads[3 + k] = d_first[k].to(sdt)
        return tuple(grads)


def slstm_triton(
    wx: Tensor,
    r: Tensor,
    b: Tensor,
    state: SLSTMState | None = None,
    *,
    forget: str = "sigmoid",
) -> tuple[Tensor, SLSTMState]:
    """sLSTM over a sequence with the fused Triton kernels (contract of ``slstm_reference``).

    Args:
        wx: input pre-activations, gate order (i, f, z, o); fp32, bf16 or fp16.
        r: recurrent weights, gate ``g`` of head ``k`` is ``r[g, k]`` (cast to ``wx``'s dtype on GPU).
        b: biases.
        state: optional initial ``(h, c, n, m)``; ``None`` means zeros with ``m_1 = pre_i``.
        forget: ``"sigmoid"`` or ``"exp"``.

    Returns:
        ``h_seq`` in the dtype of ``wx`` and the final ``(h, c, n, m)`` in fp32.

    Shapes:
        wx: (B, T, 4, NH, DH); r: (4, NH, DH, DH); b: (4, NH, DH);
        state tensors: (B, NH, DH); h_seq: (B, T, NH, DH).
    """
    check_inputs(wx, r, b, state, forget)
    if wx.dtype not in _SUPPORTED:
        raise TypeError(
            f"the Triton sLSTM kernels take {_SUPPORTED} inputs, got {wx.dtype}; use backend='cpu'"
        )
    h0, c0, n0, m0 = state if state is not None else (None, None, None, None)
    # Function.forward runs with grad mode off, so whether backward will come is decided here
    store = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (wx, r, b, h0, c0, n0, m0)
    )
    h_seq, h, c, n, m = _SLSTMTriton.apply(wx, r, b, h0, c0, n0, m0, forget == "exp", store)
    return h_seq, (h, c, n, m)

"""Fast sLSTM path for CPUs: one ``autograd.Function`` with a hand-written backward through time.

Why it is faster than autograd through the reference loop:

* the recurrent matmul of each gate is one ``baddbmm`` over heads, written in place into a
  buffer that already holds ``wx + b`` (so the pre-activations are kept for free);
* gate activations and states go into preallocated buffers (``(4, NH, T, B, DH)`` and
  ``(NH, T + 1, B, DH)``) through ``out=`` and in-place ops, instead of a graph of small tensors
  per step; without gradients only one step of gates and two of ``c, n, m`` are kept;
* the backward pass is one loop of elementwise ops plus four ``baddbmm`` per step, and the
  weight gradient is one ``bmm`` per gate over all steps at the end.

Internal layout: gate-major, ``(4, NH, T, B, DH)``, so each step's gate slice is a batch of ``NH``
contiguous ``(B, DH)`` matrices (vectorised elementwise ops, ``bmm`` over heads) and ``T*B`` merge
into one contraction dimension for the weight gradient.
Works on any device and dtype (fp64 for exactness tests); states are fp32 (fp64 for fp64).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .reference import SLSTMState, check_inputs, compute_dtype


def _state_in(s: Tensor, dtype: torch.dtype) -> Tensor:
    return s.to(dtype).transpose(0, 1)  # (B, NH, DH) -> (NH, B, DH)


class _SLSTMFunction(torch.autograd.Function):
    """Forward stores pre-activations, gates and states; backward walks them in reverse."""

    @staticmethod
    def forward(ctx, wx, r, b, h0, c0, n0, m0, exp_forget, store):
        batch, steps, _, heads, width = wx.shape
        dtype = compute_dtype(wx.dtype)
        opts = {"dtype": dtype, "device": wx.device}
        ctx.dtypes = (wx.dtype, r.dtype, b.dtype)
        r = r.to(dtype)  # (4, NH, DH, DH)
        # Backward needs every step's gates and states; inference (store=False) keeps one step of
        # gates and two of c, n, m (read at t, written at t+1), indexed through `slot`.
        slot = (lambda t: t) if store else (lambda t: t % 2)

        # Gate-major buffers: every per-step gate slice (NH, B, DH) is contiguous per head, so the
        # elementwise ops vectorise (on strided gate slices tanh alone was ~10x slower).
        pre = torch.empty(4, heads, steps, batch, width, **opts)  # (4, NH, T, B, DH)
        torch.add(wx.permute(2, 3, 1, 0, 4), b.to(dtype)[:, :, None, None, :], out=pre)
        # i', f', tanh(pre_z), sigmoid(pre_o)
        gates = torch.empty(4, heads, steps if store else 1, batch, width, **opts)  # (4, NH, T, B, DH)
        sel_f = torch.empty(heads, steps if store else 1, batch, width, dtype=torch.bool, device=wx.device)
        # index 0 holds the initial state, index t+1 the state after step t
        hs = torch.empty(heads, steps + 1, batch, width, **opts)  # (NH, T+1, B, DH)
        cs = torch.empty(heads, steps + 1 if store else 2, batch, width, **opts)
        ns = torch.empty_like(cs)
        ms = torch.empty_like(cs)
        has_state = h0 is not None
        if has_state:
            for buf, s in zip((hs, cs, ns, ms), (h0, c0, n0, m0), strict=True):
                buf[:, 0] = _state_in(s, dtype)
        else:
            for buf in (hs, cs, ns, ms):
                buf[:, 0] = 0.0  # m_0 is never read: the first step sets m_1 = pre_i

        for t in range(steps):
            h_prev = hs[:, t]
            for g in range(4):
                pre[g, :, t].baddbmm_(h_prev, r[g])  # (NH, B, DH) += (NH, B, DH) @ (NH, DH, DH)
            pre_i, pre_f, pre_z, pre_o = pre[:, :, t].unbind(0)  # each (NH, B, DH)
            g_i, g_f, g_z, g_o = gates[:, :, t if store else 0].unbind(0)
            m, c, n = ms[:, slot(t + 1)], cs[:, slot(t + 1)], ns[:, slot(t + 1)]
            m_prev, c_prev, n_prev = ms[:, slot(t)], cs[:, slot(t)], ns[:, slot(t)]
            sel = sel_f[:, t if store else 0]
            torch.tanh(pre_z, out=g_z)
            torch.sigmoid(pre_o, out=g_o)
            if t == 0 and not has_state:
                # c_0 = n_0 = 0 and m_1 = pre_i: i' = 1, f' = 0 exactly, no exp(-inf).
                m.copy_(pre_i)
                g_i.fill_(1.0)
                g_f.fill_(0.0)
                sel.fill_(False)
                c.copy_(g_z)
                n.fill_(1.0)
            else:
                a = pre_f.clone() if exp_forget else F.logsigmoid(pre_f)
                a += m_prev  # logf + m_{t-1}
                torch.maximum(a, pre_i, out=m)
                torch.gt(a, pre_i, out=sel)
                torch.sub(pre_i, m, out=g_i).exp_()
                torch.sub(a, m, out=g_f).exp_()
                torch.mul(g_f, c_prev, out=c).addcmul_(g_i, g_z)
                torch.addcmul(g_i, g_f, n_prev, out=n)
            torch.div(c, n, out=hs[:, t + 1]).mul_(g_o)

        ctx.save_for_backward(r, pre, gates, sel_f, hs, cs, ns)
        ctx.exp_forget = exp_forget
        ctx.has_state = has_state
        ctx.state_dtypes = tuple(s.dtype for s in (h0, c0, n0, m0)) if has_state else None

        h_seq = hs[:, 1:].permute(2, 1, 0, 3).to(wx.dtype, copy=True)  # (B, T, NH, DH)
        last = (hs[:, steps], cs[:, slot(steps)], ns[:, slot(steps)], ms[:, slot(steps)])
        last = (s.transpose(0, 1).clone() for s in last)  # (B, NH, DH)
        return (h_seq, *last)

    @staticmethod
    def backward(ctx, d_hseq, d_h, d_c, d_n, d_m):
        r, pre, gates, sel_f, hs, cs, ns = ctx.saved_tensors
        _, heads, steps, batch, width = pre.shape
        dtype = pre.dtype
        r_t = r.transpose(2, 3)  # (4, NH, DH_out, DH_in)
        d_hseq = d_hseq.to(dtype).permute(2, 1, 0, 3)  # (NH, T, B, DH), a view
        dh_next = _state_in(d_h, dtype)  # (NH, B, DH)
        dc = _state_in(d_c, dtype).clone()
        dn = _state_in(d_n, dtype).clone()
        dm = _state_in(d_m, dtype).clone()
        d_pre = torch.empty_like(pre)  # (4, NH, T, B, DH)

        for t in range(steps - 1, -1, -1):
            if t == steps - 1:
                dh = d_hseq[:, t] + dh_next
            else:
                dh = torch.baddbmm(d_hseq[:, t], d_pre[0, :, t + 1], r_t[0])  # (NH, B, DH)
                for g in range(1, 4):
                    dh.baddbmm_(d_pre[g, :, t + 1], r_t[g])
            g_i, g_f, g_z, g_o = gates[:, :, t].unbind(0)
            dp_i, dp_f, dp_z, dp_o = d_pre[:, :, t].unbind(0)
            c, n = cs[:, t + 1], ns[:, t + 1]
            inv_n = n.reciprocal()
            h_over_o = c.mul(inv_n)  # c / n
            # output gate: d pre_o = dh * c/n * o (1 - o)
            torch.mul(dh, h_over_o, out=dp_o).mul_(g_o).mul_(1.0 - g_o)
            dh.mul_(g_o).mul_(inv_n)  # dh * o / n: the part that reaches c and n
            dc.add_(dh)
            dn.sub_(dh.mul_(h_over_o))
            # z gate: d pre_z = dc * i' (1 - z^2)
            torch.mul(dc, g_i, out=dp_z).mul_(1.0 - g_z * g_z)
            d_gi = torch.addcmul(dn, dc, g_z).mul_(g_i)  # (dc z + dn) i' = d(pre_i - m_t)
            d_gf = torch.mul(dc, cs[:, t]).addcmul_(dn, ns[:, t]).mul_(g_f)  # d(logf + m_{t-1} - m_t)
            # m_t = max(logf + m_{t-1}, pre_i) receives -d_gi - d_gf plus what came from step t+1
            dm.sub_(d_gi).sub_(d_gf)
            to_f = torch.where(sel_f[:, t], dm, 0.0)
            torch.add(d_gi, dm, out=dp_i).sub_(to_f)
            d_a = d_gf.add_(to_f)  # d(logf + m_{t-1})
            if ctx.exp_forget:
                dp_f.copy_(d_a)
            else:
                # d logsigmoid(x) / dx = sigmoid(-x)
                torch.sigmoid(pre[1, :, t].neg(), out=dp_f).mul_(d_a)
            dc.mul_(g_f)
            dn.mul_(g_f)
            dm = d_a

        h_prev_t = hs[:, :steps].reshape(heads, steps * batch, width).transpose(1, 2)  # (NH, DH, T*B)
        d_r = torch.stack(
            [torch.bmm(h_prev_t, d_pre[g].view(heads, steps * batch, width)) for g in range(4)]
        )  # (4, NH, DH, DH)
        d_b = d_pre.sum((2, 3))  # (4, NH, DH)
        d_wx = d_pre.permute(3, 2, 0, 1, 4)  # (B, T, 4, NH, DH), a view

        wx_dtype, r_dtype, b_dtype = ctx.dtypes
        grads = [d_wx.to(wx_dtype), d_r.to(r_dtype), d_b.to(b_dtype), None, None, None, None, None, None]
        if ctx.has_state:
            dh0 = torch.bmm(d_pre[0, :, 0], r_t[0])  # (NH, B, DH)
            for g in range(1, 4):
                dh0.baddbmm_(d_pre[g, :, 0], r_t[g])
            for k, (grad, sdt) in enumerate(zip((dh0, dc, dn, dm), ctx.state_dtypes, strict=True)):
                grads[3 + k] = grad.transpose(0, 1).to(sdt)  # (B, NH, DH)
        return tuple(grads)


def slstm_cpu(
    wx: Tensor,
    r: Tensor,
    b: Tensor,
    state: SLSTMState | None = None,
    *,
    forget: str = "sigmoid",
) -> tuple[Tensor, SLSTMState]:
    """sLSTM over a sequence with a hand-written backward (same contract as ``slstm_reference``).

    Args:
        wx: input pre-activations, gate order (i, f, z, o).
        r: recurrent weights, gate ``g`` of head ``k`` is ``r[g, k]``.
        b: biases.
        state: optional initial ``(h, c, n, m)``; ``None`` means zeros with ``m_1 = pre_i``.
        forget: ``"sigmoid"`` or ``"exp"``.

    Returns:
        ``h_seq`` in the dtype of ``wx`` and the final ``(h, c, n, m)`` in fp32 (fp64 for fp64).

    Shapes:
        wx: (B, T, 4, NH, DH); r: (4, NH, DH, DH); b: (4, NH, DH);
        state tensors: (B, NH, DH); h_seq: (B, T, NH, DH).
    """
    check_inputs(wx, r, b, state, forget)
    h0, c0, n0, m0 = state if state is not None else (None, None, None, None)
    # Function.forward runs with grad mode off, so whether backward will come is decided here
    store = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (wx, r, b, h0, c0, n0, m0)
    )
    h_seq, h, c, n, m = _SLSTMFunction.apply(wx, r, b, h0, c0, n0, m0, forget == "exp", store)
    return h_seq, (h, c, n, m)

"""Fused Triton kernels for the sLSTM recurrence: forward and backward through time.

Each program owns one head and a tile of ``BLOCK_B`` sequences. It loads that head's four
recurrent blocks ``R_g`` (``DH x DH``, zero-padded to ``BLOCK_D``) once, keeps the states in fp32
registers across the whole time loop, and issues one ``tl.dot`` per gate per step. The grid is
``(cdiv(B, BLOCK_B), NH)``, so the batch may be hundreds of thousands of sequences (offsets are
int64). Widths that are not a power of two are masked.

Forward stores every state ``(h, c, n, m)`` in fp32 (index 0 is the initial state; with
``STORE_ALL=False``, for inference, only the final one, at index 1); backward
recomputes the pre-activations from ``h_{t-1}`` (one more dot per gate, cheaper than storing four
gate tensors) and writes ``d pre`` into ``d_wx``. The weight and bias gradients are then one
batched matmul and one sum over ``d_wx`` on the host side (``triton_launch.py``).

Raw pointer arithmetic only (Triton 3.9 removed the block-pointer API). Memory layouts, all
contiguous::

    wx, d_wx   (B, T, 4, NH, DH)       r (4, NH, DH, DH)      b (4, NH, DH)
    y, d_y     (B, T, NH, DH)          states (T + 1, 4, B, NH, DH)   d_last, d_first (4, B, NH, DH)

Without an initial state (``HAS_STATE=False``) the first step uses ``m_1 = pre_i`` and ``f' = 0``
explicitly, so no ``-inf`` ever enters the arithmetic.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _log_sigmoid(x):
    # log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)): no overflow for large |x|
    return tl.minimum(x, 0.0) - tl.log(1.0 + tl.exp(-tl.abs(x)))


@triton.jit
def _sigmoid(x):
    # through exp(-|x|) <= 1, so that large |x| never overflow
    e = tl.exp(-tl.abs(x))
    return tl.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@triton.jit
def _tanh(x):
    # written through exp(-2|x|) so that it never overflows
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def _load_r(r_ptr, gate, head, NH, DH, offs_d, mask_d):
    offs = (gate * NH + head) * DH * DH + offs_d[:, None] * DH + offs_d[None, :]
    return tl.load(r_ptr + offs, mask=mask_d[:, None] & mask_d[None, :], other=0.0)


@triton.jit
def _load_b(b_ptr, gate, head, NH, DH, offs_d, mask_d):
    return tl.load(b_ptr + (gate * NH + head) * DH + offs_d, mask=mask_d, other=0.0).to(tl.float32)


@triton.jit
def _preactivations(wx_ptr, w_off, HD, h, r_i, r_f, r_z, r_o, b_i, b_f, b_z, b_o, mask,
                    DOT_PRECISION: tl.constexpr):
    """pre_g = wx_g + h @ R_g + b_g for the four gates; h is cast to the weights' dtype."""
    hr = h.to(r_i.dtype)
    x_i = tl.load(wx_ptr + w_off, mask=mask, other=0.0).to(tl.float32)
    x_f = tl.load(wx_ptr + w_off + HD, mask=mask, other=0.0).to(tl.float32)
    x_z = tl.load(wx_ptr + w_off + 2 * HD, mask=mask, other=0.0).to(tl.float32)
    x_o = tl.load(wx_ptr + w_off + 3 * HD, mask=mask, other=0.0).to(tl.float32)
    p_i = x_i + b_i[None, :] + tl.dot(hr, r_i, input_precision=DOT_PRECISION)
    p_f = x_f + b_f[None, :] + tl.dot(hr, r_f, input_precision=DOT_PRECISION)
    p_z = x_z + b_z[None, :] + tl.dot(hr, r_z, input_precision=DOT_PRECISION)
    p_o = x_o + b_o[None, :] + tl.dot(hr, r_o, input_precision=DOT_PRECISION)
    return p_i, p_f, p_z, p_o


@triton.jit
def slstm_fwd_kernel(
    wx_ptr, r_ptr, b_ptr, y_ptr, states_ptr,
    B, T, NH, DH,
    HAS_STATE: tl.constexpr, EXP_FORGET: tl.constexpr, STORE_ALL: tl.constexpr,
    DOT_PRECISION: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_b = tl.program_id(0)
    head = tl.program_id(1)
    offs_b = (pid_b * BLOCK_B + tl.arange(0, BLOCK_B)).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < DH
    mask = (offs_b < B)[:, None] & mask_d[None, :]
    HD = NH * DH

    r_i = _load_r(r_ptr, 0, head, NH, DH, offs_d, mask_d)
    r_f = _load_r(r_ptr, 1, head, NH, DH, offs_d, mask_d)
    r_z = _load_r(r_ptr, 2, head, NH, DH, offs_d, mask_d)
    r_o = _load_r(r_ptr, 3, head, NH, DH, offs_d, mask_d)
    b_i = _load_b(b_ptr, 0, head, NH, DH, offs_d, mask_d)
    b_f = _load_b(b_ptr, 1, head, NH, DH, offs_d, mask_d)
    b_z = _load_b(b_ptr, 2, head, NH, DH, offs_d, mask_d)
    b_o = _load_b(b_ptr, 3, head, NH, DH, offs_d, mask_d)

    # (B, NH, DH) slab of one state at one time index; state q of step s is at s*4*B*HD + q*B*HD
    s_off = offs_b[:, None] * HD + head * DH + offs_d[None, :]
    # int64: (T + 1) * 4 * B * NH * DH passes 2**31 for B*N in the hundreds of thousands
    slab = pid_b.to(tl.int64) * 0 + B * HD
    h = tl.load(states_ptr + s_off, mask=mask, other=0.0)
    c = tl.load(states_ptr + slab + s_off, mask=mask, other=0.0)
    n = tl.load(states_ptr + 2 * slab + s_off, mask=mask, other=0.0)
    m = tl.load(states_ptr + 3 * slab + s_off, mask=mask, other=0.0)

    for t in range(T):
        w_off = (offs_b[:, None] * T + t) * 4 * HD + head * DH + offs_d[None, :]
        p_i, p_f, p_z, p_o = _preactivations(
            wx_ptr, w_off, HD, tl.where(mask, h, 0.0), r_i, r_f, r_z, r_o, b_i, b_f, b_z, b_o, mask,
            DOT_PRECISION,
        )
        if EXP_FORGET:
            logf = p_f
        else:
            logf = _log_sigmoid(p_f)
        a = logf + m
        if HAS_STATE:
            first = t < 0  # never
        else:
            first = t == 0
        m_new = tl.where(first, p_i, tl.maximum(a, p_i))
        g_i = tl.exp(p_i - m_new)
        g_f = tl.where(first, 0.0, tl.exp(a - m_new))
        c = g_f * c + g_i * _tanh(p_z)
        n = g_f * n + g_i
        m = m_new
        h = _sigmoid(p_o) * c / n

        y_off = (offs_b[:, None] * T + t) * HD + head * DH + offs_d[None, :]
        tl.store(y_ptr + y_off, h.to(y_ptr.dtype.element_ty), mask=mask)
        if STORE_ALL:  # for backward; inference keeps only the final state (index 1)
            base = states_ptr + (t + 1) * 4 * slab
            tl.store(base + s_off, h, mask=mask)
            tl.store(base + slab + s_off, c, mask=mask)
            tl.store(base + 2 * slab + s_off, n, mask=mask)
            tl.store(base + 3 * slab + s_off, m, mask=mask)

    if not STORE_ALL:
        base = states_ptr + 4 * slab
        tl.store(base + s_off, h, mask=mask)
        tl.store(base + slab + s_off, c, mask=mask)
        tl.store(base + 2 * slab + s_off, n, mask=mask)
        tl.store(base + 3 * slab + s_off, m, mask=mask)


@triton.jit
def slstm_bwd_kernel(
    wx_ptr, r_ptr, b_ptr, states_ptr, dy_ptr, dlast_ptr, dwx_ptr, dfirst_ptr,
    B, T, NH, DH,
    HAS_STATE: tl.constexpr, EXP_FORGET: tl.constexpr, DOT_PRECISION: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_b = tl.program_id(0)
    head = tl.program_id(1)
    offs_b = (pid_b * BLOCK_B + tl.arange(0, BLOCK_B)).to(tl.int64)
    offs_d = tl.arange(0, BLOCK_D)
    mask_d = offs_d < DH
    mask = (offs_b < B)[:, None] & mask_d[None, :]
    HD = NH * DH

    r_i = _load_r(r_ptr, 0, head, NH, DH, offs_d, mask_d)
    r_f = _load_r(r_ptr, 1, head, NH, DH, offs_d, mask_d)
    r_z = _load_r(r_ptr, 2, head, NH, DH, offs_d, mask_d)
    r_o = _load_r(r_ptr, 3, head, NH, DH, offs_d, mask_d)
    b_i = _load_b(b_ptr, 0, head, NH, DH, offs_d, mask_d)
    b_f = _load_b(b_ptr, 1, head, NH, DH, offs_d, mask_d)
    b_z = _load_b(b_ptr, 2, head, NH, DH, offs_d, mask_d)
    b_o = _load_b(b_ptr, 3, head, NH, DH, offs_d, mask_d)
    # the backward dots run in fp32: d pre is a gradient, keep its precision
    rt_i = tl.trans(r_i.to(tl.float32))
    rt_f = tl.trans(r_f.to(tl.float32))
    rt_z = tl.trans(r_z.to(tl.float32))
    rt_o = tl.trans(r_o.to(tl.float32))

    s_off = offs_b[:, None] * HD + head * DH + offs_d[None, :]
    # int64: (T + 1) * 4 * B * NH * DH passes 2**31 for B*N in the hundreds of thousands
    slab = pid_b.to(tl.int64) * 0 + B * HD
    dh_rec = tl.load(dlast_ptr + s_off, mask=mask, other=0.0)
    dc = tl.load(dlast_ptr + slab + s_off, mask=mask, other=0.0)
    dn = tl.load(dlast_ptr + 2 * slab + s_off, mask=mask, other=0.0)
    dm = tl.load(dlast_ptr + 3 * slab + s_off, mask=mask, other=0.0)

    for step in range(T):
        t = T - 1 - step
        prev = states_ptr + t * 4 * slab
        cur = states_ptr + (t + 1) * 4 * slab
        h_prev = tl.load(prev + s_off, mask=mask, other=0.0)
        c_prev = tl.load(prev + slab + s_off, mask=mask, other=0.0)
        n_prev = tl.load(prev + 2 * slab + s_off, mask=mask, other=0.0)
        m_prev = tl.load(prev + 3 * slab + s_off, mask=mask, other=0.0)
        c = tl.load(cur + slab + s_off, mask=mask, other=0.0)
        n = tl.load(cur + 2 * slab + s_off, mask=mask, other=1.0)  # padded lanes: no 0/0
        m = tl.load(cur + 3 * slab + s_off, mask=mask, other=0.0)

        w_off = (offs_b[:, None] * T + t) * 4 * HD + head * DH + offs_d[None, :]
        p_i, p_f, p_z, p_o = _preactivations(
            wx_ptr, w_off, HD, h_prev, r_i, r_f, r_z, r_o, b_i, b_f, b_z, b_o, mask, DOT_PRECISION
        )
        if EXP_FORGET:
            logf = p_f
        else:
            logf = _log_sigmoid(p_f)
        a = logf + m_prev
        # which branch of max(logf + m_{t-1}, pre_i) won
        if HAS_STATE:
            first = t < 0  # never
            sel_f = a > p_i
        else:
            first = t == 0
            sel_f = (a > p_i) & (t != 0)
        g_i = tl.exp(p_i - m)
        g_f = tl.where(first, 0.0, tl.exp(a - m))
        g_z = _tanh(p_z)
        g_o = _sigmoid(p_o)

        y_off = (offs_b[:, None] * T + t) * HD + head * DH + offs_d[None, :]
        dh = tl.load(dy_ptr + y_off, mask=mask, other=0.0).to(tl.float32) + dh_rec
        inv_n = 1.0 / n
        h_over_o = c * inv_n
        d_po = dh * h_over_o * g_o * (1.0 - g_o)
        dh_o = dh * g_o * inv_n
        dc = dc + dh_o
        dn = dn - dh_o * h_over_o
        d_pz = dc * g_i * (1.0 - g_z * g_z)
        d_gi = (dc * g_z + dn) * g_i
        d_gf = (dc * c_prev + dn * n_prev) * g_f
        d_mt = dm - d_gi - d_gf
        d_a = d_gf + tl.where(sel_f, d_mt, 0.0)
        d_pi = d_gi + tl.where(sel_f, 0.0, d_mt)
        if EXP_FORGET:
            d_pf = d_a
        else:
            d_pf = d_a * _sigmoid(-p_f)  # d logsigmoid(x) / dx = sigmoid(-x)

        d_pi = tl.where(mask, d_pi, 0.0)
        d_pf = tl.where(mask, d_pf, 0.0)
        d_pz = tl.where(mask, d_pz, 0.0)
        d_po = tl.where(mask, d_po, 0.0)
        tl.store(dwx_ptr + w_off, d_pi, mask=mask)
        tl.store(dwx_ptr + w_off + HD, d_pf, mask=mask)
        tl.store(dwx_ptr + w_off + 2 * HD, d_pz, mask=mask)
        tl.store(dwx_ptr + w_off + 3 * HD, d_po, mask=mask)

        dc = dc * g_f
        dn = dn * g_f
        dm = d_a
        dh_rec = tl.dot(d_pi, rt_i, input_precision="ieee")
        dh_rec += tl.dot(d_pf, rt_f, input_precision="ieee")
        dh_rec += tl.dot(d_pz, rt_z, input_precision="ieee")
        dh_rec += tl.dot(d_po, rt_o, input_precision="ieee")

    tl.store(dfirst_ptr + s_off, dh_rec, mask=mask)
    tl.store(dfirst_ptr + slab + s_off, dc, mask=mask)
    tl.store(dfirst_ptr + 2 * slab + s_off, dn, mask=mask)
    tl.store(dfirst_ptr + 3 * slab + s_off, dm, mask=mask)

"""The sLSTM reference against hand-computed values and the official ``xlstm`` package.

The ``xlstm`` package (NX-AI, test-only dependency: ``pip install --no-deps xlstm``) ships an sLSTM
cell with a vanilla PyTorch backend, ``sLSTMCell_vanilla``. Its layout differs from ours:

* input ``(B, T, 4 * NH * DH)`` ordered gates-heads-width (i, f, z, o), like our ``wx`` flattened;
* recurrent kernel stored internally as ``(NH, 4 * DH_out, DH_in)``, i.e. transposed per gate
  block: ``R_int[k, g * DH + e, d] = r[g, k][d, e]``;
* bias stored as ``(4 * NH * DH)`` in gate-head-width order;
* state a single ``(4, B, NH * DH)`` tensor (h, c, n, m) and output ``(B, NH, T, DH)``.

Naming quirk: in ``xlstm``'s ``sLSTMLayer`` the linear module called ``fgate`` produces the
*input*-gate pre-activation and ``igate`` the *forget*-gate one (they are concatenated positionally
as i, f, z, o). We bypass the layer and feed the cell directly, so the quirk does not bite here, but
anyone mapping ``sLSTMLayer`` weights onto ``social_xlstm`` must swap those two.

Its pointwise step clamps ``i'`` and ``f'`` with ``min(., 1)``, a no-op in value; its gradient at the
tie (the selected branch of the max) is halved, but that branch's derivative is exactly zero there,
so gradients agree too.
"""

from __future__ import annotations

import math

import pytest
import torch

from social_xlstm.ops import slstm, slstm_reference
from social_xlstm.ops.slstm import BACKENDS


def _inputs(batch, steps, heads, width, *, dtype=torch.float64, with_state=False, seed=0):
    gen = torch.Generator().manual_seed(seed)
    wx = torch.randn(batch, steps, 4, heads, width, generator=gen, dtype=dtype)
    r = 0.4 * torch.randn(4, heads, width, width, generator=gen, dtype=dtype) / math.sqrt(width)
    b = 0.5 * torch.randn(4, heads, width, generator=gen, dtype=dtype)
    state = None
    if with_state:
        shape = (batch, heads, width)
        state = (
            torch.randn(shape, generator=gen, dtype=dtype),
            torch.randn(shape, generator=gen, dtype=dtype),
            torch.rand(shape, generator=gen, dtype=dtype) + 0.5,
            torch.randn(shape, generator=gen, dtype=dtype),
        )
    return wx, r, b, state


def test_single_step_by_hand():
    # B = NH = DH = 1, no recurrence; pre = (i, f, z, o) = (0, 0, 0.5, 0)
    wx = torch.tensor([0.0, 0.0, 0.5, 0.0], dtype=torch.float64).view(1, 1, 4, 1, 1)
    r = torch.zeros(4, 1, 1, 1, dtype=torch.float64)
    b = torch.zeros(4, 1, 1, dtype=torch.float64)
    state = tuple(torch.tensor(v, dtype=torch.float64).view(1, 1, 1) for v in (0.0, 1.0, 2.0, 0.0))
    h_seq, (h, c, n, m) = slstm_reference(wx, r, b, state)
    # logf = log(1/2); m = max(log(1/2) + 0, 0) = 0; i' = 1; f' = 1/2
    c_expected = 0.5 * 1.0 + math.tanh(0.5)
    n_expected = 0.5 * 2.0 + 1.0
    assert m.item() == 0.0
    assert c.item() == pytest.approx(c_expected, rel=1e-14)
    assert n.item() == pytest.approx(n_expected, rel=1e-14)
    assert h.item() == pytest.approx(0.5 * c_expected / n_expected, rel=1e-14)
    assert h_seq[0, 0].item() == h.item()

    # exponential forget: logf = pre_f = 0 -> m = max(0 + 0, 0) = 0, f' = 1
    _, (h, c, n, m) = slstm_reference(wx, r, b, state, forget="exp")
    assert c.item() == pytest.approx(1.0 + math.tanh(0.5), rel=1e-14)
    assert n.item() == pytest.approx(3.0, rel=1e-14)


def test_first_step_without_state_is_tanh_z_gated():
    wx, r, b, _ = _inputs(2, 1, 2, 3)
    h_seq, (h, c, n, m) = slstm_reference(wx, r, b)
    pre = wx[:, 0] + b  # (B, 4, NH, DH); h_0 = 0, so no recurrent term
    torch.testing.assert_close(m, pre[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(n, torch.ones_like(n), rtol=0, atol=0)
    torch.testing.assert_close(c, torch.tanh(pre[:, 2]))
    torch.testing.assert_close(h_seq[:, 0], torch.sigmoid(pre[:, 3]) * torch.tanh(pre[:, 2]))


def test_unknown_backend_lists_valid_ones():
    wx, r, b, _ = _inputs(1, 2, 1, 2)
    with pytest.raises(ValueError, match="auto, torch, cpu, cpp, triton"):
        slstm(wx, r, b, backend="cuda")
    assert BACKENDS == ("auto", "torch", "cpu", "cpp", "triton")


def test_bad_shapes_and_forget_mode_raise():
    wx, r, b, _ = _inputs(1, 2, 2, 3)
    with pytest.raises(ValueError, match="r must be"):
        slstm(wx, r[:, :1], b)
    with pytest.raises(ValueError, match="forget must be one of"):
        slstm(wx, r, b, forget="tanh")
    with pytest.raises(ValueError, match="state h must be"):
        slstm(wx, r, b, (torch.zeros(1, 2, 2),) * 4)


def test_triton_backend_on_cpu_tensors_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    wx, r, b, _ = _inputs(1, 2, 1, 2)
    with pytest.raises(RuntimeError, match="needs CUDA tensors|needs the 'triton' package"):
        slstm(wx, r, b, backend="triton")


def _xlstm_cell(heads, width, r, b):
    cell_mod = pytest.importorskip("xlstm.blocks.slstm.cell", reason="xlstm not installed (test-only dep)")
    config = cell_mod.sLSTMCellConfig(
        hidden_size=heads * width, num_heads=heads, backend="vanilla", dtype="float32"
    )
    cell = cell_mod.sLSTMCell_vanilla(config).double()
    with torch.no_grad():
        cell._recurrent_kernel_.copy_(r.permute(1, 0, 3, 2).reshape(heads, 4 * width, width))
        cell._bias_.copy_(b.reshape(-1))
    return cell


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (3, 6, 2, 5), (2, 9, 3, 8)])
def test_matches_official_xlstm_vanilla_cell(shape, with_state):
    batch, steps, heads, width = shape
    wx, r, b, state = _inputs(batch, steps, heads, width, with_state=with_state, seed=7)
    cell = _xlstm_cell(heads, width, r, b)
    leaves_ours = [t.clone().requires_grad_() for t in (wx, r, b)]
    x_theirs = wx.clone().requires_grad_()

    h_ours, (h, c, n, m) = slstm_reference(*leaves_ours, state)
    state_theirs = None
    if state is not None:
        state_theirs = torch.stack([s.reshape(batch, heads * width) for s in state])  # (4, B, NH*DH)
    out, last = cell(x_theirs.reshape(batch, steps, 4 * heads * width), state_theirs)
    h_theirs = out.permute(0, 2, 1, 3)  # (B, NH, T, DH) -> (B, T, NH, DH)

    torch.testing.assert_close(h_ours, h_theirs, rtol=1e-10, atol=1e-12)
    for ours, theirs in zip((h, c, n, m), last, strict=True):
        torch.testing.assert_close(ours.reshape(batch, -1), theirs, rtol=1e-10, atol=1e-12)

    weights = torch.randn(h_ours.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    g_ours = torch.autograd.grad((h_ours * weights).sum(), leaves_ours)
    g_x, g_r, g_b = torch.autograd.grad(
        (h_theirs * weights).sum(), (x_theirs, cell._recurrent_kernel_, cell._bias_)
    )
    torch.testing.assert_close(g_ours[0], g_x, rtol=1e-9, atol=1e-12)
    g_r_theirs = g_r.reshape(heads, 4, width, width).permute(1, 0, 3, 2)  # -> (4, NH, DH_in, DH_out)
    torch.testing.assert_close(g_ours[1], g_r_theirs, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_ours[2], g_b.reshape(4, heads, width), rtol=1e-9, atol=1e-12)

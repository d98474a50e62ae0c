"""The functional social mLSTM: hand-computed values, parallel == recurrent, gradients, stability."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from social_xlstm.ops.mlstm import (
    social_mlstm_final_state,
    social_mlstm_parallel,
    social_mlstm_recurrent,
    social_mlstm_step,
)


def _inputs(lead, steps, nbrs, width, *, dtype=torch.float64, pad=True, gate_scale=2.0, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(*shape, generator=gen, dtype=dtype)

    q, k, v = rnd(*lead, steps, width), rnd(*lead, nbrs, steps, width), rnd(*lead, nbrs, steps, width)
    igate = gate_scale * rnd(*lead, nbrs, steps)
    if pad and nbrs > 1:
        igate[..., -1, :] = float("-inf")  # a padded neighbour slot
    logf = F.logsigmoid(rnd(*lead, steps) + 1.0)
    k_edge = rnd(*lead, nbrs, width)
    return q, k, v, igate, logf, k_edge


def test_hand_computed_single_source():
    # One step, one neighbour, DH = 1: C = e^0 * v * k = 6, n = k = 2.
    k = torch.tensor([[[2.0]]], dtype=torch.float64)  # (K=1, T=1, DH=1)
    v = torch.tensor([[[3.0]]], dtype=torch.float64)
    igate = torch.zeros(1, 1, dtype=torch.float64)
    logf = torch.zeros(1, dtype=torch.float64)
    # |n q| = 0.5 < 1: the floor applies, out = C q / 1 = 1.5.
    out = social_mlstm_parallel(torch.tensor([[0.25]], dtype=torch.float64), k, v, igate, logf)
    assert out.item() == pytest.approx(1.5)
    # |n q| = 2 > 1: out = C q / (n q) = 6 / 2 = 3 (= v, as for any single source).
    out = social_mlstm_parallel(torch.tensor([[1.0]], dtype=torch.float64), k, v, igate, logf)
    assert out.item() == pytest.approx(3.0)


def test_hand_computed_two_steps_with_forget():
    # Step 1 writes (k=1, v=2) with gate e^0; step 2 forgets by f = 0.5 and writes (k=1, v=4) with e^ln(3).
    # C_2 = 0.5 * 2 + 3 * 4 = 13, n_2 = 0.5 + 3 = 3.5, q = 1 -> out_2 = 13 / 3.5.
    k = torch.ones(1, 2, 1, dtype=torch.float64)
    v = torch.tensor([[[2.0], [4.0]]], dtype=torch.float64)
    igate = torch.tensor([[0.0, math.log(3.0)]], dtype=torch.float64)
    logf = torch.tensor([0.0, math.log(0.5)], dtype=torch.float64)
    q = torch.ones(2, 1, dtype=torch.float64)
    out = social_mlstm_parallel(q, k, v, igate, logf)
    assert out[1].item() == pytest.approx(13.0 / 3.5)
    assert out[0].item() == pytest.approx(2.0)  # first step: v itself (|n q| = 1)
    rec, _ = social_mlstm_recurrent(q, k, v, igate, logf)
    torch.testing.assert_close(rec, out)


@pytest.mark.parametrize(
    "lead,steps,nbrs,width",
    [((2, 3), 6, 4, 5), ((1,), 1, 1, 4), ((3,), 5, 1, 3), ((2,), 1, 3, 7), ((2, 2), 12, 5, 16)],
)
def test_parallel_matches_recurrent(lead, steps, nbrs, width):
    q, k, v, igate, logf, k_edge = _inputs(lead, steps, nbrs, width)
    par = social_mlstm_parallel(q, k, v, igate, logf, k_edge=k_edge)
    rec, state = social_mlstm_recurrent(q, k + k_edge[..., None, :], v, igate, logf)
    torch.testing.assert_close(par, rec, rtol=1e-10, atol=1e-12)
    last = social_mlstm_parallel(q, k, v, igate, logf, k_edge=k_edge, last_only=True)
    torch.testing.assert_close(last[..., 0, :], rec[..., -1, :], rtol=1e-10, atol=1e-12)
    for got, want in zip(
        social_mlstm_final_state(k + k_edge[..., None, :], v, igate, logf), state, strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_gradients_agree_and_are_finite():
    q, k, v, igate, logf, k_edge = _inputs((2, 3), 5, 3, 4)
    leaves = [t.clone().requires_grad_() for t in (q, k, v, igate, logf, k_edge)]
    # The padded slot is -inf: its gradient must be 0, not NaN.
    social_mlstm_parallel(*leaves[:5], k_edge=leaves[5]).square().sum().backward()
    grads_par = [t.grad for t in leaves]
    leaves2 = [t.clone().requires_grad_() for t in (q, k, v, igate, logf, k_edge)]
    out, _ = social_mlstm_recurrent(leaves2[0], leaves2[1] + leaves2[5][..., None, :], *leaves2[2:5])
    out.square().sum().backward()
    for name, g1, g2 in zip(
        ["q", "k", "v", "igate", "logf", "k_edge"], grads_par, [t.grad for t in leaves2], strict=True
    ):
        assert torch.isfinite(g1).all(), name
        torch.testing.assert_close(g1, g2, rtol=1e-9, atol=1e-11, msg=name)
    assert (grads_par[3][..., -1, :] == 0).all()


def test_large_gates_do_not_overflow_in_fp32():
    # Input gates of 200 would overflow exp() in fp32 without the max-state; the stabilised forms
    # must match the fp64 result.
    q, k, v, igate, logf, k_edge = _inputs((2,), 6, 3, 4, dtype=torch.float64, gate_scale=1.0)
    igate = igate + 200.0
    want = social_mlstm_parallel(q, k, v, igate, logf, k_edge=k_edge)
    args32 = [t.float() for t in (q, k, v, igate, logf)]
    got = social_mlstm_parallel(*args32, k_edge=k_edge.float())
    rec, _ = social_mlstm_recurrent(args32[0], args32[1] + k_edge.float()[..., None, :], *args32[2:])
    assert torch.isfinite(got).all() and torch.isfinite(rec).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(rec.double(), want, rtol=1e-4, atol=1e-4)


def test_step_from_empty_state_equals_first_parallel_step():
    q, k, v, igate, logf, _ = _inputs((3,), 1, 4, 5)
    out, (c, n, m) = social_mlstm_step(q[..., 0, :], k[..., 0, :], v[..., 0, :], igate[..., 0], logf[..., 0])
    torch.testing.assert_close(out, social_mlstm_parallel(q, k, v, igate, logf)[..., 0, :])
    assert c.shape == (3, 5, 5) and n.shape == (3, 5) and m.shape == (3,)

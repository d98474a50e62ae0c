"""Source-memory social mLSTM op: parallel vs recurrent memories, reads against a dense loop, extremes."""

from __future__ import annotations

import pytest
import torch

from social_xlstm.ops.mlstm import (
    read_neighbour_memories,
    source_memory_parallel,
    source_memory_step,
)

B, NH, N, T, DH = 2, 3, 4, 5, 3
# self loops, ring 0->1->2->3->0 and 0->2; sorted by (dst, src) as the op requires
EDGES = sorted([(0, 0), (1, 1), (2, 2), (3, 3), (0, 1), (1, 2), (2, 3), (3, 0), (0, 2)], key=lambda e: (e[1], e[0]))
SRC = torch.tensor([s for s, _ in EDGES])
DST = torch.tensor([d for _, d in EDGES])


def _to_op_layout(k, v, igate, logf, q, gate, k_edge):
    """(B, NH, N, ...) as the tests write them -> the op's (NH, N, B, ...)."""
    return (k.permute(1, 2, 0, 3, 4), v.permute(1, 2, 0, 3, 4), igate.permute(1, 2, 0, 3), logf.permute(1, 2, 0, 3),
            q.permute(1, 2, 0, 3), gate, k_edge)


def _op(k, v, igate, logf, q, gate, k_edge, with_edge_keys=True):
    k, v, igate, logf, q, gate, k_edge = _to_op_layout(k, v, igate, logf, q, gate, k_edge)
    out = read_neighbour_memories(source_memory_parallel(k, v, igate, logf), q, gate, SRC, DST,
                                  k_edge if with_edge_keys else None)
    return out.permute(2, 0, 1, 3)  # (B, NH, N, DH)


def _inputs(seed=0, scale=1.0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    k = torch.randn(B, NH, N, T, DH, generator=gen, dtype=dtype)
    v = torch.randn(B, NH, N, T, DH, generator=gen, dtype=dtype)
    igate = scale * torch.randn(B, NH, N, T, generator=gen, dtype=dtype)
    logf = torch.nn.functional.logsigmoid(scale * torch.randn(B, NH, N, T, generator=gen, dtype=dtype) + 2)
    q = torch.randn(B, NH, N, DH, generator=gen, dtype=dtype)
    gate = scale * torch.randn(NH, len(EDGES), generator=gen, dtype=dtype)
    k_edge = torch.randn(NH, len(EDGES), DH, generator=gen, dtype=dtype)
    return k, v, igate, logf, q, gate, k_edge


def _dense(k, v, igate, logf, q, gate, k_edge):
    """The equations, unstabilised, with explicit loops over batch, head, edge and step."""
    out = torch.zeros(B, NH, N, DH, dtype=k.dtype)
    for b in range(B):
        for h in range(NH):
            num = torch.zeros(N, DH, dtype=k.dtype)
            den = torch.zeros(N, dtype=k.dtype)
            for e, (j, i) in enumerate(EDGES):
                for s in range(T):
                    decay = logf[b, h, j, s + 1 :].sum()
                    w = torch.exp(gate[h, e] + igate[b, h, j, s] + decay)
                    key = k[b, h, j, s] + k_edge[h, e]
                    score = key @ q[b, h, i]
                    num[i] += w * score * v[b, h, j, s]
                    den[i] += w * score
            out[b, h] = num / torch.clamp(den.abs(), min=1.0)[:, None]
    return out


def test_parallel_memory_equals_recurrent_steps():
    k, v, igate, logf, q, gate, k_edge = _to_op_layout(*_inputs())
    parallel = source_memory_parallel(k, v, igate, logf)
    state = None
    for t in range(T):
        state = source_memory_step(k[..., t, :], v[..., t, :], igate[..., t], logf[..., t], state)
    # The parallel form stores every memory relative to the row maximum, the recurrent one relative to
    # its own max-state: the same memories once both are rescaled to the true values.
    for name in ("c", "n", "v", "w"):
        a, b = getattr(parallel, name), getattr(state, name)
        extra = (None,) * (a.dim() - 3)
        true_a = a * torch.exp(parallel.m)[(...,) + extra]
        true_b = b * torch.exp(state.m)[(...,) + extra]
        torch.testing.assert_close(true_a, true_b, rtol=1e-12, atol=1e-12, msg=name)
    reads = [read_neighbour_memories(mem, q, gate, SRC, DST, k_edge) for mem in (parallel, state)]
    torch.testing.assert_close(reads[0], reads[1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_edge_keys", [True, False])
def test_read_matches_dense_equations(with_edge_keys):
    k, v, igate, logf, q, gate, k_edge = _inputs(seed=1)
    k_edge = k_edge if with_edge_keys else torch.zeros_like(k_edge)
    got = _op(k, v, igate, logf, q, gate, k_edge, with_edge_keys)
    torch.testing.assert_close(got, _dense(k, v, igate, logf, q, gate, k_edge), rtol=1e-10, atol=1e-12)


def test_gradients_match_dense_equations():
    inputs = [t.requires_grad_() for t in _inputs(seed=2)]
    got = _op(*inputs)
    grads = torch.autograd.grad(got.square().sum(), inputs)
    want = torch.autograd.grad(_dense(*inputs).square().sum(), inputs)
    for g, w in zip(grads, want, strict=True):
        torch.testing.assert_close(g, w, rtol=1e-8, atol=1e-10)


def test_large_gates_stay_finite_in_fp32():
    # Pre-activations of +-50 overflow exp() without the max-states; with them every factor is <= 1.
    out = _op(*_inputs(seed=3, scale=50.0, dtype=torch.float32))
    assert torch.isfinite(out).all()
    assert out.abs().max() < 1e3  # a weighted mean of values over max(|den|, 1): no blow-up either


def test_memory_of_one_step_is_the_outer_product():
    k, v, igate, logf, *_ = _to_op_layout(*_inputs(seed=4))
    state = source_memory_step(k[..., 0, :], v[..., 0, :], igate[..., 0], logf[..., 0])
    torch.testing.assert_close(state.c, v[..., 0, :, None] * k[..., 0, None, :])
    torch.testing.assert_close(state.m, igate[..., 0])
    torch.testing.assert_close(state.w, torch.ones_like(state.w))

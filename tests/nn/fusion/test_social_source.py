"""Source-memory social layer on the hand-written 4-node graph against a dense computation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from test_social import (  # the same hand-written graph (pytest puts this folder on sys.path)
    EDGE_ATTR,
    EDGE_INDEX,
    output_path,
    parameter_blocks,
)

from social_xlstm.nn.fusion import SourceSocialMLSTM
from social_xlstm.nn.fusion.social_source import soft_cap


def _dense_reference(layer: SourceSocialMLSTM, h: torch.Tensor) -> torch.Tensor:
    """Loops over batch, target, head and step; each source's memory rebuilt from its own history."""
    heads, width = layer.heads, layer.head_dim
    c = heads * width
    p = parameter_blocks(layer)
    wq, bq, wk, wv, wi, wf = p["wq"], p["bq"], p["wk"], p["wv"], p["wi"], p["wf"]
    bk, bv, bi, bf, wke, wie = p["bk"], p["bv"], p["bi"], p["bf"], p["wke"], p["wie"]
    x = F.layer_norm(h, (h.shape[-1],), layer.norm.weight, layer.norm.bias)  # (B, T, N, D)
    batch, steps, nodes, _ = h.shape
    out = torch.zeros(batch, steps, nodes, c, dtype=h.dtype)
    for b in range(batch):
        for hd in range(heads):
            sl = slice(hd * width, (hd + 1) * width)
            mem = torch.zeros(nodes, width, width, dtype=h.dtype)  # C_j, unstabilised
            key_sum = torch.zeros(nodes, width, dtype=h.dtype)
            val_sum = torch.zeros(nodes, width, dtype=h.dtype)
            weight_sum = torch.zeros(nodes, dtype=h.dtype)
            for t in range(steps):
                for j in range(nodes):
                    f = torch.sigmoid(wf[hd] @ x[b, t, j] + bf[hd])
                    a = torch.exp(soft_cap(wi[hd] @ x[b, t, j] + bi[hd]))
                    k = wk[sl] @ x[b, t, j] + bk[sl]
                    v = wv[sl] @ x[b, t, j] + bv[sl]
                    mem[j] = f * mem[j] + a * torch.outer(v, k)
                    key_sum[j] = f * key_sum[j] + a * k
                    val_sum[j] = f * val_sum[j] + a * v
                    weight_sum[j] = f * weight_sum[j] + a
                for i in range(nodes):
                    q = (wq[sl] @ x[b, t, i] + bq[sl]) / math.sqrt(width)
                    num = torch.zeros(width, dtype=h.dtype)
                    den = torch.zeros((), dtype=h.dtype)
                    for e in range(EDGE_INDEX.shape[1]):
                        j, dst = EDGE_INDEX[:, e].tolist()
                        if dst != i:
                            continue
                        attr = EDGE_ATTR[e].to(h.dtype)
                        g = torch.exp(soft_cap(wie[hd] @ attr))
                        ke_q = (wke[sl] @ attr) @ q
                        num = num + g * (mem[j] @ q + ke_q * val_sum[j])
                        den = den + g * (key_sum[j] @ q + ke_q * weight_sum[j])
                    out[b, t, i, sl] = num / torch.clamp(den.abs(), min=1.0)
    return output_path(layer, h, x, out)


def _layer(context: str, seed: int = 0) -> SourceSocialMLSTM:
    torch.manual_seed(seed)
    layer = SourceSocialMLSTM(8, EDGE_INDEX, EDGE_ATTR, 4, heads=2, head_dim=3, context=context).double()
    with torch.no_grad():  # off the structured initialisation (zero gate weights, ...)
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


@pytest.mark.parametrize("context", ["all", "last"])
def test_layer_matches_dense_equations(context):
    layer = _layer(context)
    h = torch.randn(2, 5, 4, 8, dtype=torch.float64)
    want = _dense_reference(layer, h)  # (B, T, N, D)
    got = layer(h)
    torch.testing.assert_close(got, want[:, -1] if context == "last" else want, rtol=1e-10, atol=1e-10)


def test_streaming_steps_match_parallel_last_step():
    layer = _layer("last", seed=1)
    h = torch.randn(3, 6, 4, 8, dtype=torch.float64)
    state = None
    for t in range(h.shape[1]):
        out, state = layer.step(h[:, t], state)
    torch.testing.assert_close(out, layer(h), rtol=1e-10, atol=1e-10)
    assert state.c.shape == (2, 4, 3, 3, 3)  # one (DH, DH) memory per head, VD and batch row


def test_invariant_to_edge_order_and_gradients_reach_every_parameter():
    layer = _layer("last", seed=2).float()
    perm = torch.randperm(EDGE_INDEX.shape[1], generator=torch.Generator().manual_seed(0))
    shuffled = SourceSocialMLSTM(8, EDGE_INDEX[:, perm], EDGE_ATTR[perm], 4, heads=2, head_dim=3)
    shuffled.load_state_dict(layer.state_dict(), strict=False)
    h = torch.randn(2, 7, 4, 8, requires_grad=True)
    out = layer(h)
    torch.testing.assert_close(shuffled(h), out)
    out.square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_rejects_duplicate_edges():
    doubled = torch.cat([EDGE_INDEX, EDGE_INDEX[:, :1]], 1)
    with pytest.raises(ValueError, match="duplicate edges"):
        SourceSocialMLSTM(8, doubled, torch.cat([EDGE_ATTR, EDGE_ATTR[:1]]), 4, heads=2)


def test_soft_cap_is_identity_near_zero_and_bounded():
    x = torch.tensor([-1e3, -50.0, -0.01, 0.0, 0.01, 50.0, 1e3])
    y = soft_cap(x)
    assert y.abs().max() <= 15.0
    torch.testing.assert_close(y[2:5], x[2:5], rtol=1e-6, atol=0)

"""The network-wide read against a dense (N x N) linear-attention reference, and its scaling."""

from __future__ import annotations

import math

import pytest
import torch

from social_xlstm.nn.fusion.global_read import GlobalRead


def _dense_reference(layer: GlobalRead, h: torch.Tensor) -> torch.Tensor:
    """The module docstring's equations with an explicit (N x N) weight matrix, unstabilised, in fp64."""
    layer = layer.double()
    h = h.double()
    heads, width = layer.heads, layer.head_dim
    channels = heads * width
    x = layer.norm(h)
    q, gate = layer.query(x).chunk(2, dim=-1)
    src = layer.source(x)
    k, v, i_pre = src[..., :channels], src[..., channels : 2 * channels], src[..., 2 * channels :]
    outs = []
    for head in range(heads):
        cols = slice(head * width, (head + 1) * width)
        qh, kh, vh = q[..., cols], k[..., cols] / math.sqrt(width), v[..., cols]
        scores = torch.einsum("bid,bjd->bij", qh, kh) * torch.exp(i_pre[..., head])[:, None, :]  # (B, N, N)
        numer = torch.einsum("bij,bjd->bid", scores, vh)
        denom = scores.sum(-1).abs().clamp_min(1.0)  # |n . q| with n = sum_j exp(i_j) k_j
        outs.append(numer / denom[..., None])
    read = torch.cat(outs, dim=-1)
    return layer.out_proj(torch.sigmoid(gate) * layer.out_norm(read))


@pytest.mark.parametrize(("batch", "nodes", "d_model", "heads", "head_dim"), [(2, 7, 12, 3, None), (1, 1, 8, 2, 5)])
def test_equals_the_dense_reference(batch, nodes, d_model, heads, head_dim):
    torch.manual_seed(0)
    layer = GlobalRead(d_model, heads, head_dim)
    for p in layer.parameters():  # away from the zero init, so every term is exercised
        torch.nn.init.normal_(p, std=0.5)
    h = torch.randn(batch, nodes, d_model, dtype=torch.float64)
    expected = _dense_reference(layer, h)
    torch.testing.assert_close(layer.double()(h), expected, rtol=1e-10, atol=1e-10)


def test_large_gates_do_not_overflow_and_match_the_reference():
    torch.manual_seed(1)
    layer = GlobalRead(8, 2).double()
    for p in layer.parameters():
        torch.nn.init.normal_(p, std=0.5)
    with torch.no_grad():
        layer.source.bias[-2:] = 600.0  # exp(600) overflows even fp64 without the max-state
    h = torch.randn(2, 5, 8, dtype=torch.float64)
    assert torch.isfinite(layer(h)).all()
    with torch.no_grad():
        layer.source.bias[-2:] = 30.0  # large, but the unstabilised fp64 reference still holds it
    torch.testing.assert_close(layer(h), _dense_reference(layer, h), rtol=1e-9, atol=1e-9)


def test_starts_as_the_identity_residual_and_every_parameter_learns():
    torch.manual_seed(2)
    layer = GlobalRead(16, 4)
    h = torch.randn(3, 9, 16)
    assert torch.equal(layer(h), torch.zeros_like(h))
    with torch.no_grad():
        layer.out_proj.weight.normal_()
    layer(h).square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_cost_is_linear_in_the_vds():
    # 20,000 VDs: an (N x N) matrix would be 1.6 GB in fp32 per head; the memory form needs a few MB.
    layer = GlobalRead(16, 4)
    with torch.no_grad():
        out = layer(torch.randn(1, 20_000, 16))
    assert out.shape == (1, 20_000, 16)

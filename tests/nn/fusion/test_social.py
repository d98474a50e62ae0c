"""Social mLSTM layer on a hand-written 4-node graph against a dense computation from the equations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from social_xlstm.nn.fusion import SocialMLSTM, neighbour_table

# 4 nodes, self loops, a directed ring 0->1->2->3->0 and a shortcut 0->2 (node 2 has 3 in-edges,
# the others 2, so padding is exercised).
EDGE_INDEX = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3, 0], [0, 1, 2, 3, 1, 2, 3, 0, 2]])
EDGE_ATTR = torch.tensor(
    [
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
        [0.0, 0.0],
        [1.0, 0.5],
        [0.8, -0.5],
        [1.2, 0.3],
        [0.5, -1.0],
        [2.0, 1.0],
    ]
)


def test_neighbour_table_lists_sources_and_pads():
    index, mask, attr = neighbour_table(EDGE_INDEX, EDGE_ATTR, 4)
    assert index.shape == (4, 3)
    rows = [sorted(index[i][mask[i]].tolist()) for i in range(4)]
    assert rows == [[0, 3], [0, 1], [0, 1, 2], [2, 3]]
    assert mask.sum(1).tolist() == [2, 2, 3, 2]
    assert index[0, 2] == 0 and not mask[0, 2]  # padding points at the node itself
    slot = (index[2] == 0) & mask[2]  # edge 0 -> 2 carries [2, 1]
    torch.testing.assert_close(attr[2][slot][0], torch.tensor([2.0, 1.0]))
    assert (attr[~mask] == 0).all()


def test_neighbour_table_rejects_node_without_in_edge():
    with pytest.raises(ValueError, match=r"nodes \[3\] have no incoming edge"):
        neighbour_table(torch.tensor([[0, 1, 2], [0, 1, 2]]), torch.zeros(3, 1), 4)
    with pytest.raises(ValueError, match="outside"):
        neighbour_table(torch.tensor([[0, 5], [0, 1]]), torch.zeros(2, 1), 4)


def parameter_blocks(layer: SocialMLSTM) -> dict[str, torch.Tensor]:
    """The weights by role, read from the documented layout (shared with the source-form test)."""
    heads, c = layer.heads, layer.heads * layer.head_dim
    ws, bs = layer.source.weight, layer.source.bias
    return {
        "wq": layer.query.weight[:c], "wo": layer.query.weight[c:], "bq": layer.query.bias[:c],
        "bo": layer.query.bias[c:], "wk": ws[:c], "wv": ws[c : 2 * c], "wi": ws[2 * c : 2 * c + heads],
        "wf": ws[2 * c + heads :], "bk": bs[:c], "bv": bs[c : 2 * c], "bi": bs[2 * c : 2 * c + heads],
        "bf": bs[2 * c + heads :], "wke": layer.edge.weight[:c], "wie": layer.edge.weight[c:],
    }  # fmt: skip


def output_path(layer: SocialMLSTM, h: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Per-head normalisation of the reads, output gate, projection and residual, written out."""
    batch, steps, nodes, c = out.shape
    groups = out.view(batch, steps, nodes, layer.heads, layer.head_dim)
    mean = groups.mean(-1, keepdim=True)
    var = groups.var(-1, unbiased=False, keepdim=True)
    normed = ((groups - mean) / torch.sqrt(var + layer.out_norm.eps)).view(batch, steps, nodes, c)
    normed = normed * layer.out_norm.weight + layer.out_norm.bias
    blocks = parameter_blocks(layer)
    gate = torch.sigmoid(x @ blocks["wo"].T + blocks["bo"])
    return h + (gate * normed) @ layer.out_proj.weight.T + layer.out_proj.bias


def _dense_reference(layer: SocialMLSTM, h: torch.Tensor) -> torch.Tensor:
    """Loops over batch, node, head and step; memories built edge by edge from the raw edge list."""
    heads, width = layer.heads, layer.head_dim
    c = heads * width
    p = parameter_blocks(layer)
    wq, bq, wk, wv, wi, wf = p["wq"], p["bq"], p["wk"], p["wv"], p["wi"], p["wf"]
    bk, bv, bi, bf, wke, wie = p["bk"], p["bv"], p["bi"], p["bf"], p["wke"], p["wie"]
    x = F.layer_norm(h, (h.shape[-1],), layer.norm.weight, layer.norm.bias)  # (B, T, N, D)
    batch, steps, nodes, _ = h.shape
    out = torch.zeros(batch, steps, nodes, c, dtype=h.dtype)
    for b in range(batch):
        for i in range(nodes):
            edges = [e for e in range(EDGE_INDEX.shape[1]) if EDGE_INDEX[1, e] == i]
            for hd in range(heads):
                sl = slice(hd * width, (hd + 1) * width)
                mem = torch.zeros(width, width, dtype=h.dtype)
                norm = torch.zeros(width, dtype=h.dtype)
                for t in range(steps):
                    f = torch.sigmoid(wf[hd] @ x[b, t, i] + bf[hd])
                    mem, norm = f * mem, f * norm
                    for e in edges:
                        j, attr = EDGE_INDEX[0, e], EDGE_ATTR[e].to(h.dtype)
                        k = wk[sl] @ x[b, t, j] + bk[sl] + wke[sl] @ attr
                        v = wv[sl] @ x[b, t, j] + bv[sl]
                        gate = torch.exp(wi[hd] @ x[b, t, j] + bi[hd] + wie[hd] @ attr)
                        mem = mem + gate * torch.outer(v, k)
                        norm = norm + gate * k
                    q = (wq[sl] @ x[b, t, i] + bq[sl]) / math.sqrt(width)
                    out[b, t, i, sl] = mem @ q / torch.clamp((norm @ q).abs(), min=1.0)
    return output_path(layer, h, x, out)


def _layer(context: str, seed: int = 0) -> SocialMLSTM:
    torch.manual_seed(seed)
    layer = SocialMLSTM(8, EDGE_INDEX, EDGE_ATTR, 4, heads=2, head_dim=3, context=context).double()
    # Move every parameter off its structured initialisation (zero input-gate weights, ...).
    with torch.no_grad():
        for p in layer.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return layer


@pytest.mark.parametrize("context", ["all", "last"])
def test_layer_matches_dense_equations(context):
    layer = _layer(context)
    h = torch.randn(2, 5, 4, 8, dtype=torch.float64)
    want = _dense_reference(layer, h)  # (B, T, N, D)
    got = layer(h)
    if context == "last":
        assert got.shape == (2, 4, 8)
        torch.testing.assert_close(got, want[:, -1], rtol=1e-10, atol=1e-10)
    else:
        assert got.shape == (2, 5, 4, 8)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_streaming_steps_match_parallel_form():
    layer = _layer("all", seed=1)
    h = torch.randn(3, 6, 4, 8, dtype=torch.float64)
    state, outs = None, []
    for t in range(h.shape[1]):
        out, state = layer.step(h[:, t], state)
        outs.append(out)
    torch.testing.assert_close(torch.stack(outs, 1), layer(h), rtol=1e-10, atol=1e-10)
    assert state[0].shape == (3, 2, 4, 3, 3)  # C: (B, NH, N, DH, DH)


def test_gradients_reach_every_parameter_and_are_finite():
    layer = _layer("last").float()
    h = torch.randn(2, 7, 4, 8, requires_grad=True)
    layer(h).square().mean().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert torch.isfinite(h.grad).all()


def test_starts_as_uniform_neighbour_memory_and_repr():
    layer = SocialMLSTM(8, EDGE_INDEX, EDGE_ATTR, 4, heads=2)
    assert (layer.edge.weight[2 * 4 :] == 0).all()  # edge part of the input gate starts at 0
    assert repr(layer) == (
        "SocialMLSTM(8, heads=2, head_dim=4, nodes=4, max_neighbours=3, edge_dim=2, edge_gate='linear', context='last')"
    )
    with pytest.raises(ValueError, match="3 VDs, the graph has 4"):
        layer(torch.randn(1, 2, 3, 8))

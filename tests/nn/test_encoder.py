"""The sLSTM encoder's hand-fused parts against the plain formulas they replace, outputs and every gradient.

Each fused piece (per-head layer norm for ``nn.GroupNorm``, the in-place causal conv + SiLU, the gated
activation without a concatenation in backward) and the whole block are compared with a plain transcription
of the block as it was written before the speed work (``_plain_block``), in fp64 so that the tolerance
(rtol 1e-10) checks the algebra, not float rounding. The compiled block (``encoder.compile``) is compared in
fp32 against the eager one: inductor reorders reductions and fuses differently, so it agrees only to fp32
rounding (rtol 1e-4 / atol 1e-5, a few ulps of the (M, T, D) sums that feed LayerNorm and the gradients).
"""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from social_xlstm.nn import ModelConfig
from social_xlstm.nn.encoder import CausalConv1d, GatedFeedForward, SLSTMBlock, SLSTMEncoder
from social_xlstm.nn.multihead_norm import MultiHeadLayerNorm
from social_xlstm.ops import slstm

TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def _grads(out, leaves, seed=1):
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    return torch.autograd.grad((out * weight).sum(), leaves)


def _check(fn_new, fn_ref, leaves, tol=TIGHT):
    new, ref = fn_new(), fn_ref()
    torch.testing.assert_close(new, ref, **tol)
    for k, (a, e) in enumerate(zip(_grads(new, leaves), _grads(ref, leaves), strict=True)):
        torch.testing.assert_close(a, e, **tol, msg=lambda m, k=k: f"gradient {k}: {m}")


def _randomise(module: nn.Module, seed: int = 0) -> None:
    """Random values for every parameter (the unit affine of a fresh norm would hide a wrong index)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.parametrize(("heads", "channels"), [(1, 5), (4, 64), (3, 12), (2, 14)])
def test_multihead_layer_norm_is_group_norm(heads, channels):
    torch.manual_seed(0)
    ours, group = MultiHeadLayerNorm(heads, channels).double(), nn.GroupNorm(heads, channels).double()
    _randomise(ours)
    group.load_state_dict(ours.state_dict())  # same parameter names and shapes: checkpoints load
    x = (3.0 * torch.randn(7, 3, channels, dtype=torch.float64) + 1.0).requires_grad_()
    leaves = [x, *ours.parameters()]

    def ref():
        return group(x.reshape(-1, channels)).view(x.shape)

    # group's parameters are separate tensors; compare its gradients through the shared values instead
    new = ours(x)
    torch.testing.assert_close(new, ref(), **TIGHT)
    g_new = _grads(new, leaves)
    g_ref = _grads(ref(), [x, *group.parameters()])
    for a, e in zip(g_new, g_ref, strict=True):
        torch.testing.assert_close(a, e, **TIGHT)


@pytest.mark.parametrize("kernel", [1, 2, 4, 7])
@pytest.mark.parametrize("steps", [1, 3, 12])
def test_causal_conv_silu_matches_padded_formula(kernel, steps):
    torch.manual_seed(kernel * 10 + steps)
    conv = CausalConv1d(5, kernel).double()  # kernel 7 > steps 3: taps that only see the padding
    x = torch.randn(4, steps, 5, dtype=torch.float64, requires_grad=True)
    _check(lambda: conv(x), lambda: F.silu(conv.conv(x)), [x, conv.weight, conv.bias])


@pytest.mark.parametrize("activation", ["gelu", "swiglu"])
def test_gated_feed_forward_matches_chunk_formula(activation):
    torch.manual_seed(0)
    ff = GatedFeedForward(6, 10, activation).double()
    act = F.gelu if activation == "gelu" else F.silu
    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)

    def ref():
        gate, value = ff.up(x).chunk(2, dim=-1)
        return ff.down(act(gate) * value)

    _check(lambda: ff(x), ref, [x, *ff.parameters()])


def _plain_block(block: SLSTMBlock, x: torch.Tensor) -> torch.Tensor:
    """The block as written before the fused parts: GroupNorm, padded conv + SiLU, chunked feed-forward."""
    batch, steps, d = x.shape
    y = F.layer_norm(x, (d,), block.norm.weight, block.norm.bias, block.norm.eps)
    c = F.silu(block.conv.conv(y)) if block.conv is not None else y
    w_if = (c @ block.proj_if.weight.T).view(batch, steps, 2, block.heads, block.width)
    w_zo = (y @ block.proj_zo.weight.T).view(batch, steps, 2, block.heads, block.width)
    h_seq, _ = slstm(torch.cat([w_if, w_zo], dim=2), block.r, block.b, backend="torch", forget=block.forget)
    norm = block.out_norm
    h = F.group_norm(h_seq.reshape(batch * steps, d), block.heads, norm.weight, norm.bias, norm.eps)
    x = x + h.view(batch, steps, d)
    z = F.layer_norm(x, (d,), block.ff_norm.weight, block.ff_norm.bias, block.ff_norm.eps)
    gate, value = block.ff.up(z).chunk(2, dim=-1)
    act = F.gelu if block.ff.activation == "gelu" else F.silu
    return x + block.ff.down(act(gate) * value)


def _block(d=12, steps=5, **encoder):
    torch.manual_seed(0)
    config = ModelConfig(d_model=d, dropout=0.0, encoder={"heads": 3, **encoder}).encoder
    block = SLSTMBlock(d, config).double()
    _randomise(block)
    with torch.no_grad():
        block.r.mul_(0.3)  # keep the recurrence contractive, as after init, so the check is well conditioned
    x = torch.randn(4, steps, d, dtype=torch.float64, requires_grad=True)
    return block, x


@pytest.mark.parametrize(
    "encoder",
    [{}, {"conv_kernel": 0}, {"ff_activation": "swiglu", "forget": "exp"}, {"conv_kernel": 6}],
)
@pytest.mark.parametrize("steps", [1, 5])
def test_block_matches_plain_formula(encoder, steps):
    block, x = _block(steps=steps, **encoder)
    _check(lambda: block(x), lambda: _plain_block(block, x), [x, *block.parameters()])


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("g++") is None and shutil.which("c++") is None,
    reason="torch.compile (inductor) on CPU needs a C++ compiler, none on PATH",
)
def test_compiled_encoder_matches_eager():
    torch.manual_seed(0)
    configs = [ModelConfig(d_model=16, dropout=0.0, encoder={"heads": 2, "compile": c}).encoder for c in (0, 1)]
    eager, compiled = (SLSTMEncoder(16, c) for c in configs)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(6, 7, 16, requires_grad=True)
    loose = {"rtol": 1e-4, "atol": 1e-5}
    for _ in range(2):  # the second call runs the cached graphs
        new, ref = compiled(x), eager(x)
        torch.testing.assert_close(new, ref, **loose)
        g_new = _grads(new, [x, *compiled.parameters()])
        g_ref = _grads(ref, [x, *eager.parameters()])
        for k, (a, e) in enumerate(zip(g_new, g_ref, strict=True)):
            torch.testing.assert_close(a, e, **loose, msg=lambda m, k=k: f"gradient {k}: {m}")

"""The fused Triton sLSTM kernels against the reference.

On a machine without a GPU the kernels run in Triton's interpreter. Triton reads
``TRITON_INTERPRET`` when ``@triton.jit`` decorates a kernel, i.e. when
``social_xlstm.ops.slstm.triton_kernels`` is imported, so the fixture below sets the variable and
then (re)imports that module; it restores both afterwards so no other test sees interpreted kernels.
Interpreted kernels are slow (~1 s per small case), so only a few cases run by default and the full
grid is marked ``slow``. Large shapes and low precision need a real GPU (``gpu`` marker).
"""

from __future__ import annotations

import importlib
import math
import os

import pytest
import torch

from social_xlstm.ops import slstm, slstm_reference

pytest.importorskip("triton", reason="triton is not installed")

NAMES = ["h_seq", "h", "c", "n", "m", "d_wx", "d_r", "d_b", "d_h0", "d_c0", "d_n0", "d_m0"]
HAS_GPU = torch.cuda.is_available()


@pytest.fixture(scope="module")
def device():
    """CUDA when present; otherwise the CPU with the kernels reloaded under the interpreter."""
    if HAS_GPU:
        yield torch.device("cuda")
        return
    from social_xlstm.ops.slstm import triton_kernels

    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    importlib.reload(triton_kernels)
    yield torch.device("cpu")
    if old is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = old
    importlib.reload(triton_kernels)


def _inputs(batch, steps, heads, width, device, *, with_state, seed, scale=1.0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    tensors = [
        scale * torch.randn(batch, steps, 4, heads, width, generator=gen),
        0.4 * torch.randn(4, heads, width, width, generator=gen) / math.sqrt(width),
        0.5 * torch.randn(4, heads, width, generator=gen),
    ]
    if with_state:
        shape = (batch, heads, width)
        tensors += [
            torch.randn(shape, generator=gen),
            torch.randn(shape, generator=gen),
            torch.rand(shape, generator=gen) + 0.5,
            torch.randn(shape, generator=gen),
        ]
    return [t.to(device=device, dtype=dtype).requires_grad_() for t in tensors]


def _run(backend, leaves, forget, seed=1):
    wx, r, b, *state = leaves
    h_seq, final = slstm(wx, r, b, tuple(state) if state else None, backend=backend, forget=forget)
    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(h_seq.shape, generator=gen).to(h_seq.device)
    loss = (h_seq.float() * weights).sum()
    for k, s in enumerate(final):
        loss = loss + (k + 1) * 0.3 * s.sum()
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves, strict=True)]
    return [h_seq, *final, *grads]


def _check(shape, with_state, forget, device, seed=0):
    leaves = _inputs(*shape, device, with_state=with_state, seed=seed + sum(shape))
    expected = _run("torch", leaves, forget)
    actual = _run("triton", leaves, forget)
    for name, a, e in zip(NAMES, actual, expected, strict=False):
        assert a.dtype == e.dtype, name
        torch.testing.assert_close(a, e, rtol=3e-4, atol=2e-5, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize(
    "shape, with_state, forget",
    [
        ((1, 1, 1, 8), False, "sigmoid"),  # T=1, B=1
        ((3, 7, 3, 12), True, "sigmoid"),  # width not a power of two, three heads
        ((2, 7, 1, 16), False, "exp"),
        ((17, 3, 2, 8), True, "exp"),  # batch spans two tiles of 16
    ],
)
def test_matches_reference(shape, with_state, forget, device):
    _check(shape, with_state, forget, device)


@pytest.mark.slow
@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("steps", [1, 7])
@pytest.mark.parametrize("heads, width", [(1, 8), (3, 12), (3, 16)])
def test_matches_reference_full_grid(heads, width, steps, with_state, forget, device):
    _check((2, steps, heads, width), with_state, forget, device, seed=1)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_inputs_keep_fp32_states(dtype, device):
    # the reference upcasts to fp32 too, so both see the same rounded inputs
    leaves = _inputs(3, 5, 2, 8, device, with_state=True, seed=6, dtype=dtype)
    expected = _run("torch", leaves, "sigmoid")
    actual = _run("triton", leaves, "sigmoid")
    assert actual[0].dtype == dtype and actual[1].dtype == torch.float32
    for name, a, e in zip(NAMES, actual, expected, strict=True):
        assert a.dtype == e.dtype, name
        # outputs and gradients are rounded to `dtype` once at the end: allow a few of its ulps
        tol = 4 * torch.finfo(dtype).eps
        torch.testing.assert_close(
            a.float(), e.float(), rtol=tol, atol=tol, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_inference_without_grad_keeps_only_final_state(device):
    leaves = _inputs(3, 5, 2, 8, device, with_state=True, seed=9)
    with torch.no_grad():
        h_ref, final_ref = slstm(*leaves[:3], tuple(leaves[3:]), backend="torch")
        h_tri, final_tri = slstm(*leaves[:3], tuple(leaves[3:]), backend="triton")
    torch.testing.assert_close(h_tri, h_ref, rtol=3e-4, atol=2e-5)
    for a, e in zip(final_tri, final_ref, strict=True):
        torch.testing.assert_close(a, e, rtol=3e-4, atol=2e-5)


def test_large_preactivations_stay_finite(device):
    leaves = _inputs(2, 8, 1, 8, device, with_state=False, seed=5, scale=50.0)
    for forget in ("sigmoid", "exp"):
        for name, x in zip(NAMES, _run("triton", leaves, forget), strict=False):
            assert torch.isfinite(x).all(), f"{forget}: {name} has inf/NaN"


def test_auto_on_cpu_does_not_pick_triton(device):
    leaves = _inputs(1, 2, 1, 8, torch.device("cpu"), with_state=False, seed=0)
    h_seq, _ = slstm(*leaves[:3], backend="auto")
    assert "SLSTMFunction" in type(h_seq.grad_fn).__name__


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU (large batch grid, T=2048, bf16/fp16)")
@pytest.mark.parametrize("shape", [(300_000, 12, 4, 32), (8, 2048, 4, 32), (1000, 24, 2, 48)])
def test_gpu_large_shapes_match_reference_forward(shape, device):
    leaves = _inputs(*shape, device, with_state=False, seed=2)
    with torch.no_grad():
        h_ref, final_ref = slstm_reference(*leaves[:3])
        h_tri, final_tri = slstm(*leaves[:3], backend="triton")
    torch.testing.assert_close(h_tri, h_ref, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(final_tri[3], final_ref[3], rtol=1e-4, atol=1e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU (low-precision tensor-core dots)")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gpu_low_precision_error_at_most_twice_plain_torch(dtype, device):
    leaves = _inputs(64, 32, 4, 32, device, with_state=True, seed=4, dtype=dtype)
    exact = _run("torch", [x.detach().double().requires_grad_() for x in leaves], "sigmoid")
    ours = _run("triton", leaves, "sigmoid")
    # plain torch in the same dtype: the reference loop with every operation in `dtype`
    plain = _run_plain_low_precision(leaves, dtype)
    for name, o, p, e in zip(NAMES, ours, plain, exact, strict=False):
        err_ours = (o.double() - e).abs().max().item()
        err_plain = (p.double() - e).abs().max().item()
        assert err_ours <= 2 * err_plain + 1e-6, f"{name}: {err_ours} vs plain {err_plain}"


def _run_plain_low_precision(leaves, dtype):
    """The reference equations evaluated entirely in ``dtype`` (no fp32 upcast)."""
    wx, r, b, h, c, n, m = leaves
    outs = []
    for t in range(wx.shape[1]):
        pre = wx[:, t] + torch.einsum("bkd,gkde->bgke", h, r) + b
        p_i, p_f, p_z, p_o = pre.unbind(1)
        logf = torch.nn.functional.logsigmoid(p_f)
        m_new = torch.maximum(logf + m, p_i)
        g_i, g_f = torch.exp(p_i - m_new), torch.exp(logf + m - m_new)
        c = g_f * c + g_i * torch.tanh(p_z)
        n = g_f * n + g_i
        m = m_new
        h = torch.sigmoid(p_o) * c / n
        outs.append(h)
    h_seq = torch.stack(outs, 1)
    final = (h, c, n, m)
    gen = torch.Generator().manual_seed(1)
    loss = (h_seq.float() * torch.randn(h_seq.shape, generator=gen).to(h_seq.device)).sum()
    for k, s in enumerate(final):
        loss = loss + (k + 1) * 0.3 * s.float().sum()
    return [h_seq, *final, *torch.autograd.grad(loss, leaves)]

"""The fast CPU paths against the reference loop: the Python one (hand-written backward through time,
``backend="cpu"``) and the fused C++ kernel (``backend="cpp"``); every test runs on both."""

from __future__ import annotations

import math

import pytest
import torch

from social_xlstm.ops import slstm, slstm_reference
from social_xlstm.ops.slstm import resolve_backend


def _inputs(batch, steps, heads, width, *, dtype=torch.float64, with_state=False, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    wx = scale * torch.randn(batch, steps, 4, heads, width, generator=gen, dtype=torch.float64)
    r = 0.4 * torch.randn(4, heads, width, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
    b = 0.5 * torch.randn(4, heads, width, generator=gen, dtype=torch.float64)
    tensors = [wx, r, b]
    if with_state:
        shape = (batch, heads, width)
        tensors += [
            torch.randn(shape, generator=gen, dtype=torch.float64),
            torch.randn(shape, generator=gen, dtype=torch.float64),
            torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5,
            torch.randn(shape, generator=gen, dtype=torch.float64),
        ]
    return [t.to(dtype).requires_grad_() for t in tensors]


def _run(fn, leaves, forget, seed=1):
    """Outputs, final states and the gradients of a loss touching all of them."""
    wx, r, b, *state = leaves
    h_seq, final = fn(wx, r, b, tuple(state) if state else None, forget=forget)
    gen = torch.Generator().manual_seed(seed)
    loss = (h_seq.double() * torch.randn(h_seq.shape, generator=gen, dtype=torch.float64)).sum()
    for k, s in enumerate(final):
        loss = loss + (k + 1) * 0.3 * s.double().sum()
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, leaves, strict=True)]
    return [h_seq, *final, *grads]


BACKEND = {"name": "cpu"}


@pytest.fixture(autouse=True, params=["cpu", "cpp"])
def fast_backend(request, monkeypatch):
    """Each test once per fast path; ``cpp`` needs the kernel built (a compiler on the machine)."""
    if request.param == "cpp":
        from social_xlstm.ops.slstm.cpp_build import kernel_available

        if not kernel_available():
            pytest.skip("the fused C++ kernel cannot be built here (no compiler)")
    monkeypatch.setitem(BACKEND, "name", request.param)
    return request.param


def _cpu(*args, **kwargs):
    return slstm(*args, backend=BACKEND["name"], **kwargs)


NAMES = ["h_seq", "h", "c", "n", "m", "d_wx", "d_r", "d_b", "d_h0", "d_c0", "d_n0", "d_m0"]


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (3, 7, 2, 5), (2, 5, 3, 8), (4, 3, 1, 12), (1, 6, 2, 16)])
def test_fp64_matches_reference_tightly(shape, with_state, forget):
    leaves = _inputs(*shape, with_state=with_state, seed=sum(shape))
    expected = _run(slstm_reference, leaves, forget)
    actual = _run(_cpu, leaves, forget)
    for name, a, e in zip(NAMES, actual, expected, strict=False):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("forget", ["sigmoid", "exp"])
def test_fp32_matches_fp64_reference(forget):
    leaves64 = _inputs(8, 20, 4, 16, with_state=True, seed=3)
    leaves32 = [x.detach().float().requires_grad_() for x in leaves64]
    expected = _run(slstm_reference, leaves64, forget)
    actual = _run(_cpu, leaves32, forget)
    for name, a, e in zip(NAMES, actual, expected, strict=True):
        assert a.dtype == torch.float32, name
        torch.testing.assert_close(
            a.double(), e, rtol=3e-4, atol=1e-4, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_bf16_inputs_keep_fp32_states_and_bf16_error():
    leaves64 = _inputs(4, 10, 2, 8, seed=5)
    leaves16 = [x.detach().bfloat16().requires_grad_() for x in leaves64]
    exact = _run(slstm_reference, [x.detach().double().requires_grad_() for x in leaves16], "sigmoid")
    ours = _run(_cpu, leaves16, "sigmoid")
    plain = _run(slstm_reference, leaves16, "sigmoid")  # plain torch in the same input dtype
    assert ours[0].dtype == torch.bfloat16 and ours[1].dtype == torch.float32
    for name, o, p, e in zip(NAMES, ours, plain, exact, strict=False):
        err_ours = (o.double() - e).abs().max().item()
        err_plain = (p.double() - e).abs().max().item()
        assert err_ours <= 2 * err_plain + 1e-6, f"{name}: {err_ours} vs plain {err_plain}"


@pytest.mark.parametrize("with_state", [False, True])
def test_inference_without_grad_matches(with_state):
    leaves = _inputs(3, 6, 2, 5, with_state=with_state, seed=21)
    state = tuple(leaves[3:]) if with_state else None
    h_grad, final_grad = _cpu(*leaves[:3], state)
    with torch.no_grad():  # keeps two slots of c, n, m instead of T + 1
        h_inf, final_inf = _cpu(*leaves[:3], state)
    torch.testing.assert_close(h_inf, h_grad, rtol=0, atol=0)
    for a, e in zip(final_inf, final_grad, strict=True):
        torch.testing.assert_close(a, e, rtol=0, atol=0)


def test_auto_picks_cpu_path_on_cpu():
    wx, r, b = _inputs(2, 3, 1, 4)
    assert resolve_backend("auto", wx) == "cpu"
    h_auto, _ = slstm(wx, r, b)
    assert h_auto.grad_fn is not None and "SLSTMFunction" in type(h_auto.grad_fn).__name__


def test_large_preactivations_stay_finite():
    leaves = _inputs(2, 64, 2, 8, dtype=torch.float32, with_state=False, seed=11, scale=50.0)
    for forget in ("sigmoid", "exp"):
        outputs = _run(_cpu, leaves, forget)
        for name, x in zip(NAMES, outputs, strict=False):
            assert torch.isfinite(x).all(), f"{forget}: {name} has inf/NaN"
        expected = _run(slstm_reference, leaves, forget)
        torch.testing.assert_close(outputs[0], expected[0], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_long_sequence_stress_is_finite_and_matches():
    leaves = _inputs(2, 2048, 2, 8, dtype=torch.float32, with_state=True, seed=13, scale=50.0)
    for forget in ("sigmoid", "exp"):
        outputs = _run(_cpu, leaves, forget)
        for name, x in zip(NAMES, outputs, strict=True):
            assert torch.isfinite(x).all(), f"{forget}: {name} has inf/NaN"
        # +-50 pre-activations make the recurrence sensitive to rounding: compare the fp32 error
        # against that of the fp32 reference, both measured against an fp64 reference.
        with torch.no_grad():
            h_32, _ = slstm_reference(*leaves[:3], tuple(leaves[3:]), forget=forget)
            leaves_64 = [x.double() for x in leaves]
            h_64, _ = slstm_reference(*leaves_64[:3], tuple(leaves_64[3:]), forget=forget)
        err_ours = (outputs[0].double() - h_64).abs().max().item()
        err_plain = (h_32.double() - h_64).abs().max().item()
        assert err_ours <= 2 * err_plain + 1e-6, f"{forget}: {err_ours} vs plain torch {err_plain}"


def test_state_gradients_flow_and_chain_across_calls():
    # Two calls chained through the state equal one call over the concatenated sequence.
    wx, r, b = _inputs(3, 8, 2, 4, seed=17)
    h_full, final_full = _cpu(wx, r, b)
    h_a, state_a = _cpu(wx[:, :5], r, b)
    h_b, final_b = _cpu(wx[:, 5:], r, b, state_a)
    torch.testing.assert_close(torch.cat([h_a, h_b], dim=1), h_full, rtol=1e-12, atol=1e-14)
    for x, y in zip(final_b, final_full, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-14)
    g_full = torch.autograd.grad(h_full.sum(), (wx, r, b))
    g_split = torch.autograd.grad(torch.cat([h_a, h_b], dim=1).sum(), (wx, r, b))
    for x, y in zip(g_split, g_full, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12)


def test_cpp_fallback_without_a_compiler_is_the_python_path(monkeypatch, fast_backend):
    from social_xlstm.ops.slstm import cpp_build

    monkeypatch.setenv(cpp_build.DISABLE_ENV, "1")
    cpp_build.load_kernel.cache_clear()
    try:
        wx, r, b = _inputs(2, 3, 1, 4)
        h_seq, _ = slstm(wx, r, b, backend="cpp")
        assert "SLSTMFunction" in type(h_seq.grad_fn).__name__  # the Python path's Function
        torch.testing.assert_close(h_seq, slstm_reference(wx, r, b)[0], rtol=1e-10, atol=1e-12)
    finally:
        cpp_build.load_kernel.cache_clear()

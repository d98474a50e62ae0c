"""The drop-in ``SLSTM`` module: shapes, state handling, layer stacking against the op."""

from __future__ import annotations

import pytest
import torch

from social_xlstm.nn.slstm_module import SLSTM
from social_xlstm.ops import slstm_reference


def _module(**kwargs):
    torch.manual_seed(0)
    defaults = dict(input_size=5, hidden_size=12, num_layers=2, num_heads=3)
    defaults.update(kwargs)
    return SLSTM(**defaults).double()


def test_shapes_like_nn_lstm():
    mod = _module()
    x = torch.randn(4, 7, 5, dtype=torch.float64)
    out, state = mod(x)
    assert out.shape == (4, 7, 12)
    assert len(state) == 4
    for s in state:
        assert s.shape == (2, 4, 12)
    assert "num_heads=3" in repr(mod)


def test_matches_layers_of_the_reference_op():
    mod = _module(backend="cpu")
    x = torch.randn(3, 6, 5, dtype=torch.float64)
    out, (h, c, n, m) = mod(x)

    layer_in = x
    for k in range(2):
        wx = (layer_in @ mod.input_proj[k].weight.T).view(3, 6, 4, 3, 4)  # (B, T, 4, NH, DH)
        h_seq, last = slstm_reference(wx, mod.recurrent[k], mod.bias[k])
        layer_in = h_seq.reshape(3, 6, 12)
        for stacked, ref in zip((h, c, n, m), last, strict=True):
            torch.testing.assert_close(stacked[k], ref.reshape(3, 12), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out, layer_in, rtol=1e-12, atol=1e-12)


def test_state_continues_a_sequence():
    mod = _module()
    x = torch.randn(2, 9, 5, dtype=torch.float64)
    full, full_state = mod(x)
    first, state = mod(x[:, :4])
    second, second_state = mod(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), full, rtol=1e-12, atol=1e-12)
    for a, b in zip(second_state, full_state, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_batch_first_false_and_backends_agree():
    mod = _module(batch_first=False, backend="torch")
    x = torch.randn(6, 3, 5, dtype=torch.float64)  # (T, B, F)
    out_torch, _ = mod(x)
    out_torch.sum().backward()
    grads_torch = [p.grad.clone() for p in mod.parameters()]
    mod.zero_grad()
    mod.backend = "cpu"
    out_cpu, _ = mod(x)
    out_cpu.sum().backward()
    assert out_cpu.shape == (6, 3, 12)
    torch.testing.assert_close(out_cpu, out_torch, rtol=1e-12, atol=1e-12)
    for g_cpu, g_torch in zip((p.grad for p in mod.parameters()), grads_torch, strict=True):
        torch.testing.assert_close(g_cpu, g_torch, rtol=1e-10, atol=1e-12)


def test_no_bias_and_dropout_only_in_training():
    mod = _module(bias=False, dropout=0.5)
    assert mod.bias is None
    x = torch.randn(2, 4, 5, dtype=torch.float64)
    mod.eval()
    a, _ = mod(x)
    b, _ = mod(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    mod.train()
    c, _ = mod(x)
    assert not torch.allclose(a, c)


def test_forget_bias_starts_open():
    mod = SLSTM(4, 8, num_heads=2)
    torch.testing.assert_close(mod.bias[0][1, 0], torch.linspace(3.0, 6.0, 4))
    assert mod.bias[0][0].abs().sum() == 0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SLSTM(4, 10, num_heads=4)
    mod = _module()
    with pytest.raises(ValueError, match="input must be"):
        mod(torch.randn(2, 3, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="state must be"):
        mod(torch.randn(2, 3, 5, dtype=torch.float64), (torch.zeros(1, 2, 12),) * 4)


def test_learns_to_copy_a_delayed_signal():
    # A one-layer sLSTM must be able to output the previous input: loss falls by an order of magnitude.
    torch.manual_seed(1)
    mod = SLSTM(1, 8, num_heads=2)
    head = torch.nn.Linear(8, 1)
    opt = torch.optim.Adam([*mod.parameters(), *head.parameters()], lr=0.03)
    x = torch.randn(32, 10, 1)
    target = torch.cat([torch.zeros(32, 1, 1), x[:, :-1]], 1)
    losses = []
    for _ in range(150):
        out, _ = mod(x)
        loss = torch.nn.functional.mse_loss(head(out), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]

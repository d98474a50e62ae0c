"""sLSTM encoder (docs/model.md, "sLSTM cell"): stacked pre-norm residual sLSTM blocks, weights shared by all VDs.

The block follows the xLSTM paper (Beck et al. 2024, sLSTM block)::

    y = LayerNorm(x)
    c = SiLU(CausalConv(y))                 (optional; feeds the input and forget gates only)
    h = sLSTM(W_if c, W_zo y)               (the op in social_xlstm.ops.slstm; R block-diagonal per head)
    x = x + Dropout(GroupNorm_per_head(h))  (computed as a layer norm per head: nn/multihead_norm.py)
    x = x + Dropout(FF(LayerNorm(x)))       FF: gated GeLU/SiLU, hidden ff_factor * D

The cell itself lives only in :func:`social_xlstm.ops.slstm`; this file builds its inputs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from social_xlstm.ops import slstm

from .config import EncoderConfig
from .multihead_norm import MultiHeadLayerNorm
from .state import State, empty_max_state, part, prefixed, zeros

if TYPE_CHECKING:  # annotations only
    from .config import ModelConfig
    from .shape import NetworkShape


class _CausalConvSiLU(torch.autograd.Function):
    """``silu(conv(x))`` with the taps accumulated in place, and a hand-written backward.

    Autograd through the shifted-copy sum keeps a padded copy and one product per tap and runs a mul and a
    reduction per tap and input in backward; here the forward is one ``addcmul`` per tap into one buffer
    and the backward one ``silu_backward``, one ``addcmul_`` and one product-sum per tap.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        kernel, steps = weight.shape[0], x.shape[1]
        # weight[kernel - 1] multiplies the current step, weight[kernel - 1 - lag] the step `lag` back;
        # lags reaching before step 0 see zeros (causal padding), so they are skipped.
        z = torch.addcmul(bias, x, weight[kernel - 1])  # (M, T, D)
        for lag in range(1, min(kernel, steps)):
            z[:, lag:].addcmul_(x[:, :-lag], weight[kernel - 1 - lag])
        ctx.save_for_backward(x, weight, z)
        return F.silu(z)

    @staticmethod
    def backward(ctx, grad):
        x, weight, z = ctx.saved_tensors
        kernel, steps = weight.shape[0], x.shape[1]
        dz = torch.ops.aten.silu_backward(grad, z)  # (M, T, D)
        dx = dz * weight[kernel - 1]
        dw = torch.zeros_like(weight)  # taps that only ever see the padding get zero
        dw[kernel - 1] = (dz * x).sum((0, 1))
        for lag in range(1, min(kernel, steps)):
            dx[:, :-lag].addcmul_(dz[:, lag:], weight[kernel - 1 - lag])
            dw[kernel - 1 - lag] = (dz[:, lag:] * x[:, :-lag]).sum((0, 1))
        return dx, dw, dz.sum((0, 1))


class CausalConv1d(nn.Module):
    """Depthwise convolution over time that sees only past and present steps, followed by SiLU.

    Written as a sum of ``kernel`` shifted products accumulated in place (:class:`_CausalConvSiLU`): for a
    few taps this is several times faster on CPUs than ``nn.Conv1d(groups=D)``, whose depthwise backward is
    slow. :meth:`conv` is the plain formula (zero padding, one shifted copy per tap) it is tested against.

    Shapes:
        x: (M, T, D) -> (M, T, D)
    """

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.channels, self.kernel = channels, kernel
        self.weight = nn.Parameter(torch.empty(kernel, channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.kernel)  # nn.Conv1d's default for a depthwise kernel
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def conv(self, x: Tensor) -> Tensor:
        """The convolution alone, as the plain sum of shifted copies of the zero-padded input."""
        steps = x.shape[1]
        padded = F.pad(x, (0, 0, self.kernel - 1, 0))  # (M, T + kernel - 1, D) zeros before step 0
        y = self.bias + padded[:, :steps] * self.weight[0]
        for tap in range(1, self.kernel):
            y = y + padded[:, tap : tap + steps] * self.weight[tap]
        return y  # (M, T, D)

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():  # inductor fuses the plain formula better than it traces ours
            return F.silu(self.conv(x))
        return _CausalConvSiLU.apply(x, self.weight, self.bias)  # (M, T, D) silu(conv(x))

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel={self.kernel}, activation=silu"


_ACTIVATIONS = {
    "gelu": (F.gelu, torch.ops.aten.gelu_backward.grad_input),
    "swiglu": (F.silu, torch.ops.aten.silu_backward.grad_input),
}
"""``ff_activation`` -> (activation, its backward with an ``out=`` argument)."""


class _GatedActivation(torch.autograd.Function):
    """``act(gate) * value`` of ``u = [gate | value]``; backward writes both halves into one gradient.

    Autograd through ``chunk`` would concatenate the two halves' gradients in backward (a copy of the
    widest tensor of the block); here they are written straight into their halves of one buffer.
    """

    @staticmethod
    def forward(ctx, u, activation):
        gate, value = u.chunk(2, dim=-1)  # (..., hidden) each
        act = _ACTIVATIONS[activation][0](gate)
        ctx.activation = activation
        ctx.save_for_backward(u, act)
        return act * value

    @staticmethod
    def backward(ctx, grad):
        u, act = ctx.saved_tensors
        gate, value = u.chunk(2, dim=-1)
        du = torch.empty_like(u)
        d_gate, d_value = du.chunk(2, dim=-1)  # views into du
        torch.mul(grad, act, out=d_value)
        act_backward = _ACTIVATIONS[ctx.activation][1]
        if ctx.activation == "gelu":
            act_backward(grad * value, gate, approximate="none", grad_input=d_gate)
        else:
            act_backward(grad * value, gate, grad_input=d_gate)
        return du, None


class GatedFeedForward(nn.Module):
    """Gated feed-forward ``W_down (act(W_gate x) * W_up x)`` (GeGLU or SwiGLU).

    Shapes:
        x: (..., D) -> (..., D)
    """

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu"):
        super().__init__()
        self.up = nn.Linear(d_model, 2 * hidden)
        self.down = nn.Linear(hidden, d_model)
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():  # inductor fuses the plain formula better than it traces ours
            gate, value = self.up(x).chunk(2, dim=-1)  # (..., hidden) each
            return self.down(_ACTIVATIONS[self.activation][0](gate) * value)
        return self.down(_GatedActivation.apply(self.up(x), self.activation))


@functools.cache
def _compiled(fn: Callable) -> Callable:
    """``torch.compile(fn)``, built once per function (not per block: the blocks share the graphs)."""
    return torch.compile(fn)


class SLSTMBlock(nn.Module):
    """One pre-norm residual sLSTM block followed by a gated feed-forward.

    Args:
        d_model: width D.
        config: the encoder's options (heads, conv kernel, forget mode, backend, feed-forward).
        dropout: dropout on both residual branches.

    Shapes:
        x: (M, T, D) -> (M, T, D), with M = B * N (VDs folded into the batch).
    """

    def __init__(self, d_model: int, config: EncoderConfig, dropout: float = 0.0):
        super().__init__()
        d, heads, width = d_model, config.heads, config.head_dim
        self.heads, self.width = heads, width
        self.forget = config.forget
        self.backend = config.backend
        self.compile = config.compile
        self.norm = nn.LayerNorm(d)
        self.conv = CausalConv1d(d, config.conv_kernel) if config.conv_kernel > 0 else None
        self.proj_if = nn.Linear(d, 2 * d, bias=False)
        self.proj_zo = nn.Linear(d, 2 * d, bias=False)
        self.r = nn.Parameter(torch.empty(4, heads, width, width))
        self.b = nn.Parameter(torch.empty(4, heads, width))
        self.out_norm = MultiHeadLayerNorm(heads, d)  # nn.GroupNorm(heads, d), faster
        self.dropout = nn.Dropout(dropout)
        self.ff_norm = nn.LayerNorm(d)
        self.ff = GatedFeedForward(d, config.ff_dim, config.ff_activation)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d = self.heads * self.width
        # "small init" of the xLSTM/Mamba line: input projections with std sqrt(2 / (5 D)).
        for proj in (self.proj_if, self.proj_zo):
            nn.init.normal_(proj.weight, std=math.sqrt(2.0 / (5.0 * d)))
        # Small recurrent weights: at start the recurrence adds ~10% to the input drive, so early
        # training sees a nearly feed-forward gate and cannot blow up through h_{t-1} R.
        nn.init.normal_(self.r, std=0.1 / math.sqrt(self.width))
        with torch.no_grad():
            self.b.zero_()
            # Forget bias spread over 3..6 across units: sigmoid(3..6) = 0.95..0.998, i.e. memories of
            # ~20 to ~400 steps at start; short-lived memories must be learned, not fought against.
            f_bias = torch.linspace(3.0, 6.0, d).view(self.heads, self.width)
            self.b[1] = f_bias if self.forget == "sigmoid" else F.logsigmoid(f_bias)
        for mod in (self.norm, self.out_norm, self.ff_norm, self.ff.up, self.ff.down):
            mod.reset_parameters()
        if self.conv is not None:
            self.conv.reset_parameters()

    def gate_inputs(self, x: Tensor) -> Tensor:
        """The op's input pre-activations: everything of the block before the recurrence.

        Shapes:
            x: (M, T, D) -> (M, T, 4, NH, DH), gate order i, f, z, o.
        """
        y = self.norm(x)  # (M, T, D)
        c = self.conv(y) if self.conv is not None else y  # (M, T, D) silu(conv(y)) feeds i and f
        return self._project(y, c)

    def _project(self, y: Tensor, c: Tensor) -> Tensor:
        """(M, T, D) normed input y and conv output c -> (M, T, 4, NH, DH) gate pre-activations."""
        batch, steps, _ = y.shape
        w_if = self.proj_if(c).view(batch, steps, 2, self.heads, self.width)  # (M, T, 2, NH, DH)
        w_zo = self.proj_zo(y).view(batch, steps, 2, self.heads, self.width)  # (M, T, 2, NH, DH)
        return torch.cat([w_if, w_zo], dim=2)  # (M, T, 4, NH, DH)

    def update(self, x: Tensor, h_seq: Tensor) -> Tensor:
        """Everything of the block after the recurrence: normed residual, then the feed-forward residual.

        Shapes:
            x: (M, T, D); h_seq: (M, T, NH, DH) -> (M, T, D).
        """
        h = self.out_norm(h_seq.reshape(x.shape))  # (M, T, D)
        x = x + self.dropout(h)
        return x + self.dropout(self.ff(self.ff_norm(x)))

    def forward(self, x: Tensor) -> Tensor:
        # encoder.compile: the elementwise work on either side of the op is fused by inductor; the op
        # itself (a Python loop over time with a hand-written backward) stays eager between the two.
        gate_inputs = _compiled(SLSTMBlock.gate_inputs) if self.compile else SLSTMBlock.gate_inputs
        update = _compiled(SLSTMBlock.update) if self.compile else SLSTMBlock.update
        wx = gate_inputs(self, x)  # (M, T, 4, NH, DH)
        h_seq, _ = slstm(wx, self.r, self.b, backend=self.backend, forget=self.forget)  # (M, T, NH, DH)
        return update(self, x, h_seq)

    def initial_state(self, batch: int) -> State:
        """The state before the first step: the conv's zero padding and an empty sLSTM memory.

        Shapes:
            h, c, n, m (M, NH, DH); conv (M, kernel - 1, D) the last normed inputs the causal conv reads
            (absent without a conv).
        """
        like = self.b
        state = {name: zeros(batch, self.heads, self.width, like=like) for name in "hcn"}
        state["m"] = empty_max_state(batch, self.heads, self.width, like=like)
        if self.conv is not None:
            state["conv"] = zeros(batch, self.conv.kernel - 1, self.heads * self.width, like=like)
        return state

    def forward_state(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """:meth:`forward` continued from ``state``; from :meth:`initial_state` it is :meth:`forward`.

        Shapes:
            x: (M, T, D) -> (M, T, D); state as :meth:`initial_state`.
        """
        steps = x.shape[1]
        y = self.norm(x)  # (M, T, D)
        new: State = {}
        c = y
        if self.conv is not None:
            # The conv sees the previous kernel-1 inputs where the windowed form sees its zero padding.
            history = state["conv"]
            window = torch.cat([history.to(y.dtype), y], dim=1)  # (M, kernel - 1 + T, D)
            c = self.conv(window)[:, -steps:]  # (M, T, D)
            new["conv"] = window[:, window.shape[1] - history.shape[1] :].to(history.dtype)
        wx = self._project(y, c)  # (M, T, 4, NH, DH)
        cell = tuple(state[name] for name in "hcnm")
        h_seq, last = slstm(wx, self.r, self.b, cell, backend=self.backend, forget=self.forget)
        new.update(zip("hcnm", last, strict=True))
        return self.update(x, h_seq), new

    def extra_repr(self) -> str:
        return (
            f"heads={self.heads}, head_dim={self.width}, forget={self.forget!r}, backend={self.backend!r}, "
            f"compile={self.compile}"
        )


class SLSTMEncoder(nn.Module):
    """Stack of :class:`SLSTMBlock` with a final LayerNorm.

    Args:
        d_model: width D.
        config: the encoder's options; ``layers`` blocks, optional activation checkpointing.
        dropout: dropout on the blocks' residual branches.

    Shapes:
        x: (M, T, D) -> (M, T, D)
    """

    @classmethod
    def from_config(cls, config: ModelConfig, shape: NetworkShape) -> SLSTMEncoder:
        """The encoder slot's entry: ``config.encoder`` at width ``config.d_model``."""
        return cls(config.d_model, config.encoder, config.dropout)

    def __init__(self, d_model: int, config: EncoderConfig, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList(SLSTMBlock(d_model, config, dropout) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.checkpointing = config.activation_checkpointing

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.reset_parameters()
        self.final_norm.reset_parameters()

    def run_block(self, k: int, x: Tensor) -> Tensor:
        """Block ``k`` on (M, T, D), recomputed in backward with activation checkpointing."""
        if self.checkpointing and torch.is_grad_enabled():
            # Recompute the block in backward; the RNG state is replayed, so dropout masks match.
            return checkpoint(self.blocks[k], x, use_reentrant=False)
        return self.blocks[k](x)

    def run_block_state(self, k: int, x: Tensor, state: State) -> tuple[Tensor, State]:
        """Block ``k``'s :meth:`SLSTMBlock.forward_state` (its own keys, unprefixed), checkpointed as above."""
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(self.blocks[k].forward_state, x, state, use_reentrant=False)
        return self.blocks[k].forward_state(x, state)

    def forward(self, x: Tensor) -> Tensor:
        for k in range(len(self.blocks)):
            x = self.run_block(k, x)
        return self.final_norm(x)

    def initial_state(self, batch: int) -> State:
        """Every block's :meth:`SLSTMBlock.initial_state`, keys ``"<block>.<name>"``; ``batch`` = M."""
        state: State = {}
        for k, block in enumerate(self.blocks):
            state.update(prefixed(block.initial_state(batch), f"{k}."))
        return state

    def forward_state(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """:meth:`forward` continued from ``state``. Shapes: x (M, T, D) -> (M, T, D)."""
        new: State = {}
        for k in range(len(self.blocks)):
            x, mine = self.run_block_state(k, x, part(state, f"{k}."))
            new.update(prefixed(mine, f"{k}."))
        return self.final_norm(x), new

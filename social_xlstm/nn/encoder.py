"""sLSTM encoder (docs/model.md, "sLSTM cell"): stacked pre-norm residual sLSTM blocks, weights shared by all VDs.

The block follows the xLSTM paper (Beck et al. 2024, sLSTM block)::

    y = LayerNorm(x)
    c = SiLU(CausalConv(y))                 (optional; feeds the input and forget gates only)
    h = sLSTM(W_if c, W_zo y)               (the op in social_xlstm.ops.slstm; R block-diagonal per head)
    x = x + Dropout(GroupNorm_per_head(h))
    x = x + Dropout(FF(LayerNorm(x)))       FF: gated GeLU/SiLU, hidden ff_factor * D

The cell itself lives only in :func:`social_xlstm.ops.slstm`; this file builds its inputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from social_xlstm.ops import slstm

from .config import EncoderConfig


class CausalConv1d(nn.Module):
    """Depthwise convolution over time that sees only past and present steps.

    Written as a sum of ``kernel`` shifted copies: for a few taps this is several times faster on CPUs
    than ``nn.Conv1d(groups=D)``, whose depthwise backward is slow.

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

    def forward(self, x: Tensor) -> Tensor:
        steps = x.shape[1]
        padded = F.pad(x, (0, 0, self.kernel - 1, 0))  # (M, T + kernel - 1, D) zeros before step 0
        # weight[kernel - 1] multiplies the current step, weight[0] the step kernel - 1 back.
        y = self.bias + padded[:, :steps] * self.weight[0]
        for tap in range(1, self.kernel):
            y = y + padded[:, tap : tap + steps] * self.weight[tap]
        return y  # (M, T, D)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel={self.kernel}"


class GatedFeedForward(nn.Module):
    """Gated feed-forward ``W_down (act(W_gate x) * W_up x)`` (GeGLU or SwiGLU).

    Shapes:
        x: (..., D) -> (..., D)
    """

    def __init__(self, d_model: int, hidden: int, activation: str = "gelu"):
        super().__init__()
        self.up = nn.Linear(d_model, 2 * hidden)
        self.down = nn.Linear(hidden, d_model)
        self.act = F.gelu if activation == "gelu" else F.silu

    def forward(self, x: Tensor) -> Tensor:
        gate, value = self.up(x).chunk(2, dim=-1)  # (..., hidden) each
        return self.down(self.act(gate) * value)


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
        self.norm = nn.LayerNorm(d)
        self.conv = CausalConv1d(d, config.conv_kernel) if config.conv_kernel > 0 else None
        self.proj_if = nn.Linear(d, 2 * d, bias=False)
        self.proj_zo = nn.Linear(d, 2 * d, bias=False)
        self.r = nn.Parameter(torch.empty(4, heads, width, width))
        self.b = nn.Parameter(torch.empty(4, heads, width))
        self.out_norm = nn.GroupNorm(heads, d)
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

    def forward(self, x: Tensor) -> Tensor:
        batch, steps, d = x.shape
        y = self.norm(x)  # (M, T, D)
        c = F.silu(self.conv(y)) if self.conv is not None else y  # (M, T, D)
        w_if = self.proj_if(c).view(batch, steps, 2, self.heads, self.width)  # (M, T, 2, NH, DH)
        w_zo = self.proj_zo(y).view(batch, steps, 2, self.heads, self.width)  # (M, T, 2, NH, DH)
        wx = torch.cat([w_if, w_zo], dim=2)  # (M, T, 4, NH, DH) gate order i, f, z, o
        h_seq, _ = slstm(wx, self.r, self.b, backend=self.backend, forget=self.forget)  # (M, T, NH, DH)
        h = self.out_norm(h_seq.reshape(batch * steps, d)).view(batch, steps, d)  # (M, T, D)
        x = x + self.dropout(h)
        return x + self.dropout(self.ff(self.ff_norm(x)))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.width}, forget={self.forget!r}, backend={self.backend!r}"


class SLSTMEncoder(nn.Module):
    """Stack of :class:`SLSTMBlock` with a final LayerNorm.

    Args:
        d_model: width D.
        config: the encoder's options; ``layers`` blocks, optional activation checkpointing.
        dropout: dropout on the blocks' residual branches.

    Shapes:
        x: (M, T, D) -> (M, T, D)
    """

    def __init__(self, d_model: int, config: EncoderConfig, dropout: float = 0.0):
        super().__init__()
        self.blocks = nn.ModuleList(SLSTMBlock(d_model, config, dropout) for _ in range(config.layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.checkpointing = config.activation_checkpointing

    def reset_parameters(self) -> None:
        for block in self.blocks:
            block.reset_parameters()
        self.final_norm.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            if self.checkpointing and torch.is_grad_enabled():
                # Recompute the block in backward; the RNG state is replayed, so dropout masks match.
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.final_norm(x)

"""``SLSTM``: a stack of sLSTM layers shaped like ``torch.nn.LSTM``.

Each layer projects its input to the four gate pre-activations with one ``Linear`` (no bias
there: the cell's own bias ``b`` is the only one), then runs the sLSTM op
(:func:`social_xlstm.ops.slstm`) with block-diagonal recurrent weights, one ``DH x DH`` block per
head and gate. Dropout, as in ``nn.LSTM``, is applied to the outputs of every layer but the last.

The state is a tuple ``(h, c, n, m)`` of tensors stacked over layers, each
``(num_layers, B, hidden_size)``, like ``nn.LSTM``'s ``(h, c)``; ``m`` is the log-space stabiliser.
States are fp32 whatever the input dtype. Pass the returned state back in to continue a sequence.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from social_xlstm.ops import slstm

SLSTMModuleState = tuple[Tensor, Tensor, Tensor, Tensor]


class SLSTM(nn.Module):
    """Multi-layer sLSTM with ``nn.LSTM``'s calling convention.

    Args:
        input_size: features per time step of the input.
        hidden_size: width of every layer's state; must be divisible by ``num_heads``.
        num_layers: stacked layers.
        num_heads: heads per layer; the recurrence is block-diagonal over heads.
        bias: learn the gate biases (otherwise they are fixed at zero).
        batch_first: input and output are ``(B, T, F)`` (else ``(T, B, F)``).
        dropout: dropout on the outputs of all layers but the last (training only).
        backend: sLSTM op backend, ``"auto"``, ``"torch"``, ``"cpu"`` or ``"triton"``.
        forget: ``"sigmoid"`` or ``"exp"`` forget gate.

    Shapes:
        input: (B, T, input_size) (``batch_first``) or (T, B, input_size).
        state: tuple of 4 tensors ``(h, c, n, m)``, each (num_layers, B, hidden_size).
        output: (B, T, hidden_size) (``batch_first``) or (T, B, hidden_size).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        num_heads: int = 4,
        bias: bool = True,
        batch_first: bool = True,
        dropout: float = 0.0,
        backend: str = "auto",
        forget: str = "sigmoid",
    ) -> None:
        super().__init__()
        if hidden_size % num_heads != 0:
            raise ValueError(f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.batch_first = batch_first
        self.dropout = dropout
        self.backend = backend
        self.forget = forget

        dh = self.head_dim
        self.input_proj = nn.ModuleList(
            nn.Linear(input_size if k == 0 else hidden_size, 4 * hidden_size, bias=False)
            for k in range(num_layers)
        )
        self.recurrent = nn.ParameterList(
            nn.Parameter(torch.empty(4, num_heads, dh, dh)) for _ in range(num_layers)
        )
        if bias:
            self.bias = nn.ParameterList(
                nn.Parameter(torch.empty(4, num_heads, dh)) for _ in range(num_layers)
            )
        else:
            self.bias = None
            self.register_buffer("_zero_bias", torch.zeros(4, num_heads, dh), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``nn.LSTM``-style uniform weights; forget-gate bias spread over [3, 6] for sigmoid forget.

        A positive forget bias keeps the memory open at the start of training (sigmoid(3..6) is
        0.95..0.998), the usual sLSTM initialisation. The exponential forget gate starts at 0.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for proj in self.input_proj:
            nn.init.uniform_(proj.weight, -bound, bound)
        for r in self.recurrent:
            nn.init.uniform_(r, -bound, bound)
        if self.bias is not None:
            for b in self.bias:
                nn.init.zeros_(b)
                if self.forget == "sigmoid":
                    with torch.no_grad():
                        b[1] = torch.linspace(3.0, 6.0, self.head_dim).expand(self.num_heads, -1)

    def forward(
        self, x: Tensor, state: SLSTMModuleState | None = None
    ) -> tuple[Tensor, SLSTMModuleState]:
        """Run all layers over the sequence.

        Args:
            x: input sequence.
            state: optional initial ``(h, c, n, m)`` from a previous call; ``None`` starts from zeros.

        Returns:
            ``(output, (h, c, n, m))``: the last layer's outputs at every step and the final state
            of every layer.
        """
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"input must be (B, T, {self.input_size}) or (T, B, {self.input_size}), got "
                             f"{tuple(x.shape)}")
        if not self.batch_first:
            x = x.transpose(0, 1)  # (T, B, F) -> (B, T, F)
        batch, steps, _ = x.shape
        if state is not None:
            expected = (self.num_layers, batch, self.hidden_size)
            if len(state) != 4 or any(tuple(s.shape) != expected for s in state):
                raise ValueError(f"state must be a tuple (h, c, n, m) of tensors {expected}")

        finals = []
        out = x
        for k in range(self.num_layers):
            wx = self.input_proj[k](out)  # (B, T, 4*D)
            wx = wx.view(batch, steps, 4, self.num_heads, self.head_dim)  # (B, T, 4, NH, DH)
            b = self.bias[k] if self.bias is not None else self._zero_bias
            layer_state = None
            if state is not None:
                layer_state = tuple(
                    s[k].view(batch, self.num_heads, self.head_dim) for s in state
                )  # each (B, NH, DH)
            h_seq, last = slstm(
                wx, self.recurrent[k], b, layer_state, backend=self.backend, forget=self.forget
            )  # (B, T, NH, DH)
            out = h_seq.reshape(batch, steps, self.hidden_size)  # (B, T, D)
            if self.dropout > 0.0 and k < self.num_layers - 1:
                out = nn.functional.dropout(out, self.dropout, self.training)
            finals.append(last)

        final_state = tuple(
            torch.stack([f[j].reshape(batch, self.hidden_size) for f in finals])  # (L, B, D)
            for j in range(4)
        )
        if not self.batch_first:
            out = out.transpose(0, 1)  # (B, T, D) -> (T, B, D)
        return out, final_state

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
            f"num_heads={self.num_heads}, "
            f"bias={self.bias is not None}, batch_first={self.batch_first}, dropout={self.dropout}, "
            f"backend={self.backend!r}, forget={self.forget!r}"
        )

"""sLSTM blocks interleaved with social mLSTM layers: the encoder of ``social.placement: between``.

    h (B, T, N, D) --fold--> block 0 --unfold--> social 0 --fold--> block 1 ... block L-1 --> LayerNorm

Each social layer between blocks has its own weights and context ``"all"`` (an output at every step,
residual), so an encoder of L blocks holds L - 1 of them; the forecaster's fusion stays the final social
layer after the last block. Why: with the fusion alone the neighbours enter once, at the last step, and
only the head sees what they said; here the later sLSTM blocks run over each VD's sequence of
neighbour reads, so a recurrence can follow a disturbance arriving from downstream over time.

The blocks fold the VDs into the batch, ``(B*N, T, D)``, node-major as the forecaster lays them out; the
social layers read ``(B, T, N, D)``, a transposed view of the same memory. State keys: the blocks'
``"<k>.<name>"`` (batch B*N, as :class:`~social_xlstm.nn.encoder.SLSTMEncoder`) and the social layers'
``"social<k>.<name>"`` (batch B, N VDs).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from .encoder import SLSTMEncoder
from .state import State, part, prefixed


def _fold(h: Tensor) -> Tensor:
    """(B, T, N, D) -> (B*N, T, D); free when ``h`` is a transposed node-major tensor."""
    batch, steps, nodes, width = h.shape
    return h.transpose(1, 2).reshape(batch * nodes, steps, width)  # (B*N, T, D)


def _unfold(x: Tensor, batch: int) -> Tensor:
    """(B*N, T, D) -> (B, T, N, D), a view."""
    return x.view(batch, -1, *x.shape[1:]).transpose(1, 2)  # (B, T, N, D)


class InterleavedEncoder(nn.Module):
    """The blocks of an :class:`SLSTMEncoder` with a social layer after every block but the last.

    Args:
        temporal: the sLSTM stack (its blocks, final LayerNorm and activation checkpointing are used).
        make_social: builds one social layer with context ``"all"``; called ``len(temporal.blocks) - 1`` times.

    Shapes:
        h: (B, T, N', D) -> (B, T, N', D); ``nodes`` (N',) sorted global VD ids when VDs are sampled.
    """

    def __init__(self, temporal: SLSTMEncoder, make_social: Callable[[], nn.Module]):
        super().__init__()
        self.temporal = temporal
        self.social = nn.ModuleList(make_social() for _ in range(len(temporal.blocks) - 1))

    def reset_parameters(self) -> None:
        self.temporal.reset_parameters()
        for layer in self.social:
            layer.reset_parameters()

    def forward(self, h: Tensor, nodes: Tensor | None = None) -> Tensor:
        batch, x = h.shape[0], _fold(h)  # (B*N, T, D)
        for k in range(len(self.temporal.blocks)):
            x = self.temporal.run_block(k, x)
            if k < len(self.social):
                x = _fold(self.social[k](_unfold(x, batch), nodes))  # (B*N, T, D)
        return _unfold(self.temporal.final_norm(x), batch)  # (B, T, N, D)

    def initial_state(self, batch: int, nodes: int) -> State:
        """The blocks' state (batch ``batch * nodes``) and every social layer's empty memories."""
        state = self.temporal.initial_state(batch * nodes)
        for k, layer in enumerate(self.social):
            state.update(prefixed(layer.initial_state(batch, nodes), f"social{k}."))
        return state

    def forward_state(self, h: Tensor, state: State, nodes: Tensor | None = None) -> tuple[Tensor, State]:
        """:meth:`forward` continued from ``state``; from :meth:`initial_state` it is :meth:`forward`.

        Shapes:
            h: (B, T, N', D) -> (B, T, N', D); state as :meth:`initial_state`.
        """
        batch, x, new = h.shape[0], _fold(h), {}
        for k in range(len(self.temporal.blocks)):
            x, mine = self.temporal.run_block_state(k, x, part(state, f"{k}."))
            new.update(prefixed(mine, f"{k}."))
            if k < len(self.social):
                out, mine = self.social[k].forward_state(_unfold(x, batch), part(state, f"social{k}."), nodes)
                x = _fold(out)  # (B*N, T, D)
                new.update(prefixed(mine, f"social{k}."))
        return _unfold(self.temporal.final_norm(x), batch), new

"""Long-context training (``data.mode: sequence``): truncated backpropagation through long sequences.

A training batch holds B sequences of L steps (:mod:`social_xlstm.data.sequence`) with the targets of the
forecast issued after every step. :func:`tbptt_step` runs ``Forecaster.forward_sequence`` over them chunk
by chunk, carrying the recurrent state from chunk to chunk but detaching it at every boundary, so memory
and backpropagation depth are set by the chunk, not by L, while the forward context spans the whole
sequence. Every step's forecast (all horizons, masked, after the warm-up) enters the loss.

Why manual optimisation: Lightning 2 removed ``truncated_bptt_steps``; its documented replacement is a
``training_step`` that loops over chunks and calls ``manual_backward`` and the optimiser itself. The
trainer's ``gradient_clip_val`` is refused under manual optimisation, so the clipping norm is
``model.tbptt.gradient_clip_val`` (the same norm clipping the windowed mode gets from the trainer), and
the LR schedule is stepped here after every optimiser step (its length counts those steps,
:func:`optimizer_steps_per_batch`).

Evaluation keeps the windowed loaders: :class:`EvalStream` runs the model continuously through their
consecutive windows, so a sequence model is scored on exactly the windowed mode's issue times, targets
and masks, by the same :class:`~social_xlstm.metrics.MaskedErrors`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from social_xlstm.errors import UserError

OPTIMIZER_STEPS = ("chunk", "sequence")


@dataclass
class TBPTTConfig:
    """Truncated backpropagation through time, used when the data mode is ``sequence``."""

    chunk: int = 24
    """Steps per backpropagation chunk; the state flows into the next chunk, its gradient does not."""
    optimizer_step: str = "chunk"
    """``chunk``: an optimiser step after every chunk (classic TBPTT, L / chunk updates per batch);
    ``sequence``: the chunks' gradients accumulate into one step per batch (the gradient of the whole
    sequence's mean loss, truncated at chunk boundaries)."""
    gradient_clip_val: float | None = 1.0
    """Clip the global gradient norm to this before every optimiser step; None: no clipping."""

    def __post_init__(self):
        if self.chunk < 1:
            raise UserError(f"model.tbptt.chunk must be >= 1, got {self.chunk}")
        if self.optimizer_step not in OPTIMIZER_STEPS:
            raise UserError(
                f"unknown model.tbptt.optimizer_step {self.optimizer_step!r}; valid: {', '.join(OPTIMIZER_STEPS)}"
            )
        if self.gradient_clip_val is not None and self.gradient_clip_val <= 0:
            raise UserError(f"model.tbptt.gradient_clip_val must be > 0 or null, got {self.gradient_clip_val}")


def check_sequence_mode(config: TBPTTConfig, sequence_length: int | None, net) -> None:
    """Refuse a sequence-mode setup that cannot train: a chunk longer than the sequence, a stateless net.

    Raises:
        UserError: naming the option.
    """
    if sequence_length is None or sequence_length < 1:
        raise UserError(f"data.sequence_length must be >= 1 in sequence mode, got {sequence_length}")
    if config.chunk > sequence_length:
        raise UserError(f"model.tbptt.chunk ({config.chunk}) is longer than data.sequence_length ({sequence_length})")
    if not getattr(net, "supports_state", False):
        raise UserError(
            f"{type(net).__name__} carries no recurrent state (no forward_sequence): data.mode 'sequence' "
            "needs an arch of social_xlstm.nn.registry"
        )


def optimizer_steps_per_batch(config: TBPTTConfig, sequence_length: int, window: int) -> int:
    """Optimiser (and LR-schedule) steps one training batch makes.

    Per chunk: one per chunk holding a scored step; the chunks inside the warm-up (the first ``window - 1``
    steps, :mod:`social_xlstm.data.sequence`) score nothing and make no step.
    """
    if config.optimizer_step == "sequence":
        return 1
    return sum(1 for lo in range(0, sequence_length, config.chunk) if min(lo + config.chunk, sequence_length) >= window)


def detach_state(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The same state cut from the graph: the next chunk starts from its values, backpropagation stops here."""
    return {k: v.detach() for k, v in state.items()}


def tbptt_step(module, batch: dict[str, Tensor], config: TBPTTConfig) -> Tensor:
    """One training batch of sequences: forward chunk by chunk, backward and optimiser steps per ``config``.

    Args:
        module: the :class:`~social_xlstm.training.module.ForecastModule` (manual optimisation).
        batch: a sequence batch (``x`` (B, L, N, F), ``y``/``y_mask`` (B, L, H, N, O), ...).
        config: chunk length and optimiser-step policy.

    Returns:
        The batch's loss (detached): the mean over every scored target of the sequences.
    """
    opt, sched = module.optimizers(), module.lr_schedulers()
    x, x_mask, time, y, y_mask = (batch[k] for k in ("x", "x_mask", "time", "y", "y_mask"))
    length = x.shape[1]
    total = y_mask.sum().clamp_min(1)
    per_chunk = config.optimizer_step == "chunk"
    state, loss_sum = None, torch.zeros((), device=x.device)
    if not per_chunk:
        opt.zero_grad()
    for lo in range(0, length, config.chunk):
        hi = min(lo + config.chunk, length)
        scaled, state = module.net.forward_sequence(x[:, lo:hi], x_mask[:, lo:hi], time[:, lo:hi], state)
        pred = scaled.float() * module.target_std + module.target_mean  # (B, C, H, N, O) original units
        target, mask = y[:, lo:hi], y_mask[:, lo:hi]
        if module.loss_scale == "std":
            pred, target = pred / module.target_std, target / module.target_std
        count = mask.sum()
        loss = module.loss_fn(pred, target, mask)  # mean over the chunk's scored targets
        loss_sum = loss_sum + loss.detach() * count
        state = detach_state(state)
        if count == 0:  # a warm-up chunk: nothing scored, no step (weight decay and momentum would still act)
            continue
        if per_chunk:
            opt.zero_grad()
            module.manual_backward(loss)
            _clip_and_step(module, opt, sched, config)
        else:  # weighted so the accumulated gradient is that of the whole sequence's mean
            module.manual_backward(loss * (count / total))
    if not per_chunk and bool(y_mask.any()):
        _clip_and_step(module, opt, sched, config)
    return loss_sum / total


def _clip_and_step(module, opt, sched, config: TBPTTConfig) -> None:
    if config.gradient_clip_val is not None:
        module.clip_gradients(opt, gradient_clip_val=config.gradient_clip_val, gradient_clip_algorithm="norm")
    opt.step()
    sched.step()


class EvalStream:
    """Forecasts of a sequence-mode model over consecutive windows, running continuously through them.

    Validation, test and prediction batches are the windowed mode's windows in time order (W input steps,
    issue time ``t0`` the last one). The stream reads the first window whole (its W steps are the warm-up,
    from the zero state) and from then on only the newest step of each window, carrying the state: the
    forecast at issue time ``t0`` has read every step since the warm-up began. Whenever the next window
    is not the one after the last (a new epoch, another split, a gap in ``t0``) the stream restarts from
    that window's W steps, so a restart gives exactly the windowed context.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the state (e.g. new weights): the next batch restarts from its first window."""
        self.state: dict[str, Tensor] | None = None
        self.next_t0: int | None = None

    def __call__(self, net, batch: dict[str, Tensor]) -> Tensor:
        """Scaled forecasts of ``net`` at every window's issue time.

        Shapes:
            batch["x"], batch["x_mask"]: (B, W, N, F); batch["time"]: (B, W, 4); batch["t0"]: (B,);
            returns (B, H, N, O).
        """
        x, x_mask, time = batch["x"], batch["x_mask"], batch["time"]
        t0 = batch["t0"].tolist()
        out, i = [], 0
        while i < len(t0):
            j = i + 1
            while j < len(t0) and t0[j] == t0[j - 1] + 1:
                j += 1
            # windows i .. j-1 have consecutive issue times: their newest steps are consecutive panel steps
            if self.state is None or t0[i] != self.next_t0:  # restart: window i whole, then the newest steps
                seq = [torch.cat([v[i], v[i + 1 : j, -1]]) for v in (x, x_mask, time)]  # (W + j-i-1, ...)
                state, skip = None, x.shape[1] - 1
            else:
                seq = [v[i:j, -1] for v in (x, x_mask, time)]  # (j - i, ...)
                state, skip = self.state, 0
            y, self.state = net.forward_sequence(seq[0][None], seq[1][None], seq[2][None], state)
            out.append(y[0, skip:])  # (j - i, H, N, O)
            self.next_t0 = t0[j - 1] + 1
            i = j
        return torch.cat(out)

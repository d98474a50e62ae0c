"""Configuration of the forecasting models (DESIGN.md section 5).

One dataclass, read by LightningCLI from the YAML files in ``configs/`` (the only place numbers are
chosen). Fields have simple types so that the command line can set each of them; derived values are
computed in ``__post_init__`` and are not constructor arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from social_xlstm.errors import UserError

ARCHS = ("social_xlstm", "lstm", "gru_gcn", "slstm_only", "slstm_pool")
"""Valid values of :attr:`ModelConfig.arch`."""
SLSTM_FORGET = ("sigmoid", "exp")
SOCIAL_CONTEXTS = ("last", "all")
FF_ACTIVATIONS = ("gelu", "swiglu")


class ModelConfigError(UserError, ValueError):
    """An invalid model option: a user mistake (CLI exit 2) and a ``ValueError`` for library callers."""


@dataclass
class ModelConfig:
    """Hyper-parameters of :class:`~social_xlstm.nn.model.SocialXLSTM` and the learned baselines."""

    arch: str = "social_xlstm"
    """Which model: social_xlstm | lstm | gru_gcn | slstm_only | slstm_pool."""
    d_model: int = 64
    """Model width D (embedding, encoder states, social layer input and output)."""
    num_heads: int = 4
    """sLSTM heads NH; ``d_model`` must be divisible by it."""
    num_blocks: int = 2
    """Stacked sLSTM blocks (the lstm and gru_gcn baselines use it as their number of layers)."""
    slstm_forget: str = "sigmoid"
    """sLSTM forget gate: sigmoid (logsigmoid in log space) or exp (exponential forget)."""
    slstm_backend: str = "auto"
    """sLSTM op backend: auto | torch | cpu | triton (see social_xlstm.ops.slstm)."""
    conv_kernel: int = 4
    """Width of the causal depthwise convolution before the sLSTM input and forget gates; 0 disables it."""
    ff_factor: float = 4.0 / 3.0
    """Hidden width of the gated feed-forward as a multiple of d_model (xLSTM uses 4/3)."""
    ff_activation: str = "gelu"
    """Gate activation of the feed-forward: gelu (GeGLU) or swiglu."""
    dropout: float = 0.1
    """Dropout on residual branches and in the head."""
    vd_embedding_dim: int = 16
    """Width of the learned per-VD embedding (N rows plus one shared fallback row)."""
    vd_fallback_prob: float = 0.0
    """Training-time probability of replacing a VD's embedding by the fallback row, so the fallback learns."""
    social_heads: int = 4
    """Heads of the social mLSTM layer."""
    social_head_dim: int | None = None
    """Head width of the social layer; None means d_model // social_heads."""
    social_context: str = "last"
    """Which steps query the social memory: last (only the step that feeds the head) or all."""
    social_forget_init: float = 3.0
    """Social forget bias of head 0 at init; heads spread over [init, init + 3] (sigmoid(3) = 0.95)."""
    head_hidden: int | None = None
    """Hidden width of the forecasting head MLP; None means 2 * d_model."""
    last_value: bool = False
    """Predict a residual over each target's last observed (scaled) value instead of the value itself."""
    activation_checkpointing: bool = False
    """Recompute each encoder block in the backward pass (saves memory on long windows, costs time)."""

    slstm_head_dim: int = field(init=False)
    """Derived: sLSTM head width d_model // num_heads."""
    ff_dim: int = field(init=False)
    """Derived: feed-forward hidden width, ff_factor * d_model rounded up to a multiple of 8."""
    social_dim: int = field(init=False)
    """Derived: social head width (social_head_dim or d_model // social_heads)."""
    head_dim_hidden: int = field(init=False)
    """Derived: head MLP hidden width."""

    def __post_init__(self) -> None:
        self._check_choice("arch", self.arch, ARCHS)
        self._check_choice("slstm_forget", self.slstm_forget, SLSTM_FORGET)
        self._check_choice("social_context", self.social_context, SOCIAL_CONTEXTS)
        self._check_choice("ff_activation", self.ff_activation, FF_ACTIVATIONS)
        for name in ("d_model", "num_heads", "num_blocks", "social_heads", "vd_embedding_dim"):
            if getattr(self, name) < 1:
                raise ModelConfigError(f"model option {name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.num_heads:
            raise ModelConfigError(
                f"model option d_model={self.d_model} must be divisible by num_heads={self.num_heads}"
            )
        if self.social_head_dim is None and self.d_model % self.social_heads:
            raise ModelConfigError(
                f"model option d_model={self.d_model} must be divisible by social_heads={self.social_heads} "
                "(or set social_head_dim)"
            )
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.vd_fallback_prob < 1.0:
            raise ModelConfigError(
                f"model options dropout={self.dropout} and vd_fallback_prob={self.vd_fallback_prob} "
                "must lie in [0, 1)"
            )
        if self.conv_kernel < 0:
            raise ModelConfigError(f"model option conv_kernel must be >= 0, got {self.conv_kernel}")
        self.slstm_head_dim = self.d_model // self.num_heads
        self.ff_dim = 8 * math.ceil(self.ff_factor * self.d_model / 8)
        self.social_dim = self.social_head_dim or self.d_model // self.social_heads
        self.head_dim_hidden = self.head_hidden or 2 * self.d_model

    @staticmethod
    def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
        if value not in valid:
            raise ModelConfigError(f"unknown model option {name}={value!r}; valid values: {', '.join(valid)}")

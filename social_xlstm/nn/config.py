"""Configuration of the forecasters (docs/model.md): one dataclass per component, nested in :class:`ModelConfig`.

LightningCLI reads them from the YAML files in ``configs/`` (the only place numbers are chosen), so the
command line spells each option by its component: ``--model.encoder.layers``, ``--model.social.heads``,
``--model.head.last_value``. Fields have simple types; derived values (``init=False``) are computed in
``__post_init__`` -- the components' widths need the model width, which :class:`ModelConfig` hands down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from social_xlstm.errors import UserError
from social_xlstm.options import as_dataclass

from .registry import ALL_ARCHS, SOCIAL_FORM_NAMES, interleaves

SLSTM_FORGET = ("sigmoid", "exp")
SOCIAL_CONTEXTS = ("last", "all")
SOCIAL_PLACEMENTS = ("last", "between")
SOCIAL_EDGE_GATES = ("linear", "mlp")
SOCIAL_GRAPHS = ("road", "learned", "both")
"""``social.graph``: which sources a VD reads (social_xlstm.nn.fusion.learned_graph)."""
FF_ACTIVATIONS = ("gelu", "swiglu")
CALENDAR_MODES = ("sincos", "learned", "both")
"""``embedding.calendar``: sin/cos features through a linear map, learned slot and weekday tables, or both
(social_xlstm.nn.calendar)."""


class ModelConfigError(UserError, ValueError):
    """An invalid model option: a user mistake (CLI exit 2) and a ``ValueError`` for library callers."""


def check_choice(name: str, value: str, valid) -> None:
    """Raise :class:`ModelConfigError` naming the option and listing the valid values."""
    if value not in valid:
        raise ModelConfigError(f"unknown model option {name}={value!r}; valid values: {', '.join(valid)}")


def _check_positive(owner: object, prefix: str, *names: str) -> None:
    for name in names:
        if getattr(owner, name) < 1:
            raise ModelConfigError(f"model option {prefix}{name} must be >= 1, got {getattr(owner, name)}")


@dataclass
class EmbeddingConfig:
    """Input embedding: values, missing mask, calendar and a learned VD identity."""

    vd_dim: int = 16
    """Width of the learned per-VD embedding (N rows plus one shared fallback row)."""
    fallback_prob: float = 0.0
    """Training-time probability of replacing a VD's embedding by the fallback row, so the fallback learns."""
    calendar: str = "sincos"
    """How the calendar enters: sincos (a linear map of the four sin/cos features), learned (a row per
    time-of-day slot and per weekday, slots from the dataset's interval) or both (their sum)."""

    def __post_init__(self) -> None:
        check_choice("embedding.calendar", self.calendar, CALENDAR_MODES)
        _check_positive(self, "embedding.", "vd_dim")
        if not 0.0 <= self.fallback_prob < 1.0:
            raise ModelConfigError(f"model option embedding.fallback_prob={self.fallback_prob} must lie in [0, 1)")


@dataclass
class EncoderConfig:
    """Temporal encoder of each VD's history (weights shared by all VDs)."""

    layers: int = 2
    """Depth of the temporal encoder: stacked sLSTM blocks, or nn.LSTM layers for the lstm baseline."""
    heads: int = 4
    """sLSTM heads NH; the model width must be divisible by it."""
    forget: str = "sigmoid"
    """sLSTM forget gate: sigmoid (logsigmoid in log space) or exp (exponential forget)."""
    backend: str = "auto"
    """sLSTM op backend: auto | torch | cpu | cpp | triton (see social_xlstm.ops.slstm; cpp: the fused C++
    CPU kernel, built on first use, the cpu path where no compiler is found)."""
    conv_kernel: int = 4
    """Width of the causal depthwise convolution before the sLSTM input and forget gates; 0 disables it."""
    ff_factor: float = 4.0 / 3.0
    """Hidden width of the gated feed-forward as a multiple of the model width (xLSTM uses 4/3)."""
    ff_activation: str = "gelu"
    """Gate activation of the feed-forward: gelu (GeGLU) or swiglu."""
    activation_checkpointing: bool = False
    """Recompute each block in the backward pass (saves memory on long windows, costs time)."""
    compile: bool = False
    """torch.compile the sLSTM blocks' work around the op (needs a C++ compiler on CPU; compiles on first use)."""

    head_dim: int = field(init=False, default=0)
    """Derived: sLSTM head width d_model // heads."""
    ff_dim: int = field(init=False, default=0)
    """Derived: feed-forward hidden width, ff_factor * d_model rounded up to a multiple of 8."""

    def __post_init__(self) -> None:
        check_choice("encoder.forget", self.forget, SLSTM_FORGET)
        check_choice("encoder.ff_activation", self.ff_activation, FF_ACTIVATIONS)
        _check_positive(self, "encoder.", "layers", "heads")
        if self.conv_kernel < 0:
            raise ModelConfigError(f"model option encoder.conv_kernel must be >= 0, got {self.conv_kernel}")

    def derive(self, d_model: int) -> None:
        """Set the widths that depend on the model width."""
        if d_model % self.heads:
            raise ModelConfigError(f"model option d_model={d_model} must be divisible by encoder.heads={self.heads}")
        self.head_dim = d_model // self.heads
        self.ff_dim = 8 * math.ceil(self.ff_factor * d_model / 8)


@dataclass
class SocialConfig:
    """Social mLSTM fusion: each VD reads its graph neighbours into a matrix memory."""

    form: str = "source"
    """Where the matrix memory lives: source (each VD's own memory, read by its neighbours, O(N * DH^2)
    state, linear in N) or target (each VD's memory holds its neighbours' keys and values, O(E * T) keys;
    docs/social-layer.md compares them)."""
    heads: int = 4
    """Heads of the social mLSTM layer."""
    head_dim: int | None = None
    """Head width of the social layer; None means d_model // heads."""
    context: str = "last"
    """Which steps query the social memory: last (only the step that feeds the head) or all."""
    forget_init: float = 3.0
    """Forget bias of head 0 at init; heads spread over [init, init + 3] (sigmoid(3) = 0.95)."""
    placement: str = "last"
    """Where social layers sit: last (one fusion after the encoder) or between (also one, context all,
    after every sLSTM block but the last, so later blocks run over what the neighbours said)."""
    edge_gate: str = "linear"
    """Edge features -> key offset and input gate: linear, or mlp (linear plus a zero-initialised SiLU MLP)."""
    edge_features: bool = True
    """Whether the layer reads the edge features; false is the ablation that keeps only the graph."""
    global_read: bool = False
    """Beside the neighbour read, each VD also reads one network-wide memory every VD writes into (linear
    attention over space, O(N * DH^2); social_xlstm.nn.fusion.global_read), gated and zero-initialised."""
    graph: str = "road"
    """Which sources each VD reads: road (the graph's in-edges), learned (its own memory and learned_k
    sources chosen by learned VD embeddings, top-k, refreshed in training) or both (the road's and
    learned_k more); learned sources need form source (social_xlstm.nn.fusion.learned_graph)."""
    learned_k: int = 8
    """Learned sources per VD (graph learned or both)."""
    learned_dim: int = 16
    """Width of the VD embeddings that choose and weight the learned sources."""
    learned_refresh: int = 20
    """Training steps between two re-choices of the learned sources (each costs O(N^2 * learned_dim))."""

    dim: int = field(init=False, default=0)
    """Derived: social head width (head_dim or d_model // heads)."""

    def __post_init__(self) -> None:
        check_choice("social.form", self.form, SOCIAL_FORM_NAMES)
        check_choice("social.context", self.context, SOCIAL_CONTEXTS)
        check_choice("social.placement", self.placement, SOCIAL_PLACEMENTS)
        check_choice("social.edge_gate", self.edge_gate, SOCIAL_EDGE_GATES)
        check_choice("social.graph", self.graph, SOCIAL_GRAPHS)
        _check_positive(self, "social.", "heads", "learned_k", "learned_dim", "learned_refresh")
        if self.graph != "road" and self.form != "source":
            raise ModelConfigError(
                f"model option social.graph={self.graph!r} needs social.form='source' (learned sources are "
                f"read as extra edges of the source-memory read), got social.form={self.form!r}"
            )

    def derive(self, d_model: int) -> None:
        """Set the head width that depends on the model width."""
        if self.head_dim is None and d_model % self.heads:
            raise ModelConfigError(
                f"model option d_model={d_model} must be divisible by social.heads={self.heads} "
                "(or set social.head_dim)"
            )
        self.dim = self.head_dim or d_model // self.heads


@dataclass
class HeadConfig:
    """Forecasting head: each VD's fused state -> every horizon of every target, plus an optional skip."""

    hidden: int | None = None
    """Hidden width of the head MLP; None means 2 * d_model."""
    last_value: bool = False
    """Predict a residual over each target's last observed (scaled) value instead of the value itself."""
    quantiles: list[float] | None = None
    """Forecast these quantile levels (sorted, in (0, 1); the median 0.5 is added when absent) with the
    pinball loss, e.g. [0.05, 0.1, 0.5, 0.9, 0.95]; the median is the point forecast. None: a point model."""
    calibrate: bool = True
    """With quantiles: shift each level per horizon step and target on the validation split (conformal)."""
    point_weight: float = 1.0
    """With quantiles: add this weight times the point loss (``loss``, e.g. MAE) of the median to the pinball
    loss, and hang the other levels from a detached median, so the median is trained as a point model is
    and the interval levels' losses do not pull it. 0: the median is one pinball level among the others
    (measured worse: its MAE 0.5-3.6% above the point model's; docs/results.md)."""

    hidden_dim: int = field(init=False, default=0)
    """Derived: head MLP hidden width."""
    levels: tuple[float, ...] = field(init=False, default=())
    """Derived: the quantile levels forecast, the median included; () for a point model."""

    def derive(self, d_model: int) -> None:
        """Set the hidden width that depends on the model width; check and complete the quantile levels."""
        self.hidden_dim = self.hidden or 2 * d_model
        if not self.point_weight >= 0.0:
            raise ModelConfigError(f"model option head.point_weight={self.point_weight} must be >= 0")
        if self.quantiles is None:
            self.levels = ()
            return
        levels = [float(q) for q in self.quantiles]
        if not levels or any(not 0.0 < q < 1.0 for q in levels) or levels != sorted(set(levels)):
            raise ModelConfigError(
                f"model option head.quantiles={self.quantiles} must be distinct levels in (0, 1), sorted, "
                "e.g. [0.05, 0.1, 0.5, 0.9, 0.95]"
            )
        self.levels = tuple(sorted({*levels, 0.5}))

    @property
    def median_index(self) -> int:
        """Position of the median among :attr:`levels`."""
        return self.levels.index(0.5)


@dataclass
class ModelConfig:
    """A whole forecaster: which architecture, its width, and one config per component."""

    arch: str = "social_xlstm"
    """Which model (see social_xlstm.nn.registry): social_xlstm | slstm_pool | slstm_only | lstm | gru_gcn."""
    d_model: int = 64
    """Model width D (embedding, encoder states, fusion input and output)."""
    dropout: float = 0.1
    """Dropout on residual branches and in the head."""
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    """Input embedding."""
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    """Temporal encoder."""
    social: SocialConfig = field(default_factory=SocialConfig)
    """Social mLSTM fusion (used by the social_xlstm architecture; the other archs ignore it)."""
    head: HeadConfig = field(default_factory=HeadConfig)
    """Forecasting head and last-value skip."""

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ALL_ARCHS)
        _check_positive(self, "", "d_model")
        if not 0.0 <= self.dropout < 1.0:
            raise ModelConfigError(f"model option dropout={self.dropout} must lie in [0, 1)")
        self.embedding = as_dataclass(EmbeddingConfig, self.embedding, ModelConfigError)
        self.encoder = as_dataclass(EncoderConfig, self.encoder, ModelConfigError)
        self.social = as_dataclass(SocialConfig, self.social, ModelConfigError)
        self.head = as_dataclass(HeadConfig, self.head, ModelConfigError)
        if interleaves(self.arch, self.social.placement) and self.encoder.layers < 2:
            raise ModelConfigError(
                f"model option social.placement='between' puts social layers between sLSTM blocks; it needs "
                f"encoder.layers >= 2, got {self.encoder.layers}"
            )
        self.encoder.derive(self.d_model)
        self.social.derive(self.d_model)
        self.head.derive(self.d_model)

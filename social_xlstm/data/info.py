"""What a model needs to know about its data, and what a checkpoint must carry to predict.

The datamodule builds a :class:`DataInfo`; LightningCLI hands it to the LightningModule, which writes it
(``dataclasses.asdict``, plain lists and numbers) into the checkpoint's own ``"data_info"`` entry, not into
the hyper-parameters, so that a checkpoint alone can rebuild the model, unscale its outputs and name its
rows (VD ids, variables, graph); ``DataInfo(**entry)`` reads it back.

Batches (dicts of tensors) produced by the datamodule; B batch, W input window, H horizons, N VDs,
F input variables, O output (target) variables:

    x          (B, W, N, F) float32   scaled inputs, 0 where missing
    x_mask     (B, W, N, F) bool      True where observed
    time       (B, W, 4)    float32   sin/cos time of day, sin/cos day of week of each input step
    y          (B, H, N, O) float32   targets in original units, 0 where missing
    y_mask     (B, H, N, O) bool      True where the target was observed
    t0         (B,)         int64     panel index of the last input step (the issue time)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


@dataclass
class DataInfo:
    """Static facts about a dataset that the model and the prediction writer need."""

    vd_ids: list[str]
    """VD ids in panel order (length N)."""
    variables: list[str]
    """Input variables in feature order (length F)."""
    targets: list[str]
    """Forecast variables in output order (length O); a subset of ``variables``."""
    mean: list[float]
    """Scaler mean per input variable (length F), fitted on observed training values."""
    std: list[float]
    """Scaler standard deviation per input variable (length F)."""
    edge_index: list[list[int]]
    """Graph as ``[src, dst]`` rows of length E (PyG convention: messages flow src -> dst); self-loops included."""
    edge_attr: list[list[float]]
    """Edge features (E, Fe)."""
    edge_attr_names: list[str] = field(default_factory=list)
    """Names of the edge feature columns."""
    freq_minutes: float = 5.0
    """Sampling interval in minutes."""
    window: int = 12
    """Input window W."""
    horizon: int = 12
    """Number of forecast steps H."""
    timezone: str = "UTC"
    """Time zone used for time-of-day features."""
    mode: str = "window"
    """``window`` or ``sequence`` (long-context training, :mod:`social_xlstm.data.sequence`): how the model
    was trained, and so how it forecasts (a sequence model runs through the test period carrying its state)."""
    sequence_length: int | None = None
    """Training sequence length L in ``sequence`` mode; None in ``window`` mode."""
    units: dict[str, str] = field(default_factory=dict)
    """Unit of each input variable, as ``dataset.json`` gives it (empty in checkpoints written before units
    were recorded; new data are then not compared by unit)."""
    absent_vds: list[str] = field(default_factory=list)
    """VDs of the checkpoint that the data forecast on lack (docs/new-data.md): kept in the network with
    every input missing, so that their neighbours read them as in an outage; no forecasts are written for
    them. Empty for the training data."""
    holdout_vds: list[str] = field(default_factory=list)
    """VDs hidden completely (``data.holdout_vds``, :mod:`social_xlstm.data.holdout`): never an input, read
    with the embedding's fallback row, scored alone in the test. Empty when every VD is observed."""

    virtual_vds: list[str] = field(default_factory=list)
    """VDs at places without a detector (``predict --at``, :mod:`social_xlstm.data.virtual`): added to the
    network with no readings; their forecasts are flagged ``virtual``. Empty for the training data."""

    edge_attr_stats: list[list[float]] | None = None
    """(2, Fe) mean and std that standardise the edge features: a checkpoint's own edges' when the data
    aligned to it added VDs (and so edges), so the trained edges keep their trained values; None: those
    of :attr:`edge_attr` itself."""

    @property
    def no_detector_index(self) -> list[int]:
        """Positions of the VDs with no detector of their own: held out and virtual."""
        silent = set(self.holdout_vds) | set(self.virtual_vds)
        return [i for i, vd in enumerate(self.vd_ids) if vd in silent]

    @property
    def holdout_index(self) -> list[int]:
        """Positions of :attr:`holdout_vds` in :attr:`vd_ids`."""
        hidden = set(self.holdout_vds)
        return [i for i, vd in enumerate(self.vd_ids) if vd in hidden]

    @property
    def forecast_index(self) -> list[int]:
        """Positions of the VDs whose forecasts are written: all but :attr:`absent_vds`."""
        absent = set(self.absent_vds)
        return [i for i, vd in enumerate(self.vd_ids) if vd not in absent]

    @property
    def num_vds(self) -> int:
        return len(self.vd_ids)

    @property
    def target_index(self) -> list[int]:
        """Position of each target in ``variables``."""
        return [self.variables.index(t) for t in self.targets]

    def edge_index_tensor(self) -> torch.Tensor:
        """(2, E) int64."""
        import torch

        return torch.tensor(self.edge_index, dtype=torch.long).reshape(-1, 2).T.contiguous()

    def edge_attr_tensor(self) -> torch.Tensor:
        """(E, Fe) float32."""
        import torch

        n_edges = len(self.edge_index)
        return torch.tensor(self.edge_attr, dtype=torch.float32).reshape(n_edges, -1)

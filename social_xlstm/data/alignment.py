"""Forecasting on data other than the training data: the checkpoint's facts decide (docs/new-data.md).

A trained model is tied to its network and its scaler: row ``n`` of its VD embedding is the VD it saw at
position ``n``, its graph buffers name neighbours by position, its inputs were scaled with the training
statistics. A later month of the same network (or the network with VDs added, removed or reordered) is
therefore aligned to the checkpoint's :class:`~social_xlstm.data.info.DataInfo` before any window is cut:

* variables, units, interval, window and horizon must be the checkpoint's: a mismatch is one
  :class:`NewDataError` naming both sides (:func:`check_compatible`);
* inputs are scaled with the checkpoint's scaler, never refitted on the new data;
* VDs are matched by ``vd_id``, whatever their order (:func:`align_vds`). The network forecast on is the
  checkpoint's VDs in the checkpoint's order, then the added VDs in the dataset's order;
* a checkpoint VD the data lack stays in the network with every input missing (its neighbours read it as
  they read a VD in an outage, which training has seen), and no forecast is written for it
  (``DataInfo.absent_vds``);
* an added VD gets the embedding's shared fallback row and reads the in-edges the new dataset's graph
  gives it (:func:`align_graph`); it must have at least one neighbour among the checkpoint's VDs, else it
  cannot be placed and the error names it. The checkpoint's VDs keep exactly their trained in-edges, so
  nothing reads an added VD.

Without added VDs the graph is the checkpoint's own, so the model is the trained one, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from social_xlstm.data.format.schema import DatasetMeta
from social_xlstm.data.graph import Graph
from social_xlstm.data.info import DataInfo
from social_xlstm.data.panel import Panel
from social_xlstm.errors import UserError


class NewDataError(UserError):
    """The data cannot be forecast with the checkpoint: names what differs, on both sides."""


def check_compatible(
    reference: DataInfo,
    meta: DatasetMeta,
    where: str | Path,
    *,
    window: int,
    horizon: int,
    variables: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> None:
    """Raise one :class:`NewDataError` listing every way the dataset differs from what the model needs.

    Args:
        reference: the checkpoint's facts.
        meta: the new dataset's ``dataset.json``.
        where: the dataset directory, for the message.
        window, horizon, variables, targets: the datamodule's options (None: the checkpoint's).
    """
    found = []
    missing = [v for v in reference.variables if v not in meta.variables]
    if missing:
        found.append(
            f"variables: the model reads {reference.variables}, the dataset has {list(meta.variables)} "
            f"(missing {missing})"
        )
    for name, given, trained in (
        ("variables", variables, reference.variables),
        ("targets", targets, reference.targets),
    ):
        if given is not None and list(given) != list(trained):
            found.append(f"data.{name}: the checkpoint's are {list(trained)}, the options say {list(given)}")
    for var in reference.variables:
        trained, unit = reference.units.get(var), meta.variables.get(var)
        if trained is not None and unit is not None and str(trained) != str(unit):
            found.append(f"unit of {var!r}: the checkpoint's is {trained!r}, the dataset's is {unit!r}")
    if abs(meta.freq.minutes - reference.freq_minutes) > 1e-9:
        found.append(f"freq: the checkpoint's is {reference.freq_minutes:g} min, the dataset's is {meta.freq.alias!r}")
    for name, given, trained in (("window", window, reference.window), ("horizon", horizon, reference.horizon)):
        if given != trained:
            found.append(f"data.{name}: the checkpoint's is {trained}, the options say {given}")
    if found:
        listed = "".join(f"\n  - {p}" for p in found)
        raise NewDataError(f"{where}: these data do not fit the checkpoint's model:{listed}")


@dataclass
class Alignment:
    """Which VD of the new data sits where in the network the model forecasts.

    Shapes:
        source: (N',) int64, the column of each network VD in the new data's panel; -1 for an absent VD.
    """

    vd_ids: list[str]
    """The network: the checkpoint's VDs in its order, then the added VDs in the dataset's order."""
    source: np.ndarray
    absent: list[str]
    """Checkpoint VDs the new data lack."""
    added: list[str]
    """VDs of the new data the checkpoint never saw."""

    @property
    def is_identity(self) -> bool:
        """The data hold exactly the checkpoint's VDs in its order."""
        return not self.absent and not self.added and bool((self.source == np.arange(len(self.source))).all())


def align_vds(trained: Sequence[str], data: Sequence[str]) -> Alignment:
    """Match the new data's VDs to the checkpoint's by ``vd_id``."""
    position = {vd: i for i, vd in enumerate(data)}
    known = set(trained)
    added = [vd for vd in data if vd not in known]
    network = [*trained, *added]
    source = np.array([position.get(vd, -1) for vd in network], dtype=np.int64)
    absent = [vd for vd in trained if vd not in position]
    return Alignment(network, source, absent, added)


def align_panel(panel: Panel, alignment: Alignment) -> Panel:
    """The panel's VD axis in network order; absent VDs all missing (NaN, mask False). One copy of the panel."""
    if alignment.is_identity:
        return panel
    present = alignment.source >= 0
    values = np.full((panel.num_steps, len(alignment.vd_ids), panel.num_variables), np.nan, dtype=np.float32)
    mask = np.zeros(values.shape, dtype=bool)  # (T, N', F)
    values[:, present] = panel.values[:, alignment.source[present]]
    mask[:, present] = panel.mask[:, alignment.source[present]]
    return Panel(values, mask, panel.timestamps, list(alignment.vd_ids), panel.variables, panel.freq, panel.timezone)


def reference_graph(reference: DataInfo) -> Graph:
    """The checkpoint's graph as a :class:`Graph`."""
    index = np.asarray(reference.edge_index, dtype=np.int64).reshape(-1, 2).T  # (2, E)
    attr = np.asarray(reference.edge_attr, dtype=np.float32).reshape(index.shape[1], -1)  # (E, Fe)
    return Graph(np.ascontiguousarray(index), attr, list(reference.edge_attr_names), reference.num_vds)


def align_graph(reference: DataInfo, alignment: Alignment, data_graph: Graph, data_ids: Sequence[str]) -> Graph:
    """The graph over the network: the checkpoint's edges, plus the added VDs' in-edges from the new data's graph.

    Args:
        reference: the checkpoint's facts (its graph, over its VDs).
        alignment: from :func:`align_vds`.
        data_graph: the graph the datamodule built for the new dataset (same options as in training).
        data_ids: the new dataset's VD ids, in ``data_graph``'s node order.

    Raises:
        NewDataError: added VDs without a neighbour among the checkpoint's VDs, or the new graph's edge
            features differ from the checkpoint's.
    """
    trained = reference_graph(reference)
    if not alignment.added:
        return trained
    if list(data_graph.edge_attr_names) != list(reference.edge_attr_names):
        raise NewDataError(
            f"edge features: the checkpoint's are {list(reference.edge_attr_names)}, the new dataset's graph "
            f"gives {list(data_graph.edge_attr_names)} (the stations need the same columns: road, km, lat/lon)"
        )
    network_pos = {vd: i for i, vd in enumerate(alignment.vd_ids)}
    to_network = np.array([network_pos[vd] for vd in data_ids], dtype=np.int64)  # (N_data,)
    src, dst = to_network[data_graph.edge_index_array]  # (E_data,) each, network positions
    first_added = reference.num_vds
    into_added = dst >= first_added
    src, dst, attr = src[into_added], dst[into_added], data_graph.edge_attr_array[into_added]
    # an added VD is placed when it reads at least one VD the model knows
    placed = np.unique(dst[(src != dst) & (src < first_added)])
    lonely = [alignment.vd_ids[i] for i in range(first_added, len(alignment.vd_ids)) if i not in set(placed.tolist())]
    if lonely:
        raise NewDataError(
            f"{len(lonely)} VD(s) the checkpoint never saw have no neighbour among its VDs in the new dataset's "
            f"graph, so the model cannot place them: {lonely[:10]}{' ...' if len(lonely) > 10 else ''}; give them "
            "coordinates or edges to known VDs, or leave them out of the data"
        )
    edge_index = np.concatenate([trained.edge_index_array, np.stack([src, dst])], axis=1)  # (2, E + E_added)
    edge_attr = np.concatenate([trained.edge_attr_array, attr.astype(np.float32)], axis=0)  # (E + E_added, Fe)
    return Graph(edge_index, edge_attr, list(reference.edge_attr_names), len(alignment.vd_ids))


def describe_alignment(alignment: Alignment, checkpoint: str | Path) -> str:
    """How the data were matched to the checkpoint, naming absent and added VDs (one line)."""

    def some(vds: list[str]) -> str:
        return f"{vds[:5]}{' ...' if len(vds) > 5 else ''}"

    matched = len(alignment.vd_ids) - len(alignment.absent) - len(alignment.added)
    lines = [f"data aligned to {checkpoint}: {matched} VD(s) matched by vd_id"]
    if alignment.absent:
        lines.append(f"{len(alignment.absent)} absent (inputs missing, no forecasts): {some(alignment.absent)}")
    if alignment.added:
        lines.append(f"{len(alignment.added)} added (fallback embedding): {some(alignment.added)}")
    return "; ".join(lines)

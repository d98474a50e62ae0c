"""``social-xlstm validate DIR``: check a canonical dataset and summarise what is in it.

Hard problems (anything :func:`~social_xlstm.data.format.reader.load_dataset` or the panel loader rejects,
``dataset.json`` contradicted by the data included: :mod:`social_xlstm.data.format.consistency`) end up in
``problems``, every one the run found, one entry each; things a user should know but that do not stop
training (gaps, VDs that never report, a graph in pieces, units outside the vocabulary) are ``warnings``;
``summary`` holds the numbers.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from social_xlstm.data.format.checks import DatasetProblems
from social_xlstm.data.format.consistency import ImplausibleReadings, unchecked_units
from social_xlstm.data.format.dataset import Dataset
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.format.schema import KEY_COLS
from social_xlstm.data.graph import DEFAULT_MAX_NEIGHBOURS, Graph, graph_from_coordinates, graph_from_edges
from social_xlstm.data.panel import Panel, load_panel
from social_xlstm.errors import DataError

WORST = 10
MISSING_WARN = 0.5
_VD_CHUNK = 256


@dataclass
class ValidationReport:
    """Outcome of :func:`validate_dataset`."""

    root: str
    """The checked directory."""
    problems: list[str] = field(default_factory=list)
    """Errors that make the dataset unusable (each names file, column and example rows)."""
    warnings: list[str] = field(default_factory=list)
    """Things worth knowing that do not stop loading."""
    summary: dict[str, Any] = field(default_factory=dict)
    """Statistics: VDs, time span, frequency, missing shares, outages, graph connectivity."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        """The report as readable plain text."""
        s = self.summary
        lines = [f"Dataset {self.root}: {'OK' if self.ok else 'PROBLEMS FOUND'}"]
        for problem in self.problems:
            lines.append("  ERROR " + problem.replace("\n", "\n        "))
        if s:
            lines.append(
                f"  {s['num_vds']} VDs x {s['num_steps']} steps of {s['freq']} "
                f"({s['start']} .. {s['end']}), time zone {s['timezone']}"
            )
            lines.append(
                f"  observation rows {s['num_rows']}, duplicates {s['duplicates']}, "
                f"VDs without coordinates {s['vds_without_coordinates']}"
            )
            lines.append(
                "  missing share per variable: "
                + ", ".join(f"{k} {v:.1%}" for k, v in s["missing_per_variable"].items())
            )
            lines.append(
                "  worst VDs by missing share: "
                + (", ".join(f"{k} {v:.1%}" for k, v in s["worst_missing_vds"].items()) or "none")
            )
            lines.append(
                "  longest outages (steps with no variable observed): "
                + (", ".join(f"{k} {v}" for k, v in s["longest_outage_steps"].items()) or "none")
            )
            g = s["graph"]
            offered = "" if g["edges_in_file"] is None else f"{g['edges_in_file']:,} edges in the file, "
            lines.append(
                f"  graph ({g['source']}): {offered}{g['edges']:,} kept (incl. self loops, after the "
                f"data.max_neighbours cap), {g['components']} connected component(s), "
                f"largest {g['largest_component']} VDs"
            )
            lines.append(f"  edge features: {', '.join(g['edge_features'])}")
            lines.extend("  " + line for line in degree_lines(g))
        for warning in self.warnings:
            lines.append("  warning: " + warning)
        return "\n".join(lines)


def validate_dataset(root: str | Path, max_neighbours: int | None = DEFAULT_MAX_NEIGHBOURS) -> ValidationReport:
    """Check a dataset directory completely and gather statistics.

    Args:
        root: the dataset directory.
        max_neighbours: the datamodule's ``data.max_neighbours``: in-edges per VD incl. its self loop;
            the report says how many VDs this cap trims.

    Returns:
        The :class:`ValidationReport`; ``report.ok`` is False when the dataset cannot be loaded.
    """
    report = ValidationReport(str(root))
    try:
        dataset = load_dataset(root, check_rows=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ImplausibleReadings)
            panel = load_panel(dataset)  # streams every row once, with the same checks as check_rows
        report.warnings.extend(str(w.message) for w in caught if issubclass(w.category, ImplausibleReadings))
        graph = (
            graph_from_edges(dataset.stations, dataset.edges, max_neighbours)
            if dataset.edges is not None
            else graph_from_coordinates(dataset.stations, max_neighbours)
        )
    except DatasetProblems as err:
        report.problems.extend(err.problems)
        return report
    except DataError as err:
        report.problems.append(str(err))
        return report
    _summarise(report, dataset, panel, graph)
    return report


def degree_summary(graph: Graph) -> dict[str, Any]:
    """In-degree statistics (self loop included) before and after the ``max_neighbours`` cap."""
    before = graph.candidate_in_degree if graph.candidate_in_degree is not None else graph.in_degree()
    after = graph.in_degree()

    def stats(degree: np.ndarray) -> dict[str, float]:
        return {"min": int(degree.min()), "median": float(np.median(degree)), "max": int(degree.max())}

    return {
        "num_vds": graph.num_nodes,
        "max_neighbours": graph.max_neighbours,
        "in_degree_before_cap": stats(before),
        "in_degree": stats(after),
        "vds_capped": int((before > after).sum()),
    }


def degree_lines(g: dict[str, Any]) -> list[str]:
    """The in-degree part of the rendered report."""

    def show(s: dict[str, float]) -> str:
        return f"min {s['min']} / median {s['median']:g} / max {s['max']}"

    cap = g["max_neighbours"]
    offered = "edges.parquet" if g["source"] == "edges.parquet" else "every VD as a candidate"
    lines = [
        f"in-degree incl. self loop, {offered}: {show(g['in_degree_before_cap'])}",
        f"in-degree incl. self loop, kept: {show(g['in_degree'])}",
    ]
    setting = f"data.max_neighbours = {cap}" + (" (the default)" if cap == DEFAULT_MAX_NEIGHBOURS else "")
    if cap is None:
        lines.append("no cap (data.max_neighbours = null): every edge of edges.parquet is kept")
    elif g["vds_capped"]:
        rule = (
            f"their {cap - 1} strongest in-edges (by weight, else nearest) + the self loop"
            if g["source"] == "edges.parquet"
            else f"their {cap - 1} nearest VDs + the self loop"
        )
        lines.append(f"the cap {setting} trims {g['vds_capped']} of {g['num_vds']} VDs to {rule}")
    else:
        lines.append(f"the cap {setting} trims no VD")
    return lines


def longest_gap(observed: np.ndarray) -> np.ndarray:
    """Longest run of False along axis 0 of ``observed (T, N)`` for each column -> (N,) int64."""
    num_steps, num_vds = observed.shape
    out = np.zeros(num_vds, dtype=np.int64)
    for lo in range(0, num_vds, _VD_CHUNK):
        block = observed[:, lo : lo + _VD_CHUNK].T  # (n, T)
        padded = np.ones((block.shape[0], num_steps + 2), dtype=bool)  # (n, T + 2) observed sentinels at both ends
        padded[:, 1:-1] = block
        rows, cols = np.nonzero(padded)
        same = rows[1:] == rows[:-1]
        gaps = np.diff(cols) - 1
        np.maximum.at(out[lo : lo + _VD_CHUNK], rows[1:][same], gaps[same])
    return out


def _summarise(report: ValidationReport, dataset: Dataset, panel: Panel, graph: Graph) -> None:
    observed = panel.mask.any(axis=2)  # (T, N) any variable observed
    vd_ids = np.asarray(panel.vd_ids, dtype=object)
    num_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in dataset.observation_files)
    missing_var = (~panel.mask).mean(axis=(0, 1))  # (F,)
    missing_vd = (~panel.mask).mean(axis=(0, 2))  # (N,)
    worst = np.argsort(-missing_vd, kind="stable")[:WORST]
    outage = longest_gap(observed)
    worst_out = np.argsort(-outage, kind="stable")[:WORST]
    labels = graph.connected_components()
    sizes = np.bincount(labels)
    no_coord = int((dataset.stations["lat"].isna() | dataset.stations["lon"].isna()).sum())
    report.summary = {
        "num_vds": panel.num_vds,
        "num_steps": panel.num_steps,
        "num_rows": int(num_rows),
        "start": str(panel.timestamps[0]),
        "end": str(panel.timestamps[-1]),
        "freq": panel.freq.alias,
        "timezone": panel.timezone,
        "variables": list(panel.variables),
        "duplicates": 0,  # any duplicate is a problem and stops the check
        "vds_without_coordinates": no_coord,
        "missing_per_variable": {v: float(m) for v, m in zip(panel.variables, missing_var, strict=True)},
        # only VDs that miss something: a complete dataset lists none
        "worst_missing_vds": {str(vd_ids[i]): float(missing_vd[i]) for i in worst if missing_vd[i] > 0},
        "longest_outage_steps": {str(vd_ids[i]): int(outage[i]) for i in worst_out if outage[i] > 0},
        "graph": {
            "source": "edges.parquet" if dataset.edges is not None else "coordinates (nearest VDs)",
            "edges_in_file": None if dataset.edges is None else len(dataset.edges),
            "edges": graph.num_edges,  # kept: self loops added, duplicates merged, the cap applied
            "components": int(len(sizes)),
            "largest_component": int(sizes.max()),
            "edge_features": list(graph.edge_attr_names),
            **degree_summary(graph),
        },
    }
    for var, share in zip(panel.variables, missing_var, strict=True):
        if share > MISSING_WARN:
            report.warnings.append(f"variable {var!r} is missing in {share:.1%} of (step, VD) cells")
    silent = np.flatnonzero(~observed.any(axis=0))
    if silent.size:
        report.warnings.append(f"{silent.size} VD(s) never report a value, e.g. {vd_ids[silent[:5]].tolist()}")
    if no_coord:
        report.warnings.append(f"{no_coord} VD(s) have no coordinates (the graph comes from edges.parquet)")
    if len(sizes) > 1:
        report.warnings.append(
            f"the graph has {len(sizes)} connected components (sizes "
            f"{sorted(sizes.tolist(), reverse=True)[:5]}...); VDs in different components "
            "never exchange information"
        )
    isolated = np.flatnonzero(sizes[labels] == 1)
    if isolated.size:
        report.warnings.append(
            f"{isolated.size} VD(s) have no neighbour but themselves, e.g. {vd_ids[isolated[:5]].tolist()}"
        )
    extra = [c for c in pq.read_schema(dataset.observation_files[0]).names if c not in (*KEY_COLS, *panel.variables)]
    if extra:  # numeric ones are problems (undeclared variables); these are labels, ids, flags
        report.warnings.append(
            f"{dataset.observation_files[0]}: non-numeric columns {extra} are not listed in dataset.json "
            "'variables' and are ignored"
        )
    unchecked = unchecked_units(dataset.meta.variables)
    if unchecked:
        units = {v: dataset.meta.variables[v] for v in unchecked}
        report.warnings.append(
            f"units {units} are not in the unit vocabulary (docs/data-format.md): their values are not "
            "checked against a plausible range"
        )

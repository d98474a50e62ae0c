"""How much a VD's neighbours tell about its future, measured by a linear probe (no deep model involved).

For every VD two ridge regressions predict the next ``H`` steps of the target variables from a window of
``W`` steps, fitted on the train part and scored on the test part of the same protocol as the benchmark:

    own         x = [own window (W x F), time of day and week]                    -> y (H x Ft)
    neighbours  x = [own window, each in-neighbour's window (K x W x F), time]        -> y

Each VD has its own weights (a vector autoregression restricted to the graph), so the neighbours' role
(upstream, downstream, near, far) needs no edge features to be learned. The ridge strength of each probe
is chosen on the validation part from :data:`RIDGE_GRID`. The historical average is not an input: fitted
on the train part, it holds each train target itself and would leak it into the fit.

The relative drop of test MAE from ``own`` to ``neighbours`` is an estimate of the spatial information
a linear forecaster draws from the graph at each horizon. It is not a bound for a deep model (which can
read the neighbours non-linearly and over several hops), and a weak ``own`` probe can overstate it (the
neighbours then also stand in for what the own history failed to capture); read it as the order of
magnitude the data offers. Inputs are standardised with the train part's mean and std per variable; a
missing input reads 0 (the mean), a train window with a missing target is left out of the fit, and test
errors are masked like the benchmark's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from social_xlstm.atomic import atomic_file, write_json_atomic
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.graph import Graph, graph_from_coordinates, graph_from_edges
from social_xlstm.data.panel import Panel, load_panel
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.data.split import chronological_split, window_starts
from social_xlstm.data.timefeatures import time_features
from social_xlstm.errors import UserError

RIDGE_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
"""Ridge strengths tried, per train sample (the penalty is ``alpha * samples * ||w||^2``)."""
PROBES = ("own", "neighbours")


@dataclass
class ProbeResult:
    """Masked test MAE of each probe in original units.

    Shapes:
        mae[probe]: (H, Ft) per horizon step and target variable.
    """

    targets: list[str]
    horizon: int
    freq_minutes: float
    mae: dict[str, np.ndarray]
    alpha: dict[str, float]
    test_windows: int

    def gain(self) -> np.ndarray:
        """(H, Ft) relative change of MAE from ``own`` to ``neighbours`` (negative: the neighbours help)."""
        return (self.mae["neighbours"] - self.mae["own"]) / self.mae["own"]


def _windows(z: np.ndarray, starts: np.ndarray, window: int, vds: np.ndarray) -> np.ndarray:
    """(S, len(vds) * W * F) input windows of ``vds`` stacked per sample."""
    steps = starts[:, None] + np.arange(window)[None, :]  # (S, W)
    return z[steps][:, :, vds, :].transpose(0, 2, 1, 3).reshape(len(starts), -1)


def _ridge_solutions(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> list[np.ndarray]:
    """Weights (D, Y) of ``min ||x w - y||^2 + alpha * S * ||w||^2`` for each alpha (bias column unpenalised)."""
    gram, cross = x.T @ x, x.T @ y
    penalty = np.ones(x.shape[1])
    penalty[-1] = 0.0  # the bias column
    return [np.linalg.solve(gram + a * len(x) * np.diag(penalty) + 1e-9 * np.eye(len(gram)), cross) for a in alphas]


def probe_spatial_information(
    panel: Panel,
    graph: Graph,
    targets: Sequence[str],
    window: int,
    horizon: int,
    split: Sequence[float],
) -> ProbeResult:
    """Fit and score both probes of every VD (see the module docstring)."""
    target_idx = panel.variable_index(targets)
    ranges = chronological_split(panel.num_steps, split)
    starts = {part: window_starts(ranges[part], window, horizon) for part in ranges}
    for part in ("train", "val", "test"):
        if len(starts[part]) == 0:
            raise UserError(f"the {part} part has no window of {window} + {horizon} steps; use a longer dataset")
    lo, hi = ranges["train"]
    scaler = StandardScaler().fit(panel.values[lo:hi], panel.mask[lo:hi], panel.variables)  # the models' scaler
    std = scaler.std
    z = np.where(panel.mask, scaler.transform(panel.values.astype(np.float64)), 0.0)  # (T, N, F), 0 where missing
    # the models' time features at the forecast origin, and a bias column (kept last: not penalised)
    clock = np.concatenate([time_features(panel.timestamps, panel.timezone), np.ones((panel.num_steps, 1))], 1)
    src, dst = graph.edge_index_array

    def targets_of(part: str, vd: int) -> tuple[np.ndarray, np.ndarray]:
        steps = starts[part][:, None] + window + np.arange(horizon)[None, :]  # (S, H)
        y = z[steps, vd][:, :, target_idx].reshape(len(steps), -1)
        observed = panel.mask[steps, vd][:, :, target_idx].reshape(len(steps), -1)
        return y, observed

    sums = {p: {a: np.zeros(horizon * len(target_idx)) for a in RIDGE_GRID} for p in PROBES}
    val_sums = {p: {a: 0.0 for a in RIDGE_GRID} for p in PROBES}
    counts = np.zeros(horizon * len(target_idx))
    scale = np.tile(std[target_idx], horizon)
    for vd in range(panel.num_vds):
        neighbours = np.unique(src[(dst == vd) & (src != vd)])
        y_train, obs_train = targets_of("train", vd)  # the same for both probes
        complete = obs_train.all(axis=1)
        if complete.sum() < 2:
            raise UserError(f"VD {panel.vd_ids[vd]}: fewer than 2 train windows with every target observed")
        y_val, obs_val = targets_of("val", vd)
        y_test, obs_test = targets_of("test", vd)
        for probe in PROBES:
            vds = np.array([vd]) if probe == "own" else np.concatenate([[vd], neighbours])
            x = {
                part: np.concatenate(
                    [
                        _windows(z, starts[part], window, vds),
                        clock[starts[part] + window - 1],
                    ],
                    1,
                )
                for part in ("train", "val", "test")
            }
            weights = _ridge_solutions(x["train"][complete], y_train[complete], RIDGE_GRID)
            for alpha, w in zip(RIDGE_GRID, weights, strict=True):
                val_sums[probe][alpha] += float((np.abs(x["val"] @ w - y_val) * obs_val).sum())
                sums[probe][alpha] += (np.abs(x["test"] @ w - y_test) * scale * obs_test).sum(axis=0)
        counts += obs_test.sum(axis=0)
    alpha = {p: min(RIDGE_GRID, key=lambda a, p=p: val_sums[p][a]) for p in PROBES}
    mae = {p: (sums[p][alpha[p]] / np.maximum(counts, 1)).reshape(horizon, len(target_idx)) for p in PROBES}
    return ProbeResult(list(targets), horizon, panel.freq_minutes, mae, alpha, len(starts["test"]))


def render_probe(result: ProbeResult, name: str, command: str | None, points: Sequence[int]) -> str:
    """Markdown: per target, both probes' MAE and the neighbours' relative gain at the given horizon steps."""
    minutes = [f"{result.freq_minutes * p:g} min" for p in points]
    lines = [
        f"# Spatial information in {name}: a linear probe",
        "",
        "Per VD, two ridge regressions forecast the next steps from the last window: `own` reads the VD's own "
        "window (every variable) and the time of day; `neighbours` also reads each in-neighbour's window. "
        "Fitted on the train part, ridge strength chosen on the validation part, masked MAE on all "
        f"{result.test_windows} test windows in original units (`social_xlstm/bench/probe.py`). The gain is "
        "what the graph adds to a VD's own history for a linear model; a deep model's social layer can draw "
        "more (non-linear, multi-hop) but this is the order of magnitude the data offers.",
        "",
        f"- ridge strength chosen: own {result.alpha['own']:g}, neighbours {result.alpha['neighbours']:g}",
    ]
    if command:
        lines.append(f"- command: `{command}`")
    for k, target in enumerate(result.targets):
        lines += ["", f"## {target}: MAE", "", "| probe | " + " | ".join(minutes) + " | avg |"]
        lines.append("|---|" + "---:|" * (len(points) + 1))
        for probe in PROBES:
            row = result.mae[probe][:, k]
            lines.append(f"| {probe} | " + " | ".join(f"{row[p - 1]:.3f}" for p in points) + f" | {row.mean():.3f} |")
        gain = result.gain()[:, k]
        avg = (result.mae["neighbours"][:, k].mean() - result.mae["own"][:, k].mean()) / result.mae["own"][:, k].mean()
        lines.append("| gain | " + " | ".join(f"{100 * gain[p - 1]:+.1f}%" for p in points) + f" | {100 * avg:+.1f}% |")
    return "\n".join(lines) + "\n"


def run_probe(
    dataset: str,
    protocol: str,
    config: str | None = None,
    targets: Sequence[str] | None = None,
    max_neighbours: int = 9,
    out: str = "docs/results",
    name: str | None = None,
    command: str | None = None,
) -> ProbeResult:
    """``bench probe``: probe ``dataset`` under the protocol of ``config``; writes ``OUT/<name>-spatial.md``/``.json``.

    The protocol (window, horizon, split) is the bench config's (default ``configs/bench_<protocol>.yaml``),
    the graph the dataset's own edges or its coordinates, ``max_neighbours`` in-edges per VD.
    """
    from social_xlstm.bench.run import Protocol, protocol_config

    spec = Protocol.from_config(protocol, config or protocol_config(protocol))
    if not Path(dataset).is_dir():
        raise UserError(f"{dataset}: dataset directory not found")
    data = load_dataset(dataset, check_rows=False)
    targets = list(targets or [v for v in ("flow", "speed") if v in data.variables])
    if not targets:
        raise UserError(f"{dataset}: no flow or speed variable; name the targets with --targets")
    panel = load_panel(data)
    if data.edges is not None:
        graph = graph_from_edges(data.stations, data.edges, max_neighbours)
    else:
        graph = graph_from_coordinates(data.stations, max_neighbours)
    result = probe_spatial_information(panel, graph, targets, spec.window, spec.horizon, spec.split)
    name = name or Path(dataset).resolve().name
    points = [p for p in (3, 6, 9, 12) if p <= spec.horizon]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "dataset": name,
        "protocol": protocol,
        "max_neighbours": max_neighbours,
        "targets": result.targets,
        "freq_minutes": result.freq_minutes,
        "test_windows": result.test_windows,
        "alpha": result.alpha,
        "mae": {p: result.mae[p].tolist() for p in PROBES},
        "command": command,
    }
    write_json_atomic(record, folder / f"{name}-spatial.json")
    text = render_probe(result, name, command, points)
    with atomic_file(folder / f"{name}-spatial.md") as tmp:
        tmp.write_text(text)
    print(text)
    return result

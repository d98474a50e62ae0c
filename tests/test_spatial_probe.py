"""The linear spatial-information probe: ridge against least squares, gains on data built to have them or not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.bench.probe import _ridge_solutions, probe_spatial_information
from social_xlstm.data.graph import graph_from_edges
from social_xlstm.data.panel import Panel
from social_xlstm.errors import UserError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "spatial_information.py"
LAG = 4


def _lagged_panel(steps: int = 1500, seed: int = 0, lag: int | None = LAG) -> Panel:
    """VD b reads VD a ``lag`` steps late (plus a little noise); None: two independent VDs.

    Both series are AR(1) noise, so a VD's own history tells little about the next steps beyond its last
    value, and b's future up to ``lag`` steps is a's present.
    """
    rng = np.random.default_rng(seed)
    a = np.zeros(steps + LAG)
    for t in range(1, len(a)):
        a[t] = 0.3 * a[t - 1] + rng.normal()
    if lag is None:
        b = np.zeros(steps)
        for t in range(1, steps):
            b[t] = 0.3 * b[t - 1] + rng.normal()
    else:
        b = a[LAG - lag : LAG - lag + steps] + 0.05 * rng.normal(size=steps)
    a = a[LAG:]
    values = (100.0 + 10.0 * np.stack([a, b], 1))[:, :, None].astype(np.float32)  # (T, 2, 1)
    timestamps = pd.date_range("2024-03-04", periods=steps, freq="5min", tz="UTC")
    return Panel(values, np.ones_like(values, bool), timestamps, ["a", "b"], ["flow"], "5min", "UTC")


def _graph():
    stations = pd.DataFrame({"vd_id": ["a", "b"], "lat": [np.nan] * 2, "lon": [np.nan] * 2})
    edges = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "a"], "distance_m": [1000.0, 1000.0]})
    return graph_from_edges(stations, edges, max_neighbours=None)


def test_ridge_at_vanishing_strength_is_least_squares_and_leaves_the_bias_free():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(size=(200, 5)), np.ones((200, 1))], 1)
    y = x @ rng.normal(size=(6, 3)) + 0.1 * rng.normal(size=(200, 3))
    (w,) = _ridge_solutions(x, y, [1e-12])
    np.testing.assert_allclose(w, np.linalg.lstsq(x, y, rcond=None)[0], atol=1e-6)
    # a huge penalty shrinks every weight but the bias, which becomes the mean of y
    (w,) = _ridge_solutions(x, y, [1e9])
    assert np.abs(w[:-1]).max() < 1e-6
    np.testing.assert_allclose(w[-1], y.mean(0), atol=1e-6)


def test_a_vd_that_reads_its_neighbour_late_gains_at_short_horizons():
    panel = _lagged_panel()
    result = probe_spatial_information(panel, _graph(), ["flow"], window=6, horizon=6, split=(0.7, 0.1, 0.2))
    gain = result.gain()[:, 0]  # both VDs together
    # up to the lag, b's future is a's present: half the error (VD a's) stays, b's almost vanishes
    assert (gain[:LAG] < -0.35).all()
    # past the lag neither history says much more than the mean: no gain to speak of
    assert abs(gain[-1]) < 0.05
    assert result.mae["own"].shape == (6, 1) and result.test_windows > 250


def test_independent_vds_gain_nothing():
    panel = _lagged_panel(lag=None)
    result = probe_spatial_information(panel, _graph(), ["flow"], window=6, horizon=3, split=(0.7, 0.1, 0.2))
    assert np.abs(result.gain()).max() < 0.03


def test_too_short_a_dataset_names_the_part():
    panel = _lagged_panel(steps=60)
    with pytest.raises(UserError, match="the val part has no window"):
        probe_spatial_information(panel, _graph(), ["flow"], window=12, horizon=12, split=(0.7, 0.1, 0.2))


def test_script_writes_the_table_and_json(tiny_dataset, tmp_path):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", str(tiny_dataset), "--protocol", "standard", "--out", str(tmp_path)],
        cwd=SCRIPT.parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    name = Path(tiny_dataset).resolve().name
    record = json.loads((tmp_path / f"{name}-spatial.json").read_text())
    assert set(record["mae"]) == {"own", "neighbours"} and len(record["mae"]["own"]) == 12
    text = (tmp_path / f"{name}-spatial.md").read_text()
    assert "| gain |" in text and text in run.stdout


def test_script_bad_input_exits_2(tmp_path):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", str(tmp_path / "nope"), "--protocol", "standard"],
        cwd=SCRIPT.parents[1],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and "dataset directory not found" in run.stderr
    assert not list(tmp_path.iterdir())

"""Shared fixtures: a small canonical dataset with daily rhythm and spatially lagged traffic."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.schema import DatasetMeta, write_dataset

# Plots are written to files, never shown: the non-interactive backend, whatever the machine has.
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


SMALL_MODEL = dict(d_model=16, encoder={"heads": 2, "layers": 1}, social={"heads": 2}, dropout=0.0)
"""ForecastModule options of the small model the tests train for a few steps."""


def train_tiny_checkpoint(datamodule, path: Path, steps: int = 2, seed: int = 0, **model) -> Path:
    """A :data:`SMALL_MODEL` (updated by ``model``) trained ``steps`` optimiser steps on ``datamodule``
    (weights just off their initial values, no validation), saved as a checkpoint at ``path``."""
    import lightning as L  # imported by the tests that train, not by every test run
    import torch

    from social_xlstm.training.module import ForecastModule

    torch.manual_seed(seed)
    module = ForecastModule(**(SMALL_MODEL | model), data_info=datamodule.info())
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=path.parent,
    )
    trainer.fit(module, datamodule=datamodule)
    trainer.save_checkpoint(path)
    return path


def make_tiny_dataset(root: Path, n_vds: int = 5, steps: int = 400, seed: int = 0) -> Path:
    """VDs on a line 1 km apart; a daily wave passes them one step apart; a few readings missing."""
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-03-04", periods=steps, freq="5min", tz="UTC")
    phase = (
        np.arange(steps)[:, None] - np.arange(n_vds)[None, :]
    )  # (T, N): the wave reaches VD i i steps later
    wave = np.sin(2 * np.pi * phase / 288)
    flow = 100 + 60 * wave + rng.normal(0, 3, wave.shape)
    speed = 90 - 30 * np.clip(wave, 0, None) + rng.normal(0, 1, wave.shape)
    obs = pd.DataFrame(
        {
            "timestamp": np.repeat(ts, n_vds),
            "vd_id": np.tile([f"VD-{i:02d}" for i in range(n_vds)], steps),
            "flow": flow.ravel(),
            "speed": speed.ravel(),
        }
    )
    obs = obs.drop(index=rng.choice(len(obs), size=len(obs) // 50, replace=False))
    stations = pd.DataFrame(
        {
            "vd_id": [f"VD-{i:02d}" for i in range(n_vds)],
            "lat": 25.0 + 0.009 * np.arange(n_vds),
            "lon": np.full(n_vds, 121.5),
            "road": "F1",
            "direction": "N",
            "km": np.arange(n_vds, dtype=float),
        }
    )
    meta = DatasetMeta(
        name="tiny", freq="5min", variables={"flow": "veh/5min", "speed": "km/h"}, timezone="Asia/Taipei"
    )
    return write_dataset(root, obs, stations, meta)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    return make_tiny_dataset(tmp_path_factory.mktemp("tiny") / "ds")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


def _log_handlers_follow_capture() -> None:
    """Point plain stream log handlers (Lightning's, torch's) at the stderr being captured now.

    Such a handler is bound to the sys.stderr of whichever test first imported its library; under pytest's
    capture that stream is closed once that test ends, and every later log record then prints a
    "--- Logging error ---" traceback into the stderr a test is asserting on. Called inside the capture of
    each phase (trylast: the innermost wrapper), as setup and call run under different streams.
    """
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if type(handler) is logging.StreamHandler:
                handler.stream = sys.stderr  # setStream would flush the closed stream first


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_setup(item):
    _log_handlers_follow_capture()
    return (yield)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item):
    _log_handlers_follow_capture()
    return (yield)

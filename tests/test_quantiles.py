"""Quantile forecasts: the head's levels never cross, the pinball loss and interval scores against hand
values, the conformal shifts reach their coverage, and a fit writes the quantiles and their metrics."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.demo import config_path
from social_xlstm.experiment import Experiment, load_config
from social_xlstm.forecast.writer import quantile_column
from social_xlstm.nn.config import HeadConfig, ModelConfigError
from social_xlstm.nn.head import ForecastHead, sorted_quantiles
from social_xlstm.quantiles import (
    CalibrationResiduals,
    IntervalScores,
    apply_shifts,
    central_intervals,
    pinball,
)

LEVELS = [0.05, 0.1, 0.5, 0.9, 0.95]


def test_levels_are_checked_and_the_median_added():
    head = HeadConfig(quantiles=[0.1, 0.9])
    head.derive(64)
    assert head.levels == (0.1, 0.5, 0.9) and head.median_index == 1
    for bad in ([0.9, 0.1], [0.0, 0.5], [0.5, 1.2], [0.1, 0.1], []):
        with pytest.raises(ModelConfigError, match="head.quantiles"):
            HeadConfig(quantiles=bad).derive(64)


def test_sorted_quantiles_never_cross_and_every_output_gets_a_gradient():
    extreme = sorted_quantiles(torch.randn(7, 3, 5) * 100, median=2)  # any values: gaps may underflow to 0
    assert (extreme.diff(dim=-1) >= 0).all()
    raw = torch.randn(7, 3, 5, requires_grad=True)
    q = sorted_quantiles(raw, median=2)
    assert (q.diff(dim=-1) > 0).all()
    torch.testing.assert_close(q[..., 2], raw[..., 2])  # the median is the free output
    q.sum().backward()
    assert (raw.grad != 0).all()
    head = ForecastHead(16, 32, horizon=4, num_outputs=2, quantiles=5, median_index=2)
    out = head(torch.randn(3, 6, 16))
    assert out.shape == (3, 4, 6, 2, 5) and (out.diff(dim=-1) > 0).all()


def test_a_detached_median_is_moved_by_its_own_level_alone():
    raw = torch.randn(4, 5, requires_grad=True)
    q = sorted_quantiles(raw, median=2, detach_median=True)
    torch.testing.assert_close(q, sorted_quantiles(raw.detach(), median=2))  # the same values
    q[..., [0, 1, 3, 4]].sum().backward()  # the interval levels' losses
    assert (raw.grad[..., 2] == 0).all() and (raw.grad[..., [0, 1, 3, 4]] != 0).all()
    raw.grad = None
    sorted_quantiles(raw, median=2)[..., [0, 1, 3, 4]].sum().backward()
    assert (raw.grad[..., 2] != 0).all()  # without the option the interval levels pull the median
    for bad in (-1.0, float("nan")):
        with pytest.raises(ModelConfigError, match="head.point_weight"):
            HeadConfig(quantiles=LEVELS, point_weight=bad).derive(64)


def test_point_weight_adds_the_median_point_loss_to_the_pinball_loss(tiny_dataset, tmp_path):
    from social_xlstm.quantiles import pinball as pinball_loss

    def module_with(point_weight: float):
        overrides = {
            "seed_everything": 0,
            "data": {"data_dir": str(tiny_dataset), "targets": ["speed"]},
            "model": {"d_model": 16, "encoder": {"layers": 1},
                      "head": {"quantiles": LEVELS, "point_weight": point_weight}},
            "trainer": {"default_root_dir": str(tmp_path), "enable_progress_bar": False},
        }  # fmt: skip
        exp = Experiment(load_config(config_path("demo.yaml"), overrides))
        exp.datamodule.setup("fit")
        return exp.model, next(iter(exp.datamodule.train_dataloader()))

    plain, batch = module_with(0.0)
    weighted, _ = module_with(2.0)
    weighted.load_state_dict(plain.state_dict())
    pred = plain(batch, quantiles=True, calibrated=False)  # (B, H, N, O, Q)
    target, mask = batch["y"], batch["y_mask"]
    if plain.loss_scale == "std":
        pred, target = pred / plain.target_std[:, None], target / plain.target_std
    expected = pinball_loss(pred, target, mask, plain.levels)
    assert float(plain.training_step(batch, 0)) == pytest.approx(float(expected), rel=1e-5)
    absolute = ((pred[..., 2] - target).abs() * mask).sum() / mask.sum()  # the demo's loss: masked MAE
    assert float(weighted.training_step(batch, 0)) == pytest.approx(float(expected + 2.0 * absolute), rel=1e-5)


def test_pinball_against_hand_values():
    # one target y = 1: q = [0, 2] at levels [0.1, 0.9] -> 0.1 * (1 - 0) and 0.1 * (2 - 1): mean 0.1
    pred = torch.tensor([0.0, 2.0]).view(1, 1, 1, 1, 2)
    target, mask = torch.ones(1, 1, 1, 1), torch.ones(1, 1, 1, 1, dtype=torch.bool)
    assert float(pinball(pred, target, mask, [0.1, 0.9])) == pytest.approx(0.1)
    # a masked target counts for nothing
    pred2 = torch.cat([pred, pred + 100], dim=2)
    target2, mask2 = torch.ones(1, 1, 2, 1), torch.tensor([True, False]).view(1, 1, 2, 1)
    assert float(pinball(pred2, target2, mask2, [0.1, 0.9])) == pytest.approx(0.1)


def test_interval_scores_against_hand_values():
    assert central_intervals(LEVELS) == [(0, 4, 90), (1, 3, 80)]
    scores = IntervalScores(horizon=1, outputs=1, levels=[0.1, 0.5, 0.9])
    pred = torch.tensor([[-1.0, 0.0, 1.0]] * 4).view(1, 1, 4, 1, 3)  # the interval [-1, 1] for 4 VDs
    target = torch.tensor([0.0, 0.5, 2.0, -3.0]).view(1, 1, 4, 1)
    scores.update(pred, target, torch.ones(1, 1, 4, 1, dtype=torch.bool))
    got = scores.step_metrics(0, 0)
    assert got["coverage_80"] == pytest.approx(0.5) and got["width_80"] == pytest.approx(2.0)
    # pinball per VD averaged over the 3 levels: y=0: (0.1+0+0.1)/3; y=0.5: (0.15+0.25+0.05)/3;
    # y=2: (0.3+1.0+0.9)/3; y=-3: (1.8+1.5+0.4)/3 -> mean of the four, CRPS twice that
    per_vd = [0.2 / 3, 0.45 / 3, 2.2 / 3, 3.7 / 3]
    assert got["crps"] == pytest.approx(2 * sum(per_vd) / 4)


def test_conformal_shifts_reach_the_nominal_coverage():
    gen = torch.Generator().manual_seed(0)
    # a model whose quantiles are all 0 (much too narrow); the truth is N(2, 3^2)
    levels = [0.1, 0.5, 0.9]
    y_val, y_test = 2 + 3 * torch.randn(2, 4000, generator=gen)
    pred = torch.zeros(1, 1, 4000, 1, 3)
    residuals = CalibrationResiduals(1, 1, levels)
    residuals.update(pred, y_val.view(1, 1, -1, 1), torch.ones(1, 1, 4000, 1, dtype=torch.bool))
    shifts = residuals.shifts(median_index=1)
    assert shifts[0, 0, 1] == 0  # the median (the point forecast) is never moved
    calibrated = apply_shifts(pred, shifts)
    scores = IntervalScores(1, 1, levels)
    scores.update(calibrated, y_test.view(1, 1, -1, 1), torch.ones(1, 1, 4000, 1, dtype=torch.bool))
    assert scores.step_metrics(0, 0)["coverage_80"] == pytest.approx(0.8, abs=0.02)
    assert (calibrated.diff(dim=-1) >= 0).all()


def test_quantile_column_names():
    assert [quantile_column(q) for q in (0.05, 0.1, 0.5, 0.95, 0.975)] == ["q05", "q10", "q50", "q95", "q97_5"]


@pytest.mark.slow
def test_a_quantile_fit_writes_calibrated_quantiles_and_their_metrics(tiny_dataset, tmp_path):
    overrides = {
        "data": {"data_dir": str(tiny_dataset), "targets": ["speed"]},
        "model": {"d_model": 16, "encoder": {"layers": 1}, "head": {"quantiles": LEVELS}},
        "trainer": {"default_root_dir": str(tmp_path), "max_epochs": 2, "limit_train_batches": 4,
                    "enable_progress_bar": False},
    }  # fmt: skip
    exp = Experiment(load_config(config_path("demo.yaml"), overrides))
    best = exp.fit()
    shift = exp.model.quantile_shift
    assert shift.shape == (exp.model.info.horizon, 1, 5) and shift[..., 2].abs().max() == 0 and shift.abs().max() > 0
    metrics = exp.test(best)
    step = metrics["models"]["social_xlstm"]["speed"]["steps"][0]
    assert {"crps", "coverage_80", "width_80", "coverage_90", "width_90", "mae"} <= set(step)
    assert 0 <= step["coverage_80"] <= step["coverage_90"] <= 1 and step["width_80"] < step["width_90"]
    for baseline in ("persistence", "historical_average"):  # intervals from their validation residuals
        base = metrics["models"][baseline]["speed"]["steps"][0]
        assert {"crps", "coverage_80", "width_90"} <= set(base) and 0 < base["coverage_80"] <= base["coverage_90"]
    saved = json.loads((exp.root / "metrics.json").read_text())["models"]["social_xlstm"]["speed"]["steps"][0]
    assert saved["crps"] == pytest.approx(step["crps"])
    evaluated = exp.evaluate(best)["models"]["social_xlstm"]["speed"]["steps"][0]  # without a Trainer.test run
    assert evaluated["crps"] == pytest.approx(step["crps"], rel=1e-5)
    assert evaluated["coverage_80"] == pytest.approx(step["coverage_80"])
    frame = pd.read_parquet(exp.predict(best))
    columns = ["q05", "q10", "q50", "q90", "q95"]
    assert set(columns) <= set(frame.columns)
    assert (frame[columns].diff(axis=1).iloc[:, 1:] >= 0).all().all()  # never crossing, calibrated too
    pd.testing.assert_series_equal(frame["prediction"], frame["q50"], check_names=False)  # the median


def test_baseline_intervals_are_the_validation_residual_quantiles(tiny_dataset):
    from social_xlstm.data.datamodule import TrafficDataModule
    from social_xlstm.forecast.evaluate import residual_shifts

    dm = TrafficDataModule(str(tiny_dataset), targets=["speed"], window=6, horizon=3, batch_size=8)
    dm.setup("test")
    constant = {"zero": lambda b: torch.zeros_like(b["y"])}  # residuals are then the targets themselves
    shifts = residual_shifts(dm, constant, [0.1, 0.5, 0.9])["zero"]  # (H, O, Q)
    ys = torch.cat([b["y"][:, 0][b["y_mask"][:, 0]] for b in dm.val_dataloader()])  # step 1
    assert shifts.shape == (3, 1, 3) and shifts[..., 1].abs().max() == 0
    assert float(shifts[0, 0, 2]) == pytest.approx(float(torch.quantile(ys, 0.9)), rel=0.05)


@pytest.mark.slow
def test_streaming_and_the_service_serve_the_calibrated_quantiles(tiny_dataset, tmp_path):
    from social_xlstm.data.format.reader import load_dataset
    from social_xlstm.data.panel import load_panel
    from social_xlstm.forecast.replay import panel_ticks
    from social_xlstm.forecast.streaming import StreamingForecaster

    overrides = {
        "data": {"data_dir": str(tiny_dataset), "targets": ["speed"]},
        "model": {"d_model": 16, "encoder": {"layers": 1}, "head": {"quantiles": [0.1, 0.9]}},
        "trainer": {"default_root_dir": str(tmp_path), "max_epochs": 1, "limit_train_batches": 3,
                    "enable_progress_bar": False},
    }  # fmt: skip
    exp = Experiment(load_config(config_path("demo.yaml"), overrides))
    best = exp.fit()
    forecaster = StreamingForecaster.from_checkpoint(best)
    assert forecaster.levels == [0.1, 0.5, 0.9]
    panel = load_panel(load_dataset(tiny_dataset, check_rows=False), forecaster.variables)
    for t, readings in panel_ticks(panel, 0, forecaster.window):
        frame = forecaster.update(panel.timestamps[t], readings)
    assert {"q10", "q50", "q90"} <= set(frame.columns)
    assert (frame["q10"] <= frame["q50"]).all() and (frame["q50"] <= frame["q90"]).all()
    pd.testing.assert_series_equal(frame["prediction"], frame["q50"], check_names=False)
    assert list(forecaster.latest.columns) == list(frame.columns)
    # state mode serves the same calibrated levels: after one window of ticks from the empty state its
    # forecasts are the window's (forward_sequence from initial_state equals forward on the window)
    stateful = StreamingForecaster.from_checkpoint(best, mode="state")
    for t, readings in panel_ticks(panel, 0, forecaster.window):
        state_frame = stateful.update(panel.timestamps[t], readings)
    for column in ("q10", "q50", "q90", "prediction"):
        np.testing.assert_allclose(state_frame[column], frame[column], rtol=1e-4, atol=1e-4)

"""Plots: figures built from result frames, saved as readable PNGs; bad inputs name the problem."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from social_xlstm.data.panel import Panel
from social_xlstm.errors import UserError
from social_xlstm.viz import (
    daily_profile,
    missing_share,
    per_vd_error,
    plot_daily_profile,
    plot_error_by_horizon,
    plot_error_map,
    plot_forecast_vs_actual,
    plot_loss_curves,
    plot_missing,
    plot_series,
    plot_vd_map,
    read_metrics,
    read_training_log,
    save_figure,
    vd_errors,
    worst_vds,
)
from social_xlstm.viz.maps import nice_length_km


def _forecasts(model=None):
    ts = pd.date_range("2024-01-01", periods=6, freq="5min", tz="UTC")
    rows = []
    for t in ts[:4]:
        for h in (1, 2):
            for vd, bias in (("a", 1.0), ("b", 3.0)):
                rows.append((t, t + h * pd.Timedelta("5min"), h, vd, "speed", 50.0 + bias, 50.0))
    frame = pd.DataFrame(
        rows, columns=["issue_time", "target_time", "horizon_step", "vd_id", "variable", "prediction", "actual"]
    )
    return frame if model is None else frame.assign(model=model)


def _steps(*maes):
    return {
        "steps": [{"step": k + 1, "minutes": 5 * (k + 1), "mae": m, "rmse": m, "mape": m} for k, m in enumerate(maes)]
    }


METRICS = {
    "models": {
        "social_xlstm": {"speed": _steps(1.0, 1.2)},
        "persistence": {"speed": {"steps": [
            {"step": 1, "minutes": 5, "mae": 1.1, "rmse": 1.6, "mape": 2.1},
            {"step": 2, "minutes": 10, "mae": 1.5, "rmse": 2.0, "mape": None},
        ]}},
    }
}  # fmt: skip

STATIONS = pd.DataFrame({"vd_id": ["a", "b"], "lat": [25.0, 25.1], "lon": [121.5, 121.6], "road": "F1"})


def _panel(steps=288 * 2, n=3):
    ts = pd.date_range("2024-03-01 16:00", periods=steps, freq="5min", tz="UTC")  # 00:00 Taipei, a Saturday
    hours = np.asarray(ts.tz_convert("Asia/Taipei").hour + ts.tz_convert("Asia/Taipei").minute / 60)
    values = np.repeat(hours[:, None, None], n, axis=1).astype(np.float32).repeat(2, axis=2)  # value = local hour
    values[:12, 0, :] = np.nan  # VD 0: first hour missing, both variables
    values[:6, 1, 1] = np.nan  # VD 1: first half hour missing, one variable
    return Panel(values, ~np.isnan(values), ts, ["v0", "v1", "v2"], ["flow", "speed"], "5min", "Asia/Taipei")


def _png(fig, path):
    save_figure(fig, path)
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def test_per_vd_errors_hand_computed():
    err = per_vd_error(_forecasts(), "speed")
    assert err["a"] == pytest.approx(1.0) and err["b"] == pytest.approx(3.0)
    table = vd_errors(_forecasts(), "speed", horizon_step=2)
    assert table.loc["b", "rmse"] == pytest.approx(3.0) and table.loc["b", "count"] == 4
    worst = worst_vds(_forecasts(), "speed", n=1, stations=STATIONS)
    assert list(worst.index) == ["b"] and worst.loc["b", "road"] == "F1"


def test_forecast_plot_local_time_units_and_baselines(tmp_path):
    fig = plot_forecast_vs_actual(
        _forecasts(), ["a", "b"], "speed", (1, 2), baselines=_forecasts("persistence"), label="social_xlstm",
        units={"speed": "km/h"}, timezone="Asia/Taipei",
    )  # fmt: skip
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == [
        "actual",
        "social_xlstm +5 min",
        "social_xlstm +10 min",
        "persistence +5 min",
        "persistence +10 min",
    ]
    assert ax.get_ylabel() == "speed (km/h)" and fig.axes[1].get_xlabel() == "local time (Asia/Taipei)"
    # 00:05 UTC is drawn at 08:05 in Taipei
    first = matplotlib.dates.num2date(ax.get_lines()[0].get_xdata(orig=False)[0])
    assert (first.hour, first.minute) == (8, 5)
    _png(fig, tmp_path / "forecast.png")


def test_forecast_plot_draws_a_quantile_models_bands(tmp_path):
    from matplotlib.collections import PolyCollection

    from social_xlstm.viz.forecasts import quantile_bands

    frame = _forecasts()
    for name, offset in (("q05", -3.0), ("q10", -2.0), ("q50", 0.0), ("q90", 2.0), ("q95", 3.0)):
        frame[name] = frame["prediction"] + offset
    assert quantile_bands(frame.columns) == [("q05", "q95", 90), ("q10", "q90", 80)]
    fig = plot_forecast_vs_actual(frame, ["a"], "speed", (1,), label="social_xlstm")
    bands = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert [b.get_label() for b in bands] == ["social_xlstm 90% +5 min", "social_xlstm 80% +5 min"]
    upper = bands[1].get_paths()[0].vertices[:, 1].max()  # the 80% band reaches prediction + 2 and no further
    rows = frame[(frame["vd_id"] == "a") & (frame["variable"] == "speed") & (frame["horizon_step"] == 1)]
    assert upper == pytest.approx(rows["q90"].max())
    _png(fig, tmp_path / "bands.png")


def test_forecast_plot_period_and_errors():
    fig = plot_forecast_vs_actual(_forecasts(), ["a"], "speed", (1,), start="2024-01-01 08:10", timezone="Asia/Taipei")
    assert len(fig.axes[0].get_lines()[0].get_xdata()) == 4  # actual at 08:10 .. 08:25
    with pytest.raises(UserError, match="no variable 'flow'"):
        plot_forecast_vs_actual(_forecasts(), ["a"], "flow")
    with pytest.raises(UserError, match=r"\['zz'\] not found"):
        plot_forecast_vs_actual(_forecasts(), ["zz"], "speed")
    with pytest.raises(UserError, match=r"horizon step\(s\) \[3\] not in 1..2"):
        plot_forecast_vs_actual(_forecasts(), ["a"], "speed", (3,))
    with pytest.raises(UserError, match="not a time"):
        plot_forecast_vs_actual(_forecasts(), ["a"], "speed", (1,), start="yesterday-ish")


def test_error_by_horizon_several_runs(tmp_path):
    fig = plot_error_by_horizon(METRICS, "speed", units={"speed": "km/h"})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["social_xlstm", "persistence"]
    assert ax.get_ylabel() == "masked MAE (km/h)"
    # a None metric is drawn as a gap, not a crash; MAPE is in %
    fig_mape = plot_error_by_horizon(METRICS, "speed", metric="mape", units={"speed": "km/h"})
    assert np.isnan(fig_mape.axes[0].get_lines()[1].get_ydata()[1]) and "(%)" in fig_mape.axes[0].get_ylabel()
    other = {"models": {"lstm": {"speed": _steps(2.0, 2.5)}, "persistence": METRICS["models"]["persistence"]}}
    fig2 = plot_error_by_horizon([METRICS, other], "speed", labels=["sx", "lstm"])
    # baselines once, the run label only where it says something
    assert [line.get_label() for line in fig2.axes[0].get_lines()] == ["social_xlstm (sx)", "lstm", "persistence"]
    _png(fig2, tmp_path / "horizons.png")
    with pytest.raises(UserError, match="unknown metric"):
        plot_error_by_horizon(METRICS, "speed", metric="r2")
    with pytest.raises(UserError, match="has no variable 'flow'"):
        plot_error_by_horizon(METRICS, "flow")


def test_maps_scale_bar_colorbar_and_no_coordinates(tmp_path):
    fig = plot_error_map(STATIONS, per_vd_error(_forecasts(), "speed"), "speed", units={"speed": "km/h"})
    assert fig.axes[1].get_ylabel() == "masked MAE of speed (km/h)"  # the colorbar
    ax = fig.axes[0]
    assert ax.get_aspect() == pytest.approx(1 / np.cos(np.deg2rad(25.05)))
    bars = [a for a in ax.artists if type(a).__name__ == "AnchoredSizeBar"]
    assert len(bars) == 1 and bars[0].txt_label.get_text() == "2 km"  # 12 km wide map -> a 2 km bar
    _png(fig, tmp_path / "map.png")
    _png(plot_vd_map(STATIONS), tmp_path / "vds.png")
    partly = pd.concat([STATIONS, pd.DataFrame({"vd_id": ["c"], "lat": [np.nan], "lon": [np.nan]})])
    assert "1 VDs without coordinates" in plot_vd_map(partly).axes[0].get_title()
    with pytest.raises(UserError, match="no VD has coordinates"):
        plot_vd_map(STATIONS.assign(lat=np.nan, lon=np.nan))


def test_nice_scale_lengths():
    assert [nice_length_km(s) for s in (12, 3.4, 60, 700)] == [2, 0.5, 10, 100]


def test_missing_share_and_heatmap(tmp_path):
    panel = _panel()
    share, starts = missing_share(panel, bins=panel.num_steps)
    assert share.shape == (3, panel.num_steps) and starts[0] == panel.timestamps[0]
    assert share[0, 0] == 1.0 and share[1, 0] == 0.5 and share[1, 6] == 0.0 and share[2].sum() == 0
    coarse, _ = missing_share(panel, ["flow"], bins=48)  # 12 steps a bin
    assert coarse[0, 0] == 1.0 and coarse[1, 0] == 0.0
    fig = plot_missing(panel)
    assert fig.axes[0].get_xlabel() == "local time (Asia/Taipei)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["v0", "v1", "v2"]
    _png(fig, tmp_path / "missing.png")
    with pytest.raises(UserError, match="no variable 'occupancy'"):
        plot_missing(panel, ["occupancy"])


def test_daily_profile_is_by_local_time(tmp_path):
    stats = daily_profile(_panel(), "flow")
    assert set(stats["day"]) == {"weekend"}  # Saturday and Sunday in Taipei
    at_seven = stats[stats["hour"] == 7.0]
    assert at_seven["median"].item() == pytest.approx(7.0)  # values are the local hour
    _png(plot_daily_profile(_panel(), "flow", units={"flow": "veh/5min"}), tmp_path / "profile.png")
    fig = plot_series(_panel(), ["v0", "v2"], units={"flow": "veh/5min"}, end="2024-03-02 06:00")
    assert fig.axes[0].get_ylabel() == "flow (veh/5min)" and len(fig.axes[0].get_lines()[0].get_xdata()) == 73
    with pytest.raises(UserError, match="not found"):
        plot_series(_panel(), ["nope"])


def test_loss_curves_from_the_csv_log(tmp_path):
    log_dir = tmp_path / "lightning_logs" / "version_0"
    log_dir.mkdir(parents=True)
    pd.DataFrame(
        {"epoch": [0, 0, 0, 1, 1], "step": [0, 1, 1, 2, 3], "train_loss": [1.0, 0.8, np.nan, 0.6, np.nan],
         "val_mae": [np.nan, np.nan, 5.0, np.nan, 4.0]}
    ).to_csv(log_dir / "metrics.csv", index=False)  # fmt: skip
    log = read_training_log(tmp_path)
    fig = plot_loss_curves(log)
    assert list(fig.axes[1].get_lines()[0].get_xdata()) == [1, 2]  # epochs counted from 1
    _png(fig, tmp_path / "loss.png")
    with pytest.raises(UserError, match="no lightning_logs"):
        read_training_log(tmp_path / "elsewhere")


def test_bad_files_are_user_errors(tmp_path):
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        read_metrics(tmp_path / "m.json")
    (tmp_path / "m.json").write_text('{"models": {"x": {"speed": {}}}}')
    with pytest.raises(UserError, match="no 'steps' list"):
        read_metrics(tmp_path / "m.json")
    with pytest.raises(UserError, match="metrics file not found"):
        read_metrics(tmp_path / "none.json")
    with pytest.raises(UserError, match="name the file"):
        save_figure(plot_vd_map(STATIONS), tmp_path / "map.jpg")
    assert not (tmp_path / "map.jpg").exists()


def test_benchmark_summary_reads_as_metrics(tmp_path):
    summary = {
        "dataset": "x",
        "models": {
            "lstm": {"seeds": [0, 1], "variables": {"speed": {"mae": {}, "mean_report": _steps(2.0, 3.0)}}},
            "persistence": {"seeds": [None], "variables": {"speed": {"mean_report": _steps(1.5, 2.5)}}},
        },
    }
    (tmp_path / "x.json").write_text(json.dumps(summary))
    metrics = read_metrics(tmp_path / "x.json")
    assert metrics["models"]["lstm"]["speed"]["steps"][1]["mae"] == 3.0
    fig = plot_error_by_horizon(metrics, "speed")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["lstm", "persistence"]


def test_kinds_and_metric_list_come_from_the_file_with_legacy_defaults():
    from social_xlstm.viz.common import is_baseline, metric_names

    stated = {"models": {}, "model_kinds": {"persistence": "learned", "mean_guess": "baseline"}, "metrics": ["mae"]}
    assert is_baseline(stated, "mean_guess") and not is_baseline(stated, "persistence")
    assert metric_names(stated) == ["mae"]
    legacy = {"models": {}}
    assert is_baseline(legacy, "historical_average") and not is_baseline(legacy, "social_xlstm")
    assert metric_names(legacy) == ["mae", "rmse", "mape"]

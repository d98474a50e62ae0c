import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from social_xlstm.errors import UserError
from social_xlstm.viz import (
    per_vd_error,
    plot_error_by_horizon,
    plot_error_map,
    plot_forecast_vs_actual,
    save_figure,
)


def _forecasts():
    ts = pd.date_range("2024-01-01", periods=6, freq="5min", tz="UTC")
    rows = []
    for t in ts[:4]:
        for h in (1, 2):
            for vd, bias in (("a", 1.0), ("b", 3.0)):
                rows.append((t, t + h * pd.Timedelta("5min"), h, vd, "speed", 50.0 + bias, 50.0))
    return pd.DataFrame(
        rows,
        columns=["issue_time", "target_time", "horizon_step", "vd_id", "variable", "prediction", "actual"],
    )


METRICS = {
    "models": {
        "social_xlstm": {
            "speed": {
                "steps": [
                    {"step": 1, "minutes": 5, "mae": 1.0, "rmse": 1.5, "mape": 2.0},
                    {"step": 2, "minutes": 10, "mae": 1.2, "rmse": 1.8, "mape": None},
                ]
            }
        },
        "persistence": {
            "speed": {
                "steps": [
                    {"step": 1, "minutes": 5, "mae": 1.1, "rmse": 1.6, "mape": 2.1},
                    {"step": 2, "minutes": 10, "mae": 1.5, "rmse": 2.0, "mape": 3.0},
                ]
            }
        },
    }
}


def test_per_vd_error_hand_computed():
    err = per_vd_error(_forecasts(), "speed")
    assert err["a"] == pytest.approx(1.0) and err["b"] == pytest.approx(3.0)


def test_plots_return_figures_and_save(tmp_path):
    fig = plot_forecast_vs_actual(_forecasts(), ["a", "b"], "speed", horizon_steps=(1, 2))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    fig2 = plot_error_by_horizon(METRICS, "speed")
    assert [line.get_label() for line in fig2.axes[0].get_lines()] == ["social_xlstm", "persistence"]
    # a None metric is drawn as a gap, not a crash
    fig_mape = plot_error_by_horizon(METRICS, "speed", metric="mape")
    assert np.isnan(fig_mape.axes[0].get_lines()[0].get_ydata()[1])
    stations = pd.DataFrame({"vd_id": ["a", "b"], "lat": [25.0, 25.1], "lon": [121.5, 121.6]})
    fig3 = plot_error_map(stations, per_vd_error(_forecasts(), "speed"))
    path = save_figure(fig3, tmp_path / "map.png")
    assert path.stat().st_size > 1000
    for f in (fig, fig2):
        save_figure(f, tmp_path / "x.png")


def test_plot_errors_name_the_problem():
    with pytest.raises(UserError, match="no variable .flow."):
        plot_forecast_vs_actual(_forecasts(), ["a"], "flow")
    with pytest.raises(UserError, match="zz.*not found"):
        plot_forecast_vs_actual(_forecasts(), ["zz"], "speed")
    with pytest.raises(UserError, match="unknown metric"):
        plot_error_by_horizon(METRICS, "speed", metric="r2")

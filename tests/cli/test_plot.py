"""``social-xlstm plot ...``: every kind writes a readable PNG; bad inputs exit 2 and write nothing."""

import json

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from social_xlstm.cli import main
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.forecast.baseline_forecasts import write_baseline_forecasts
from social_xlstm.forecast.evaluate import evaluate


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory):
    """A scored 'run' without training: the baselines' forecasts and metrics on the tiny dataset."""
    root = tmp_path_factory.mktemp("run")
    dm = TrafficDataModule(str(tiny_dataset), targets=["flow", "speed"], window=6, horizon=4)
    write_baseline_forecasts(dm, root / "baselines.parquet")
    both = pd.read_parquet(root / "baselines.parquet")
    # The "model": persistence's rows without the model column, as `social-xlstm predict` writes them.
    both[both["model"] == "persistence"].drop(columns="model").to_parquet(root / "forecasts.parquet")
    (root / "metrics.json").write_text(json.dumps(evaluate(dm)))
    return root


def _png_ok(path):
    assert path.stat().st_size > 5000
    image = mpimg.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 200


def test_baseline_forecasts_schema_and_persistence(run):
    table = pd.read_parquet(run / "baselines.parquet")
    assert set(table["model"].astype(str)) == {"persistence", "historical_average"}
    p = table[(table["model"] == "persistence") & (table["variable"] == "speed") & (table["vd_id"] == "VD-02")]
    # persistence repeats the value observed at the issue time for every horizon step
    spread = p.groupby("issue_time")["prediction"].agg(lambda s: s.max() - s.min())
    assert (spread == 0).all() and p["horizon_step"].max() == 4


def test_every_kind_writes_a_png(run, tiny_dataset, tmp_path, capsys):
    f, b, m = (str(run / n) for n in ("forecasts.parquet", "baselines.parquet", "metrics.json"))
    d = str(tiny_dataset)
    commands = {
        "forecast.png": ["forecast", "--forecasts", f, "--baselines", b, "--dataset", d, "--variable", "speed",
                         "--vds", "VD-01", "VD-03", "--horizon", "1", "4", "--label", "persistence-copy"],
        "horizons.png": ["horizons", "--metrics", m, m, "--labels", "a", "b", "--dataset", d, "--metric", "rmse"],
        "map.png": ["map", "--dataset", d, "--forecasts", f, "--variable", "flow", "--horizon", "4"],
        "vds.png": ["map", "--stations", str(tiny_dataset / "stations.parquet")],
        "missing.png": ["missing", "--dataset", d, "--variable", "speed"],
    }  # fmt: skip
    for name, args in commands.items():
        assert main(["plot", *args, "--out", str(tmp_path / name)]) == 0, name
        _png_ok(tmp_path / name)
    assert main(["plot", "all", "--forecasts", f, "--metrics", m, "--dataset", d, "--out", str(tmp_path / "all")]) == 0
    assert sorted(p.name for p in (tmp_path / "all").glob("*.png")) == [
        "error_by_horizon_flow.png", "error_map_flow.png", "forecast_vs_actual_flow.png"
    ]  # fmt: skip
    assert "plot: " in capsys.readouterr().out


def _no_coordinates(root):
    stations = pd.DataFrame({"vd_id": ["a", "b"], "lat": [np.nan, np.nan], "lon": [np.nan, np.nan]})
    edges = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "a"], "distance_m": [500.0, 500.0]})
    ts = pd.date_range("2024-01-01", periods=3, freq="5min", tz="UTC")
    obs = pd.DataFrame({"timestamp": np.repeat(ts, 2), "vd_id": ["a", "b"] * 3, "speed": 50.0})
    meta = DatasetMeta(name="nocoords", freq="5min", variables={"speed": "km/h"})
    return write_dataset(root, obs, stations, meta, edges=edges)


def _bad_cases(run, tiny_dataset, tmp_path):
    f, m, d = str(run / "forecasts.parquet"), str(run / "metrics.json"), str(tiny_dataset)
    t = str(tmp_path / "truncated.parquet")
    (tmp_path / "corrupt.json").write_text('{"models": ')
    (tmp_path / "truncated.parquet").write_bytes((run / "forecasts.parquet").read_bytes()[:300])
    return {
        "missing file": (["forecast", "--forecasts", str(tmp_path / "nope.parquet")], "nope.parquet: forecasts file not found"),  # noqa: E501
        "corrupt metrics": (["horizons", "--metrics", str(tmp_path / "corrupt.json")], "not valid JSON"),
        "not metrics": (["horizons", "--metrics", str(tiny_dataset / "dataset.json")], "not a metrics.json"),
        "truncated parquet": (["forecast", "--forecasts", t], "not a readable Parquet"),
        "unknown VD": (["forecast", "--forecasts", f, "--vds", "VD-99"], "['VD-99'] not found"),
        "unknown variable": (["forecast", "--forecasts", f, "--variable", "occupancy"], "no variable 'occupancy'"),
        "metrics variable": (["horizons", "--metrics", m, "--variable", "occupancy"], "no variable 'occupancy'"),
        "unknown horizon": (["map", "--dataset", d, "--forecasts", f, "--horizon", "9"], "no horizon step 9"),
        "bad time": (["forecast", "--forecasts", f, "--start", "soon"], "not a time"),
        "no coordinates": (["map", "--dataset", str(_no_coordinates(tmp_path / "nc"))], "no VD has coordinates"),
        "map without stations": (["map", "--forecasts", f], "--stations FILE or --dataset DIR"),
        "not a dataset": (["missing", "--dataset", str(tmp_path / "nowhere")], "not a dataset directory"),
        "not png": (["missing", "--dataset", d, "--out", str(tmp_path / "x.jpg")], "*.png"),
    }  # fmt: skip


def test_bad_inputs_exit_2_with_one_message_and_no_png(run, tiny_dataset, tmp_path, capsys):
    for case, (args, message) in _bad_cases(run, tiny_dataset, tmp_path).items():
        out = tmp_path / f"{case}.png"
        argv = ["plot", *args] + ([] if "--out" in args else ["--out", str(out)])
        assert main(argv) == 2, case
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and err.count("\n") == 1, (case, err)
        assert not out.exists(), case
    assert not list(tmp_path.glob("*.png")) and not list(tmp_path.glob(".*tmp*"))


def test_plot_help_lists_the_kinds(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plot", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for kind in ("forecast", "horizons", "map", "missing", "all"):
        assert kind in out

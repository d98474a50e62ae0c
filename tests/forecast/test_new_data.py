"""Forecasts on new data with a checkpoint: the checkpoint's facts decide (docs/new-data.md).

One tiny model is trained on five VDs on a line (tests/conftest.py); the "new" datasets are that data
reordered, shifted, with a VD removed or added, or with a contradicting dataset.json, and each is
forecast through ``TrafficDataModule(reference=ckpt)`` as ``predict --ckpt_path`` does.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.cli import main
from social_xlstm.data.alignment import NewDataError, align_vds
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.errors import UserError
from social_xlstm.forecast.writer import forecast_table
from social_xlstm.training.module import ForecastModule
from social_xlstm.weights import EMBEDDING_KEY
from tests.conftest import make_tiny_dataset, train_tiny_checkpoint

DATA = dict(window=6, horizon=3, batch_size=8, max_neighbours=9, graph_radius_km=5.0)
META = DatasetMeta("tiny", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Asia/Taipei")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(dataset dir, checkpoint path) of a model trained a few steps on the tiny dataset."""
    root = tmp_path_factory.mktemp("new_data")
    data_dir = make_tiny_dataset(root / "train")
    dm = TrafficDataModule(str(data_dir), **DATA)
    ckpt = train_tiny_checkpoint(dm, root / "model.ckpt", steps=3)
    return data_dir, ckpt


def _frames(data_dir):
    return pd.read_parquet(data_dir / "observations.parquet"), pd.read_parquet(data_dir / "stations.parquet")


def _write(path, obs, stations, meta=META):
    return write_dataset(path, obs, stations, meta)


def _forecast(dm: TrafficDataModule, ckpt) -> tuple[torch.Tensor, ForecastModule]:
    """(S, H, N, O) forecasts of every test window by the checkpoint, loaded as Lightning loads it."""
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    module = ForecastModule(**checkpoint["hyper_parameters"], data_info=dm.info())
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    with torch.no_grad():
        return torch.cat([module(batch) for batch in dm.test_dataloader()]), module


def test_reordered_network_gives_the_same_forecasts_per_vd(trained, tmp_path):
    data_dir, ckpt = trained
    original, _ = _forecast(TrafficDataModule(str(data_dir), **DATA), ckpt)  # the training data, as trained
    obs, stations = _frames(data_dir)
    moved = _write(tmp_path / "reordered", obs.sample(frac=1.0, random_state=0), stations.iloc[::-1])
    dm = TrafficDataModule(str(moved), **DATA, reference=str(ckpt))
    assert dm.alignment.absent == [] and dm.alignment.added == []
    assert dm.info().vd_ids == [f"VD-{i:02d}" for i in range(5)]  # the checkpoint's order, not the file's
    forecasts, _ = _forecast(dm, ckpt)
    assert torch.equal(forecasts, original)


def test_new_data_are_scaled_with_the_checkpoints_scaler(trained, tmp_path):
    data_dir, ckpt = trained
    trained_info = ForecastModule.from_checkpoint(str(ckpt)).info
    obs, stations = _frames(data_dir)
    obs["flow"] += 40.0  # a busier month: its own statistics would hide exactly this
    dm = TrafficDataModule(str(_write(tmp_path / "shifted", obs, stations)), **DATA, reference=str(ckpt))
    np.testing.assert_array_equal(dm.scaler.mean, trained_info.mean)
    np.testing.assert_array_equal(dm.scaler.std, trained_info.std)
    batch = next(iter(dm.test_dataloader()))
    start = int(batch["t0"][0]) - DATA["window"] + 1
    raw = dm.panel.values[start : start + DATA["window"]]  # (W, N, F) original units, NaN where missing
    by_hand = np.where(np.isnan(raw), 0.0, (raw - np.array(trained_info.mean)) / np.array(trained_info.std))
    np.testing.assert_allclose(batch["x"][0].numpy(), by_hand, rtol=1e-6, atol=1e-6)
    # and the forecasts are the trained model's on those inputs, unscaled with the checkpoint's scaler
    forecasts, _ = _forecast(dm, ckpt)
    reference = ForecastModule.from_checkpoint(str(ckpt))
    with torch.no_grad():
        assert torch.equal(forecasts[: len(batch["x"])], reference(batch))


def test_absent_vd_is_masked_and_gets_no_forecast(trained, tmp_path):
    data_dir, ckpt = trained
    obs, stations = _frames(data_dir)
    keep = obs["vd_id"] != "VD-02"
    dm = TrafficDataModule(
        str(_write(tmp_path / "removed", obs[keep], stations[stations["vd_id"] != "VD-02"])),
        **DATA,
        reference=str(ckpt),
    )
    info = dm.info()
    assert info.vd_ids == [f"VD-{i:02d}" for i in range(5)]  # still in the network, so neighbours read it
    assert info.absent_vds == ["VD-02"] and info.forecast_index == [0, 1, 3, 4]
    assert not dm.panel.mask[:, 2].any()
    # the forecasts equal the trained model's on the original data with VD-02's inputs all missing
    full = TrafficDataModule(str(data_dir), **DATA)
    reference = ForecastModule.from_checkpoint(str(ckpt))
    forecasts, _ = _forecast(dm, ckpt)
    expected = []
    with torch.no_grad():
        for batch in full.test_dataloader():
            batch["x"][:, :, 2], batch["x_mask"][:, :, 2] = 0.0, False
            expected.append(reference(batch))
    assert torch.equal(forecasts, torch.cat(expected))
    # forecasts.parquet's rows: every VD but the absent one
    t0 = torch.cat([batch["t0"] for batch in dm.test_dataloader()]).numpy()
    idx = info.target_index
    table = forecast_table(
        forecasts.numpy(), t0, dm.panel.timestamps, info, dm.panel.values[..., idx], dm.panel.mask[..., idx]
    )
    written = table.column("vd_id").to_pandas().astype(str)
    assert sorted(set(written)) == ["VD-00", "VD-01", "VD-03", "VD-04"]
    assert table.num_rows == len(t0) * DATA["horizon"] * 4 * 2
    np.testing.assert_array_equal(table.column("prediction").to_numpy(), forecasts[:, :, [0, 1, 3, 4]].numpy().ravel())


def test_added_vd_near_known_ones_uses_the_fallback_embedding(trained, tmp_path):
    data_dir, ckpt = trained
    obs, stations = _frames(data_dir)
    new_obs = obs[obs["vd_id"] == "VD-04"].assign(vd_id="VD-NEW")
    new_station = stations.iloc[[4]].assign(vd_id="VD-NEW", lat=25.0 + 0.009 * 4.5, km=4.5)
    root = _write(tmp_path / "added", pd.concat([obs, new_obs]), pd.concat([new_station, stations]))
    dm = TrafficDataModule(str(root), **DATA, reference=str(ckpt))
    info = dm.info()
    assert dm.alignment.added == ["VD-NEW"] and info.vd_ids[-1] == "VD-NEW" and info.num_vds == 6
    trained_table = torch.load(ckpt, weights_only=True)["state_dict"][EMBEDDING_KEY]  # (5 + 1, vd_dim)
    forecasts, module = _forecast(dm, ckpt)
    table = module.state_dict()[EMBEDDING_KEY]  # (6 + 1, vd_dim)
    assert torch.equal(table[:5], trained_table[:5])  # known VDs keep their rows
    assert torch.equal(table[5], trained_table[5]) and torch.equal(table[6], trained_table[5])  # the fallback
    # the known VDs keep exactly their trained in-edges; the added one reads known VDs
    src, dst = np.asarray(info.edge_index).T
    trained_edges = len(ForecastModule.from_checkpoint(str(ckpt)).info.edge_index)
    assert (dst[:trained_edges] < 5).all() and (dst[trained_edges:] == 5).all()
    assert set(src[trained_edges:]) - {5}
    assert forecasts.shape[2] == 6 and torch.isfinite(forecasts).all()


def test_vd_that_cannot_be_placed_is_named(trained, tmp_path):
    data_dir, ckpt = trained
    obs, stations = _frames(data_dir)
    far = stations.iloc[[0]].assign(vd_id="VD-FAR", lat=30.0)  # 500 km away: no VD within graph_radius_km
    root = _write(
        tmp_path / "far",
        pd.concat([obs, obs[obs["vd_id"] == "VD-00"].assign(vd_id="VD-FAR")]),
        pd.concat([stations, far]),
    )
    with pytest.raises(NewDataError, match=r"1 VD\(s\) the checkpoint never saw .* cannot place them: \['VD-FAR'\]"):
        TrafficDataModule(str(root), **DATA, reference=str(ckpt))


def test_other_ids_are_not_silently_relabelled(trained, tmp_path):
    data_dir, ckpt = trained
    obs, stations = _frames(data_dir)
    rename = {f"VD-{i:02d}": f"X-{i}" for i in range(5)}
    root = _write(tmp_path / "other", obs.replace({"vd_id": rename}), stations.replace({"vd_id": rename}))
    # aligned: none of its VDs is known, so none can be placed
    with pytest.raises(NewDataError, match="cannot place them"):
        TrafficDataModule(str(root), **DATA, reference=str(ckpt))
    # not aligned (a datamodule without the reference): loading the weights is refused
    dm = TrafficDataModule(str(root), **DATA)
    with pytest.raises(UserError, match="trained on other data .*vd_ids.*data.reference"):
        _forecast(dm, ckpt)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (
            DatasetMeta("t", "5min", {"flow": "veh/5min", "speed": "mph"}),
            "unit of 'speed': the checkpoint's is 'km/h', the dataset's is 'mph'",
        ),
        (
            DatasetMeta("t", "5min", {"flow": "veh/5min", "occupancy": "%"}),
            r"the model reads \['flow', 'speed'\], the dataset has \['flow', 'occupancy'\] \(missing \['speed'\]\)",
        ),
        (
            DatasetMeta("t", "10min", {"flow": "veh/5min", "speed": "km/h"}),
            "freq: the checkpoint's is 5 min, the dataset's is '10min'",
        ),
    ],
)
def test_variable_unit_or_freq_mismatch_names_both_sides(trained, tmp_path, meta, expected):
    data_dir, ckpt = trained
    obs, stations = _frames(data_dir)
    if "occupancy" in meta.variables:
        obs = obs.rename(columns={"speed": "occupancy"}).assign(occupancy=20.0)
    if meta.freq.alias == "10min":
        obs = obs[obs["timestamp"].dt.minute % 10 == 0]
    with pytest.raises(NewDataError, match=expected):
        TrafficDataModule(str(_write(tmp_path / "bad", obs, stations, meta)), **DATA, reference=str(ckpt))


def test_window_mismatch_is_an_error(trained):
    data_dir, ckpt = trained
    with pytest.raises(NewDataError, match="data.window: the checkpoint's is 6, the options say 12"):
        TrafficDataModule(str(data_dir), **{**DATA, "window": 12}, reference=str(ckpt))


def test_align_vds():
    a = align_vds(["a", "b", "c"], ["c", "d", "a"])
    assert a.vd_ids == ["a", "b", "c", "d"] and a.source.tolist() == [2, -1, 0, 1]
    assert a.absent == ["b"] and a.added == ["d"] and not a.is_identity
    assert align_vds(["a", "b"], ["a", "b"]).is_identity


def _cli(data_dir, root, ckpt) -> list[str]:
    return [
        "--data.data_dir", str(data_dir), "--data.window", "6", "--data.horizon", "3",
        "--data.graph_radius_km", "5", "--data.max_neighbours", "9", "--data.batch_size", "8",
        "--trainer.default_root_dir", str(root), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--ckpt_path", str(ckpt),
    ]  # fmt: skip


def test_predict_cli_on_reordered_data_and_a_mismatch(trained, tmp_path, capsys):
    data_dir, ckpt = trained
    assert main(["predict", *_cli(data_dir, tmp_path / "a", ckpt)]) == 0
    obs, stations = _frames(data_dir)
    moved = _write(tmp_path / "reordered", obs, stations.iloc[::-1])
    assert main(["predict", *_cli(moved, tmp_path / "b", ckpt)]) == 0
    key = ["issue_time", "horizon_step", "vd_id", "variable"]
    a = pd.read_parquet(tmp_path / "a" / "forecasts.parquet").astype({"vd_id": str, "variable": str})
    b = pd.read_parquet(tmp_path / "b" / "forecasts.parquet").astype({"vd_id": str, "variable": str})
    pd.testing.assert_frame_equal(a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True))
    # test scores the aligned data with the same weights: the same metrics, model and baselines
    assert main(["test", *_cli(data_dir, tmp_path / "a", ckpt)]) == 0
    assert main(["test", *_cli(moved, tmp_path / "b", ckpt)]) == 0
    metrics = [json.loads((tmp_path / run / "metrics.json").read_text())["models"] for run in "ab"]
    assert metrics[0] == metrics[1]
    # evaluate (its own command: the model options come from the checkpoint too) scores them alike
    assert main(["evaluate", *_cli(moved, tmp_path / "e", ckpt)]) == 0
    evaluated = json.loads((tmp_path / "e" / "metrics.json").read_text())["models"]
    for name in metrics[1]:
        mae = evaluated[name]["flow"]["average"]["mae"]
        assert mae == pytest.approx(metrics[1][name]["flow"]["average"]["mae"], rel=1e-5), name
    capsys.readouterr()
    bad = _write(tmp_path / "mph", obs, stations, DatasetMeta("t", "5min", {"flow": "veh/5min", "speed": "mph"}))
    assert main(["predict", *_cli(bad, tmp_path / "c", ckpt)]) == 2
    err = capsys.readouterr().err
    assert "unit of 'speed': the checkpoint's is 'km/h', the dataset's is 'mph'" in err and "Traceback" not in err
    assert not (tmp_path / "c" / "forecasts.parquet").exists()


def test_whole_new_period_with_no_training_part(trained):
    data_dir, ckpt = trained
    dm = TrafficDataModule(str(data_dir), **{**DATA, "split": (0.0, 0.0, 1.0)}, reference=str(ckpt))
    steps = dm.panel.num_steps
    assert len(dm.datasets["test"]) == steps - DATA["window"] - DATA["horizon"] + 1  # every window
    forecasts, _ = _forecast(dm, ckpt)
    assert forecasts.shape[0] == len(dm.datasets["test"]) and torch.isfinite(forecasts).all()
    with pytest.raises(UserError, match="no observed value in the training split"):
        TrafficDataModule(str(data_dir), **{**DATA, "split": (0.0, 0.0, 1.0)})  # without one, training needs it

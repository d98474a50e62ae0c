"""Inverse-distance weighting from observed VDs to held-out ones, and the holdout test's scoreboard:
held-out VDs scored alone, against their neighbours' interpolated baselines, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.forecast.baselines import persistence
from social_xlstm.forecast.evaluate import evaluate
from social_xlstm.forecast.interpolation import NeighbourInterpolation, station_coordinates
from social_xlstm.metrics import MaskedErrors

KM = 0.009  # degrees of latitude in about one kilometre


def test_weights_are_inverse_squared_distances_of_the_nearest_sources():
    lat = np.array([0.0, 1 * KM, 3 * KM, 10 * KM])  # VD 1 held out: VD 0 at 1 km, VD 2 at 2 km, VD 3 at 9 km
    hidden = np.array([False, True, False, False])
    interp = NeighbourInterpolation(lat, np.zeros(4), hidden, ~hidden, k=2, power=2.0)
    assert interp.target_pos.tolist() == [1]
    assert sorted(interp.source_pos[0].tolist()) == [0, 2]
    weights = dict(zip(interp.source_pos[0].tolist(), interp.weights[0].tolist(), strict=True))
    assert weights[0] == pytest.approx(0.8, abs=1e-3) and weights[2] == pytest.approx(0.2, abs=1e-3)  # 1 : 1/4
    values = torch.tensor([10.0, -1.0, 20.0, 99.0]).view(1, 1, 4, 1)  # (B, H, N, O)
    out = interp(values)
    assert out[0, 0, 1, 0].item() == pytest.approx(0.8 * 10 + 0.2 * 20, abs=1e-2)
    assert out[0, 0, [0, 2, 3], 0].tolist() == [10.0, 20.0, 99.0]  # observed VDs untouched
    with pytest.raises(ValueError, match="have no coordinates"):
        NeighbourInterpolation(np.array([0.0, np.nan]), np.zeros(2), np.array([False, True]), np.array([True, False]))
    with pytest.raises(ValueError, match="no observed VD"):
        NeighbourInterpolation(lat, np.zeros(4), hidden, np.zeros(4, dtype=bool))


def test_the_holdout_test_scores_held_out_vds_against_interpolated_persistence(tiny_dataset):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=64, holdout_vds=["VD-02"])
    metrics = evaluate(dm)
    assert metrics["holdout"]["vds"] == ["VD-02"] and metrics["holdout"]["idw"] == {"neighbours": 4, "power": 2.0}
    assert set(metrics["models"]) == {"idw_persistence", "idw_historical_average"}
    # by hand: VD-02's four nearest observed VDs are its neighbours at 1 and 2 km, weights 1, 1, 1/4, 1/4
    info = dm.info()
    lat, lon = station_coordinates(dm.dataset.stations, info.vd_ids)
    position = info.vd_ids.index("VD-02")
    weights = torch.zeros(info.num_vds)
    for vd, w in {"VD-01": 1.0, "VD-03": 1.0, "VD-00": 0.25, "VD-04": 0.25}.items():
        weights[info.vd_ids.index(vd)] = w
    weights /= weights.sum()
    errors = MaskedErrors(info.horizon, len(info.targets))
    for batch in dm.test_dataloader():
        point = persistence(batch, info)  # (B, H, N, O)
        at_held_out = (point * weights[None, None, :, None]).sum(2)  # (B, H, O)
        mask = batch["y_mask"][:, :, position]
        assert mask.any() and not batch["y_mask"][:, :, [i for i in range(info.num_vds) if i != position]].any()
        errors.update(at_held_out[:, :, None], batch["y"][:, :, position : position + 1], mask[:, :, None])
    expected = errors.report(info.targets, info.freq_minutes)
    got = metrics["models"]["idw_persistence"]
    for variable in info.targets:
        for mine, theirs in zip(got[variable]["steps"], expected[variable]["steps"], strict=True):
            assert mine["mae"] == pytest.approx(theirs["mae"], rel=1e-4)
            assert mine["count"] == theirs["count"]
    assert np.isfinite(lat).all() and np.isfinite(lon).all()


def test_a_holdout_model_is_scored_at_its_held_out_vds_beside_its_interpolated_neighbour_forecasts(
    tiny_dataset, tmp_path
):
    from conftest import train_tiny_checkpoint

    from social_xlstm.training.module import ForecastModule

    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=64, holdout_vds=["VD-02"])
    ckpt = train_tiny_checkpoint(dm, tmp_path / "held.ckpt", steps=2)
    module = ForecastModule.from_checkpoint(str(ckpt))
    position = module.info.vd_ids.index("VD-02")
    assert module.info.holdout_vds == ["VD-02"]
    assert module.net.embedding.default_index[position] == module.net.embedding.fallback_index
    # the test as `social-xlstm test --ckpt_path` builds it: aligned to the checkpoint, the same VDs held out
    again = TrafficDataModule(
        str(tiny_dataset), window=6, horizon=3, batch_size=64, holdout_vds=["VD-02"], reference=str(ckpt)
    )
    assert again.info().holdout_vds == ["VD-02"] and again.info().edge_index == module.info.edge_index
    metrics = evaluate(again, {"social_xlstm": module})
    assert list(metrics["models"]) == ["social_xlstm", "idw_persistence", "idw_historical_average", "idw_model"]
    assert metrics["model_kinds"]["idw_model"] == "baseline"
    counts = {name: r["speed"]["steps"][0]["count"] for name, r in metrics["models"].items()}
    test = again.datasets["test"]
    speed = again.info().targets.index("speed")
    observed_at_held_out = sum(int(test[i]["y_mask"][0, position, speed]) for i in range(len(test)))
    assert set(counts.values()) == {observed_at_held_out}  # every forecaster on the held-out VD's cells alone

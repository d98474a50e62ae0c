"""Virtual VDs (``predict --at``): places without a detector forecast from their neighbours' states with
the fallback embedding, flagged in forecasts.parquet, the detectors' forecasts unchanged; every bad
points file refused with one message and exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.cli import main, predict_aliases
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.errors import UserError
from social_xlstm.training.module import ForecastModule
from social_xlstm.weights import EMBEDDING_KEY
from tests.conftest import make_tiny_dataset, train_tiny_checkpoint

DATA = dict(window=6, horizon=3, batch_size=8, max_neighbours=3, graph_radius_km=5.0)
KM = 0.009  # degrees of latitude in about a kilometre; the tiny VDs stand at lat 25.0 + i * KM, lon 121.5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("virtual")
    data_dir = make_tiny_dataset(root / "train")
    ckpt = train_tiny_checkpoint(TrafficDataModule(str(data_dir), **DATA), root / "model.ckpt", steps=3)
    return data_dir, ckpt


def _points(path, rows, header="vd_id,lat,lon"):
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_virtual_vds_read_known_neighbours_with_the_fallback_row_and_nothing_reads_them(trained, tmp_path):
    data_dir, ckpt = trained
    points = _points(tmp_path / "p.csv", [f"V-1,{25.0 + 1.5 * KM},121.5", f"V-2,{25.0 + 3.4 * KM},121.5"])
    dm = TrafficDataModule(str(data_dir), **DATA, reference=str(ckpt), virtual_points=str(points))
    info = dm.info()
    assert info.vd_ids[-2:] == ["V-1", "V-2"] and info.virtual_vds == ["V-1", "V-2"]
    assert not dm.panel.mask[:, 5:].any()  # never observed
    src, dst = np.asarray(info.edge_index).T
    into = {v: sorted(set(src[(dst == v) & (src != v)].tolist())) for v in (5, 6)}
    assert into == {5: [1, 2], 6: [3, 4]}  # the two nearest detectors (max_neighbours 3, self loop included)
    assert not ((src >= 5) & (dst < 5)).any()  # no detector reads a virtual VD
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    module = ForecastModule(**checkpoint["hyper_parameters"], data_info=info)
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    table = module.state_dict()[EMBEDDING_KEY]
    assert torch.equal(table[5], table[-1]) and torch.equal(table[6], table[-1])  # the fallback row
    # the detectors' forecasts are the checkpoint's own; the virtual ones are finite numbers
    plain = ForecastModule.from_checkpoint(str(ckpt))
    base = TrafficDataModule(str(data_dir), **DATA, reference=str(ckpt))
    module.eval()
    with torch.no_grad():
        for with_virtual, without in zip(dm.test_dataloader(), base.test_dataloader(), strict=True):
            forecast = module(with_virtual)
            torch.testing.assert_close(forecast[:, :, :5], plain(without), rtol=1e-5, atol=1e-4)
            assert torch.isfinite(forecast[:, :, 5:]).all()
            break


def test_predict_at_writes_flagged_rows_for_the_points(trained, tmp_path, capsys):
    data_dir, ckpt = trained
    points = _points(tmp_path / "p.csv", [f"V-1,{25.0 + 1.5 * KM},121.5"], header="id, lat, lon")
    common = [
        "--data.data_dir", str(data_dir), "--data.window", "6", "--data.horizon", "3", "--data.graph_radius_km", "5",
        "--data.max_neighbours", "3", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
        "--ckpt_path", str(ckpt),
    ]  # fmt: skip
    assert main(["predict", *common, "--trainer.default_root_dir", str(tmp_path / "a"), "--at", str(points)]) == 0
    frame = pd.read_parquet(tmp_path / "a" / "forecasts.parquet").astype({"vd_id": str})
    assert (
        frame.loc[frame["vd_id"] == "V-1", "virtual"].all() and not frame.loc[frame["vd_id"] != "V-1", "virtual"].any()
    )
    virtual = frame[frame["vd_id"] == "V-1"]
    assert len(virtual) == len(frame) // 6 and virtual["prediction"].notna().all() and virtual["actual"].isna().all()
    far = _points(tmp_path / "far.csv", ["V-9,26.0,121.5"])  # 100 km north of the network
    capsys.readouterr()
    assert main(["predict", *common, "--trainer.default_root_dir", str(tmp_path / "b"), f"--at={far}"]) == 2
    err = capsys.readouterr().err
    assert "more than 5 km outside the detectors' bounding box" in err and "V-9" in err and "Traceback" not in err
    assert not (tmp_path / "b" / "forecasts.parquet").exists()


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        (["V-1,25.0"], "vd_id,lat", r"needs the column\(s\) \['lon'\]"),
        (["V-1,north,121.5"], "vd_id,lat,lon", r"column 'lat' must be a number; line\(s\) \[2\]"),
        (["V-1,25.0,121.5", "V-1,25.01,121.5"], "vd_id,lat,lon", r"ids must be unique; line\(s\) \[2, 3\]"),
        (["VD-03,25.0,121.5"], "vd_id,lat,lon", r"must differ from the detectors'; \['VD-03'\]"),
        (["V-1,95.0,121.5"], "vd_id,lat,lon", "WGS84 degrees"),
        ([f"V-1,{25.0 + 2 * KM},{121.5 + 0.04}"], "vd_id,lat,lon", r"no detector within 3 km.*V-1 \(4\.0 km\)"),
    ],
)
def test_bad_points_are_refused_with_one_message(trained, tmp_path, rows, header, match):
    data_dir, ckpt = trained
    points = _points(tmp_path / "p.csv", rows, header)
    with pytest.raises(UserError, match=match):
        TrafficDataModule(str(data_dir), **DATA, reference=str(ckpt), virtual_points=str(points), virtual_reach_km=3.0)


def test_virtual_vds_need_a_checkpoint_and_an_edge_list_network_needs_their_edges(trained, tmp_path):
    data_dir, ckpt = trained
    points = _points(tmp_path / "p.csv", [f"V-1,{25.0 + 1.5 * KM},121.5"])
    with pytest.raises(UserError, match="forecast by a trained model: give its checkpoint"):
        TrafficDataModule(str(data_dir), **DATA, virtual_points=str(points))
    with pytest.raises(UserError, match="file not found"):
        TrafficDataModule(str(data_dir), **DATA, reference=str(ckpt), virtual_points=str(tmp_path / "none.csv"))
    # a network published as an edge list: the points' neighbours come from --at-edges
    obs = pd.read_parquet(data_dir / "observations.parquet")
    stations = pd.read_parquet(data_dir / "stations.parquet")
    ids = stations["vd_id"].tolist()
    edges = pd.DataFrame({"src": ids[:-1] + ids[1:], "dst": ids[1:] + ids[:-1], "weight": 1.0})
    meta = DatasetMeta("edges", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Asia/Taipei")
    root = write_dataset(tmp_path / "edges", obs, stations, meta, edges=edges)
    edge_ckpt = train_tiny_checkpoint(TrafficDataModule(str(root), **DATA), tmp_path / "edges.ckpt", steps=2)
    with pytest.raises(
        UserError, match="an edge list .* give them with --at-edges FILE \\(vd_id, neighbour, weight\\)"
    ):
        TrafficDataModule(str(root), **DATA, reference=str(edge_ckpt), virtual_points=str(points))
    point_edges = _points(tmp_path / "e.csv", ["V-1,VD-01,0.7", "V-1,VD-02,0.3"], header="vd_id,neighbour,weight")
    dm = TrafficDataModule(
        str(root), **DATA, reference=str(edge_ckpt), virtual_points=str(points), virtual_edges=str(point_edges)
    )
    src, dst = np.asarray(dm.info().edge_index).T
    assert sorted(src[(dst == 5) & (src != 5)].tolist()) == [1, 2]
    bad_edges = _points(tmp_path / "bad.csv", ["V-1,VD-77,0.7"], header="vd_id,neighbour,weight")
    with pytest.raises(UserError, match=r"unknown neighbours \['VD-77'\]"):
        TrafficDataModule(str(root), **DATA, reference=str(edge_ckpt), virtual_points=str(points),
                          virtual_edges=str(bad_edges))  # fmt: skip


def test_predict_aliases():
    assert predict_aliases(["predict", "--at", "p.csv", "--at-edges=e.csv", "--data.x", "1"]) == [
        "predict", "--data.virtual_points", "p.csv", "--data.virtual_edges=e.csv", "--data.x", "1"
    ]  # fmt: skip
    assert predict_aliases(["fit", "--at", "p.csv"]) == ["fit", "--at", "p.csv"]


def test_stream_forecasts_the_points_beside_unchanged_detectors(trained, tmp_path, capsys):
    from social_xlstm.forecast.streaming import StreamingForecaster

    data_dir, ckpt = trained
    points = _points(tmp_path / "p.csv", [f"V-1,{25.0 + 1.5 * KM},121.5"])
    plain = StreamingForecaster.from_checkpoint(ckpt)
    virtual = StreamingForecaster.from_checkpoint(ckpt, at=points, stations=data_dir)
    assert virtual.vd_ids == [*plain.vd_ids, "V-1"] and virtual.info.virtual_vds == ["V-1"]
    obs = pd.read_parquet(data_dir / "observations.parquet")
    for timestamp, readings in list(obs.groupby("timestamp"))[:8]:
        a, b = plain.update(timestamp, readings), virtual.update(timestamp, readings)
    b = b.astype({"vd_id": str})
    detectors = b[~b["virtual"]].drop(columns="virtual").reset_index(drop=True)
    pd.testing.assert_frame_equal(detectors, a.astype({"vd_id": str}).reset_index(drop=True), atol=1e-4)
    assert b.loc[b["virtual"], "vd_id"].unique().tolist() == ["V-1"] and b.loc[b["virtual"], "prediction"].notna().all()
    with pytest.raises(UserError, match="give the dataset \\(--stations DIR\\)"):
        StreamingForecaster.from_checkpoint(ckpt, at=points)
    out = tmp_path / "stream.parquet"
    code = main(["stream", "--checkpoint", str(ckpt), "--replay", str(data_dir), "--out", str(out), "--limit", "7",
                 "--at", str(points)])  # fmt: skip
    assert code == 0 and pd.read_parquet(out)["virtual"].any()
    capsys.readouterr()

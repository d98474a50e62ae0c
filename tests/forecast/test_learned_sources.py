"""A model trained with learned sources (social.graph both): the checkpoint holds the edges it was
validated with, every reader of the checkpoint uses exactly those, and ``plot sources`` shows them."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from social_xlstm.cli import main
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.network import load_network
from social_xlstm.training.module import ForecastModule
from tests.conftest import SMALL_MODEL, make_tiny_dataset, train_tiny_checkpoint

DATA = dict(window=6, horizon=3, batch_size=8, max_neighbours=9, graph_radius_km=1.5)  # road: the next VDs
LEARNED = {"heads": 2, "graph": "both", "learned_k": 2, "learned_refresh": 1}
KEY = "net.fusion.learned.learned_src"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("learned")
    data_dir = make_tiny_dataset(root / "train")
    dm = TrafficDataModule(str(data_dir), **DATA)
    ckpt = train_tiny_checkpoint(dm, root / "model.ckpt", steps=3, social=LEARNED)
    road = train_tiny_checkpoint(dm, root / "road.ckpt", steps=1)
    return data_dir, ckpt, road


def test_every_reader_of_the_checkpoint_uses_its_learned_edges(trained):
    _, ckpt, _ = trained
    stored = torch.load(ckpt, weights_only=True)["state_dict"][KEY]  # (5, 2)
    assert stored.shape == (5, 2) and (stored >= 0).all()
    net, _ = load_network(ckpt)  # predict, stream and serve build their network this way
    assert torch.equal(net.fusion.learned.learned_src, stored)
    module = ForecastModule.from_checkpoint(str(ckpt))
    assert torch.equal(module.net.fusion.learned.learned_src, stored)
    for vd, sources in enumerate(stored.tolist()):  # never a road source (itself and the VDs 1 km away)
        assert not set(sources) & {vd - 1, vd, vd + 1}


def test_plot_sources_draws_them_and_writes_the_table(trained, tmp_path, capsys):
    data_dir, ckpt, _ = trained
    png, csv = tmp_path / "sources.png", tmp_path / "sources.csv"
    code = main(["plot", "sources", "--ckpt", str(ckpt), "--dataset", str(data_dir), "--out", str(png),
                 "--table", str(csv)])  # fmt: skip
    assert code == 0 and png.stat().st_size > 5000
    table = pd.read_csv(csv)
    stored = torch.load(ckpt, weights_only=True)["state_dict"][KEY]
    ids = [f"VD-{i:02d}" for i in range(5)]
    expected = {(ids[vd], ids[s]) for vd, row in enumerate(stored.tolist()) for s in row}
    assert set(zip(table["vd_id"], table["source_id"], strict=True)) == expected
    assert sorted(table["rank"].unique()) == [0, 1]
    assert (table["distance_km"] > 1.5).all()  # the road already gives the nearer VDs
    assert "learned sources: 10 edges, 5 VDs" in capsys.readouterr().out
    assert main(["plot", "sources", "--ckpt", str(ckpt), "--dataset", str(data_dir), "--vds", "VD-02",
                 "--out", str(tmp_path / "one.png")]) == 0  # fmt: skip


def test_plot_sources_of_a_road_only_model_is_a_clear_error(trained, tmp_path, capsys):
    data_dir, _, road = trained
    out = tmp_path / "none.png"
    assert main(["plot", "sources", "--ckpt", str(road), "--dataset", str(data_dir), "--out", str(out)]) == 2
    assert "reads no learned sources" in capsys.readouterr().err and not out.exists()


def test_an_added_vd_learns_none_and_the_trained_vds_keep_theirs(trained, tmp_path):
    data_dir, ckpt, _ = trained
    obs, stations = pd.read_parquet(data_dir / "observations.parquet"), pd.read_parquet(data_dir / "stations.parquet")
    new_obs = obs[obs["vd_id"] == "VD-04"].assign(vd_id="VD-NEW")
    new_station = stations.iloc[[4]].assign(vd_id="VD-NEW", lat=25.0 + 0.009 * 4.5, km=4.5)
    meta = DatasetMeta("tiny", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Asia/Taipei")
    root = write_dataset(tmp_path / "added", pd.concat([obs, new_obs]), pd.concat([stations, new_station]), meta)
    dm = TrafficDataModule(str(root), **DATA, reference=str(ckpt))
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    stored = checkpoint["state_dict"][KEY]  # on_load_checkpoint fits the dict to the aligned network
    module = ForecastModule(**checkpoint["hyper_parameters"], data_info=dm.info())
    module.on_load_checkpoint(checkpoint)
    module.load_state_dict(checkpoint["state_dict"])
    learned = module.net.fusion.learned.learned_src
    assert torch.equal(learned[:5], stored) and (learned[5] == -1).all()
    module.eval()
    with torch.no_grad():
        forecasts = torch.cat([module(batch) for batch in dm.test_dataloader()])
    assert forecasts.shape[2] == 6 and torch.isfinite(forecasts).all()


def test_the_small_model_default_reads_the_road_only():
    assert "graph" not in SMALL_MODEL["social"]

"""A published city network end to end: wide speeds + a dense weights-only adj.npy, ingested, validated, capped.

``scripts/make_dense_network.py`` writes the simulator's network as such networks are published (no
coordinates, no distances, in-degrees in the tens); the CLI ingests and validates it and the datamodule
keeps each VD's ``max_neighbours - 1`` strongest in-edges plus its self loop.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.cli import main

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_dense_network.py"


def _script():
    spec = importlib.util.spec_from_file_location("make_dense_network", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_weights_only_city_network_ingests_validates_and_is_capped(tmp_path, capsys):
    src = _script().make_dense_network(tmp_path / "published", vds=40, days=3, density=0.6)
    adj = np.load(src / "adj.npy")  # (N, N), adj[i, j] = weight of i -> j
    published = (adj > 0).sum(axis=0)  # in-degree of each VD incl. its self loop
    assert published.max() > 16  # the cap has work to do
    ds = tmp_path / "ds"
    code = main(
        ["ingest", "wide", str(src / "speed.csv"), "--variable", "speed", "--unit", "km/h",
         "--edges", str(src / "adj.npy"), "--out", str(ds)]
    )  # fmt: skip
    assert code == 0
    edges = pd.read_parquet(ds / "edges.parquet")
    assert edges["distance_m"].isna().all() and len(edges) == int((adj > 0).sum() - len(adj))
    capsys.readouterr()
    assert main(["validate", str(ds)]) == 0
    report = capsys.readouterr().out
    assert f"edges.parquet: min {published.min()} / median {np.median(published):g} / max {published.max()}" in report
    assert "kept: min " in report and "max 16" in report
    capped = int((published > 16).sum())
    assert f"the cap data.max_neighbours = 16 (the default) trims {capped} of 40 VDs to their 15 strongest" in report

    from social_xlstm.data.datamodule import TrafficDataModule

    dm = TrafficDataModule(str(ds), window=6, horizon=3, batch_size=4, max_neighbours=16)
    info = dm.info()
    ids = pd.read_csv(src / "speed.csv", nrows=0).columns[1:].tolist()
    assert info.vd_ids == ids and info.edge_attr_names == ["is_self", "weight"]
    src_idx, dst_idx = info.edge_index_tensor().numpy()
    weight = info.edge_attr_tensor().numpy()[:, info.edge_attr_names.index("weight")]
    degree = np.bincount(dst_idx, minlength=info.num_vds)
    assert (degree <= 16).all() and (degree == np.minimum(published, 16)).all()
    for vd in range(info.num_vds):
        into = dst_idx == vd
        assert (src_idx[into] == vd).sum() == 1  # the self loop
        kept = weight[into & (src_idx != vd)]
        column = np.delete(adj[:, vd], vd)
        dropped = np.sort(column[column > 0])[: max(0, len(column[column > 0]) - len(kept))]
        # every kept in-edge is at least as strong as every dropped one
        assert len(kept) == min(15, published[vd] - 1)
        assert dropped.size == 0 or kept.min() >= dropped.max() - 1e-6

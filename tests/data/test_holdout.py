"""data.holdout_vds: held-out VDs hidden from every input, target and graph read of training; the test
scores them alone against their neighbours' inverse-distance baselines; bad specs refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.graph import Graph
from social_xlstm.data.holdout import draw_holdout, drop_reads_of, unread
from social_xlstm.data.scaler import StandardScaler
from social_xlstm.errors import UserError

IDS = [f"VD-{i:02d}" for i in range(20)]


def test_a_share_draws_that_many_vds_by_its_own_seed():
    a, b = draw_holdout(IDS, 0.25, seed=0), draw_holdout(IDS, 0.25, seed=1)
    assert a.sum() == b.sum() == 5 and not np.array_equal(a, b)
    assert np.array_equal(a, draw_holdout(IDS, 0.25, seed=0))
    assert draw_holdout(IDS, 0.01).sum() == 1 and draw_holdout(IDS, 0.99).sum() == 19  # never none, never all
    assert not draw_holdout(IDS, None).any() and not draw_holdout(IDS, []).any()
    listed = draw_holdout(IDS, ["VD-03", "VD-07"])
    assert np.flatnonzero(listed).tolist() == [3, 7]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (0.0, "share must lie in"),
        (1.0, "share must lie in"),
        (["VD-03", "nope"], "not in the dataset.*nope"),
        (["VD-03", "VD-03"], "more than once.*VD-03"),
        (IDS, "every one of the 20"),
        ("VD-03", "the string"),
    ],
)
def test_bad_holdout_specs_are_refused(spec, match):
    with pytest.raises(UserError, match=match):
        draw_holdout(IDS, spec)


def test_nothing_reads_a_held_out_vd_but_itself():
    # 0 <- 1, 1 <- 0, 2 <- 1, 2 <- 0, self loops; VD 1 held out
    edges = np.array([[1, 0, 1, 0, 0, 1, 2], [0, 1, 2, 2, 0, 1, 2]])
    graph = Graph(edges, np.arange(7, dtype=np.float32)[:, None], ["weight"], 3)
    hidden = np.array([False, True, False])
    kept = drop_reads_of(graph, hidden)
    assert kept.edge_index_array.T.tolist() == [[0, 1], [0, 2], [0, 0], [1, 1], [2, 2]]
    assert kept.edge_attr_array[:, 0].tolist() == [1, 3, 4, 5, 6]  # features follow their edges
    assert unread(kept, hidden) == []
    both = np.array([True, True, False])  # VDs 0 and 1 read only each other
    assert unread(drop_reads_of(graph, both), both) == [0, 1]


def test_held_out_vds_are_never_an_input_nor_a_training_target_and_alone_in_the_test(tiny_dataset):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=16, holdout_vds=["VD-02"])
    hidden = np.array([vd == "VD-02" for vd in dm.panel.vd_ids])
    assert dm.info().holdout_vds == ["VD-02"]
    for name in ("train", "val", "test"):
        data = dm.datasets[name]
        batch = torch.utils.data.default_collate([data[i] for i in range(0, len(data), 7)])
        assert not batch["x_mask"][:, :, hidden].any() and (batch["x"][:, :, hidden] == 0).all()
        assert batch["x_mask"][:, :, ~hidden].any()
        scored = batch["y_mask"].any(dim=(0, 1, 3))  # (N,)
        assert scored.tolist() == (hidden if name == "test" else ~hidden).tolist(), name
    lo, hi = dm.split_ranges["train"]
    without = StandardScaler().fit(dm.panel.values[lo:hi][:, ~hidden], dm.panel.mask[lo:hi][:, ~hidden])
    np.testing.assert_allclose(dm.scaler.mean, without.mean, rtol=1e-6)
    np.testing.assert_allclose(dm.scaler.std, without.std, rtol=1e-6)
    src, dst = dm.graph.edge_index_array
    position = dm.panel.vd_ids.index("VD-02")
    assert ((src != position) | (dst == position)).all()  # no VD reads it
    assert ((dst == position) & (src != position)).any()  # it reads its neighbours


def test_the_held_out_draw_follows_the_holdout_seed_and_sequence_mode_is_refused(tiny_dataset):
    draws = {
        seed: tuple(TrafficDataModule(str(tiny_dataset), window=6, horizon=3, holdout_vds=0.4, holdout_seed=seed)
                    .info().holdout_vds)
        for seed in range(4)
    }  # fmt: skip
    assert {len(d) for d in draws.values()} == {2} and len(set(draws.values())) > 1
    expected = draw_holdout([f"VD-{i:02d}" for i in range(5)], 0.4, seed=2)
    assert [int(vd[-2:]) for vd in draws[2]] == np.flatnonzero(expected).tolist()
    with pytest.warns(UserWarning, match="without data.mask_vds: .* untrained path"):
        TrafficDataModule(str(tiny_dataset), window=6, horizon=3, holdout_vds=0.4)
    with pytest.raises(UserError, match="holdout_vds is not supported with data mode 'sequence'"):
        TrafficDataModule(str(tiny_dataset), window=6, horizon=3, mode="sequence", holdout_vds=0.4)
    with pytest.raises(UserError, match="not in the dataset"):
        TrafficDataModule(str(tiny_dataset), window=6, horizon=3, holdout_vds=["VD-99"])

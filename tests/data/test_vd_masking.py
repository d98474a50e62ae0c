"""data.mask_vds: whole VDs' input windows hidden in training batches at the given rate, targets kept,
validation untouched, composed with node sampling; a bad rate refused."""

from __future__ import annotations

import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.vd_masking import VDMasking
from social_xlstm.errors import UserError


def _item(nodes=50, w=4, h=3):
    return {"x": torch.ones(w, nodes, 2), "x_mask": torch.ones(w, nodes, 2, dtype=torch.bool),
            "y": torch.ones(h, nodes, 1), "y_mask": torch.ones(h, nodes, 1, dtype=torch.bool)}  # fmt: skip


def test_whole_windows_of_vds_are_hidden_at_the_rate_and_targets_kept():
    torch.manual_seed(0)
    batch = VDMasking(0.3)([_item() for _ in range(64)])
    hidden = ~batch["x_mask"]  # (B, W, N, F)
    per_vd = hidden.all(dim=(1, 3))  # (B, N): the whole window and every variable of a VD, or nothing
    assert torch.equal(per_vd, hidden.any(dim=(1, 3)))
    assert per_vd.float().mean().item() == pytest.approx(0.3, abs=0.03)
    assert (batch["x"][hidden] == 0).all() and (batch["x"][~hidden] == 1).all()
    assert batch["y_mask"].all()  # the loss still asks for the hidden VDs' futures
    assert torch.equal(batch["vd_hidden"], per_vd)  # and they read the VD embedding's fallback row
    assert VDMasking(0.0)([_item()])["x_mask"].all()
    for bad in (-0.1, 1.0):
        with pytest.raises(UserError, match="mask_vds must be in"):
            VDMasking(bad)


def test_the_datamodule_masks_training_batches_only(tiny_dataset):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=16, mask_vds=0.5)
    dm.setup("fit")
    torch.manual_seed(0)
    train = next(iter(dm.train_dataloader()))
    observed = dm.panel.mask.any()  # the tiny dataset has its own gaps: compare the hidden share per VD
    assert observed and (~train["x_mask"]).all(dim=(1, 3)).float().mean() > 0.3
    val = next(iter(dm.val_dataloader()))
    assert (~val["x_mask"]).all(dim=(1, 3)).float().mean() < 0.1  # only the data's own gaps
    sampled = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=8, mask_vds=0.5, node_sample=2)
    sampled.setup("fit")
    batch = next(iter(sampled.train_dataloader()))
    assert "target_pos" in batch and batch["x_mask"].shape[2] == len(batch["nodes"])
    with pytest.raises(UserError, match="mask_vds"):
        TrafficDataModule(str(tiny_dataset), mask_vds=1.5)

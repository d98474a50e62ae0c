"""The LightningModule: original-unit loss, checkpoints that predict alone, backends that agree."""

import lightning as L
import pytest
import torch

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.errors import UserError
from social_xlstm.metrics import masked_mae
from social_xlstm.training.module import ForecastModule

SMALL = dict(d_model=16, encoder={"heads": 2, "layers": 1}, social={"heads": 2}, dropout=0.0)


@pytest.fixture(scope="module")
def dm(tiny_dataset):
    return TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=8)


def test_loss_is_masked_mae_in_original_units(dm):
    torch.manual_seed(0)
    module = ForecastModule(**SMALL, data_info=dm.info())
    batch = next(iter(dm.train_dataloader()))
    scaled = module.net(batch["x"], batch["x_mask"], batch["time"])  # (B, H, N, O)
    mean = torch.tensor(dm.info().mean)[dm.info().target_index]
    std = torch.tensor(dm.info().std)[dm.info().target_index]
    expected = masked_mae(scaled * std + mean, batch["y"], batch["y_mask"])
    assert module.training_step(batch, 0).item() == pytest.approx(expected.item(), rel=1e-6)


def test_one_training_step_same_loss_and_gradients_torch_vs_cpu_backend(dm):
    batch = next(iter(dm.train_dataloader()))
    results = {}
    for backend in ("torch", "cpu"):
        torch.manual_seed(0)
        small = {**SMALL, "encoder": {**SMALL["encoder"], "backend": backend}}
        module = ForecastModule(**small, data_info=dm.info()).double()
        batch64 = {k: v.double() if v.is_floating_point() else v for k, v in batch.items()}
        loss = module.training_step(batch64, 0)
        loss.backward()
        results[backend] = (loss.detach(), {n: p.grad.clone() for n, p in module.named_parameters()})
    (loss_t, grads_t), (loss_c, grads_c) = results["torch"], results["cpu"]
    assert torch.allclose(loss_t, loss_c, rtol=1e-10, atol=0)
    assert grads_t.keys() == grads_c.keys()
    for name in grads_t:
        assert torch.allclose(grads_t[name], grads_c[name], rtol=1e-8, atol=1e-12), name


def test_checkpoint_predicts_alone(dm, tmp_path):
    torch.manual_seed(0)
    module = ForecastModule(**SMALL, data_info=dm.info())
    trainer = L.Trainer(
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, datamodule=dm)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    restored = ForecastModule.from_checkpoint(str(path))
    assert restored.info.vd_ids == dm.info().vd_ids
    assert restored.info.edge_index == dm.info().edge_index
    batch = next(iter(dm.test_dataloader()))
    module.eval()
    with torch.no_grad():
        assert torch.equal(module(batch), restored(batch))
    assert "data_info" not in torch.load(path, weights_only=False)["hyper_parameters"]


def test_from_checkpoint_rejects_other_files(tmp_path):
    path = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(UserError, match="not a Social-xLSTM checkpoint"):
        ForecastModule.from_checkpoint(str(path))


def test_unknown_loss_and_missing_data_info(dm):
    with pytest.raises(UserError, match="unknown loss"):
        ForecastModule(loss="mape", data_info=dm.info())
    with pytest.raises(UserError, match="data_info"):
        ForecastModule()


def test_loss_scale_std_weighs_targets_alike(dm):
    torch.manual_seed(0)
    module = ForecastModule(**SMALL, loss_scale="std", data_info=dm.info())
    batch = next(iter(dm.train_dataloader()))
    pred = module(batch)
    std = torch.tensor(dm.info().std)[dm.info().target_index]
    expected = masked_mae(pred / std, batch["y"] / std, batch["y_mask"])
    assert module.training_step(batch, 0).item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(UserError, match="loss_scale"):
        ForecastModule(loss_scale="max", data_info=dm.info())


def test_bf16_mixed_precision_trains(dm, tmp_path):
    """The precision a GPU user picks (bf16 autocast) runs through the whole model; checked on CPU autocast."""
    torch.manual_seed(0)
    module = ForecastModule(**SMALL, data_info=dm.info())
    trainer = L.Trainer(max_steps=2, precision="bf16-mixed", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        default_root_dir=tmp_path)
    trainer.fit(module, datamodule=dm)
    loss = trainer.callback_metrics["train_loss"]
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p).all() for p in module.parameters())


def test_read_checkpoint_errors_name_the_file(tmp_path):
    from social_xlstm.checkpoint import read_checkpoint

    with pytest.raises(UserError, match="missing.ckpt: checkpoint not found"):
        read_checkpoint(str(tmp_path / "missing.ckpt"))
    torch.save({"weights": 1}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="other.ckpt: not a Lightning checkpoint"):
        read_checkpoint(str(tmp_path / "other.ckpt"))


def test_training_on_sampled_vds_scores_only_the_drawn_targets(tiny_dataset):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=8, node_sample=2)
    torch.manual_seed(0)
    module = ForecastModule(**{**SMALL, "social": {"heads": 2, "form": "source"}}, data_info=dm.info())
    batch = next(iter(dm.train_dataloader()))
    targets = batch["nodes"][batch["target_pos"]]
    assert batch["y"].shape[2] == 2 and batch["x"].shape[2] >= 2
    pred = module(batch)  # (B, H, S, O)
    assert pred.shape == batch["y"].shape
    # The drawn targets get the forecast the whole network would give them (they keep every neighbour).
    full_batch = next(iter(dm.val_dataloader() or dm.test_dataloader()))
    module.eval()
    x = full_batch["x"]
    sub = {k: v for k, v in full_batch.items()}
    sub["x"], sub["x_mask"] = x.index_select(2, batch["nodes"]), full_batch["x_mask"].index_select(2, batch["nodes"])
    sub["nodes"], sub["target_pos"] = batch["nodes"], batch["target_pos"]
    torch.testing.assert_close(module(sub), module(full_batch).index_select(2, targets), rtol=1e-5, atol=1e-5)
    module.train()
    loss = module.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert dm.val_dataloader() == [] or next(iter(dm.val_dataloader()))["y"].shape[2] == dm.info().num_vds

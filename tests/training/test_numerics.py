"""Numerical safety: divergence stops training with exit 2 and no NaN checkpoint; extreme readings stay finite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from social_xlstm.checkpoint import read_checkpoint
from social_xlstm.cli import main
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.nn.registry import ARCHITECTURES
from social_xlstm.training.callbacks import DivergenceError, DivergenceGuard
from social_xlstm.training.module import ForecastModule

REPO = Path(__file__).resolve().parents[2]
SMALL = dict(d_model=8, encoder={"heads": 2, "layers": 1}, social={"heads": 2}, dropout=0.0)


def _fit_args(dataset: Path, root: Path, *extra: str) -> list[str]:
    return [
        "fit",
        "--config",
        str(REPO / "configs" / "demo.yaml"),
        "--data.data_dir",
        str(dataset),
        "--trainer.default_root_dir",
        str(root),
        "--trainer.max_epochs",
        "2",
        "--trainer.limit_val_batches",
        "2",
        "--trainer.enable_progress_bar",
        "false",
        "--last_checkpoint.every_n_train_steps",
        "2",
        "--model.d_model",
        "8",
        "--model.encoder.layers",
        "1",
        "--data.window",
        "6",
        "--data.horizon",
        "3",
        "--data.max_train_windows",
        "64",
        *extra,
    ]


@pytest.mark.slow
def test_diverging_run_exits_2_naming_the_step_and_saves_no_nan_weights(tiny_dataset, tmp_path, capsys):
    root = tmp_path / "run"
    assert main(_fit_args(tiny_dataset, root, "--model.optim.lr", "1e4")) == 2
    err = capsys.readouterr().err
    assert "training diverged at epoch" in err and "step" in err and "Traceback" not in err
    assert "last good checkpoint" in err or "no checkpoint was written" in err
    for path in root.rglob("*.ckpt"):
        for name, value in read_checkpoint(path)["state_dict"].items():
            assert torch.isfinite(value).all(), f"{path}: {name} is not finite"


class _Trainer:
    """The trainer attributes DivergenceGuard reads."""

    world_size, current_epoch, global_step, precision = 1, 3, 117, "32-true"
    checkpoint_callbacks: list = []


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_guard_stops_before_backward_on_a_non_finite_loss(bad):
    with pytest.raises(DivergenceError, match=r"epoch 3, step 117: the training loss is .*no checkpoint was written"):
        DivergenceGuard().on_before_backward(_Trainer(), None, torch.tensor(bad))
    DivergenceGuard().on_before_backward(_Trainer(), None, torch.tensor(1.5))  # a finite loss passes


def test_guard_stops_on_non_finite_gradients_and_names_the_last_checkpoint(tmp_path):
    last = tmp_path / "last.ckpt"
    last.write_bytes(b"x")

    class Saved:
        last_model_path, best_model_path = str(last), ""

    trainer = _Trainer()
    trainer.checkpoint_callbacks = [Saved()]
    weight = torch.nn.Parameter(torch.ones(3))
    weight.grad = torch.tensor([1.0, float("nan"), 0.0])
    optimizer = torch.optim.SGD([weight], lr=0.1)
    with pytest.raises(DivergenceError, match=f"gradients are not finite; last good checkpoint: {last}"):
        DivergenceGuard().on_before_optimizer_step(trainer, None, optimizer)
    trainer.precision = "16-mixed"  # the fp16 grad scaler skips inf steps itself
    DivergenceGuard().on_before_optimizer_step(trainer, None, optimizer)


def test_guard_refuses_to_write_non_finite_weights():
    checkpoint = {"state_dict": {"a": torch.ones(2), "b": torch.tensor([0.0, float("nan")]), "n": torch.tensor(3)}}
    with pytest.raises(DivergenceError, match="1 weight tensors are not finite"):
        DivergenceGuard().on_save_checkpoint(_Trainer(), None, checkpoint)


@pytest.fixture(scope="module")
def dm(tiny_dataset):
    return TrafficDataModule(str(tiny_dataset), window=6, horizon=3, batch_size=4)


def _extreme_batch(dm: TrafficDataModule) -> dict[str, torch.Tensor]:
    """A real batch with VD 0 constant, VD 1 never observed, VD 2 at 1e6 and VD 3 at -1e3, inputs and targets."""
    batch = {k: v.clone() for k, v in next(iter(dm.train_dataloader())).items()}
    info = dm.info()
    mean, std = torch.tensor(info.mean), torch.tensor(info.std)  # (F,)
    scaled = lambda raw: (raw - mean) / std  # noqa: E731 - raw readings -> model inputs
    batch["x"][:, :, 0] = scaled(torch.tensor(100.0))
    batch["x"][:, :, 1], batch["x_mask"][:, :, 1], batch["y_mask"][:, :, 1] = 0.0, False, False
    batch["x"][:, :, 2], batch["y"][:, :, 2] = scaled(torch.tensor(1e6)), 1e6
    batch["x"][:, :, 3], batch["y"][:, :, 3] = scaled(torch.tensor(-1e3)), -1e3
    return batch


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_extreme_readings_keep_forward_loss_gradients_and_metrics_finite(arch, dm):
    torch.manual_seed(0)
    module = ForecastModule(arch=arch, **SMALL, loss_scale="std", data_info=dm.info())
    batch = _extreme_batch(dm)
    loss = module.training_step(batch, 0)
    assert torch.isfinite(loss), f"{arch}: loss {loss}"
    loss.backward()
    for name, param in module.named_parameters():
        if param.grad is not None:
            assert torch.isfinite(param.grad).all(), f"{arch}: gradient of {name}"
    module.eval()
    with torch.no_grad():
        assert torch.isfinite(module(batch)).all(), f"{arch}: forecasts"
    module._start_errors()
    module._update_errors(batch)
    errors = module._errors  # the metrics' sums themselves: report() writes NaN as null
    assert errors.count.sum() > 0
    for name in ("abs", "sq"):
        assert torch.isfinite(getattr(errors, name)).all(), f"{arch}: {name} errors"

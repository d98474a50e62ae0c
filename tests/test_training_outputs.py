"""What a fit writes: the CSV log always (beside any logger the user adds), TensorBoard event files with
``--tensorboard true`` (the extra), and no checkpoint at all with ``trainer.enable_checkpointing: false``."""

import pandas as pd
import pytest

from social_xlstm.demo import config_path
from social_xlstm.experiment import Experiment, default_loggers, load_config, merge_config


def _tiny_fit(data_dir, root, **extra):
    overrides = {
        "data": {"data_dir": str(data_dir), "targets": ["speed"]},
        "model": {"d_model": 16, "encoder": {"layers": 1}},
        "trainer": {
            "default_root_dir": str(root),
            "max_epochs": 1,
            "limit_train_batches": 2,
            "limit_val_batches": 1,
            "log_every_n_steps": 1,
            "enable_progress_bar": False,
        },
    }
    Experiment(load_config(config_path("demo.yaml"), merge_config(overrides, extra))).fit()
    return root / "lightning_logs" / "version_0"


@pytest.mark.slow
def test_csv_log_is_written_with_or_without_tensorboard_installed(tiny_dataset, tmp_path):
    run = _tiny_fit(tiny_dataset, tmp_path)
    log = pd.read_csv(run / "metrics.csv")
    assert {"train_loss", "val_mae"} <= set(log.columns)
    assert not (run / "tensorboard").exists()


@pytest.mark.slow
def test_tensorboard_flag_writes_event_files_beside_the_csv_log(tiny_dataset, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _tiny_fit(tiny_dataset, tmp_path, tensorboard=True)
    assert (run / "metrics.csv").exists()
    events = list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    acc = EventAccumulator(str(events[0]))
    acc.Reload()
    assert "train_loss" in acc.Tags()["scalars"] and "val_mae" in acc.Tags()["scalars"]


def test_tensorboard_missing_is_a_user_error(monkeypatch, tmp_path):
    import importlib.util

    from social_xlstm.errors import UserError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"social-xlstm\[tensorboard\]"):
        default_loggers(str(tmp_path), tensorboard=True)
    assert len(default_loggers(str(tmp_path))) == 1  # the CSV log needs nothing extra


@pytest.mark.slow
def test_a_user_logger_keeps_the_csv_log_beside_it(tiny_dataset, tmp_path):
    pytest.importorskip("tensorboard")
    logger = {
        "class_path": "lightning.pytorch.loggers.TensorBoardLogger",
        "init_args": {"save_dir": str(tmp_path / "tb")},
    }
    run = _tiny_fit(tiny_dataset, tmp_path, trainer={"logger": logger})
    assert {"train_loss", "val_mae"} <= set(pd.read_csv(run / "metrics.csv").columns)
    assert list((tmp_path / "tb").rglob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "best.ckpt").is_file()  # checkpoints still go to the CSV log's version folder


def test_with_csv_log_adds_one_csv_log_only_where_none_is():
    from lightning.pytorch.loggers import CSVLogger

    from social_xlstm.experiment import with_csv_log

    other = object()
    added = with_csv_log(other, "/tmp/x")
    assert isinstance(added[0], CSVLogger) and added[1] is other and len(added) == 2
    csv = CSVLogger("/tmp/y")
    assert with_csv_log([csv, other], "/tmp/x") == [csv, other]


@pytest.mark.slow
def test_enable_checkpointing_false_writes_no_checkpoint(tiny_dataset, tmp_path, caplog):
    # demo.yaml lists a ModelCheckpoint callback and the project adds LastCheckpoint: Lightning alone refuses
    # the flag beside them; honoured, the fit runs and nothing is written but the logs.
    _tiny_fit(tiny_dataset, tmp_path, trainer={"enable_checkpointing": False})
    assert not list(tmp_path.rglob("*.ckpt"))
    assert (tmp_path / "lightning_logs" / "version_0" / "metrics.csv").is_file()


@pytest.mark.slow
def test_a_fit_says_its_steps_per_second_at_the_end(tiny_dataset, tmp_path, caplog):
    from social_xlstm.training.fit_speed import FitSpeed

    overrides = {
        "data": {"data_dir": str(tiny_dataset), "targets": ["speed"]},
        "model": {"d_model": 16, "encoder": {"layers": 1}},
        "trainer": {"default_root_dir": str(tmp_path), "max_epochs": 1, "limit_train_batches": 3,
                    "limit_val_batches": 1, "enable_progress_bar": False},
    }  # fmt: skip
    exp = Experiment(load_config(config_path("demo.yaml"), overrides))
    with caplog.at_level("INFO"):
        exp.fit()
    (speed,) = [c for c in exp.trainer.callbacks if isinstance(c, FitSpeed)]
    assert speed.summary["steps"] == 3 and speed.summary["steps_per_second"] > 0
    assert "fit: 3 optimiser steps in" in caplog.text and "steps/s" in caplog.text

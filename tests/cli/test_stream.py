"""``social-xlstm stream``: help, a tiny replay read back, and user errors as exit status 2 with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.cli import main
from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.panel import load_panel
from tests.conftest import train_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """A 2-step-trained model of the tiny dataset, targets speed only."""
    dm = TrafficDataModule(str(tiny_dataset), window=4, horizon=2, batch_size=8, targets=["speed"])
    return train_tiny_checkpoint(dm, tmp_path_factory.mktemp("stream_cli") / "model.ckpt")


def test_stream_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["stream", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--checkpoint", "--replay", "--out", "--start", "--end", "--limit", "--mode"):
        assert option in out


@pytest.mark.slow
def test_replay_writes_forecasts_with_actuals_and_reports_latency(checkpoint, tiny_dataset, tmp_path, capsys):
    out = tmp_path / "stream" / "forecasts.parquet"
    start = "2024-03-04T01:00:00Z"
    code = main(["stream", "--checkpoint", str(checkpoint), "--replay", str(tiny_dataset), "--out", str(out),
                 "--start", start, "--limit", "7"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "7 ticks" in printed and "ticks/s" in printed
    for label in ("p50", "p90", "p99", "max"):
        assert label in printed
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["issue_time", "target_time", "horizon_step", "vd_id", "variable", "prediction",
                                   "actual"]  # fmt: skip
    issues = frame["issue_time"].drop_duplicates()
    assert list(issues) == list(pd.date_range(start, periods=7, freq="5min", tz="UTC"))
    assert len(frame) == 7 * 2 * 5 and set(frame["variable"].astype(str)) == {"speed"}
    assert (
        frame["target_time"] - frame["issue_time"] == frame["horizon_step"].astype(int) * pd.Timedelta("5min")
    ).all()
    # actual: the replayed data's speed at the target time, NaN where it was not observed
    panel = load_panel(tiny_dataset, ["speed"])
    step = panel.timestamps.get_indexer(frame["target_time"])
    vd = pd.Index(panel.vd_ids).get_indexer(frame["vd_id"].astype(str))
    expected = panel.values[step, vd, 0]
    np.testing.assert_array_equal(frame["actual"].to_numpy(), expected)
    assert np.isfinite(frame["prediction"]).all()
    assert [p.name for p in out.parent.iterdir()] == ["forecasts.parquet"]  # no temporaries left


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--start", "2030-01-01"], "no tick between"),
        (["--start", "yesterday-ish"], "--start 'yesterday-ish' is not a time"),
        (["--limit", "0"], "--limit must be >= 1"),
    ],
)
def test_bad_options_exit_2_and_write_nothing(checkpoint, tiny_dataset, tmp_path, capsys, extra, words):
    out = tmp_path / "f.parquet"
    assert main(["stream", "--checkpoint", str(checkpoint), "--replay", str(tiny_dataset), "--out", str(out),
                 *extra]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not out.exists()


def test_missing_checkpoint_exits_2(tiny_dataset, tmp_path, capsys):
    args = ["--replay", str(tiny_dataset), "--out", str(tmp_path / "f.parquet")]
    assert main(["stream", "--checkpoint", str(tmp_path / "nope.ckpt"), *args]) == 2
    assert "checkpoint not found" in capsys.readouterr().err

"""Real data end to end: los-loop ingested from ../shared/data, one short epoch with configs/los_loop.yaml."""

import json
from pathlib import Path

import pytest

from social_xlstm.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "los_loop.yaml"


@pytest.mark.slow
@pytest.mark.realdata
def test_los_loop_ingest_fit_test(shared_data, tmp_path):
    data = tmp_path / "los-loop"
    assert (
        main(
            [
                "ingest",
                "los-loop",
                str(shared_data / "los-loop"),
                "--locations",
                str(shared_data / "dcrnn-sensor-graphs" / "graph_sensor_locations.csv"),
                "--out",
                str(data),
            ]
        )
        == 0
    )
    assert main(["validate", str(data)]) == 0
    common = [
        "--config",
        str(CONFIG),
        "--data.data_dir",
        str(data),
        "--trainer.default_root_dir",
        str(tmp_path / "run"),
        "--model.d_model",
        "16",
        "--model.encoder.layers",
        "1",
    ]
    assert main(["fit", *common, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3"]) == 0
    ckpt = next((tmp_path / "run").glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert main(["test", *common, "--ckpt_path", str(ckpt)]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    steps = metrics["models"]["social_xlstm"]["speed"]["steps"]
    assert [s["minutes"] for s in steps][2::3] == [15, 30, 45, 60]
    # T-GCN split: the last 20% of 2016 steps holds 392 windows whose 12 targets fit inside it
    assert metrics["test_windows"] == 392
    ha = metrics["models"]["historical_average"]["speed"]["average"]["mae"]
    assert 1.0 < ha < 20.0  # mph; a sane number, not NaN/None

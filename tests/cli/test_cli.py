"""The command line: help of every subcommand, configs load, exit codes, a 1-epoch fit/test/predict."""

import json
from pathlib import Path

import pandas as pd
import pytest

from social_xlstm.cli import main
from social_xlstm.data.importers import IMPORTERS

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"
# every training config; variants.yaml is the variant study's list of overrides (tests/test_variants.py), not a config
REPO_CONFIGS = sorted(p for p in CONFIGS_DIR.glob("*.yaml") if p.name != "variants.yaml")
DEMO_CONFIG = CONFIGS_DIR / "demo.yaml"


@pytest.mark.parametrize(
    "command", ["synth", "ingest", "validate", "plot", "demo", "fit", "test", "predict", "evaluate"]
)
def test_help_of_every_subcommand(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage" in capsys.readouterr().out.lower()


@pytest.mark.parametrize("fmt", list(IMPORTERS))
def test_help_of_every_ingest_format(fmt, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["ingest", fmt, "--help"])
    assert exc.value.code == 0
    assert "--out" in capsys.readouterr().out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("synth", "ingest", "validate", "fit", "evaluate", "plot", "demo"):
        assert command in out


def test_lightning_validate_is_not_exposed(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2  # argparse: the dataset check needs its DIRECTORY


@pytest.mark.parametrize("config", REPO_CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(config, tiny_dataset, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--config", str(config), "--data.data_dir", str(tiny_dataset), "--print_config"])
    assert exc.value.code == 0
    assert "model:" in capsys.readouterr().out


def test_validate_exit_codes(tiny_dataset, tmp_path, capsys):
    assert main(["validate", str(tiny_dataset)]) == 0
    (tmp_path / "broken").mkdir()
    assert main(["validate", str(tmp_path / "broken")]) == 2


def test_user_error_exits_2_with_one_message(tmp_path, capsys):
    code = main(
        [
            "plot",
            "all",
            "--forecasts",
            str(tmp_path / "missing.parquet"),
            "--metrics",
            "m.json",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.parquet" in err and "Traceback" not in err


def test_bad_model_option_exits_2(tiny_dataset, capsys):
    code = main(
        [
            "fit",
            "--config",
            str(DEMO_CONFIG),
            "--data.data_dir",
            str(tiny_dataset),
            "--model.arch",
            "nope",
        ]
    )
    assert code == 2
    assert "arch='nope'" in capsys.readouterr().err


def test_social_layer_options_parse(tiny_dataset, capsys):
    fit = ["fit", "--config", str(DEMO_CONFIG), "--data.data_dir", str(tiny_dataset)]
    social = ["--model.social.placement", "between", "--model.social.edge_gate", "mlp"]
    with pytest.raises(SystemExit) as exc:
        main([*fit, *social, "--model.social.edge_features", "false", "--print_config"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "placement: between" in out and "edge_gate: mlp" in out and "edge_features: false" in out
    assert main([*fit, "--model.social.placement", "x"]) == 2
    assert "social.placement='x'; valid values: last, between" in capsys.readouterr().err


def test_unknown_option_exits_2(tiny_dataset):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "fit",
                "--config",
                str(DEMO_CONFIG),
                "--data.data_dir",
                str(tiny_dataset),
                "--model.no_such_option",
                "1",
            ]
        )
    assert exc.value.code == 2


@pytest.mark.slow
def test_fit_test_predict_evaluate_one_epoch(tiny_dataset, tmp_path):
    root = tmp_path / "run"
    common = [
        "--config",
        str(DEMO_CONFIG),
        "--data.data_dir",
        str(tiny_dataset),
        "--trainer.default_root_dir",
        str(root),
        "--data.targets",
        "[flow, speed]",
        "--model.d_model",
        "16",
        "--model.encoder.layers",
        "1",
    ]
    assert main(["fit", *common, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "4"]) == 0
    ckpt = next(root.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert main(["test", *common, "--ckpt_path", str(ckpt)]) == 0
    metrics = json.loads((root / "metrics.json").read_text())
    assert set(metrics["models"]) == {"social_xlstm", "persistence", "historical_average"}
    assert metrics["metrics"] == ["mae", "rmse", "mape"] and metrics["metric_units"] == {"mape": "%"}
    kinds = {"social_xlstm": "learned", "persistence": "baseline", "historical_average": "baseline"}
    assert metrics["model_kinds"] == kinds
    assert metrics["models"]["social_xlstm"]["speed"]["steps"][11]["minutes"] == 60
    assert main(["predict", *common, "--ckpt_path", str(ckpt)]) == 0
    forecasts = pd.read_parquet(root / "forecasts.parquet")
    assert set(forecasts["variable"].astype(str)) == {"flow", "speed"}
    assert forecasts["prediction"].notna().all()
    assert forecasts["horizon_step"].max() == 12
    (root / "metrics.json").unlink()
    assert main(["evaluate", *common, "--ckpt_path", str(ckpt)]) == 0
    again = json.loads((root / "metrics.json").read_text())
    # evaluate and test score the same windows with the same weights
    assert again["models"]["social_xlstm"]["flow"]["average"]["mae"] == pytest.approx(
        metrics["models"]["social_xlstm"]["flow"]["average"]["mae"], rel=1e-4
    )
    assert (
        main(
            [
                "plot",
                "all",
                "--forecasts",
                str(root / "forecasts.parquet"),
                "--metrics",
                str(root / "metrics.json"),
                "--stations",
                str(tiny_dataset / "stations.parquet"),
                "--out",
                str(root / "plots"),
            ]
        )
        == 0
    )
    assert len(list((root / "plots").glob("*.png"))) == 3


SEQUENCE_CONFIG = CONFIGS_DIR / "demo_sequence.yaml"


def test_sequence_chunk_longer_than_the_sequence_exits_2(tiny_dataset, capsys):
    args = ["--data.data_dir", str(tiny_dataset), "--data.sequence_length", "48", "--model.tbptt.chunk", "49"]
    assert main(["fit", "--config", str(SEQUENCE_CONFIG), *args]) == 2
    assert "model.tbptt.chunk (49) is longer than data.sequence_length (48)" in capsys.readouterr().err


@pytest.mark.slow
def test_sequence_mode_fit_test_predict_evaluate(tiny_dataset, tmp_path):
    root = tmp_path / "seq"
    common = [
        "--config",
        str(SEQUENCE_CONFIG),
        "--data.data_dir",
        str(tiny_dataset),
        "--trainer.default_root_dir",
        str(root),
        "--data.sequence_length",
        "48",
        "--model.tbptt.chunk",
        "16",
        "--model.d_model",
        "16",
        "--model.encoder.layers",
        "1",
    ]
    assert main(["fit", *common, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]) == 0
    ckpt = next(root.glob("lightning_logs/version_0/checkpoints/*.ckpt"))
    assert main(["test", *common, "--ckpt_path", str(ckpt)]) == 0
    metrics = json.loads((root / "metrics.json").read_text())
    assert main(["predict", *common, "--ckpt_path", str(ckpt)]) == 0
    forecasts = pd.read_parquet(root / "forecasts.parquet")
    # the windowed mode's test issue times: one per test window
    assert forecasts["issue_time"].nunique() == metrics["test_windows"]
    assert forecasts["prediction"].notna().all()
    (root / "metrics.json").unlink()
    assert main(["evaluate", *common, "--ckpt_path", str(ckpt)]) == 0
    again = json.loads((root / "metrics.json").read_text())
    assert again["models"]["social_xlstm"]["flow"]["average"]["mae"] == pytest.approx(
        metrics["models"]["social_xlstm"]["flow"]["average"]["mae"], rel=1e-4
    )

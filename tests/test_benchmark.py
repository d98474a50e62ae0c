"""The accuracy benchmark harness: files written, a stored run not retrained, tables equal to the JSON."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from social_xlstm.bench import run as benchmark
from social_xlstm.bench.report import render_markdown
from social_xlstm.bench.run import BenchmarkSettings, parse_overrides, run_benchmark
from social_xlstm.errors import UserError

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "bench_standard.yaml"
TGCN = CONFIG.with_name("bench_tgcn.yaml")
TINY = [
    "model.d_model=8",
    "model.encoder.layers=1",
    "model.encoder.heads=2",
    "model.social.heads=2",
    "model.embedding.vd_dim=4",
    "trainer.limit_train_batches=2",
    "data.max_neighbours=3",
]


def settings(tiny_dataset, tmp_path, **kwargs) -> BenchmarkSettings:
    return BenchmarkSettings(
        dataset=str(tiny_dataset),
        protocol=kwargs.pop("protocol", "standard"),
        config=kwargs.pop("config", str(CONFIG)),
        models=kwargs.pop("models", ["persistence", "slstm_only"]),
        seeds=kwargs.pop("seeds", [0]),
        epochs=kwargs.pop("epochs", 1),
        out=str(tmp_path / "results"),
        work=str(tmp_path / "work"),
        name="tiny",
        overrides=TINY,
        **kwargs,
    )


def table_rows(text: str, heading: str) -> dict[str, list[str]]:
    """model -> cells of the table under ``## heading``."""
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| model")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in r.strip("|").split("|")] for r in rows)}


@pytest.mark.slow
def test_writes_tables_resumes_and_tables_equal_json(tiny_dataset, tmp_path, monkeypatch):
    lines = []
    s = settings(tiny_dataset, tmp_path)
    summary = run_benchmark(s, log=lines.append)
    out = tmp_path / "results"
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.md", "tiny_flow.png", "tiny_speed.png"]
    assert [line.split(":")[0] for line in lines] == ["[1/2] persistence", "[2/2] slstm_only seed 0"]
    stored = json.loads((out / "tiny.json").read_text())
    assert stored == json.loads(json.dumps(summary))
    run = stored["models"]["slstm_only"]["runs"][0]
    assert run["epochs"] == 1 and run["fit_seconds"] > 0 and run["seed"] == 0
    # split 70/10/20 of 400 steps: the test part (320, 400) holds 80 - 12 + 1 = 69 windows of 12 targets
    assert stored["test_windows"] == 69

    text = (out / "tiny.md").read_text()
    for variable in ("flow", "speed"):
        for metric in ("mae", "rmse", "mape"):
            heading = f"{variable}: {metric.upper()}" + (" (%)" if metric == "mape" else "")
            rows = table_rows(text, heading)
            assert set(rows) == {"persistence", "slstm_only"}
            for model, cells in rows.items():
                stats = stored["models"][model]["variables"][variable][metric]
                assert cells[:5] == [f"{stats[p]['mean']:.2f}" for p in ("15", "30", "45", "60", "avg")]
    # the 15-minute column is step 3 of the run's own report
    steps = run["report"]["speed"]["steps"]
    assert stored["models"]["slstm_only"]["variables"]["speed"]["mae"]["15"]["mean"] == steps[2]["mae"]

    # resume: nothing is trained or scored again
    def refuse(*args, **kwargs):
        raise AssertionError("a stored run was recomputed")

    monkeypatch.setattr(benchmark, "train_and_test", refuse)
    monkeypatch.setattr(benchmark, "score_baselines", refuse)
    lines.clear()
    again = run_benchmark(s, log=lines.append)
    assert all("stored, not retrained" in line for line in lines) and len(lines) == 2
    assert again["models"] == summary["models"]


def record(seed, mae, model="lstm"):
    """A run record as train_and_test returns it, with the same MAE at every step."""
    steps = [{"step": h, "minutes": 5.0 * h, "mae": mae, "rmse": mae, "mape": None, "count": 1} for h in range(1, 13)]
    report = {"speed": {"steps": steps, "average": {"mae": mae, "rmse": mae, "mape": None}}}
    return {
        "model": model,
        "seed": seed,
        "fit_seconds": 10.0 * ((seed or 0) + 1),
        "epochs": 2 if seed is not None else 0,
        "parameters": 5,
        "test_windows": 7,
        "report": report,
    }


def test_mean_and_spread_over_seeds_in_table():
    s = BenchmarkSettings.__new__(BenchmarkSettings)
    s.name, s.dataset, s.protocol, s.config, s.epochs, s.seeds, s.overrides = "x", "d", "tgcn", "c", 2, [0, 1], []
    s.seeds_for, s.protocol_spec = {}, benchmark.Protocol.from_config("tgcn", TGCN)
    s.patience = s.max_minutes = None
    summary = benchmark.summarise(s, {"lstm": [record(0, 3.0), record(1, 4.0)]})
    mae = summary["models"]["lstm"]["variables"]["speed"]["mae"]["60"]
    assert mae == {"mean": 3.5, "std": pytest.approx(0.707107), "n": 2}
    row = table_rows(render_markdown(summary), "speed: MAE")["lstm"]
    assert row == ["3.50 ± 0.71"] * 5 + ["15 ± 7", "2/2"]
    assert table_rows(render_markdown(summary), "speed: MAPE (%)")["lstm"][0] == "-"


def test_seeds_for_trains_the_models_named_with_their_own_seeds(tiny_dataset, tmp_path, monkeypatch):
    trained = []

    def fake_train(settings, model, seed, run_dir, resume=False):
        trained.append((model, seed))
        return record(seed, 3.0 + seed, model)

    monkeypatch.setattr(benchmark, "train_and_test", fake_train)
    monkeypatch.setattr(benchmark, "score_baselines", lambda s, names, d: [record(None, 5.0, n) for n in names])
    monkeypatch.setattr(benchmark, "write_outputs", lambda summary, out: None)
    s = settings(
        tiny_dataset,
        tmp_path,
        models=["persistence", "lstm", "slstm_only"],
        seeds=[0, 1, 2],
        seeds_for=benchmark.parse_seeds_for(["slstm_only=2"]),
    )
    summary = run_benchmark(s, log=lambda line: None)
    assert trained == [("lstm", 0), ("lstm", 1), ("lstm", 2), ("slstm_only", 2)]
    assert summary["seeds_for"] == {"slstm_only": [2]}
    assert summary["models"]["slstm_only"]["variables"]["speed"]["mae"]["60"] == {"mean": 5.0, "std": None, "n": 1}
    assert summary["models"]["lstm"]["variables"]["speed"]["mae"]["60"]["n"] == 3
    assert "seeds [0, 1, 2] (slstm_only: [2])" in render_markdown(summary)


def test_seeds_for_bad_input_names_what(tiny_dataset, tmp_path):
    assert benchmark.parse_seeds_for(["dcrnn=0", "graph_wavenet=1,2"]) == {"dcrnn": [0], "graph_wavenet": [1, 2]}
    for bad in ("dcrnn", "=0", "dcrnn=", "dcrnn=a", "dcrnn=0,,1"):
        with pytest.raises(UserError, match=re.escape(f"--seeds-for {bad!r}: expected MODEL=SEED")):
            benchmark.parse_seeds_for([bad])
    with pytest.raises(UserError, match="--seeds-for names dcrnn twice"):
        benchmark.parse_seeds_for(["dcrnn=0", "dcrnn=1"])
    with pytest.raises(UserError, match="--seeds-for gru: not a learned model of --models"):
        settings(tiny_dataset, tmp_path, seeds_for={"gru": [0]})
    with pytest.raises(UserError, match="--seeds-for persistence: not a learned model"):
        settings(tiny_dataset, tmp_path, seeds_for={"persistence": [0]})
    with pytest.raises(UserError, match=re.escape("--seeds-for slstm_only: seeds must be distinct")):
        settings(tiny_dataset, tmp_path, seeds_for={"slstm_only": [1, 1]})


def test_bad_input_names_what(tiny_dataset, tmp_path):
    with pytest.raises(UserError, match="nope.yaml: config not found"):
        settings(tiny_dataset, tmp_path, config=str(tmp_path / "nope.yaml"))
    with pytest.raises(UserError, match=re.escape("unknown model(s) ['gru']")):
        settings(tiny_dataset, tmp_path, models=["gru"])
    with pytest.raises(UserError, match="dataset directory not found"):
        BenchmarkSettings(dataset=str(tmp_path / "none"), protocol="tgcn", config=str(CONFIG), models=["lstm"])
    with pytest.raises(UserError, match="KEY.PATH=VALUE"):
        parse_overrides(["model.d_model"])
    assert parse_overrides(["model.encoder.layers=1", "data.split=[0.5, 0.2, 0.3]"]) == {
        "model": {"encoder": {"layers": 1}},
        "data": {"split": [0.5, 0.2, 0.3]},
    }


def test_the_protocol_is_its_config(tmp_path):
    # the bench YAML is the one place the protocol's numbers are chosen; its leading comment describes it
    protocol = benchmark.Protocol.from_config("tgcn", TGCN)
    assert (protocol.window, protocol.horizon, protocol.split) == (12, 12, (0.72, 0.08, 0.2))
    assert protocol.description.startswith("The accuracy benchmark under the T-GCN protocol")
    partial = tmp_path / "bench_x.yaml"
    partial.write_text("# x\ndata:\n  window: 12\n  horizon: 6\n")
    with pytest.raises(UserError, match=re.escape("bench_x.yaml: a bench config states its protocol; data.split")):
        benchmark.Protocol.from_config("x", partial)


def test_bench_accuracy_exits_2_on_user_error(tmp_path, capsys):
    from social_xlstm.cli import main

    assert main(["bench", "accuracy", "--dataset", str(tmp_path / "missing"), "--protocol", "tgcn"]) == 2
    assert "social-xlstm: error: " in capsys.readouterr().err


def test_the_script_is_a_shim_over_bench_accuracy(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_accuracy.py"
    run = subprocess.run(
        [sys.executable, str(script), "--dataset", str(tmp_path / "missing"), "--protocol", "tgcn"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.returncode == 2 and "dataset directory not found" in run.stderr


def test_trains_to_convergence_by_patience_and_says_so(tiny_dataset, tmp_path):
    # lr 1e-12 is below float32 resolution of the weights: val MAE never improves, patience 1 stops at 2 of 6
    s = settings(tiny_dataset, tmp_path, models=["slstm_only"], epochs=6, patience=1)
    s.overrides = [*s.overrides, "model.optim.lr=1e-12"]
    summary = run_benchmark(s, log=lambda line: None)
    run = summary["models"]["slstm_only"]["runs"][0]
    assert run["stopped_by"] == "patience" and run["epochs"] == 2
    assert len(run["val_mae"]) == 2 and run["val_mae"][0] == run["val_mae"][1] and run["best_epoch"] == 0
    text = (tmp_path / "results" / "tiny.md").read_text()
    assert "trained to convergence: stopped when val MAE had not improved for 1 epochs" in text
    assert table_rows(text, "flow: MAE")["slstm_only"][-1] == "2"
    # a cap that stops a run before it converges is marked
    capped = settings(tiny_dataset, tmp_path / "capped", models=["slstm_only"], epochs=1, patience=3)
    run = run_benchmark(capped, log=lambda line: None)["models"]["slstm_only"]["runs"][0]
    assert run["stopped_by"] == "max_epochs"
    assert table_rows((tmp_path / "capped" / "results" / "tiny.md").read_text(), "flow: MAE")["slstm_only"][-1] == "1*"


def test_a_run_cut_off_after_its_checkpoint_resumes(tiny_dataset, tmp_path, monkeypatch):
    s = settings(tiny_dataset, tmp_path, models=["slstm_only"], epochs=1)
    real_test = benchmark.train_and_test

    def cut_off(*args, **kwargs):  # the fit finishes and checkpoints, then the machine goes away
        real_test(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(benchmark, "train_and_test", cut_off)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(s, log=lambda line: None)
    monkeypatch.setattr(benchmark, "train_and_test", real_test)
    lines = []
    run = run_benchmark(s, log=lines.append)["models"]["slstm_only"]["runs"][0]
    assert run["resumed"] and run["epochs"] == 1 and "resumed, done" in lines[0]


def test_the_wall_clock_cap_is_lightnings_max_time(tiny_dataset, tmp_path):
    s = settings(tiny_dataset, tmp_path, max_minutes=90.5, patience=2)
    config = benchmark.experiment_config(s, "slstm_only", 0, tmp_path / "run")
    assert config["trainer"]["max_time"] == "00:01:30:30"
    stop = config["trainer"]["callbacks"][-1]
    assert stop["class_path"].endswith("EarlyStopping") and stop["init_args"]["patience"] == 2
    assert len(config["trainer"]["callbacks"]) == 2  # the config's own checkpoint callback kept

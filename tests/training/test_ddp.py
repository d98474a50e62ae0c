"""DDP on CPU (gloo, 2 ranks) through the real CLI: fit under torchrun, test and predict under Lightning's launcher,
and scripts/slurm_fit.sbatch under a stand-in srun.

Each rank scores its own share of the windows, none twice; the sums are added across ranks, so the metrics,
the baselines and the forecasts equal a single process's on the same checkpoint. Rank 0 writes the files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from social_xlstm.data.datamodule import TrafficDataModule
from social_xlstm.data.shards import shard_range
from social_xlstm.errors import DataError
from social_xlstm.experiment import Experiment, load_config
from social_xlstm.forecast.evaluate import MetricsWriter

H, N, O = 2, 5, 2  # horizon, VDs of the tiny dataset, targets
CONFIG = {
    "seed_everything": 0,
    "trainer": {
        "max_epochs": 1,
        "accelerator": "cpu",
        "devices": 1,
        "limit_train_batches": 3,
        "num_sanity_val_steps": 0,
        "enable_model_summary": False,
        "enable_progress_bar": False,
        "logger": False,
        "callbacks": [
            {
                "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                "init_args": {"monitor": "val_mae", "mode": "min", "save_top_k": 1, "filename": "best"},
            }
        ],
    },
    "model": {
        "d_model": 8,
        "dropout": 0.0,
        "embedding": {"vd_dim": 4},
        "encoder": {"layers": 1, "heads": 2},
        "social": {"heads": 2},
    },
    # 39 validation and 79 test windows in batches of 13: odd, so padding would repeat one (and the ranks
    # get 40 and 39 test windows, in uneven last batches).
    "data": {"targets": ["flow", "speed"], "window": 6, "horizon": H, "batch_size": 16, "eval_batch_size": 13},
}
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.accelerator", "cpu"]


def _run(args: list[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_PORT", "MASTER_ADDR", "RANK", "WORLD_SIZE")}
    env = {k: v for k, v in env.items() if not k.startswith("SLURM_")}
    env["OMP_NUM_THREADS"] = "1"  # two ranks on a small machine: one thread each
    env.update(extra_env or {})
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _torchrun() -> list[str]:
    script = Path(sys.executable).parent / "torchrun"
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def runs(tiny_dataset, tmp_path_factory):
    """The DDP runs (subprocesses) and a single-process reference on the same checkpoint (in this process)."""
    root = tmp_path_factory.mktemp("ddp")
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, "data": {**CONFIG["data"], "data_dir": str(tiny_dataset)}}))
    cli = [sys.executable, "-m", "social_xlstm"]
    common = ["--config", str(config), *DDP]
    fit_out = _run(
        [*_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "social_xlstm", "fit", *common]
        + ["--trainer.default_root_dir", str(root / "fit")],
        root,
    )
    ckpt = root / "fit" / "checkpoints" / "best.ckpt"
    out = {"fit": fit_out}
    for stage in ("test", "predict"):
        out[stage] = _run(
            [*cli, stage, *common, "--trainer.default_root_dir", str(root / "ddp"), "--ckpt_path", str(ckpt)], root
        )
    single = root / "single"
    exp = Experiment(
        load_config(
            config,
            {
                "trainer": {"default_root_dir": str(single)},
                "metrics": {"output": str(single / "metrics.json")},
                "forecasts": {"output": str(single / "forecasts.parquet")},
            },
        )
    )
    val = exp.trainer.validate(exp.model, datamodule=exp.datamodule, ckpt_path=str(ckpt), verbose=False)[0]
    exp.test(str(ckpt))
    exp.predict(str(ckpt))
    return SimpleNamespace(root=root, ckpt=ckpt, out=out, ddp=root / "ddp", single=single, val=val, exp=exp)


def _numbers(tree, path=""):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _numbers(value, f"{path}/{key}")
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _numbers(value, f"{path}[{i}]")
    else:
        yield path, tree


def _assert_same_metrics(got: dict, expected: dict) -> None:
    """Every number of two metrics.json files equal to 1e-6, every string (metric list, kinds) identical."""
    a, b = dict(_numbers(got)), dict(_numbers(expected))
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, str):
            assert value == b[key], key
        else:
            assert value == pytest.approx(b[key], rel=1e-6, abs=1e-6), key


@pytest.mark.slow
def test_fit_under_torchrun_checkpoints_on_the_metric_of_all_validation_windows(runs):
    assert sorted(p.name for p in runs.ckpt.parent.glob("*.ckpt") if p.name != "last.ckpt") == ["best.ckpt"]
    state = torch.load(runs.ckpt, map_location="cpu", weights_only=False)
    (callback,) = [v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint")]
    # val_mae the 2 ranks logged (summed sums) == one process validating the same weights on every window
    assert float(callback["best_model_score"]) == pytest.approx(runs.val["val_mae"], rel=1e-5)


@pytest.mark.slow
def test_ddp_test_metrics_and_baselines_equal_one_process(runs):
    ddp = json.loads((runs.ddp / "metrics.json").read_text())
    single = json.loads((runs.single / "metrics.json").read_text())
    assert ddp["test_windows"] == single["test_windows"] == len(runs.exp.datamodule.datasets["test"])
    assert list(ddp["models"]) == list(single["models"]) == ["social_xlstm", "persistence", "historical_average"]
    _assert_same_metrics(ddp, single)
    assert runs.out["test"].count("metrics: ") == 1  # written by rank 0 only
    assert sorted(p.name for p in runs.ddp.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_ddp_forecasts_complete_in_order_and_equal_one_process(runs):
    ddp = pq.read_table(runs.ddp / "forecasts.parquet")
    single = pq.read_table(runs.single / "forecasts.parquet")
    assert ddp.schema.equals(single.schema)
    windows = len(runs.exp.datamodule.datasets["test"])
    assert ddp.num_rows == single.num_rows == windows * H * N * O
    issue = ddp.column("issue_time").to_numpy()
    blocks = issue.reshape(windows, H * N * O)
    assert (blocks == blocks[:, :1]).all() and (np.diff(blocks[:, 0]) > np.timedelta64(0)).all()  # each once, sorted
    for name in ("issue_time", "target_time", "horizon_step", "vd_id", "variable", "actual"):
        assert ddp.column(name).equals(single.column(name)), name
    # batches of other sizes: float32 kernels may round differently
    np.testing.assert_allclose(ddp.column("prediction").to_numpy(), single.column("prediction").to_numpy(), rtol=1e-5)
    assert runs.out["predict"].count("forecasts: ") == 1
    assert not (runs.ddp / ".forecasts.parquet.parts").exists()


def test_shard_ranges_are_contiguous_blocks_covering_every_index_once():
    for size, ranks in ((10, 3), (7, 7), (79, 2), (5, 4)):
        blocks = [shard_range(size, ranks, r) for r in range(ranks)]
        assert [i for b in blocks for i in b] == list(range(size))
        assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    assert list(shard_range(10, 3, 0)) == [0, 1, 2, 3] and list(shard_range(10, 3, 2)) == [7, 8, 9]


def test_eval_loaders_split_windows_across_ranks_without_repeats(tiny_dataset):
    dm = TrafficDataModule(str(tiny_dataset), window=6, horizon=H, batch_size=16, eval_batch_size=13)
    ranks = 4
    for loader in ("val_dataloader", "test_dataloader"):
        every = [t for batch in getattr(dm, loader)() for t in batch["t0"].tolist()]
        assert len(every) % ranks  # an uneven split: Lightning's padding would repeat windows
        seen = []
        for rank in range(ranks):
            dm.trainer = SimpleNamespace(world_size=ranks, global_rank=rank)
            seen += [t for batch in getattr(dm, loader)() for t in batch["t0"].tolist()]
        dm.trainer = None
        assert seen == every  # rank 0's block, then rank 1's, ...: the one-process order
    dm.trainer = SimpleNamespace(world_size=len(every) + 1, global_rank=0)
    with pytest.raises(DataError, match="evaluation windows for"):
        dm.test_dataloader()
    dm.trainer = None


def test_metrics_written_by_rank_zero_only(tmp_path, monkeypatch):
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    writer = MetricsWriter(output=str(tmp_path / "m.json"))
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    writer.write({"x": 1}, tmp_path)
    assert writer.metrics == {"x": 1} and not list(tmp_path.iterdir())
    monkeypatch.setattr(rank_zero_only, "rank", 0)
    writer.write({"x": 1}, tmp_path)
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1}


FAKE_SRUN = """#!{python}
# Stand-in for SLURM's srun on one node: SLURM_NTASKS copies of the command with the variables srun sets.
import os, socket, subprocess, sys
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
tasks = []
for rank in range(int(os.environ["SLURM_NTASKS"])):
    env = {{**os.environ, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank), "SLURM_NODEID": "0"}}
    tasks.append(subprocess.Popen(sys.argv[1:], env={{**env, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}}))
sys.exit(max(task.wait() for task in tasks))
"""


@pytest.mark.slow
def test_slurm_script_under_a_two_task_srun_gives_the_torchrun_results(runs, tiny_dataset):
    srun = runs.root / "srun"
    srun.write_text(FAKE_SRUN.format(python=sys.executable))
    srun.chmod(0o755)
    out = runs.root / "slurm"
    env = {
        "SRUN": str(srun),
        "DATA": str(tiny_dataset),
        "OUT": str(out),
        "CONFIG": str(runs.root / "tiny.yaml"),
        "EXTRA": "--trainer.accelerator cpu",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": "4242",
        "SLURM_JOB_NAME": "social-xlstm",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NTASKS": "2",
        "SLURM_NTASKS_PER_NODE": "2",
        "SLURM_NODELIST": "127.0.0.1",
    }
    log = _run(["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "slurm_fit.sbatch")], runs.root, env)
    assert "best checkpoint: " in log
    # same seed, same 2-rank split: the same training as under torchrun, so the same scores and forecasts
    slurm, ddp = (json.loads((d / "metrics.json").read_text()) for d in (out, runs.ddp))
    _assert_same_metrics(slurm, ddp)
    forecasts = pq.read_table(out / "forecasts.parquet")
    assert forecasts.drop(["prediction"]).equals(pq.read_table(runs.ddp / "forecasts.parquet").drop(["prediction"]))

"""Malformed input, case by case: exit status 2, one message naming what is wrong, no traceback, no output.

Every case runs through ``social_xlstm.cli.main`` as the console script does. One tiny checkpoint, trained
for two steps, is shared by the checkpoint cases. The last test checks that what a run writes (dataset,
checkpoints, metrics, forecasts, plots) gets the user's umask, not tempfile's private 0600 / 0700.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import random
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch

from social_xlstm.cli import main

REPO = Path(__file__).resolve().parents[2]
UMASK = 0o027  # not the common 022, so a match cannot be a coincidence
UNITS = {"flow": "veh/5min", "speed": "km/h"}  # the tiny dataset's variables (tests/conftest.py)


def tiny_options(dataset: Path, root: Path) -> list[str]:
    return [
        "--config",
        str(REPO / "configs" / "demo.yaml"),
        "--data.data_dir",
        str(dataset),
        "--trainer.default_root_dir",
        str(root),
        "--trainer.enable_progress_bar",
        "false",
        "--model.d_model",
        "8",
        "--model.encoder.layers",
        "1",
        "--data.window",
        "6",
        "--data.horizon",
        "3",
        "--forecasts.output",
        str(root / "forecasts.parquet"),
        "--metrics.output",
        str(root / "metrics.json"),
    ]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    # (tests/conftest.py points Lightning's log handlers at this test's stderr)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse / jsonargparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tiny_dataset, tmp_path_factory):
    """A run of two optimiser steps with its checkpoints, metrics.json and forecasts.parquet, under UMASK."""
    root = tmp_path_factory.mktemp("trained") / "run"
    previous = os.umask(UMASK)
    try:
        fit = [
            "fit",
            *tiny_options(tiny_dataset, root),
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
        ]
        assert main(fit) == 0
        ckpt = root / "checkpoints" / "last.ckpt"
        assert main(["test", *tiny_options(tiny_dataset, root), "--ckpt_path", str(ckpt)]) == 0
        assert main(["predict", *tiny_options(tiny_dataset, root), "--ckpt_path", str(ckpt)]) == 0
    finally:
        os.umask(previous)
    return root


class Ctx:
    """Paths a case builds its input from; ``out`` is the output that must not appear."""

    def __init__(self, dataset: Path, tmp: Path, trained: Path | None):
        self.dataset, self.tmp, self.trained = dataset, tmp, trained
        self.out = tmp / "out"

    def fit(self, *extra: str) -> list[str]:
        return ["fit", *tiny_options(self.dataset, self.out), *extra]

    def lightning(self, command: str, *extra: str) -> list[str]:
        return [command, *tiny_options(self.dataset, self.out), *extra]

    @property
    def ckpt(self) -> Path:
        return self.trained / "checkpoints" / "last.ckpt"

    def bad_ckpt(self, name: str, data: bytes) -> str:
        path = self.tmp / name
        path.write_bytes(data)
        return str(path)

    def broken_dataset(self, change: Callable[[Path], None]) -> Path:
        copy = self.tmp / "broken"
        shutil.copytree(self.dataset, copy)
        change(copy)
        return copy

    def meta(self, **fields) -> Path:
        def edit(d: Path) -> None:
            meta = json.loads((d / "dataset.json").read_text())
            (d / "dataset.json").write_text(json.dumps({**meta, **fields}))

        return self.broken_dataset(edit)

    def observations(self, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
        def edit(d: Path) -> None:
            change(pd.read_parquet(d / "observations.parquet")).to_parquet(d / "observations.parquet")

        return self.broken_dataset(edit)

    def long_source(self) -> tuple[Path, Path]:
        (self.tmp / "long.csv").write_text("timestamp,vd_id,flow\n2024-01-01T00:00Z,A,1\n2024-01-01T00:05Z,A,2\n")
        (self.tmp / "st.csv").write_text("vd_id,lat,lon\nA,25,121\n")
        return self.tmp / "long.csv", self.tmp / "st.csv"

    def ingest_long(self, *extra: str) -> list[str]:
        source, stations = self.long_source()
        return [
            "ingest",
            "long",
            str(source),
            "--stations",
            str(stations),
            "--out",
            str(self.out),
            "--time-col",
            "timestamp",
            "--id-col",
            "vd_id",
            "--value-cols",
            "flow",
            *extra,
        ]


    def joined_ids_source(self) -> list[str]:
        """Rows ("A-B", "1") and ("A", "B-1"): both join to "A-B-1" under --id-col road,km."""
        (self.tmp / "joined.csv").write_text(
            "timestamp,road,km,flow\n2024-01-01T00:00Z,A-B,1,80\n2024-01-01T00:00Z,A,B-1,10\n"
            "2024-01-01T00:05Z,A-B,1,81\n2024-01-01T00:05Z,A,B-1,11\n"
        )
        return ["ingest", "long", str(self.tmp / "joined.csv"), "--out", str(self.out), "--time-col", "timestamp",
                "--id-col", "road,km", "--value-cols", "flow"]  # fmt: skip

    def wide(self, variable: str) -> list[str]:
        (self.tmp / "wide.csv").write_text("timestamp,A,B\n2024-01-01T00:00Z,1,2\n2024-01-01T00:05Z,3,4\n")
        return ["ingest", "wide", str(self.tmp / "wide.csv"), "--out", str(self.out), "--variable", variable]

    def wide_with_edges(self, edges: str, *extra: str) -> list[str]:
        """``ingest wide`` of two VDs A, B with a blank-separated ``--edges`` file holding ``edges``."""
        (self.tmp / "adj.txt").write_text(edges)
        return [*self.wide("speed"), "--edges", str(self.tmp / "adj.txt"), *extra]

    def deep_gzip(self, levels: int = 1200) -> str:
        """A Taiwan VD file gzipped ``levels`` times over (the recursion a crafted file asks for)."""
        data = b'{"VDLives": []}'
        for _ in range(levels):
            data = gzip.compress(data, compresslevel=1)
        return self.bad_ckpt("VDLive.json.gz", data)

    def nested_zip(self, levels: int = 40) -> str:
        data = b'{"VDLives": []}'
        for k in range(levels):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(f"level{k}.zip" if k else "VDLive.json", data)
            data = buffer.getvalue()
        return self.bad_ckpt("nested.zip", data)


    def folder_with(self, *names: str) -> Path:
        """A folder the tool did not write, holding ``names`` (a user's files)."""
        folder = self.tmp / "mine"
        folder.mkdir(exist_ok=True)
        for name in names:
            (folder / name).write_text("a user's file\n")
        return folder


def _truncate(path: Path, keep: int = 200) -> None:
    path.write_bytes(path.read_bytes()[:keep])


class _Pickled:
    """Any class: weights_only=True refuses to rebuild it, so such a file cannot run code when read."""


# case id -> (argv built from a Ctx, text the message must contain)
CASES: dict[str, tuple[Callable[[Ctx], list[str]], str]] = {
    # options
    "negative lr": (lambda c: c.fit("--model.optim.lr", "-1"), "optim.lr must be a positive number"),
    "nan lr": (lambda c: c.fit("--model.optim.lr", "nan"), "optim.lr"),
    "negative weight decay": (lambda c: c.fit("--model.optim.weight_decay", "-0.1"), "optim.weight_decay"),
    "beta of 1.5": (lambda c: c.fit("--model.optim.betas", "[0.9, 1.5]"), "optim.betas"),
    "warm-up of 1": (lambda c: c.fit("--model.optim.warmup_fraction", "1.0"), "optim.warmup_fraction"),
    "dropout 1.5": (lambda c: c.fit("--model.dropout", "1.5"), "dropout=1.5"),
    "d_model 0": (lambda c: c.fit("--model.d_model", "0"), "d_model must be >= 1"),
    "unknown arch": (lambda c: c.fit("--model.arch", "nope"), "arch='nope'"),
    "unknown loss": (lambda c: c.fit("--model.loss", "nope"), "unknown loss 'nope'"),
    "batch size 0": (lambda c: c.fit("--data.batch_size", "0"), "batch_size (0)"),
    "unknown target": (lambda c: c.fit("--data.targets", "[nope]"), "nope"),
    "unknown option": (lambda c: c.fit("--model.no_such_option", "1"), "no_such_option"),
    "max_epochs -1": (lambda c: c.fit("--trainer.max_epochs", "-1"), "trainer.max_epochs=-1"),
    "max_epochs -5": (lambda c: c.fit("--trainer.max_epochs", "-5"), "max_epochs"),
    "negative step checkpoints": (
        lambda c: c.fit("--last_checkpoint.every_n_train_steps", "-1"),
        "every_n_train_steps must be >= 0",
    ),
    "edge positions of no base": (
        lambda c: c.wide_with_edges("1 1 1.0\n"),
        "endpoints are positions 1 .. 1 among 2 VDs, which say neither 0- nor 1-based: give --edge-base",
    ),
    "edge position out of range": (
        lambda c: c.wide_with_edges("0 0 1\n0 2 0.5\n", "--edge-ids", "index"),
        "0-based positions 0 .. 2, but there are 2 VDs",
    ),
    "numpy array given as a wide table": (
        lambda c: ["ingest", "wide", c.bad_ckpt("speeds.csv", b"\x93NUMPY\x01\x00" + bytes(64)), "--out", str(c.out)],
        "speeds.csv: this file is NumPy, not a CSV table",
    ),
    "missing config": (lambda c: ["fit", "--config", str(c.tmp / "nope.yaml")], "nope.yaml"),
    "missing dataset": (lambda c: c.fit("--data.data_dir", str(c.tmp / "nowhere")), "nowhere"),
    # checkpoints
    "test without checkpoint": (lambda c: c.lightning("test"), "test needs --ckpt_path"),
    "predict without checkpoint": (lambda c: c.lightning("predict"), "predict needs --ckpt_path"),
    "missing checkpoint": (
        lambda c: c.lightning("test", "--ckpt_path", str(c.tmp / "missing.ckpt")),
        "missing.ckpt: checkpoint not found",
    ),
    "checkpoint is a directory": (
        lambda c: c.lightning("test", "--ckpt_path", str(c.tmp)),
        "checkpoint not found (a directory)",
    ),
    "garbage checkpoint (predict)": (
        lambda c: c.lightning("predict", "--ckpt_path", c.bad_ckpt("garbage.ckpt", b"not a checkpoint at all")),
        "garbage.ckpt: not a readable checkpoint",
    ),
    "garbage checkpoint (fit)": (
        lambda c: c.fit("--ckpt_path", c.bad_ckpt("garbage.ckpt", random.Random(0).randbytes(4096))),
        "garbage.ckpt: not a readable checkpoint",
    ),
    "truncated checkpoint (evaluate)": (
        lambda c: c.lightning("evaluate", "--ckpt_path", c.bad_ckpt("cut.ckpt", c.ckpt.read_bytes()[:5000])),
        "cut.ckpt: not a readable checkpoint",
    ),
    "truncated checkpoint (test)": (
        lambda c: c.lightning("test", "--ckpt_path", c.bad_ckpt("cut.ckpt", c.ckpt.read_bytes()[:-100])),
        "cut.ckpt: not a readable checkpoint",
    ),
    "checkpoint holding an object": (
        lambda c: c.lightning(
            "predict", "--ckpt_path", _saved(c.tmp / "obj.ckpt", {"state_dict": {}, "x": _Pickled()})
        ),
        "obj.ckpt: refused: the checkpoint holds Python objects other than tensors and plain values (the global",
    ),
    "bare pickle as a checkpoint": (
        lambda c: c.lightning("predict", "--ckpt_path", c.bad_ckpt("raw.ckpt", pickle.dumps({"x": _Pickled()}))),
        "raw.ckpt: not a readable checkpoint",
    ),
    "checkpoint without weights": (
        lambda c: c.lightning("test", "--ckpt_path", _saved(c.tmp / "plain.ckpt", {"epoch": 1})),
        "plain.ckpt: not a Lightning checkpoint (no state_dict)",
    ),
    # dataset files
    "dataset.json not JSON": (
        lambda c: c.fit("--data.data_dir", str(c.broken_dataset(lambda d: (d / "dataset.json").write_text("{")))),
        "dataset.json",
    ),
    "unknown time zone in dataset.json": (
        lambda c: c.fit("--data.data_dir", str(c.meta(timezone="Mars/Base"))),
        "Mars/Base",
    ),
    "bad freq in dataset.json": (lambda c: c.fit("--data.data_dir", str(c.meta(freq="7parsecs"))), "7parsecs"),
    "truncated observations": (
        lambda c: c.fit("--data.data_dir", str(c.broken_dataset(lambda d: _truncate(d / "observations.parquet")))),
        "observations.parquet",
    ),
    "stations file missing": (
        lambda c: c.fit("--data.data_dir", str(c.broken_dataset(lambda d: (d / "stations.parquet").unlink()))),
        "stations.parquet",
    ),
    # datasets that contradict themselves (social_xlstm/data/format/consistency.py)
    "freq finer than the data": (
        lambda c: c.fit("--data.data_dir", str(c.meta(freq="1min"))),
        "is finer than the data",
    ),
    "declared variable absent": (
        lambda c: c.fit("--data.data_dir", str(c.meta(variables={**UNITS, "occupancy": "%"}))),
        "['occupancy'] declared in dataset.json 'variables' are not columns",
    ),
    "negative flow": (
        lambda c: c.fit("--data.data_dir", str(c.observations(lambda o: o.assign(flow=-o["flow"])))),
        "'flow' is declared in 'veh/5min'",
    ),
    # a checkpoint on another dataset (social_xlstm/data/alignment.py)
    "new data: another unit": (
        lambda c: c.lightning(
            "predict", "--ckpt_path", str(c.ckpt), "--data.data_dir", str(c.meta(variables={**UNITS, "speed": "mph"}))
        ),
        "mph",
    ),
    # importer sources and options
    "ingest: unknown time zone": (lambda c: c.ingest_long("--tz", "Mars/Base"), "unknown time zone 'Mars/Base'"),
    "ingest: unknown column": (lambda c: c.ingest_long("--value-cols", "occupancy"), "occupancy"),
    "ingest: joined ids collide": (
        lambda c: c.joined_ids_source(),
        "join two different detectors into one VD id 'A-B-1': ('A-B', '1') and ('A', 'B-1')",
    ),
    "ingest: variable named like a key column": (lambda c: c.wide("timestamp"), "is a key column"),
    "ingest: empty variable name": (lambda c: c.wide(""), "variable name '' must be a non-empty name"),
    "ingest: vd_id as variable": (lambda c: c.wide("vd_id"), "variable name 'vd_id' is a key column"),
    "ingest: gzip 1,200 levels deep": (
        lambda c: ["ingest", "taiwan-vd", c.deep_gzip(), "--out", str(c.out)],
        "gzip or zip nested more than 8 levels deep",
    ),
    "ingest: zip 40 levels deep": (
        lambda c: ["ingest", "taiwan-vd", c.nested_zip(), "--out", str(c.out)],
        "nested more than 8 levels deep; not a published feed file",
    ),
    "ingest: --out is a file": (
        lambda c: [*c.wide("flow")[:3], "--out", c.bad_ckpt("thesis.txt", b"my thesis"), "--variable", "flow"],
        "is a file, not a directory",
    ),
    "ingest: --overwrite on a folder the tool did not write": (
        lambda c: [*c.wide("flow")[:3], "--out", str(c.folder_with("thesis.tex")), "--overwrite"],
        "--overwrite replaces only a directory this tool wrote",
    ),
    "ingest: --out is the source's folder": (
        lambda c: [*c.wide("flow")[:3], "--out", str(c.tmp), "--overwrite"],
        "the source",
    ),
    "ingest: padded variable name": (lambda c: c.wide(" flow"), "without surrounding spaces"),
    "stream: --out is a directory": (
        lambda c: ["stream", "--checkpoint", str(c.ckpt), "--replay", str(c.dataset), "--out",
                   str(c.folder_with())],  # fmt: skip
        "is a directory; name the file to write",
    ),
    "serve: --max-ahead not a duration": (
        lambda c: ["serve", "--checkpoint", str(c.ckpt), "--port", "0", "--max-ahead", "soon"],
        "--max-ahead 'soon' is not a duration",
    ),
    "serve: --max-jump 0": (
        lambda c: ["serve", "--checkpoint", str(c.ckpt), "--port", "0", "--max-jump", "0"],
        "--max-jump must be >= 1",
    ),
    "plot sources of a road-only model": (
        lambda c: ["plot", "sources", "--ckpt", str(c.ckpt), "--dataset", str(c.dataset), "--out", str(c.out)],
        "reads no learned sources",
    ),
    "plot sources without coordinates": (
        lambda c: ["plot", "sources", "--ckpt", str(c.ckpt), "--out", str(c.out)],
        "plot sources needs --stations FILE or --dataset DIR",
    ),
    "fit: learned sources with the target form": (
        lambda c: c.fit("--model.social.graph", "both", "--model.social.form", "target"),
        "needs social.form='source'",
    ),
    "fit: unknown social graph": (
        lambda c: c.fit("--model.social.graph", "nearby"),
        "social.graph='nearby'",
    ),
    "ingest: missing source": (
        lambda c: ["ingest", "long", str(c.tmp / "gone.csv"), "--out", str(c.out), "--time-col", "t", "--id-col", "v"],
        "gone.csv",
    ),
    "ingest: garbage HDF5": (
        lambda c: ["ingest", "metr-la", c.bad_ckpt("metr-la.h5", b"not hdf5"), "--out", str(c.out)],
        "metr-la.h5",
    ),
    # plots
    "plot: corrupt metrics.json": (
        lambda c: ["plot", "horizons", "--metrics", c.bad_ckpt("m.json", b'{"models": '), "--out", str(c.out)],
        "not valid JSON",
    ),
    "plot: truncated forecasts": (
        lambda c: [
            "plot",
            "forecast",
            "--forecasts",
            c.bad_ckpt("f.parquet", (c.trained / "forecasts.parquet").read_bytes()[:300]),
            "--out",
            str(c.out),
        ],
        "not a readable Parquet",
    ),
}


def _saved(path: Path, obj) -> str:
    torch.save(obj, path)
    return str(path)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_message_and_no_output(case, request, tiny_dataset, tmp_path, capsys):
    build, message = CASES[case]
    # Every case takes the trained run, so it is built before the first case captures stderr.
    ctx = Ctx(tiny_dataset, tmp_path, request.getfixturevalue("trained"))
    argv = build(ctx)
    code, _, err = run(argv, capsys)
    assert code == 2, (case, err[-2000:])
    assert message in err, (case, err[-2000:])
    assert "Traceback" not in err, (case, err[-2000:])
    assert err.count("error:") == 1, (case, err[-2000:])
    assert not ctx.out.exists(), (case, sorted(p.name for p in ctx.out.iterdir()))


def test_accelerator_gpu_without_a_gpu_exits_2(tiny_dataset, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: accelerator gpu is valid here")
    ctx = Ctx(tiny_dataset, tmp_path, None)
    code, _, err = run(ctx.fit("--trainer.accelerator", "gpu"), capsys)
    assert code == 2 and "trainer.accelerator=gpu but this machine has no usable CUDA GPU" in err
    assert "Traceback" not in err and not ctx.out.exists()


def test_every_listed_case_is_distinct():
    assert len(CASES) >= 30 and len({message for _, message in CASES.values()}) >= 25


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_get_the_users_umask(trained, tiny_dataset, tmp_path):
    previous = os.umask(UMASK)
    try:
        ctx = Ctx(tiny_dataset, tmp_path, trained)
        assert main(ctx.ingest_long()) == 0
        plot = tmp_path / "forecast.png"
        assert main(["plot", "forecast", "--forecasts", str(trained / "forecasts.parquet"), "--out", str(plot)]) == 0
    finally:
        os.umask(previous)
    files = [
        trained / "checkpoints" / "last.ckpt",
        *trained.glob("lightning_logs/version_*/checkpoints/best.ckpt"),
        trained / "metrics.json",
        trained / "forecasts.parquet",
        *ctx.out.iterdir(),
        plot,
    ]
    assert len(files) >= 7
    for path in files:
        assert _mode(path) == 0o666 & ~UMASK, f"{path}: {oct(_mode(path))}"
    for path in (ctx.out, trained / "checkpoints"):
        assert _mode(path) == 0o777 & ~UMASK, f"{path}: {oct(_mode(path))}"

"""Files from strangers run no code: every importer that reads a pickle or HDF5, and every command that
reads a checkpoint, refuses a payload with exit status 2 and one message, and the payload never runs.

Each payload, if unpickled, would create ``marker``; the test checks the file never appears.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from social_xlstm.cli import main

REPO = Path(__file__).resolve().parents[2]


class Payload:
    """What an attacker's pickle does: call ``os.system`` when it is unpickled."""

    def __init__(self, marker: Path):
        self.command = f"touch {marker}"

    def __reduce__(self):
        return os.system, (self.command,)


def _refused(argv: list[str], marker: Path, capsys, *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert not marker.exists(), "the payload ran"
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


def _metr_la_folder(src: Path, h5_frame: pd.DataFrame | None = None, adjacency: object | None = None) -> Path:
    src.mkdir()
    ids = ["773869", "767541", "767542"]
    index = pd.date_range("2012-03-01", periods=6, freq="5min")
    frame = h5_frame if h5_frame is not None else pd.DataFrame(np.ones((6, 3)), index=index, columns=ids)
    frame.to_hdf(src / "metr-la.h5", key="df")
    (src / "graph_sensor_locations.csv").write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.0,-118.0\n1,767541,34.01,-118.0\n2,767542,34.02,-118.0\n"
    )
    adj = np.eye(3, dtype=np.float32)
    triple = adjacency if adjacency is not None else [ids, {i: k for k, i in enumerate(ids)}, adj]
    (src / "adj_mx.pkl").write_bytes(pickle.dumps(triple, protocol=2))
    return src


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "payload-ran"


def test_wide_edges_pickle(tmp_path, marker, capsys):
    pytest.importorskip("tables")
    (tmp_path / "wide.csv").write_text("timestamp,s1,s2\n2024-01-01T00:00:00Z,1,2\n2024-01-01T00:05:00Z,2,3\n")
    (tmp_path / "st.csv").write_text("vd_id,lat,lon\ns1,25.0,121.5\ns2,25.01,121.5\n")
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Payload(marker)))
    out = tmp_path / "ds"
    argv = ["ingest", "wide", str(tmp_path / "wide.csv"), "--stations", str(tmp_path / "st.csv")]
    _refused([*argv, "--edges", str(tmp_path / "evil.pkl"), "--out", str(out)], marker, capsys, "posix.system")
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["metr-la", "pems-bay"])
def test_dcrnn_adjacency_pickle_with_the_payload_inside_a_valid_triple(tmp_path, marker, capsys, fmt):
    pytest.importorskip("tables")
    ids = ["773869", "767541", "767542"]
    src = _metr_la_folder(tmp_path / "src", adjacency=[ids, {i: k for k, i in enumerate(ids)}, Payload(marker)])
    _refused(["ingest", fmt, str(src), "--out", str(tmp_path / "ds")], marker, capsys, "adj_mx.pkl", "refused")
    assert not (tmp_path / "ds").exists()


def test_dcrnn_h5_with_an_object_cell(tmp_path, marker, capsys):
    pytest.importorskip("tables")
    index = pd.date_range("2012-03-01", periods=6, freq="5min")
    frame = pd.DataFrame(np.ones((6, 3)), index=index, columns=["773869", "767541", "767542"]).astype(object)
    frame.iloc[2, 1] = Payload(marker)
    src = _metr_la_folder(tmp_path / "src", h5_frame=frame)
    _refused(["ingest", "metr-la", str(src), "--out", str(tmp_path / "ds")], marker, capsys, "metr-la.h5", "pickle")


def test_dcrnn_h5_with_a_pickled_attribute(tmp_path, marker, capsys):
    tables = pytest.importorskip("tables")
    src = _metr_la_folder(tmp_path / "src")
    with tables.open_file(src / "metr-la.h5", "a") as handle:
        handle.get_node("/df/axis1")._v_attrs.freq = Payload(marker)  # pandas reads this attribute itself
    _refused(["ingest", "metr-la", str(src), "--out", str(tmp_path / "ds")], marker, capsys, "metr-la.h5", "pickle")


def test_largest_h5_with_a_pickled_attribute(tmp_path, marker, capsys):
    tables = pytest.importorskip("tables")
    src = tmp_path / "sd"
    src.mkdir()
    ids = [716944, 717045]
    index = pd.date_range("2019-01-01", periods=300, freq="5min")
    pd.DataFrame(np.ones((300, 2)), index=index, columns=ids).to_hdf(src / "sd_his_2019.h5", key="t", mode="w")
    with tables.open_file(src / "sd_his_2019.h5", "a") as handle:
        handle.get_node("/t")._v_attrs.note = Payload(marker)
    (src / "sd_meta.csv").write_text(
        "ID,Lat,Lng,District,County,Fwy,Lane,Type,Direction,ID2\n"
        "716944,33.98,-118.39,7,Los Angeles,I-405,4,Mainline,S,0\n"
        "717045,34.15,-118.38,7,Los Angeles,US-101,5,Mainline,E,1\n"
    )
    np.save(src / "sd_rn_adj.npy", np.eye(2, dtype=np.float32))
    _refused(["ingest", "largest", str(src), "--out", str(tmp_path / "ds")], marker, capsys, "sd_his_2019.h5")


def test_basicts_adjacency_pickle(tmp_path, marker, capsys):
    src = tmp_path / "METR-LA"
    src.mkdir()
    wall = pd.date_range("2012-03-01", periods=6, freq="5min")
    data = np.zeros((6, 3, 3), dtype=np.float32)
    data[:, :, 1] = (((wall - wall.normalize()) / pd.Timedelta(days=1)).to_numpy())[:, None]
    data[:, :, 2] = (wall.dayofweek.to_numpy() / 7)[:, None]
    data.tofile(src / "data.dat")
    desc = {"name": "METR-LA", "shape": [6, 3, 3], "frequency (minutes)": 5,
            "feature_description": ["traffic speed", "time of day", "day of week"]}  # fmt: skip
    (src / "desc.json").write_text(json.dumps(desc))
    (src / "adj_mx.pkl").write_bytes(pickle.dumps([["a", "b", "c"], {"a": 0}, Payload(marker)]))
    _refused(["ingest", "basicts", str(src), "--out", str(tmp_path / "ds")], marker, capsys, "adj_mx.pkl")


def _evil_checkpoint(tmp_path: Path, marker: Path) -> str:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload(marker), "data_info": {}}, path)
    return str(path)


@pytest.mark.parametrize("command", ["test", "predict", "evaluate"])
def test_lightning_commands_refuse_a_code_running_checkpoint(tiny_dataset, tmp_path, marker, capsys, command):
    config = ["--config", str(REPO / "configs" / "demo.yaml"), "--data.data_dir", str(tiny_dataset)]
    root = ["--trainer.default_root_dir", str(tmp_path / "run")]
    argv = [command, *config, *root, "--ckpt_path", _evil_checkpoint(tmp_path, marker)]
    err = _refused(argv, marker, capsys, "evil.ckpt", "refused")
    assert "weights_only=False" not in err and "weights_only` set to `False" not in err


def test_stream_refuses_a_code_running_checkpoint(tiny_dataset, tmp_path, marker, capsys):
    argv = ["stream", "--checkpoint", _evil_checkpoint(tmp_path, marker), "--replay", str(tiny_dataset),
            "--out", str(tmp_path / "f.parquet")]  # fmt: skip
    _refused(argv, marker, capsys, "evil.ckpt", "refused")
    assert not (tmp_path / "f.parquet").exists()


def test_serve_refuses_a_code_running_checkpoint(tmp_path, marker, capsys):
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    _refused(["serve", "--checkpoint", _evil_checkpoint(tmp_path, marker), "--port", "0"], marker, capsys, "refused")

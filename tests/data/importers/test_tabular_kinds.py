"""wide tables as published in HDF5 (a pandas HDFStore, ``--key``), and files of a kind a text importer
does not read refused naming the kind and what reads it."""

from __future__ import annotations

import gzip
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.importers import tabular
from social_xlstm.data.importers.common.files import read_csv
from social_xlstm.data.importers.common.kinds import file_kind
from social_xlstm.errors import DataError, UserError

from .conftest import no_output

IDS = [773869, 767541, 767542]
STATIONS = "vd_id,lat,lon\n773869,34.0,-118.0\n767541,34.01,-118.0\n767542,34.02,-118.0\n"


def _frame(scale: float = 1.0) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=12, freq="5min")  # naive, as DCRNN and LargeST write them
    values = np.arange(36, dtype=np.float64).reshape(12, 3) * scale
    values[3, 1] = np.nan  # a missing reading
    return pd.DataFrame(values, index=index, columns=IDS)


def _import(tmp_path, src, **keywords):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "st.csv").write_text(STATIONS)
    return tabular.import_wide(src, tmp_path / "ds", variable="speed", unit="mph", tz="UTC",
                               stations=tmp_path / "st.csv", **keywords)  # fmt: skip


def test_a_pandas_hdfstore_of_a_wide_frame_is_read_with_its_key(tmp_path):
    pytest.importorskip("tables")
    one = tmp_path / "speed.h5"
    _frame().to_hdf(one, key="df")
    dataset = load_dataset(_import(tmp_path, one))
    obs = pd.read_parquet(dataset.observation_files[0])
    assert sorted(obs["vd_id"].unique()) == sorted(map(str, IDS)) and len(obs) == 36
    assert obs["speed"].isna().sum() == 1  # the missing reading stays missing, never a number
    row = obs[(obs["vd_id"] == "767542") & (obs["timestamp"] == pd.Timestamp("2024-01-01 00:10", tz="UTC"))]
    assert row["speed"].item() == 8.0  # row 2, column 2 of arange(36).reshape(12, 3)

    two = tmp_path / "release.h5"
    _frame().to_hdf(two, key="speed")
    _frame(2.0).to_hdf(two, key="flow")
    with pytest.raises(DataError, match=r"holds 2 tables \(/flow, /speed\); choose one with --key"):
        _import(tmp_path / "a", two)
    with pytest.raises(DataError, match=r"no table 'occupancy' in the file; its tables: /flow, /speed"):
        _import(tmp_path / "b", two, key="occupancy")
    assert no_output(tmp_path / "a" / "ds") and no_output(tmp_path / "b" / "ds")
    flow = pd.read_parquet(load_dataset(_import(tmp_path / "c", two, key="flow")).observation_files[0])
    assert flow["speed"].max() == 70.0  # the flow table (values doubled) was the one read
    with pytest.raises(UserError, match=r"--key 'flow': only an HDF5 table has keys"):
        (tmp_path / "w.csv").write_text("timestamp,A\n2024-01-01T00:00Z,1\n")
        _import(tmp_path / "d", tmp_path / "w.csv", key="flow")


def _write_kind(path, kind):
    if kind == "HDF5":
        pytest.importorskip("tables")
        _frame().to_hdf(path, key="df")
    elif kind == "Parquet":
        _frame().to_parquet(path)
    elif kind == "NumPy":
        with open(path, "wb") as fh:  # np.save(name) would add .npy to the name
            np.save(fh, np.eye(3))
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("speed.csv", "timestamp,A\n")
    elif kind == "gzip":
        path.write_bytes(gzip.compress(b"timestamp,A\n"))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps([1, 2, 3]))


@pytest.mark.parametrize(
    "kind, hint",
    [
        ("HDF5", "read by `ingest wide FILE.h5`"),
        ("Parquet", "name it .parquet"),
        ("NumPy", "an (N, N) matrix is a graph (--edges)"),
        ("zip", "an archive: unpack it"),
        ("gzip", "an archive: unpack it"),
        ("pickle", "adjacency pickle"),
    ],
)
def test_a_binary_file_where_text_is_read_says_its_kind_and_what_reads_it(tmp_path, kind, hint):
    path = tmp_path / "data.csv"  # a misleading name: the kind comes from the first bytes
    _write_kind(path, kind)
    assert file_kind(path) == kind
    with pytest.raises(DataError, match=rf"data.csv: this file is {kind}, not a CSV table; .*{re.escape(hint)}"):
        read_csv(path)


def test_text_is_no_binary_kind(tmp_path):
    path = tmp_path / "speed.csv"
    path.write_text("timestamp,A\n2024-01-01T00:00Z,1\n")
    assert file_kind(path) is None

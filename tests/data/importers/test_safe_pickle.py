"""Pickles and HDF5 files are read as data only: a payload that would run code is refused and never runs."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers.common.safe_pickle import UnsafePickleError, check_hdf5, load_pickle, read_hdf

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data" / "dcrnn-sensor-graphs"


class Payload:
    """Unpickling this runs ``func(*args)``: what an attacker's file does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path):
    import builtins
    import subprocess

    return {
        "os.system": Payload(os.system, f"touch {marker}"),
        "subprocess.call": Payload(subprocess.call, ["touch", str(marker)]),
        "builtins.exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "builtins.open": Payload(builtins.open, str(marker), "w"),
    }


@pytest.mark.parametrize("name", ["os.system", "subprocess.call", "builtins.exec", "builtins.open"])
@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, name, protocol):
    marker = tmp_path / "ran"
    payload = _payloads(marker)[name]
    # inside a valid DCRNN triple, where a plain pickle.load would also have succeeded
    evil = tmp_path / "adj.pkl"
    evil.write_bytes(pickle.dumps([["a", "b"], {"a": 0, "b": 1}, payload], protocol=protocol))
    with pytest.raises(UnsafePickleError) as caught:
        load_pickle(evil)
    message = str(caught.value)
    assert str(evil) in message and "refused" in message
    assert name.split(".")[-1] in message or "posix.system" in message
    assert not marker.exists()


def test_plain_data_round_trips(tmp_path):
    data = [
        ["773869", "767541"],
        {"773869": 0, "767541": 1},
        np.arange(6, dtype=np.float32).reshape(2, 3),
        np.array(["x", None, 3], dtype=object),
        np.float64(2.5),
        {1, 2},
        frozenset({"a"}),
        b"\x00\xffbytes",
        (1, 2.0, None, True, complex(1, 2)),
    ]
    for protocol in (2, 4, 5):
        path = tmp_path / f"ok{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        back = load_pickle(path)
        assert back[:2] == data[:2]
        np.testing.assert_array_equal(back[2], data[2])
        assert back[2].dtype == np.float32
        assert list(back[3]) == list(data[3])
        assert back[4:] == data[4:]


def test_a_damaged_pickle_is_one_data_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps(list(range(100)))[:20])
    with pytest.raises(Exception) as caught:
        load_pickle(path)
    assert type(caught.value).__name__ == "DataError" and "not a readable pickle" in str(caught.value)


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["adj_mx.pkl", "adj_mx_bay.pkl"])
def test_the_published_dcrnn_pickles_still_load(name):
    path = SHARED / name
    if not path.exists():
        pytest.skip(f"real data not present: {path}")
    ids, index, adj = load_pickle(path)
    assert len(ids) == len(index) == adj.shape[0] == adj.shape[1]
    assert adj.dtype == np.float32


def _wide_frame(freq: str | None = "5min") -> pd.DataFrame:
    index = pd.date_range("2012-03-01", periods=12, freq=freq)
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.random((12, 3), dtype=np.float32), index=index, columns=["773869", "767541", "767542"])


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_numeric_hdf5_tables_as_published_keep_loading(tmp_path, fmt):
    pytest.importorskip("tables")
    path = tmp_path / "metr-la.h5"
    frame = _wide_frame()
    frame.to_hdf(path, key="df", format=fmt)
    back = read_hdf(path)
    pd.testing.assert_frame_equal(back, frame)


def test_an_object_column_in_hdf5_is_refused_before_it_is_read(tmp_path):
    pytest.importorskip("tables")
    marker = tmp_path / "ran"
    frame = _wide_frame().astype(object)
    frame.iloc[3, 1] = Payload(os.system, f"touch {marker}")
    path = tmp_path / "evil.h5"
    frame.to_hdf(path, key="df")
    with pytest.raises(UnsafePickleError, match="pickled Python objects"):
        read_hdf(path)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["/df", "/df/axis1"])
def test_a_pickled_hdf5_attribute_that_runs_code_is_refused(tmp_path, where):
    tables = pytest.importorskip("tables")
    marker = tmp_path / "ran"
    path = tmp_path / "evil.h5"
    _wide_frame().to_hdf(path, key="df")
    with tables.open_file(path, "a") as handle:
        # /df/axis1's freq is an attribute pandas itself reads; /df's is one only the check reads
        handle.get_node(where)._v_attrs.freq = Payload(os.system, f"touch {marker}")
    with pytest.raises(UnsafePickleError, match="refused to unpickle the global"):
        check_hdf5(path)
    with pytest.raises(UnsafePickleError):
        read_hdf(path)
    assert not marker.exists()


def test_a_file_that_is_not_hdf5_is_one_data_error(tmp_path):
    pytest.importorskip("tables")
    path = tmp_path / "fake.h5"
    path.write_text("timestamp,a\n")
    with pytest.raises(Exception) as caught:
        check_hdf5(path)
    assert type(caught.value).__name__ == "DataError" and "HDF5" in str(caught.value)

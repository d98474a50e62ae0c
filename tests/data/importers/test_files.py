"""Source files: empty, truncated and corrupt files become one DataError naming the file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.importers.common.files import load_array, load_pickle, read_table
from social_xlstm.errors import DataError


def test_corrupt_empty_truncated_files(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty.csv: file is empty"):
        read_table(empty)
    good = tmp_path / "good.parquet"
    pd.DataFrame({"a": np.arange(100)}).to_parquet(good)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(good.read_bytes()[:-30])
    with pytest.raises(DataError, match="cut.parquet: not a readable Parquet file"):
        read_table(cut)
    npz = tmp_path / "x.npz"
    np.savez_compressed(npz, data=np.zeros((10, 3, 3)))
    cut_npz = tmp_path / "cut.npz"
    cut_npz.write_bytes(npz.read_bytes()[:-40])
    with pytest.raises(DataError, match="cut.npz: not a readable"):
        load_array(cut_npz, "data")
    with pytest.raises(DataError, match="no array 'dat' \\(did you mean 'data'\\?\\)"):
        load_array(npz, "dat")
    pkl = tmp_path / "adj.pkl"
    pkl.write_bytes(b"\x80\x02]q\x00(")
    with pytest.raises(DataError, match="adj.pkl: not a readable pickle"):
        load_pickle(pkl)

"""Shared checks: name suggestions, column checks, the duplicate-cell grid against a brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from social_xlstm.data.format.checks import CellGrid, check_duplicates, repeated_rows, require_columns, suggest
from social_xlstm.data.format.freq import Freq
from social_xlstm.errors import DataError


def test_suggest_names_close_column():
    assert suggest("timestmp", ["timestamp", "vd_id"]) == " (did you mean 'timestamp'?)"
    assert suggest("zzz", ["timestamp"]) == ""


def test_require_columns_message_suggests(tmp_path):
    with pytest.raises(DataError, match=r"x\.csv: column 'detecter' .*did you mean 'detector'"):
        require_columns(tmp_path / "x.csv", ["timestamp", "detector"], ["detecter"])


def test_suggest_falls_back_to_a_case_only_difference():
    assert suggest("ID", ["id", "time"]) == " (did you mean 'id'?)"


def test_require_columns_names_the_option_and_shortens_long_lists(tmp_path):
    found = [f"s{i}" for i in range(20)]
    shown = r"columns are \[.*'s11', '\.\.\.'\]$"
    with pytest.raises(DataError, match=r"column 'tme' \(given by --time-col\) not found; " + shown):
        require_columns(tmp_path / "w.csv", found, ["tme"], "--time-col")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_repeated_rows_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    for cell in (rng.integers(0, 20, size=15), np.arange(10), np.array([3]), np.array([], dtype=np.int64)):
        brute = [i for i in range(len(cell)) if cell[i] in cell[:i]]
        assert sorted(repeated_rows(cell).tolist()) == brute


def test_cell_grid_marks_and_reports_earlier_cells(tmp_path):
    freq = Freq.parse("5min")
    grid = CellGrid(0, 3 * freq.ns, freq, 2, tmp_path)  # 4 steps x 2 VDs
    assert grid.num_steps == 4 and grid.seen.shape == (8,)
    np.testing.assert_array_equal(grid.cells(np.array([0, 3]), np.array([1, 0])), [1, 6])
    assert grid.mark(np.array([1, 6])).size == 0
    np.testing.assert_array_equal(grid.mark(np.array([2, 6, 1])), [1, 2])  # rows 1 and 2 were seen
    assert not grid.seen[2]  # a failed mark marks nothing
    with pytest.raises(DataError, match="too large a grid, is a timestamp wrong"):
        minute = Freq.parse("1min")
        CellGrid(0, 10**8 * minute.ns, minute, 30, tmp_path)  # 190 years of minutes x 30 VDs: 3e9 cells


def test_check_duplicates_names_pair_and_source_rows(tmp_path):
    frame = pd.DataFrame({"timestamp": [1, 2, 1], "vd_id": ["a", "a", "a"]})
    pattern = r"duplicate \(timestamp, vd_id\) \(1, 'a'\): 2 rows are duplicates, e.g. rows \[0, 7\]"
    with pytest.raises(DataError, match=pattern):
        check_duplicates(frame, tmp_path / "f.csv", rows=np.array([0, 4, 7]))
    check_duplicates(frame.iloc[:2], tmp_path / "f.csv")

"""``ingest long`` on Parquet streams: same dataset as the in-memory path, same errors, bounded pieces."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from social_xlstm.data.importers import tabular
from social_xlstm.data.importers.tabular import stream as tabular_stream
from social_xlstm.errors import DataError, UserError

from .conftest import no_output

STATIONS = "vd_id,lat,lon\n7-1,25.0,121.5\n7-2,25.01,121.5\n9-1,25.02,121.5\n"


def _day(day: int, start: str = "2024-03-04", drop: int | None = None) -> pd.DataFrame:
    """One day-file worth of a toy network: 3 VDs (``road``-``det`` ids) x 4 steps of 15 min."""
    times = pd.date_range(pd.Timestamp(start) + pd.Timedelta(days=day), periods=4, freq="15min")
    frame = pd.DataFrame(
        {
            "when": np.repeat(times.strftime("%Y-%m-%d %H:%M"), 3),
            "road": np.tile([7, 7, 9], 4),
            "det": np.tile([1, 2, 1], 4),
            "total": np.arange(12, dtype=np.int64) + 100 * day,
            "kmh": np.linspace(40.0, 95.0, 12),
        }
    )
    frame.loc[5, "kmh"] = np.nan
    return frame if drop is None else frame.drop(index=drop).reset_index(drop=True)


def _import(tmp_path, files, name, **extra):
    (tmp_path / "st.csv").write_text(STATIONS)
    options = dict(
        time_col="when",
        id_cols=["road", "det"],
        value_cols={"flow": "total", "speed": "kmh"},
        units={"flow": "veh/15min"},
        tz="Asia/Taipei",
        dst_gap="raise",
        freq=None,
        stations=str(tmp_path / "st.csv"),
        station_cols={},
        edges=None,
        edge_value="auto",
        cost_unit="m",
        name="toy",
        source="",
        licence="",
        zero_is_missing=[],
        overwrite=False,
    )
    return tabular.import_long(files, tmp_path / name, **{**options, **extra})


def _observations(root) -> pd.DataFrame:
    path = root / "observations.parquet"
    table = pq.read_table(path if path.exists() else root / "observations")
    return table.to_pandas()


def _write(tmp_path, frames) -> list:
    files = []
    for i, frame in enumerate(frames):
        files.append(tmp_path / f"day-{i}.parquet")
        frame.to_parquet(files[-1], index=False)
    return files


def test_streaming_equals_in_memory_text_times(tmp_path):
    files = _write(tmp_path, [_day(0), _day(1, drop=4), _day(2)])
    memory = _import(tmp_path, files, "memory", stream=False)
    streamed = _import(tmp_path, files, "streamed")  # Parquet only: streams by default
    expected = _observations(memory)
    got = _observations(streamed)
    pd.testing.assert_frame_equal(got, expected)
    assert len(got) == 35 and got["vd_id"].tolist()[:3] == ["7-1", "7-2", "9-1"]
    # 2024-03-04 00:00 in Taipei (UTC+8) is 03-03 16:00 UTC; the flow of day 2, VD 9-1 at 00:15 is 205
    assert got["timestamp"].iloc[0] == pd.Timestamp("2024-03-03 16:00", tz="UTC")
    row = got[(got["vd_id"] == "9-1") & (got["timestamp"] == pd.Timestamp("2024-03-05 16:15", tz="UTC"))]
    assert row["flow"].tolist() == [205.0] and got["flow"].dtype == np.float32
    assert got["speed"].isna().sum() == 3
    for name in ("stations.parquet",):
        pd.testing.assert_frame_equal(pd.read_parquet(streamed / name), pd.read_parquet(memory / name))
    assert json.loads((streamed / "dataset.json").read_text()) == json.loads(
        (memory / "dataset.json").read_text()
    )
    assert json.loads((streamed / "dataset.json").read_text())["freq"] == "15min"


def test_streaming_zoned_timestamps_in_small_pieces(tmp_path, monkeypatch):
    frames = []
    for day in range(3):
        frame = _day(day)
        local = pd.to_datetime(frame["when"]).dt.tz_localize("Asia/Taipei")
        frames.append(frame.assign(when=local))  # zoned Arrow timestamps: the pandas-free path
    files = _write(tmp_path, frames)
    memory = _import(tmp_path, files, "memory", stream=False)
    # 12-row files are read in pieces of 5, 5, 2 rows; a part is written once >= 5 rows are pending
    monkeypatch.setattr(tabular_stream, "STREAM_ROWS", 5)
    streamed = _import(tmp_path, files, "streamed")
    parts = sorted((streamed / "observations").iterdir())
    assert [pq.read_metadata(p).num_rows for p in parts] == [5, 5, 2 + 5, 5, 2 + 5, 5, 2]
    pd.testing.assert_frame_equal(_observations(streamed), _observations(memory))


def test_duplicate_across_two_files(tmp_path):
    second = _day(1)
    second.loc[7, "when"] = "2024-03-04 00:30"  # VD 7-2 at 00:30 is also in the first file (its row 7)
    files = _write(tmp_path, [_day(0), second])
    with pytest.raises(
        DataError,
        match=r"day-1.parquet: duplicate \(timestamp, vd_id\) \(2024-03-03 16:30:00\+00:00, '7-2'\): "
        r"1 rows repeat earlier rows, e.g. rows \[7\]; the first is also .*day-0.parquet row 7",
    ):
        _import(tmp_path, files, "ds")
    assert no_output(tmp_path / "ds")


def test_duplicate_within_a_piece_and_off_grid(tmp_path, monkeypatch):
    first = _day(0)
    first.loc[4, "when"] = first.loc[1, "when"]  # 7-2 twice at 00:00 (rows 1 and 4)
    files = _write(tmp_path, [first, _day(1)])
    with pytest.raises(
        DataError,
        match=r"day-0.parquet: duplicate \(timestamp, vd_id\) .*'7-2'.*"
        r"2 rows are duplicates, e.g. rows \[1, 4\]",
    ):
        _import(tmp_path, files, "ds")
    assert no_output(tmp_path / "ds")
    late = _day(1)
    late.loc[3, "when"] = "2024-03-05 00:20"  # 5 minutes off the 15-minute grid
    files = _write(tmp_path, [_day(0), late])
    with pytest.raises(DataError, match=r"not on a regular 15min grid .*2024-03-04 16:20"):
        _import(tmp_path, files, "ds")
    monkeypatch.setattr(tabular_stream, "STREAM_ROWS", 5)
    bad = _day(1)
    bad["kmh"] = bad["kmh"].astype(str)
    bad.loc[9, "kmh"] = "fast"  # second piece of the file (rows 5 to 9), row 4 of it
    files = _write(tmp_path, [_day(0), bad])
    with pytest.raises(
        DataError,
        match=r"day-1.parquet \(rows 5 to 9, counted from 0\): "
        r"column 'kmh' holds non-numeric values \(1 rows, e.g. row 4: 'fast'\)",
    ):
        _import(tmp_path, files, "ds")
    assert no_output(tmp_path / "ds")


def test_streaming_needs_parquet_and_rejects_empty(tmp_path):
    (tmp_path / "a.csv").write_text(_day(0).to_csv(index=False))
    with pytest.raises(UserError, match="streaming reads Parquet only; .*a.csv"):
        _import(tmp_path, [tmp_path / "a.csv"], "ds", stream=True)
    pq.write_table(pa.Table.from_pandas(_day(0).iloc[:0]), tmp_path / "empty.parquet")
    with pytest.raises(DataError, match="empty.parquet: no data rows"):
        _import(tmp_path, _write(tmp_path, [_day(0)]) + [tmp_path / "empty.parquet"], "ds")
    assert no_output(tmp_path / "ds")


def test_duplicate_across_pieces_of_one_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tabular_stream, "STREAM_ROWS", 5)
    frame = _day(0)
    frame.loc[9, ["when", "road", "det"]] = ["2024-03-04 00:15", 7, 1]  # repeats row 3, in the first piece
    files = _write(tmp_path, [frame])
    with pytest.raises(
        DataError,
        match=r"day-0.parquet \(rows 5 to 9, counted from 0\): duplicate \(timestamp, vd_id\) "
        r"\(2024-03-03 16:15:00\+00:00, '7-1'\): 1 rows repeat earlier rows, e.g. rows \[4\]; "
        r"the first is also .*day-0.parquet \(rows 0 to 4, counted from 0\) row 3",
    ):
        _import(tmp_path, files, "ds")
    assert no_output(tmp_path / "ds")


@pytest.mark.parametrize("stream", [True, False])
def test_joined_ids_that_collide_across_files_are_refused(tmp_path, stream):
    """("7-1", "2") in one file and ("7", "1-2") in the next both join to "7-1-2": one error names both."""
    first, second = _day(0), _day(1)
    first["road"], first["det"] = first["road"].astype(str), first["det"].astype(str)
    second["road"], second["det"] = second["road"].astype(str), second["det"].astype(str)
    first.loc[first["road"] == "9", ["road", "det"]] = ["7-1", "2"]
    second.loc[second["road"] == "9", ["road", "det"]] = ["7", "1-2"]
    files = []
    for k, frame in enumerate((first, second)):
        files.append(tmp_path / f"day{k}.parquet")
        frame.to_parquet(files[-1])
    with pytest.raises(DataError, match=r"'7-1-2': \('7-1', '2'\) and \('7', '1-2'\)"):
        _import(tmp_path, files, "out", stream=stream)
    assert not (tmp_path / "out").exists()

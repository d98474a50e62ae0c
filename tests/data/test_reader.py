"""load_dataset: every documented problem raises DataError naming the file, the column and example rows."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from social_xlstm.data.format.checks import DatasetProblems
from social_xlstm.data.format.observations import iter_observations
from social_xlstm.data.format.reader import load_dataset
from social_xlstm.data.format.schema import DatasetMeta, write_dataset
from social_xlstm.data.panel import load_panel
from social_xlstm.errors import DataError

T0 = pd.Timestamp("2024-03-04 00:00", tz="UTC")
VDS = ["a", "b", "c"]


def _obs(steps: int = 6, vds=VDS) -> pd.DataFrame:
    ts = pd.date_range(T0, periods=steps, freq="5min")
    rows = [(t, v, float(i), 60.0) for i, t in enumerate(ts) for v in vds]
    return pd.DataFrame(rows, columns=["timestamp", "vd_id", "flow", "speed"])


def _stations(vds=VDS) -> pd.DataFrame:
    return pd.DataFrame({"vd_id": vds, "lat": np.linspace(25.0, 25.02, len(vds)), "lon": [121.5] * len(vds)})


META = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Asia/Taipei")


def _write(tmp_path: Path, obs=None, stations=None, edges=None, meta=META) -> Path:
    return write_dataset(
        tmp_path / "ds",
        _obs() if obs is None else obs,
        _stations() if stations is None else stations,
        meta,
        edges,
    )


def _replace_obs(root: Path, table: pa.Table) -> Path:
    path = root / "observations.parquet"
    pq.write_table(table, path)
    return path


def _raw(steps: int = 6) -> dict:
    frame = _obs(steps)
    return {
        "timestamp": pa.array(frame["timestamp"], pa.timestamp("us", tz="UTC")),
        "vd_id": pa.array(frame["vd_id"], pa.string()),
        "flow": pa.array(frame["flow"], pa.float32()),
        "speed": pa.array(frame["speed"], pa.float32()),
    }


def test_valid_dataset_loads(tmp_path):
    root = _write(tmp_path)
    ds = load_dataset(root)
    assert ds.vd_ids == VDS
    assert ds.variables == ["flow", "speed"]
    assert ds.observation_files == [root / "observations.parquet"]
    assert ds.edges is None
    assert ds.num_steps == 6
    assert ds.time_range_ns() == (T0.value, (T0 + pd.Timedelta("25min")).value)


def test_directory_of_files_and_cross_file_duplicates(tmp_path):
    obs = _obs()
    parts = [pa.Table.from_pandas(obs.iloc[:9]), pa.Table.from_pandas(obs.iloc[9:])]
    root = write_dataset(tmp_path / "ds", iter(parts), _stations(), META)
    ds = load_dataset(root)
    assert [p.name for p in ds.observation_files] == ["part-00001.parquet", "part-00002.parquet"]
    rows = sum(len(b.time_index) for b in iter_observations(ds))
    assert rows == 18
    # the same row again in a third file
    pq.write_table(
        pa.Table.from_pandas(obs.iloc[[4]], preserve_index=False).cast(
            pq.read_schema(ds.observation_files[0])
        ),
        root / "observations" / "part-00003.parquet",
    )
    with pytest.raises(DataError, match=r"part-00003\.parquet.*'timestamp', 'vd_id'.*already seen") as err:
        load_dataset(root)
    assert re.search(r"\n    0\s+2024-03-04 00:05:00\+00:00\s+b$", str(err.value))


def test_missing_files(tmp_path):
    root = _write(tmp_path)
    (root / "stations.parquet").unlink()
    with pytest.raises(DataError, match="stations.parquet: missing"):
        load_dataset(root)
    root = _write(tmp_path / "x")
    (root / "observations.parquet").unlink()
    with pytest.raises(DataError, match="missing observations.parquet"):
        load_dataset(root)
    with pytest.raises(DataError, match="dataset.json: missing"):
        load_dataset(tmp_path)
    with pytest.raises(DataError, match="not a dataset directory"):
        load_dataset(tmp_path / "nope")


def test_missing_column_suggests_close_name(tmp_path):
    root = _write(tmp_path)
    raw = _raw()
    raw["speeed"] = raw.pop("speed")
    path = _replace_obs(root, pa.table(raw))
    with pytest.raises(
        DataError, match=r"observations.parquet: variable\(s\) \['speed'\] declared .* \(did you mean 'speeed'\?\)"
    ):
        load_dataset(root)
    assert path.exists()
    stations = _stations().rename(columns={"lat": "latitude"})
    pq.write_table(pa.Table.from_pandas(stations), root / "stations.parquet")
    with pytest.raises(DataError, match="stations.parquet: column 'lat' not found"):
        load_dataset(root)


def test_wrong_dtypes(tmp_path):
    root = _write(tmp_path)
    raw = _raw()
    raw["flow"] = pa.array([str(x) for x in range(18)])
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DataError, match="observations.parquet: variable column 'flow' must be numeric"):
        load_dataset(root)
    raw = _raw()
    raw["vd_id"] = pa.array(np.arange(18))
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DataError, match="observations.parquet: column 'vd_id' must be a string"):
        load_dataset(root)
    raw = _raw()
    raw["timestamp"] = pa.array([str(t) for t in _obs()["timestamp"]])
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DataError, match="observations.parquet: column 'timestamp' must be a timestamp"):
        load_dataset(root)
    stations = _stations()
    stations["lat"] = ["25.0", "x", "y"]
    pq.write_table(pa.Table.from_pandas(stations), root / "stations.parquet")
    with pytest.raises(DataError, match="stations.parquet: column 'lat' must be numeric"):
        load_dataset(root)


def test_duplicate_rows_within_file(tmp_path):
    obs = _obs()
    obs = pd.concat([obs, obs.iloc[[7]]], ignore_index=True)
    root = _write(tmp_path, obs=obs)
    with pytest.raises(
        DataError, match=r"observations.parquet: columns 'timestamp', 'vd_id': 1 duplicate"
    ) as err:
        load_dataset(root)
    # both copies are shown, with their row numbers in the file
    assert "\n    7 " in str(err.value) and "\n    18 " in str(err.value)


def test_vd_without_station(tmp_path):
    obs = _obs(vds=["a", "b", "c", "zz"])
    root = _write(tmp_path, obs=obs)
    with pytest.raises(
        DataError,
        match=r"observations.parquet: column 'vd_id': 1 VD\(s\) have no row in "
        r"stations.parquet \(zz\)",
    ) as err:
        load_dataset(root)
    # at most five example rows
    body = str(err.value).split("e.g. rows\n")[1].splitlines()
    assert len(body) == 1 + 5 and all("zz" in line for line in body[1:])


def test_station_without_coordinates_needs_edges(tmp_path):
    stations = _stations()
    stations.loc[1, "lat"] = np.nan
    with pytest.raises(
        DataError, match=r"stations.parquet: columns 'lat'/'lon': 1 VD\(s\) without coordinates"
    ):
        load_dataset(_write(tmp_path, stations=stations))
    edges = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "c"], "distance_m": [500.0, 700.0]})
    ds = load_dataset(_write(tmp_path / "e", stations=stations, edges=edges))
    assert np.isnan(ds.stations["lat"].iloc[1]) and len(ds.edges) == 2


def test_weights_only_edges_have_null_distances(tmp_path):
    stations = pd.DataFrame({"vd_id": ["a", "b", "c"], "lat": [np.nan] * 3, "lon": [np.nan] * 3})
    edges = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "c"], "distance_m": [np.nan, 700.0], "weight": [0.5, 0.2]})
    ds = load_dataset(_write(tmp_path, stations=stations, edges=edges))
    assert np.isnan(ds.edges["distance_m"].iloc[0]) and ds.edges["weight"].tolist() == [0.5, 0.2]
    without_column = load_dataset(_write(tmp_path / "w", stations=stations, edges=edges.drop(columns="distance_m")))
    assert without_column.edges["distance_m"].isna().all()
    with pytest.raises(DataError, match=r"column 'distance_m' must be finite and >= 0 \(null only when 'weight'"):
        load_dataset(_write(tmp_path / "n", stations=stations, edges=edges.drop(columns="weight")))
    root = _write(tmp_path / "s", stations=stations, edges=edges)
    pq.write_table(pa.table({"src": ["a"], "dst": ["b"]}), root / "edges.parquet")
    with pytest.raises(DataError, match=r"edges.parquet: needs a column 'distance_m' \(metres\) or 'weight'"):
        load_dataset(root)


def test_bad_edges_and_stations(tmp_path):
    edges = pd.DataFrame({"src": ["a", "q"], "dst": ["b", "c"], "distance_m": [500.0, 700.0]})
    with pytest.raises(DataError, match=r"edges.parquet: column 'src': 1 edge\(s\) name VDs missing"):
        load_dataset(_write(tmp_path, edges=edges))
    edges = pd.DataFrame({"src": ["a", "b"], "dst": ["b", "c"], "distance_m": [500.0, -1.0]})
    with pytest.raises(DataError, match="edges.parquet: column 'distance_m' must be finite and >= 0"):
        load_dataset(_write(tmp_path / "2", edges=edges))
    stations = pd.DataFrame({"vd_id": ["a", "b", "b"], "lat": [25.0, 25.1, 25.2], "lon": [121.0] * 3})
    with pytest.raises(DataError, match="stations.parquet: column 'vd_id' must be unique"):
        load_dataset(_write(tmp_path / "3", stations=stations))
    stations = _stations()
    stations.loc[0, "lat"] = 125.0
    with pytest.raises(DataError, match="stations.parquet: columns 'lat'/'lon' must be WGS84"):
        load_dataset(_write(tmp_path / "4", stations=stations))


def test_irregular_timestamps(tmp_path):
    obs = _obs()
    obs.loc[5, "timestamp"] = obs.loc[5, "timestamp"] + pd.Timedelta("2min")
    with pytest.raises(
        DataError,
        match=r"observations.parquet: column 'timestamp': 1 timestamp\(s\) off the "
        r"regular 5min grid",
    ) as err:
        load_dataset(_write(tmp_path, obs=obs))
    assert "00:07:00" in str(err.value)


def test_empty_observations(tmp_path):
    root = _write(tmp_path)
    _replace_obs(root, pa.table(_raw()).slice(0, 0))
    with pytest.raises(DataError, match="observations.parquet: observations have no rows"):
        load_dataset(root)


def test_corrupt_parquet(tmp_path):
    root = _write(tmp_path)
    path = root / "observations.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"observations.parquet: cannot read Parquet file, is it truncated"):
        load_dataset(root)
    (root / "stations.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="stations.parquet: cannot read Parquet"):
        load_dataset(root)


def test_time_zones_absent_or_mixed(tmp_path):
    root = _write(tmp_path)
    raw = _raw()
    raw["timestamp"] = raw["timestamp"].cast(pa.timestamp("us"))
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DataError, match="observations.parquet: column 'timestamp' has no time zone"):
        load_dataset(root)
    obs = _obs()
    root = write_dataset(tmp_path / "mixed", iter([pa.Table.from_pandas(obs.iloc[:9])]), _stations(), META)
    other = pa.table(_raw()).slice(9)
    other = other.set_column(0, "timestamp", other.column(0).cast(pa.timestamp("us", tz="Asia/Taipei")))
    pq.write_table(other, root / "observations" / "part-00002.parquet")
    with pytest.raises(
        DataError,
        match="part-00002.parquet: column 'timestamp' has time zone 'Asia/Taipei' but "
        "earlier files use 'UTC'; mixed",
    ):
        load_dataset(root)


def test_null_keys(tmp_path):
    root = _write(tmp_path)
    raw = _raw()
    ids = raw["vd_id"].to_pylist()
    ids[4] = None
    raw["vd_id"] = pa.array(ids, pa.string())
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DataError, match=r"observations.parquet: column 'vd_id' has 1 null value"):
        load_dataset(root)


def test_bad_meta(tmp_path):
    with pytest.raises(DataError, match="dataset.json: 'timezone' 'Mars/Olympus'"):
        load_dataset(
            _write(
                tmp_path, meta=DatasetMeta("t", "5min", {"flow": "", "speed": ""}, timezone="Mars/Olympus")
            )
        )
    with pytest.raises(
        DataError, match=r"dataset.json: 'zero_is_missing' names \['sped'\].*did you mean 'speed'"
    ):
        load_dataset(
            _write(
                tmp_path / "z",
                meta=DatasetMeta("t", "5min", {"flow": "", "speed": ""}, zero_is_missing=["sped"]),
            )
        )


def test_independent_problems_reported_together(tmp_path):
    # dataset.json (time zone), stations.parquet (latitude) and observations.parquet (a column) all wrong
    meta = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Mars/Base")
    stations = _stations()
    stations.loc[1, "lat"] = 95.0
    root = _write(tmp_path, stations=stations, meta=meta)
    raw = _raw()
    raw.pop("speed")
    _replace_obs(root, pa.table(raw))
    with pytest.raises(DatasetProblems) as err:
        load_dataset(root)
    tz, lat, column = err.value.problems
    assert "dataset.json: 'timezone' 'Mars/Base'" in tz
    assert "stations.parquet: columns 'lat'/'lon' must be WGS84 degrees" in lat
    assert "observations.parquet: variable(s) ['speed'] declared in dataset.json" in column
    assert str(err.value).startswith("3 problems in the dataset:")


def test_metadata_problem_waits_for_the_row_pass(tmp_path):
    # check_rows=False defers a problem that does not stop the stream: the panel loader reports it with its own
    meta = DatasetMeta("toy", "5min", {"flow": "veh/5min", "speed": "km/h"}, timezone="Mars/Base")
    obs = _obs()
    obs.loc[0, "speed"] = -1.0
    ds = load_dataset(_write(tmp_path, obs=obs, meta=meta), check_rows=False)
    assert len(ds.pending_problems) == 1
    with pytest.raises(DatasetProblems) as err:
        load_panel(ds)
    assert len(err.value.problems) == 2 and "'speed' is declared in 'km/h'" in err.value.problems[1]

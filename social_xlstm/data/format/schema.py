"""The canonical dataset directory (docs/data-format.md): names, metadata and the writer.

A dataset is a directory::

    observations.parquet | observations/*.parquet   long: timestamp (UTC, us), vd_id, one float column per variable
    stations.parquet                                 vd_id, lat, lon [, road, direction, lanes, name]
    edges.parquet (optional)                         src, dst, distance_m (null allowed with weight) [, weight]
    dataset.json                                     DatasetMeta

Every importer and the simulator end in :func:`write_dataset`, so the layout lives in one place; the
write goes through :func:`social_xlstm.atomic.atomic_dir`, so a dataset appears whole or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from social_xlstm.atomic import atomic_dir
from social_xlstm.data.format.freq import Freq
from social_xlstm.errors import DataError
from social_xlstm.outputs import DATASET_MARK, check_output_dir

OBSERVATIONS = "observations.parquet"
OBSERVATIONS_DIR = "observations"
STATIONS = "stations.parquet"
EDGES = "edges.parquet"
META = "dataset.json"

TIME_COL = "timestamp"
ID_COL = "vd_id"
KEY_COLS = (TIME_COL, ID_COL)
STATION_REQUIRED = ("vd_id", "lat", "lon")
STATION_OPTIONAL = ("road", "direction", "lanes", "name")
EDGE_REQUIRED = ("src", "dst")
EDGE_VALUES = ("distance_m", "weight")
"""An edge needs a distance or a weight: ``distance_m`` may be null (or absent) when ``weight`` is given."""

TIME_TYPE = pa.timestamp("us", tz="UTC")


def check_variable_names(names: Iterable[str], where: str) -> None:
    """A variable is a column of ``observations.parquet`` beside the keys: a non-empty name without
    surrounding spaces that is neither key column.

    Raises:
        DataError: naming the bad name and ``where`` it came from.
    """
    for name in names:
        if not isinstance(name, str) or not name.strip() or name != name.strip():
            raise DataError(f"{where}: variable name {name!r} must be a non-empty name without surrounding spaces")
        if name in (TIME_COL, ID_COL):
            raise DataError(f"{where}: variable name {name!r} is a key column of the canonical format; choose another")


@dataclass
class DatasetMeta:
    """Contents of ``dataset.json``."""

    name: str
    """Short name of the dataset, e.g. ``"metr-la"``."""
    freq: Freq
    """Sampling interval; written as its pandas offset alias, e.g. ``"5min"`` (a string is parsed)."""
    variables: dict[str, str]
    """Variable name -> unit, in column order, e.g. ``{"flow": "veh/5min", "speed": "km/h"}``."""
    timezone: str = "UTC"
    """Local time zone of the road network (timestamps are stored in UTC); used for time-of-day features."""
    source: str = ""
    """Where the data came from (URL, publisher, simulator and seed)."""
    licence: str = ""
    """Licence of the data."""
    zero_is_missing: list[str] = field(default_factory=list)
    """Variables whose value 0 means "no reading" (METR-LA, PEMS-BAY)."""

    def __post_init__(self) -> None:
        self.freq = Freq.parse(self.freq, "dataset 'freq'")
        check_variable_names(self.variables, "dataset 'variables'")

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "freq": self.freq.alias}, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_dict(cls, raw: dict, path: str | Path = META) -> DatasetMeta:
        missing = [k for k in ("name", "freq", "variables") if k not in raw]
        if missing:
            raise DataError(f"{path}: missing key(s) {missing}; found {sorted(raw)}")
        if not isinstance(raw["variables"], dict) or not raw["variables"]:
            raise DataError(f"{path}: 'variables' must be a non-empty mapping name -> unit, got {raw['variables']!r}")
        freq = Freq.parse(raw["freq"], f"{path}: 'freq'", DataError)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in raw.items() if k in known and k != "freq"}, freq=freq)


def _as_table(frame: pd.DataFrame | pa.Table) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    return pa.Table.from_pandas(frame, preserve_index=False)


def normalise_observations(table: pd.DataFrame | pa.Table, variables: Iterable[str]) -> pa.Table:
    """Cast an observation table to the canonical schema: timestamp[us, UTC], vd_id string, float32 values.

    Raises:
        DataError: a key or variable column is missing.
    """
    table = _as_table(table)
    variables = list(variables)
    missing = [c for c in (*KEY_COLS, *variables) if c not in table.column_names]
    if missing:
        raise DataError(f"observations: missing column(s) {missing}; found {table.column_names}")
    ts = table.column(TIME_COL)
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
        raise DataError("observations: column 'timestamp' has no time zone; localise it before writing")
    arrays = [ts.cast(TIME_TYPE), table.column(ID_COL).cast(pa.string())]
    arrays += [table.column(v).cast(pa.float32()) for v in variables]
    return pa.Table.from_arrays(arrays, names=[*KEY_COLS, *variables])


def write_dataset(
    out_dir: str | Path,
    observations: pd.DataFrame | pa.Table | Iterable[pa.Table],
    stations: pd.DataFrame,
    meta: DatasetMeta,
    edges: pd.DataFrame | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write a canonical dataset directory atomically.

    Everything is written to a temporary sibling directory which is renamed onto ``out_dir`` at the end,
    so a failure never leaves a half-written dataset.

    Args:
        out_dir: target directory; must not exist (or be empty) unless ``overwrite``, and then must be a
            dataset (:func:`~social_xlstm.outputs.check_output_dir`: nothing else is ever replaced).
        observations: one long table, or an iterable of tables (then written as ``observations/part-*.parquet``,
            one file per table, so data larger than memory streams through).
        stations: one row per VD with at least ``vd_id, lat, lon``.
        meta: the dataset metadata.
        edges: optional road graph ``src, dst, distance_m [, weight]`` (``distance_m`` null where only a
            weight is known).
        overwrite: replace an existing directory.

    Returns:
        The path of the written directory.
    """
    out_dir = check_output_dir(out_dir, overwrite, [DATASET_MARK])
    with atomic_dir(out_dir) as tmp:
        variables = list(meta.variables)
        if isinstance(observations, (pd.DataFrame, pa.Table)):
            pq.write_table(normalise_observations(observations, variables), tmp / OBSERVATIONS)
        else:
            (tmp / OBSERVATIONS_DIR).mkdir()
            n_parts = 0
            for n_parts, part in enumerate(observations, start=1):
                pq.write_table(
                    normalise_observations(part, variables),
                    tmp / OBSERVATIONS_DIR / f"part-{n_parts:05d}.parquet",
                )
            if n_parts == 0:
                raise DataError("observations: no data to write")
        stations = stations.copy()
        stations["vd_id"] = stations["vd_id"].astype(str)
        for col in ("lat", "lon"):
            stations[col] = pd.to_numeric(stations[col], errors="raise").astype("float64")
        pq.write_table(pa.Table.from_pandas(stations, preserve_index=False), tmp / STATIONS)
        if edges is not None:
            edges = edges.copy()
            edges["src"] = edges["src"].astype(str)
            edges["dst"] = edges["dst"].astype(str)
            if "distance_m" not in edges:
                edges["distance_m"] = float("nan")
            edges["distance_m"] = edges["distance_m"].astype("float64")
            pq.write_table(pa.Table.from_pandas(edges, preserve_index=False), tmp / EDGES)
        (tmp / META).write_text(meta.to_json())
    return out_dir


def read_meta(root: str | Path) -> DatasetMeta:
    """Read and check ``dataset.json`` of a dataset directory."""
    path = Path(root) / META
    if not path.exists():
        raise DataError(f"{path}: missing (a dataset directory needs {META}, {STATIONS} and observations)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err})") from err
    return DatasetMeta.from_dict(raw, path)

"""The options the long and wide importers share, declared once, and the write both end with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import pandas as pd

from social_xlstm.data.format.freq import Freq
from social_xlstm.data.format.schema import write_dataset
from social_xlstm.data.importers.common.graphs import stations_and_edges
from social_xlstm.data.importers.common.options import parse_freq, table_meta


@dataclass(frozen=True)
class TableOptions:
    """Keywords of :func:`~.long.import_long` and :func:`~.wide.import_wide` besides their own columns.

    Args:
        tz: zone of naive timestamps (required for them); also ``dataset.json``'s timezone (else UTC).
        dst_gap: ``"raise"`` or ``"drop"`` for naive times in the hour skipped by daylight saving.
        freq: sampling interval, checked against the data; None infers it.
        stations: stations file (id, lat, lon), required unless ``edges`` give the graph.
        station_cols: its column names ``{"vd_id"|"lat"|"lon": column}``; default found by name.
        edges: graph file (edge list or dense matrix).
        edge_value: what an edge list's value is: ``"auto"``, ``"distance"`` or ``"weight"``.
        edge_ids: what its endpoints are: ``"auto"``, ``"id"`` or ``"index"`` (positions in the VD order).
        edge_base: positions count from 0 or 1; None finds it.
        cost_unit: unit of edge distances (``m``, ``km``, ``mi``).
        name: dataset name (default: the first file's stem).
        source: where the data came from (``dataset.json``).
        licence: licence of the data (``dataset.json``).
        zero_is_missing: variables whose 0 means no reading.
        overwrite: replace an existing ``out``.
    """

    tz: str | None = None
    dst_gap: str = "raise"
    freq: str | Freq | None = None
    stations: str | Path | None = None
    station_cols: dict[str, str] | None = None
    edges: str | Path | None = None
    edge_value: str = "auto"
    edge_ids: str = "auto"
    edge_base: int | None = None
    cost_unit: str = "m"
    name: str | None = None
    source: str = ""
    licence: str = ""
    zero_is_missing: Sequence[str] = ()
    overwrite: bool = False

    @classmethod
    def of(cls, importer: str, keywords: dict) -> TableOptions:
        """The options from an importer's ``**keywords``; an unknown keyword is a TypeError naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(keywords) - known)
        if unknown:
            raise TypeError(f"{importer}() got unexpected keyword(s) {unknown}; valid: {sorted(known)}")
        return cls(**keywords)

    @property
    def interval(self) -> Freq | None:
        return parse_freq(self.freq)

    def write(
        self,
        out: str | Path,
        observations: pd.DataFrame,
        vd_ids: Sequence[str],
        where: Path,
        stem: str,
        freq: Freq,
        units: dict[str, str],
    ) -> Path:
        """Stations, edges and ``dataset.json`` from these options; the dataset written to ``out``."""
        station_table, edge_table = stations_and_edges(
            vd_ids,
            where,
            stations=self.stations,
            station_cols=self.station_cols,
            edges=self.edges,
            edge_value=self.edge_value,
            cost_unit=self.cost_unit,
            edge_ids=self.edge_ids,
            edge_base=self.edge_base,
        )
        meta = table_meta(
            stem,
            freq,
            units,
            name=self.name,
            tz=self.tz,
            source=self.source,
            licence=self.licence,
            zero_is_missing=self.zero_is_missing,
        )
        return write_dataset(out, observations, station_table, meta, edge_table, overwrite=self.overwrite)

"""Stations files: DCRNN's header and PEMS-BAY's headerless layout, column mappings, errors."""

from __future__ import annotations

import pytest

from social_xlstm.data.importers.common.stations import read_stations
from social_xlstm.errors import DataError


def test_read_stations_dcrnn_header_and_headerless(tmp_path):
    la = tmp_path / "graph_sensor_locations.csv"
    la.write_text(
        "index,sensor_id,latitude,longitude\n0,773869,34.15497,-118.31829\n1,767541,34.11621,-118.23799\n"
    )
    bay = tmp_path / "graph_sensor_locations_bay.csv"
    bay.write_text("400001,37.364085,-121.901149\n400017,37.253303,-121.945440\n")
    a = read_stations(la)
    b = read_stations(bay)
    assert a["vd_id"].tolist() == ["773869", "767541"]
    assert a["lat"].tolist() == [34.15497, 34.11621]
    assert b["vd_id"].tolist() == ["400001", "400017"]
    assert b["lon"].tolist() == [-121.901149, -121.945440]


def test_read_stations_mapping_and_errors(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("name_of_vd,y_deg,x_deg\nA,25.0,121.5\nB,25.1,121.6\n")
    got = read_stations(f, {"vd_id": "name_of_vd", "lat": "y_deg", "lon": "x_deg"})
    assert got["vd_id"].tolist() == ["A", "B"] and got["lat"].tolist() == [25.0, 25.1]
    with pytest.raises(DataError, match="did you mean 'y_deg'"):
        read_stations(f, {"vd_id": "name_of_vd", "lat": "y_dg", "lon": "x_deg"})
    bad = tmp_path / "bad.csv"
    bad.write_text("vd_id,lat,lon\nA,north,121.5\nB,25.1,121.6\n")
    with pytest.raises(DataError, match=r"column 'lat' holds non-numeric values .*row 0: 'north'"):
        read_stations(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("vd_id,lat,lon\nA,25.0,121.5\nA,25.1,121.6\n")
    with pytest.raises(DataError, match="duplicate VD id 'A'"):
        read_stations(dup)

"""Tests of the ``taiwan-vd`` importer on small files that reproduce the quirks of real TDX / NFB files."""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import math
import sys
from pathlib import Path

import pandas as pd
import pytest

from social_xlstm.data.importers import load_importer
from social_xlstm.data.importers.taiwan_vd import ingest_taiwan_vd
from social_xlstm.data.importers.taiwan_vd.aggregate import aggregate_lanes, resample
from social_xlstm.data.importers.taiwan_vd.files import iter_file
from social_xlstm.data.importers.taiwan_vd.parse import Interval, Lane, Reading, VDInfo, parse_mile
from social_xlstm.errors import DataError, UserError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from taiwan_fixtures import (  # noqa: E402
    TIX_NS,
    lane,
    live_list,
    nfb_info,
    nfb_value,
    to_json,
    to_xml,
    vd,
    vd_list,
    vdlive,
    write,
    write_zip,
)

A, B, C = "VD-N3-S-15.700-M-LOOP", "VD-11-0020-008-01", "VD-11-0090-001-02"
NAN = math.nan


def _records(path: Path) -> list:
    return list(iter_file(path))


def _readings(path: Path) -> list[Reading]:
    return [r for r in _records(path) if isinstance(r, Reading)]


def _one_live(**lane_kw) -> dict:
    return live_list(
        [vdlive(A, "2022-03-04T17:39:00+08:00", [[lane(0, 95, 7, {"S": 10, "L": 2}, **lane_kw)]])]
    )


# ------------------------------------------------------------------------------------------- parsing quirks


def test_compact_bom_xml_with_namespace(tmp_path):
    path = write(tmp_path / "live.xml", to_xml("VDLiveList", _one_live(), bom=True))
    assert b"\n" not in path.read_bytes() and path.read_bytes().startswith(b"\xef\xbb\xbf")
    records = _records(path)
    assert records[-1] == Interval(60, str(path))
    (reading,) = records[:-1]
    assert reading == Reading(A, "2022-03-04T17:39:00+08:00", 0, [Lane(12.0, 95.0, 7.0)])


def test_gzip_named_xml_and_gzipped_json(tmp_path):
    xml_gz = write(tmp_path / "VDLive.xml", to_xml("VDLiveList", _one_live()), gz=True)
    json_gz = write(tmp_path / "VDLive.json", to_json(_one_live(), bom=True), gz=True)
    assert xml_gz.read_bytes()[:2] == b"\x1f\x8b"
    assert (
        _readings(xml_gz)
        == _readings(json_gz)
        == [Reading(A, "2022-03-04T17:39:00+08:00", 0, [Lane(12, 95, 7)])]
    )


def test_lower_case_padded_pretty_xml_and_tix_namespace(tmp_path):
    path = write(
        tmp_path / "a.xml", to_xml("VDLiveList", _one_live(), ns=TIX_NS, lower=True, pad=True, pretty=True)
    )
    assert b"<vdlive>" in path.read_bytes() and b">  95\n <" in path.read_bytes()
    assert _readings(path) == [Reading(A, "2022-03-04T17:39:00+08:00", 0, [Lane(12, 95, 7)])]


def test_error_codes_and_out_of_range_values_are_missing(tmp_path):
    lanes = [
        lane(0, "-99", "-99.0", {"S": 3, "L": 1}),
        lane(1, "-99.00000", 255, {"S": "-1", "L": 1}),
        lane(2, 201, 100.5, {"S": 255, "L": 0}),
        lane(3, -1, 100, {"S": 4, "M": 1, "T": 1, "L": 0}),
    ]
    path = write(
        tmp_path / "e.xml", to_xml("VDLiveList", live_list([vdlive(A, "2022-03-04T17:39:00+08:00", [lanes])]))
    )
    (reading,) = _readings(path)
    got = [(x.volume, x.speed, x.occupancy) for x in reading.lanes]
    expected = [(4, NAN, NAN), (NAN, NAN, NAN), (NAN, NAN, NAN), (6, NAN, 100)]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == pytest.approx(e, nan_ok=True)


def test_json_extras_error_type_and_vehicle_speed(tmp_path):
    lives = [
        vdlive(
            A, "2022-03-04T17:39:00+08:00", [[lane(0, 90, 5, {"S": 2}, error_type="diag0")]], json_extras=True
        ),
        # lane speed -99 falls back to the vehicles' own speeds, weighted by volume: (4*70 + 1*50) / 5 = 66
        vdlive(
            B, "2022-03-04T17:38:00.000+08:00", [[lane(0, -99, 5, {"S": (4, 70), "L": (1, 50)}, "")]], 3, True
        ),
    ]
    path = write(tmp_path / "live.json", to_json(live_list(lives, json_extras=True)))
    a, b = _readings(path)
    assert len(a.lanes) == 1 and all(math.isnan(x) for x in vars(a.lanes[0]).values())
    assert (b.vd_id, b.status, b.time) == (B, 3, "2022-03-04T17:38:00.000+08:00")
    assert b.lanes == [Lane(5.0, 66.0, 5.0)]


def test_static_list_xml_and_json(tmp_path):
    vds = [
        vd(A, 121.53, 24.99, [("S", 3)], "000030", "國道3號", "15K+700", ("新店", "安坑")),
        vd(C, "120.5", "23.1", [("E", 2), ("W", 1)], "0090", None, None, bidirectional=1),
    ]
    xml_infos = [
        r
        for r in _records(write(tmp_path / "l.xml", to_xml("VDList", vd_list(vds))))
        if isinstance(r, VDInfo)
    ]
    json_infos = list(iter_file(write(tmp_path / "l.json", to_json(vd_list(vds)))))
    assert xml_infos == json_infos
    a, c = xml_infos
    assert a == VDInfo(A, 24.99, 121.53, "000030", "S", 3, "國道3號 新店-安坑 15K+700", 15.7)
    assert c == VDInfo(C, 23.1, 120.5, "0090", "E", 3, "0090", None)


@pytest.mark.parametrize(
    ("text", "km"),
    [("15K+700", 15.7), ("0K+000", 0.0), (" 3k + 25 ", 3.025), ("12K", 12.0), ("", None), ("x", None)],
)
def test_parse_mile(text, km):
    assert parse_mile(text) == (pytest.approx(km) if km is not None else None)


# ------------------------------------------------------------------------------------------- aggregation


def test_aggregate_lanes_by_hand():
    lanes = [Lane(12, 100, 10), Lane(6, 80, 20), Lane(0, 0, 0)]  # the empty lane saw no vehicle: no speed
    assert aggregate_lanes(lanes) == pytest.approx((18, (12 * 100 + 6 * 80) / 18, 10))
    # all lanes empty: plain mean of the valid lane speeds; standing traffic (occupancy > 0) keeps speed 0
    assert aggregate_lanes([Lane(0, 50, 1), Lane(0, 70, 2)]) == pytest.approx((0, 60, 1.5))
    assert aggregate_lanes([Lane(0, 0, 90), Lane(0, 0, 0)]) == pytest.approx((0, 0, 45))
    partial = [Lane(12, 100, 10), Lane(NAN, 80, NAN)]
    assert aggregate_lanes(partial) == pytest.approx((NAN, 100, 10), nan_ok=True)
    assert aggregate_lanes(partial, "scale") == pytest.approx((24, 100, 10))


def test_resample_scales_by_observed_minutes_and_labels_by_start():
    t0 = 1_646_386_200  # 2022-03-04 09:30:00 UTC
    frame = pd.DataFrame(
        {
            "vd": [0] * 6,
            "t": [t0 + 60 * m for m in (0, 1, 3, 5, 6, 9)],
            "flow": [10.0, 20.0, 30.0, 5.0, NAN, 7.0],
            "speed": [90.0, 60.0, 80.0, NAN, 50.0, 70.0],
            "occupancy": [1.0, 2.0, 3.0, 4.0, NAN, NAN],
        }
    )
    out = resample(frame, 300, 60)
    assert list(out["t"]) == [t0, t0 + 300]
    # first: 3 of 5 minutes -> 60 * 5 / 3, speed weighted (10*90 + 20*60 + 30*80) / 60
    # second: 2 of 5 minutes -> flow missing
    assert out["flow"].tolist() == pytest.approx([100.0, NAN], nan_ok=True)
    assert out["speed"].tolist() == pytest.approx([4500 / 60, 70.0])
    assert out["occupancy"].tolist() == pytest.approx([2.0, 4.0])


# ------------------------------------------------------------------------------------------- end to end


def _minute(m: int, with_json: bool) -> list[dict]:
    """One snapshot of VDs A (2 lanes), B (1 lane, S/L/M/T, error codes) and C (two links, bidirectional)."""
    t = f"2022-03-04T17:3{m}:00+08:00"
    lane1_l = "-99" if m == 6 else 1
    a = vdlive(
        A,
        t.replace(":00+", ":00.000+") if m == 2 else t,
        [
            [
                lane(0, 100, 10, {"S": 10 + m, "L": 2}),
                lane(1, 80, 20, {"S": 5, "L": lane1_l}),
            ]
        ],
    )
    b_speed = "-99.00000" if m == 1 else 60
    b_vehicles = {
        "S": (4, 70) if m == 1 else 4,
        "L": (1, 50) if m == 1 else 1,
        "M": (1, 64) if m == 1 else 1,
        "T": 0,
    }
    if m == 2:
        b_vehicles["S"] = "-1"
    b = vdlive(B, t, [[lane(0, b_speed, 255 if m == 1 else 5, b_vehicles)]], status=1 if m >= 7 else 0)
    c_lane0 = lane(0, 90, 4, {"S": 3, "L": 0}, error_type="diag0" if m == 4 else ("" if with_json else None))
    c = vdlive(C, t, [[c_lane0], [lane(0, 0, 0, {"S": 0, "L": 0})]], json_extras=with_json)
    return [a, b, c]


def _taiwan_dir(root: Path) -> Path:
    src = root / "src"
    vds = [
        vd(A, 121.5312, 24.9921, [("S", 2)], "000030", "國道3號", "15K+700", ("新店", "安坑")),
        vd(B, 121.2, 24.8, [("N", 1)], "0020", None, "3K+250"),  # THB VDs often lack RoadName/RoadClass
        vd(C, 120.9, 24.1, [("E", 1), ("W", 1)], "0090", "台9線", "22K+100", bidirectional=1),
    ]
    write(src / "VDList.xml", to_xml("VDList", vd_list(vds), bom=True), gz=True)
    write(src / "live" / "VDLive_1730.xml", to_xml("VDLiveList", live_list(_minute(0, False)), bom=True))
    write(
        src / "live" / "VDLive_1731.xml",
        to_xml("VDLiveList", live_list(_minute(1, False)), lower=True, pad=True),
    )
    for m in (2, 3):
        write(
            src / "live" / f"VDLive_173{m}.xml", to_xml("VDLiveList", live_list(_minute(m, False))), gz=True
        )
    for m in (4, 5):
        doc = to_json(live_list(_minute(m, True), json_extras=True))
        write(src / "live" / f"VDLive_173{m}.json", doc, gz=m == 5)
    late = {f"VDLive_173{m}.xml": to_xml("VDLiveList", live_list(_minute(m, False))) for m in (6, 7, 8, 9)}
    late["VDLive_1738.xml"] = gzip.compress(late["VDLive_1738.xml"])
    write_zip(src / "live" / "late.zip", late)
    # a later snapshot repeating the 17:39 readings (VDs that did not update); they must count once
    write(src / "live" / "zz_repeat.xml", late["VDLive_1739.xml"], gz=True)
    return src


def _read(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    obs = pd.read_parquet(out / "observations.parquet").set_index(["vd_id", "timestamp"])
    stations = pd.read_parquet(out / "stations.parquet").set_index("vd_id")
    return obs, stations, json.loads((out / "dataset.json").read_text())


def test_end_to_end_tdx(tmp_path):
    out = ingest_taiwan_vd([str(_taiwan_dir(tmp_path))], tmp_path / "ds", progress=False)
    obs, stations, meta = _read(out)
    t0, t1 = pd.Timestamp("2022-03-04 09:30", tz="UTC"), pd.Timestamp("2022-03-04 09:35", tz="UTC")
    assert sorted(obs.index) == sorted((v, t) for v in (A, B, C) for t in (t0, t1))
    expected = {
        # A: minute flows 18+m; minute 6 lost (L = -99) -> (23+25+26+27) * 5/4; speed weighted by minute flows
        (A, t0): (100.0, (100 * 70 + 5 * 480) / 100, 15.0),
        (A, t1): (101 * 5 / 4, (100 * (17 + 19 + 20 + 21) + 4 * 480) / 101, 15.0),
        # B: 17:32 volume -1; 17:31 speed from the vehicles (394/6) and occupancy 255; 17:37-39 Status 1
        (B, t0): (24 * 5 / 4, (6 * 60 + 394 + 6 * 60 + 6 * 60) / 24, 5.0),
        (B, t1): (NAN, 60.0, 5.0),
        # C: second link empty (no speed); 17:34 ErrorType diag0 -> flow and speed missing, occupancy 0
        (C, t0): (12 * 5 / 4, 90.0, (2 + 2 + 2 + 2 + 0) / 5),
        (C, t1): (15.0, 90.0, 2.0),
    }
    for key, values in expected.items():
        got = obs.loc[key, ["flow", "speed", "occupancy"]].astype(float).tolist()
        assert got == pytest.approx(values, rel=1e-6, nan_ok=True), key
    assert str(obs.index.get_level_values("timestamp").dtype) == "datetime64[us, UTC]"
    assert (stations.loc[A, "lat"], stations.loc[A, "lon"]) == pytest.approx((24.9921, 121.5312))
    assert stations.loc[A, "name"] == "國道3號 新店-安坑 15K+700"
    stations = stations.loc[[A, B, C]]
    assert stations["km"].tolist() == pytest.approx([15.7, 3.25, 22.1])
    assert stations["lanes"].tolist() == [2, 1, 2]  # C: LaneNum summed over its two links
    assert stations["direction"].tolist() == ["S", "N", "E"]
    assert stations["road"].tolist() == ["000030", "0020", "0090"]
    assert meta["timezone"] == "Asia/Taipei" and meta["freq"] == "5min" and meta["source"] == "TDX VD feed"
    assert meta["variables"] == {"flow": "veh/5min", "speed": "km/h", "occupancy": "%"}


def test_end_to_end_one_minute_keeps_readings(tmp_path):
    out = ingest_taiwan_vd([str(_taiwan_dir(tmp_path))], tmp_path / "ds", freq="1min", progress=False)
    obs, _, meta = _read(out)
    assert len(obs) == 30 and meta["variables"]["flow"] == "veh/1min"
    t = pd.Timestamp("2022-03-04 09:36", tz="UTC")
    assert math.isnan(obs.loc[(A, t), "flow"]) and obs.loc[(A, t), "speed"] == pytest.approx(100.0)
    assert (
        obs.loc[(A, t - pd.Timedelta("4min")), "flow"] == 20.0
    )  # 17:32, written with .000 fractional seconds


def test_nfb_v11_end_to_end(tmp_path):
    src = tmp_path / "nfb"
    ids = ["nfbVD-N1-N-0.000-M", "nfbVD-N1-S-3.500-M", "nfbVD-N3-S-10.010-I"]
    write(
        src / "vd_info_0000.xml",
        nfb_info([(ids[0], "N1", 121.5, 25.0), (ids[1], "N1", 121.51, 25.01), (ids[2], "N3", 0, 0)]),
    )
    for minute, extra in (("50", 0), ("55", 10)):
        infos = [
            (
                ids[0],
                0,
                f"2020/01/31 23:{minute}:00",
                [(0, 95, 8, {"S": 40 + extra, "T": 2, "L": 3}), (1, 85, 12, {"S": 30, "T": 0, "L": 5})],
            ),
            (
                ids[1],
                1 if minute == "55" else 0,
                f"2020/01/31 23:{minute}:00",
                [(0, 70, 30, {"S": 20, "T": 1, "L": 1})],
            ),
            (ids[2], 0, f"2020/01/31 23:{minute}:00", [(0, 99, 3, {"S": 1, "T": 0, "L": 0})]),
        ]
        write(src / f"vd_value5_23{minute}.xml.gz", nfb_value(infos), gz=True)
    with pytest.raises(DataError, match=r"unknown position.*nfbVD-N3-S-10\.010-I") as err:
        ingest_taiwan_vd([str(src)], tmp_path / "bad", progress=False)
    assert "--drop-unlocated" in str(err.value) and not (tmp_path / "bad").exists()

    out = ingest_taiwan_vd([str(src)], tmp_path / "ds", freq="10min", drop_unlocated=True, progress=False)
    obs, stations, meta = _read(out)
    t = pd.Timestamp("2020-01-31 15:50", tz="UTC")  # 23:50 Taipei
    assert list(stations.index) == ids[:2]
    assert stations.loc[ids[0], ["lat", "lon", "km"]].tolist() == pytest.approx([25.0, 121.5, 0.0])
    assert stations.loc[ids[1], "direction"] == "S" and stations.loc[ids[1], "road"] == "N1"
    # two 5-minute readings: 80 and 90 vehicles; speeds weighted by lane volume within, by flow across
    s50, s55 = (45 * 95 + 35 * 85) / 80, (55 * 95 + 35 * 85) / 90
    assert obs.loc[(ids[0], t)].tolist() == pytest.approx([170.0, (80 * s50 + 90 * s55) / 170, 10.0])
    # second VD faulty at 23:55: one reading of two is enough (half) -> 22 * 2
    assert obs.loc[(ids[1], t)].tolist() == pytest.approx([44.0, 70.0, 30.0])
    assert meta["source"] == "NFB VD feed v1.1"


# ------------------------------------------------------------------------------------------- errors


def _assert_error(tmp_path, sources, pattern):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=pattern):
        ingest_taiwan_vd([str(s) for s in sources], out, progress=False)
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_corrupt_gzip_names_the_file(tmp_path):
    src = _taiwan_dir(tmp_path)
    data = (src / "live" / "VDLive_1732.xml").read_bytes()
    (src / "live" / "VDLive_1732.xml").write_bytes(data[: len(data) // 2])
    _assert_error(tmp_path, [src], r"VDLive_1732\.xml: cannot be read")


def test_malformed_xml_names_the_file(tmp_path):
    src = _taiwan_dir(tmp_path)
    write(src / "live" / "VDLive_1733.xml", b"<VDLiveList><VDLives><VDLive><VDID>x</VDID></VDLives>")
    _assert_error(tmp_path, [src], r"VDLive_1733\.xml: cannot be read \(ParseError")


def test_corrupt_zip_member_names_archive_and_member(tmp_path):
    src = _taiwan_dir(tmp_path)
    write_zip(src / "live" / "late.zip", {"VDLive_1736.xml": b"{not json"})
    _assert_error(tmp_path, [src], r"late\.zip:VDLive_1736\.xml: cannot be read")


def test_vd_without_location(tmp_path, caplog):
    src = _taiwan_dir(tmp_path)
    lives = [
        vdlive("VD-N1-N-99.000-M-LOOP", "2022-03-04T17:39:00+08:00", [[lane(0, 99, 5, {"S": 5, "L": 0})]])
    ]
    write(src / "live" / "extra.xml", to_xml("VDLiveList", live_list(lives)))
    _assert_error(tmp_path, [src], r"no VDList/vd_info entry, e\.g\. \['VD-N1-N-99\.000-M-LOOP'\]")
    with caplog.at_level(logging.WARNING):
        out = ingest_taiwan_vd([str(src)], tmp_path / "ok", drop_unlocated=True, progress=False)
    assert "dropped 1 VD(s)" in caplog.text
    assert sorted(pd.read_parquet(out / "stations.parquet")["vd_id"]) == sorted([A, B, C])


def test_empty_directory_and_no_readings(tmp_path):
    (tmp_path / "empty").mkdir()
    _assert_error(tmp_path, [tmp_path / "empty"], r"empty: directory holds no files")
    only_list = write(tmp_path / "list" / "VDList.json", to_json(vd_list([vd(A, 121.5, 25.0, [("S", 2)])])))
    _assert_error(tmp_path, [only_list], r"no VD readings found")
    other = write(tmp_path / "other.xml", b"<rss><channel/></rss>")
    _assert_error(tmp_path, [other], r"other\.xml: no VDLive, VD or Info records")


def test_bad_freq_is_a_user_error(tmp_path):
    src = _taiwan_dir(tmp_path)
    with pytest.raises(UserError, match="not a whole multiple"):
        ingest_taiwan_vd([str(src)], tmp_path / "o", freq="90s", progress=False)
    with pytest.raises(UserError, match="fixed pandas frequency"):
        ingest_taiwan_vd([str(src)], tmp_path / "o", freq="MS", progress=False)


def test_cli_contract(tmp_path):
    module = load_importer("taiwan-vd")
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args(["--freq", "10min", "--drop-unlocated"])
    args.overwrite = False
    out = module.run([str(_taiwan_dir(tmp_path))], str(tmp_path / "ds"), args)
    assert json.loads((out / "dataset.json").read_text())["variables"]["flow"] == "veh/10min"
    assert len(pd.read_parquet(out / "observations.parquet")) == 3


def test_mixed_reading_intervals_are_refused(tmp_path):
    src = _taiwan_dir(tmp_path)
    infos = [("nfbVD-N1-N-0.000-M", 0, "2020/01/31 23:50:00", [(0, 95, 8, {"S": 4, "T": 0, "L": 1})])]
    write(src / "vd_value5_2350.xml.gz", nfb_value(infos, interval=300), gz=True)
    _assert_error(
        tmp_path, [src], r"different reading intervals: 60 s .*, 300 s \(.*vd_value5_2350\.xml\.gz\)"
    )


def test_bare_json_array_and_progress_bar(tmp_path, capsys):
    live = write(
        tmp_path / "live.json",
        to_json([vdlive(A, "2022-03-04T17:39:00+08:00", [[lane(0, 90, 5, {"S": 7})]])]),
    )
    static = write(tmp_path / "vds.json", to_json([vd(A, 121.5, 25.0, [("S", 2)], mile="1K+200")]))
    out = ingest_taiwan_vd([str(live), str(static)], tmp_path / "ds", freq="1min", progress=True)
    obs, stations, _ = _read(out)
    assert obs.loc[(A, pd.Timestamp("2022-03-04 09:39", tz="UTC"))].tolist() == [7.0, 90.0, 5.0]
    assert stations.loc[A, "km"] == pytest.approx(1.2) and stations.loc[A, "direction"] == "S"


def test_empty_snapshot_is_skipped_with_a_warning(tmp_path, caplog):
    src = _taiwan_dir(tmp_path)
    write(src / "live" / "VDLive_1741.xml", to_xml("VDLiveList", live_list([])), gz=True)
    with caplog.at_level(logging.WARNING):
        out = ingest_taiwan_vd([str(src)], tmp_path / "ds", progress=False)
    assert "VDLive_1741.xml: a <vdlivelist> without any record" in caplog.text
    assert len(pd.read_parquet(out / "observations.parquet")) == 6


def _plain(readings: list[Reading]) -> list[tuple]:
    """Readings as comparable tuples (NaN -> None, since NaN != NaN)."""
    return [
        (
            r.vd_id,
            r.time,
            r.status,
            [tuple(None if math.isnan(x) else x for x in vars(ln).values()) for ln in r.lanes],
        )
        for r in readings
    ]


@pytest.mark.parametrize("minute", [0, 1, 2, 4, 6, 7])
def test_xml_walker_matches_json_reading(tmp_path, minute):
    doc = live_list(_minute(minute, with_json=True), json_extras=True)
    from_xml = _readings(
        write(tmp_path / "a.xml", to_xml("VDLiveList", doc, lower=minute == 1, pad=minute == 1))
    )
    from_json = _readings(write(tmp_path / "a.json", to_json(doc)))
    assert _plain(from_xml) == _plain(from_json)
    assert len(from_xml) == 3 and sum(len(r.lanes) for r in from_xml) == 5

"""Builders of small Taiwan VD files following the TDX v2.0 schema (and NFB v1.1), with real files' quirks.

Documents are plain dicts in the JSON shape (``"Lanes": [...]``); :func:`to_xml` writes the same tree as XML,
a list under key ``Xs`` becoming ``<Xs><X/>...</Xs>``, so one description serves both encodings.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

TDX_NS = "http://traffic.transportdata.tw/standard/traffic/schema/"
TIX_NS = "http://ptx.transportdata.tw/standard/schema/TIX"
BOM = b"\xef\xbb\xbf"


def lane(lane_id, speed, occupancy, vehicles, error_type=None):
    """A Lane; ``vehicles`` maps VehicleType -> Volume or (Volume, Speed)."""
    entries = []
    for kind, value in vehicles.items():
        volume, speed_v = value if isinstance(value, tuple) else (value, None)
        entry = {"VehicleType": kind, "Volume": volume}
        if speed_v is not None:
            entry["Speed"] = speed_v
        entries.append(entry)
    out = {"LaneID": lane_id, "LaneType": 1, "Speed": speed, "Occupancy": occupancy, "Vehicles": entries}
    if error_type is not None:
        out["ErrorType"] = error_type
    return out


def vdlive(vd_id, time, links, status=0, json_extras=False):
    """A VDLive; ``links`` is a list of lane lists, one per LinkFlow."""
    out = {"VDID": vd_id}
    if json_extras:
        out["SubAuthorityCode"] = "NFB-CR"
    out["LinkFlows"] = [{"LinkID": f"{vd_id[-6:]}L{i}", "Lanes": lanes} for i, lanes in enumerate(links)]
    out["Status"] = status
    out["DataCollectTime"] = time
    return out


def live_list(lives, json_extras=False):
    doc = {"UpdateTime": "2022-03-04T17:40:10+08:00", "UpdateInterval": 60}
    if json_extras:
        doc |= {"SrcUpdateTime": "2022-03-04T17:40:00+08:00", "SrcUpdateInterval": 60}
    doc["AuthorityCode"] = "NFB"
    if json_extras:
        doc["LinkVersion"] = "22.03.1"
    doc["VDLives"] = lives
    return doc


def vd(vd_id, lon, lat, links, road_id=None, road_name=None, mile=None, section=None, bidirectional=0):
    """A static VD; ``links`` is a list of (RoadDirection, LaneNum)."""
    out = {"VDID": vd_id, "SubAuthorityCode": "NFB-CR", "BiDirectional": bidirectional}
    out["DetectionLinks"] = [
        {"LinkID": f"{vd_id[-6:]}L{i}", "Bearing": "S", "RoadDirection": d, "LaneNum": n, "ActualLaneNum": n}
        for i, (d, n) in enumerate(links)
    ]
    out |= {"VDType": 2, "LocationType": 1, "DetectionType": 1, "PositionLon": lon, "PositionLat": lat}
    if road_id is not None:
        out["RoadID"] = road_id
    if road_name is not None:
        out |= {"RoadName": road_name, "RoadClass": 0}
    if section is not None:
        out["RoadSection"] = {"Start": section[0], "End": section[1]}
    if mile is not None:
        out["LocationMile"] = mile
    return out


def vd_list(vds):
    return {
        "UpdateTime": "2022-03-04T00:00:00+08:00",
        "UpdateInterval": 86400,
        "AuthorityCode": "NFB",
        "LinkVersion": "22.03.1",
        "VDs": vds,
    }


def _xml(tag, value, lower, pad, pretty, depth):
    name = tag.lower() if lower else tag
    nl = "\n" + "  " * depth if pretty else ""
    if isinstance(value, list):
        inner = "".join(_xml(tag[:-1], v, lower, pad, pretty, depth + 1) for v in value) + nl
    elif isinstance(value, dict):
        inner = "".join(_xml(k, v, lower, pad, pretty, depth + 1) for k, v in value.items()) + nl
    else:
        inner = escape(str(value))
        inner = f"  {inner}\n " if pad else inner
    return f"{nl}<{name}>{inner}</{name}>"


def to_xml(root, doc, ns=TDX_NS, lower=False, pad=False, pretty=False, bom=False) -> bytes:
    """The document as XML bytes with a default namespace; no whitespace at all unless ``pretty``."""
    name = root.lower() if lower else root
    body = "".join(_xml(k, v, lower, pad, pretty, 1) for k, v in doc.items())
    text = f'<?xml version="1.0" encoding="utf-8"?><{name} xmlns="{ns}">{body}</{name}>'
    return (BOM if bom else b"") + text.encode()


def to_json(doc, bom=False) -> bytes:
    return (BOM if bom else b"") + json.dumps(doc, ensure_ascii=False).encode()


def nfb_value(infos, interval=300) -> bytes:
    """NFB v1.1 vd_value file; ``infos`` = [(vdid, status, time, [(vsrid, speed, occ, {carid: volume})])]."""
    parts = [
        f'<?xml version="1.0" encoding="utf-8"?><XML_Head version="1.1" listname="VD" '
        f'updatetime="2020/02/01 00:00:10" interval="{interval}"><Infos>'
    ]
    for vdid, status, time, lanes in infos:
        parts.append(f'<Info vdid="{vdid}" status="{status}" datacollecttime="{time}">')
        for vsrid, speed, occ, cars in lanes:
            parts.append(f'<lane vsrdir="0" vsrid="{vsrid}" speed="{speed}" laneoccupy="{occ}">')
            parts.extend(f'<cars carid="{c}" volume="{v}"/>' for c, v in cars.items())
            parts.append("</lane>")
        parts.append("</Info>")
    parts.append("</Infos></XML_Head>")
    return "".join(parts).encode()


def nfb_info(infos) -> bytes:
    """NFB v1.1 vd_info file; ``infos`` = [(vdid, routeid, px, py)]."""
    body = "".join(
        f'<Info vdid="{v}" routeid="{r}" roadsection="{r}-sec" locationpath="x" startlocationpoint="0" '
        f'endlocationpoint="1" roadtype="1" px="{px}" py="{py}"/>'
        for v, r, px, py in infos
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><XML_Head version="1.1" listname="VDInfo" '
        f'updatetime="2020/01/31 00:00:00" interval="86400"><Infos>{body}</Infos></XML_Head>'
    ).encode()


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return write(path, buffer.getvalue())

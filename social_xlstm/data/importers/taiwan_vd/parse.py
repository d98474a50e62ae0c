"""Taiwan VD records: what one VDLive / VD / NFB v1.1 Info element (or JSON object) says, cleaned.

The record half of the ``taiwan-vd`` importer: :mod:`.files` finds and opens files and calls the
builders here; :mod:`.taiwan_vd` aggregates and writes. Three record types come out:

* :class:`Reading`   one VD at one ``DataCollectTime``: status and its lanes (cleaned numbers, NaN = missing)
* :class:`VDInfo`    one VD of a static list (VDList ``VD`` or NFB v1.1 ``vd_info`` ``Info``)
* :class:`Interval`  the measurement interval a live file declares (``UpdateInterval`` / ``interval``)

XML elements and JSON objects read through the same accessors: tags and keys are matched without
namespace (TDX v2.0 or the older Taipei TIX) and case-insensitively, values are stripped.

Error codes (-99 in any spelling, -1 and every other negative value, 255) and out-of-range values (speed >
200 km/h, occupancy > 100 %, volume > 60 vehicles per lane and minute; NFB v1.1 files, whose vd_value5
readings cover 5 minutes, allow 300) become NaN here, as do lanes with a per-lane ``ErrorType``.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

TAIPEI = timezone(timedelta(hours=8))  # Taiwan has kept UTC+8 without daylight saving since 1979
MAX_SPEED = 200.0  # km/h
MAX_OCCUPANCY = 100.0  # %
MAX_VOLUME_PER_MINUTE = 60.0  # vehicles per lane and minute: 3,600 veh/h, well above lane capacity
ERROR_CODES = frozenset({-99.0, -1.0, 255.0})
_OK_ERROR_TYPES = frozenset({"", "0", "none", "normal"})


@dataclass
class Lane:
    """One lane of one reading; NaN where the value is missing or an error code."""

    volume: float
    """Vehicles counted in the reading interval, all vehicle types together."""
    speed: float
    """Mean speed (km/h)."""
    occupancy: float
    """Occupancy (%)."""


@dataclass
class Reading:
    """One VD at one collection time."""

    vd_id: str
    time: str
    """``DataCollectTime`` as written in the file (parse with :func:`parse_time`)."""
    status: int
    """0 = normal; anything else marks a faulty detector whose values are not used."""
    lanes: list[Lane] = field(default_factory=list)


@dataclass
class VDInfo:
    """Static facts of one VD."""

    vd_id: str
    lat: float | None
    lon: float | None
    road: str | None = None
    direction: str | None = None
    lanes: int | None = None
    name: str | None = None
    km: float | None = None


@dataclass
class Interval:
    """Measurement interval declared by a live file, in seconds."""

    seconds: int
    label: str


Record = Reading | VDInfo | Interval


# ---------------------------------------------------------------------------------------------- numbers


def clean_number(value: object, upper: float) -> float:
    """A reading as float, NaN for empty values, error codes, negatives and values above ``upper``."""
    if value is None or isinstance(value, (dict, list)):
        return math.nan
    try:
        x = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return math.nan
    if not math.isfinite(x) or x < 0 or x in ERROR_CODES or x > upper:
        return math.nan
    return x


def parse_mile(text: str | None) -> float | None:
    """``"15K+700"`` -> 15.7 (km); ``None`` when absent or not of that form."""
    if not text:
        return None
    head, _, tail = text.upper().replace(" ", "").partition("K")
    try:
        return float(head) + (float(tail.lstrip("+")) / 1000.0 if tail.strip("+") else 0.0)
    except ValueError:
        return None


def _mile_from_id(vd_id: str) -> tuple[float | None, str | None]:
    """Kilometre and direction in freeway VDIDs (``VD-N3-S-15.700-M-LOOP``, ``nfbVD-N1-N-0.000-M``)."""
    parts = vd_id.split("-")
    for i in range(1, len(parts) - 1):
        if parts[i] in ("N", "S", "E", "W"):
            try:
                return float(parts[i + 1]), parts[i]
            except ValueError:
                continue
    return None, None


_time_cache: dict[str, int] = {}


def parse_time(text: str) -> int:
    """A ``DataCollectTime`` as UTC epoch seconds; times without zone are Asia/Taipei local.

    Accepts ``2022-03-04T17:39:00+08:00``, ``2022-03-04T17:38:00.000+08:00``, a trailing ``Z`` and the NFB
    v1.1 form ``2020/01/31 23:55:00``. Raises ``ValueError`` otherwise.
    """
    cached = _time_cache.get(text)
    if cached is not None:
        return cached
    norm = text.strip().replace("/", "-")
    if norm.endswith(("Z", "z")):
        norm = norm[:-1] + "+00:00"
    stamp = datetime.fromisoformat(norm)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=TAIPEI)
    seconds = int(stamp.timestamp())
    if len(_time_cache) > 100_000:  # snapshots repeat a handful of times; keep the cache small on long runs
        _time_cache.clear()
    _time_cache[text] = seconds
    return seconds


# ---------------------------------------------------------------------------------------------- trees


_local_names: dict[str, str] = {}


def local_name(tag: str) -> str:
    """Tag without namespace, lower-cased: files differ in namespace and in case."""
    name = _local_names.get(tag)
    if name is None:  # a file has a few dozen distinct tags, seen millions of times
        name = _local_names[tag] = tag.rpartition("}")[2].lower()
    return name


def element_obj(el: ET.Element) -> dict | str:
    """An element as nested dicts: leaf -> stripped text, otherwise {child tag: [child objects]}."""
    if not len(el):
        return (el.text or "").strip()
    obj: dict = {}
    for child in el:
        name = local_name(child.tag)
        value = element_obj(child)
        if name in obj:
            obj[name].append(value)
        else:
            obj[name] = [value]
    return obj


def norm_json(value: object) -> object:
    """JSON with lower-cased keys and stripped strings, so JSON and XML read through the same accessors."""
    if isinstance(value, dict):
        return {str(k).lower(): norm_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [norm_json(v) for v in value]
    if isinstance(value, str):
        return value.strip()
    return value


def _scalar(obj: dict, key: str) -> object:
    value = obj.get(key)
    while isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) or value == "":
        return None
    return value


def _text(obj: dict, key: str) -> str | None:
    value = _scalar(obj, key)
    return None if value is None else str(value).strip() or None


def _child(obj: dict, key: str) -> dict:
    value = obj.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, dict) else {}


def items(obj: dict, container: str, item: str) -> list[dict]:
    """Children of a list container: XML ``<Lanes><Lane/>...`` and JSON ``"Lanes": [...]`` alike."""
    value = obj.get(container)
    if value is None or isinstance(value, str):
        return []
    out: list[dict] = []
    for entry in value if isinstance(value, list) else [value]:
        if isinstance(entry, dict) and set(entry) == {item}:
            inner = entry[item]
            out.extend(x for x in (inner if isinstance(inner, list) else [inner]) if isinstance(x, dict))
        elif isinstance(entry, dict):
            out.append(entry)
    return out


def to_int(value: object) -> int | None:
    try:
        return int(float(str(value).strip()))
    except (TypeError, ValueError):
        return None


def _coord(value: object, limit: float) -> float | None:
    """A coordinate, ``None`` when absent, zero (the NFB 'unknown' marker) or out of range."""
    try:
        x = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x != 0.0 and abs(x) <= limit else None


# ---------------------------------------------------------------------------------------------- TDX records


def make_lane(
    speed: object, occupancy: object, error_type: object, vehicles: list[tuple[object, object]] | None
) -> Lane:
    """A cleaned :class:`Lane` from raw values; ``vehicles`` = [(Volume, Speed or None)] per vehicle type."""
    if str(error_type or "").strip().lower() not in _OK_ERROR_TYPES:
        return Lane(math.nan, math.nan, math.nan)
    lane_speed = clean_number(speed, MAX_SPEED)
    volume, vehicle_sum, vehicle_weight = 0.0, 0.0, 0.0
    for raw_volume, raw_speed in vehicles or ():
        v = clean_number(raw_volume, MAX_VOLUME_PER_MINUTE)
        volume += v  # one broken vehicle class makes the lane total unknown (NaN propagates)
        s = clean_number(raw_speed, MAX_SPEED)
        if v > 0 and not math.isnan(s):
            vehicle_sum += v * s
            vehicle_weight += v
    if not vehicles:
        volume = math.nan
    if math.isnan(lane_speed) and vehicle_weight > 0:
        # newer feeds carry per-class speeds: use them when the lane's own speed is bad
        lane_speed = vehicle_sum / vehicle_weight
    return Lane(volume, lane_speed, clean_number(occupancy, MAX_OCCUPANCY))


def _tdx_lane(lane: dict) -> Lane:
    vehicles = [(_scalar(v, "volume"), _scalar(v, "speed")) for v in items(lane, "vehicles", "vehicle")]
    return make_lane(_scalar(lane, "speed"), _scalar(lane, "occupancy"), _scalar(lane, "errortype"), vehicles)


def tdx_live(obj: dict) -> Reading:
    """A ``VDLive`` from its JSON object (or :func:`element_obj` of its element)."""
    lanes = [_tdx_lane(lane) for link in items(obj, "linkflows", "linkflow") for lane in items(link, "lanes", "lane")]
    status = to_int(_scalar(obj, "status"))
    return Reading(_text(obj, "vdid") or "", _text(obj, "datacollecttime") or "", status or 0, lanes)


def _leaves(el: ET.Element) -> dict[str, str]:
    return {local_name(child.tag): (child.text or "").strip() for child in el if not len(child)}


def tdx_live_element(el: ET.Element) -> Reading:
    """A ``VDLive`` straight from its XML element: the same result as ``tdx_live(element_obj(el))``.

    Walking the known structure directly is about twice as fast as building the generic tree, and VDLive
    elements are millions per day of data.
    """
    lanes: list[Lane] = []
    for part in el:
        if local_name(part.tag) != "linkflows":
            continue
        for link in part:
            for lane_list in link:
                if local_name(lane_list.tag) != "lanes":
                    continue
                for lane in lane_list:
                    values = _leaves(lane)
                    vehicles = [
                        (leaves.get("volume"), leaves.get("speed"))
                        for group in lane
                        if local_name(group.tag) == "vehicles"
                        for leaves in map(_leaves, group)
                    ]
                    lanes.append(
                        make_lane(values.get("speed"), values.get("occupancy"), values.get("errortype"), vehicles)
                    )
    head = _leaves(el)
    status = to_int(head.get("status"))
    return Reading(head.get("vdid", ""), head.get("datacollecttime", ""), status or 0, lanes)


def tdx_static(obj: dict) -> VDInfo:
    vd_id = _text(obj, "vdid") or ""
    links = items(obj, "detectionlinks", "detectionlink")
    lane_counts = [n for n in (to_int(_scalar(link, "lanenum")) for link in links) if n is not None]
    road_name, road_id = _text(obj, "roadname"), _text(obj, "roadid")
    section = _child(obj, "roadsection")
    start, end = _text(section, "start"), _text(section, "end")
    mile = _text(obj, "locationmile")
    id_km, id_dir = _mile_from_id(vd_id)
    km = parse_mile(mile)
    name_parts = [road_name or road_id, f"{start}-{end}" if start and end else None, mile]
    return VDInfo(
        vd_id=vd_id,
        lat=_coord(_scalar(obj, "positionlat"), 90.0),
        lon=_coord(_scalar(obj, "positionlon"), 180.0),
        road=road_id or road_name,
        direction=(_text(links[0], "roaddirection") if links else None) or id_dir,
        lanes=sum(lane_counts) if lane_counts else None,
        name=" ".join(p for p in name_parts if p) or vd_id,
        km=km if km is not None else id_km,
    )


# ---------------------------------------------------------------------------------------------- NFB v1.1


def nfb_live(info: ET.Element) -> Reading:
    attrs = {k.lower(): v.strip() for k, v in info.attrib.items()}
    lanes = []
    for lane in info:
        if local_name(lane.tag) != "lane":
            continue
        lane_attrs = {k.lower(): v for k, v in lane.attrib.items()}
        volumes = [
            clean_number({k.lower(): v for k, v in cars.attrib.items()}.get("volume"), MAX_VOLUME_PER_MINUTE * 5)
            for cars in lane
            if local_name(cars.tag) == "cars"
        ]
        lanes.append(
            Lane(
                volume=sum(volumes) if volumes else math.nan,
                speed=clean_number(lane_attrs.get("speed"), MAX_SPEED),
                occupancy=clean_number(lane_attrs.get("laneoccupy"), MAX_OCCUPANCY),
            )
        )
    return Reading(attrs.get("vdid", ""), attrs.get("datacollecttime", ""), to_int(attrs.get("status")) or 0, lanes)


def nfb_static(info: ET.Element) -> VDInfo:
    attrs = {k.lower(): v.strip() for k, v in info.attrib.items()}
    vd_id = attrs.get("vdid", "")
    km, direction = _mile_from_id(vd_id)
    lanes = to_int(attrs.get("lanenum") or attrs.get("vsrnum"))
    road = attrs.get("routeid") or None
    section = attrs.get("roadsection") or attrs.get("locationpath") or None
    return VDInfo(
        vd_id=vd_id,
        lat=_coord(attrs.get("py"), 90.0),
        lon=_coord(attrs.get("px"), 180.0),
        road=road,
        direction=direction,
        lanes=lanes,
        name=" ".join(p for p in (road, section) if p) or vd_id,
        km=km,
    )

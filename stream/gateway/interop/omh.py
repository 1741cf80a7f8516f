"""Open mHealth data points (header + body) → measurements of the device's patient.

``POST /omh/v1/datapoints`` takes one data point or a JSON array of them, of the schemas
``omh:heart-rate``, ``omh:step-count``, ``omh:oxygen-saturation``, ``omh:respiratory-rate`` and
``omh:body-temperature`` (any version whose body has the measure as ``{"value", "unit"}``, or a
bare number for step-count 1.x). The time is ``effective_time_frame.date_time``, or the end of its
``time_interval`` (given, or start + duration). ``header.user_id``, when given, must be the token's
patient (the pseudonymous id); it is not stored otherwise. Refusals name the element as a JSON
path (``$[3].body.heart_rate.unit``).

>>> from wearmon.stream.gateway.tokens import Grant
>>> point = {"header": {"id": "1", "schema_id": {"namespace": "omh", "name": "heart-rate",
...          "version": "2.0"}}, "body": {"heart_rate": {"value": 61, "unit": "beats/min"},
...          "effective_time_frame": {"date_time": "2025-05-01T10:00:00Z"}}}
>>> [m] = read(orjson.dumps([point]), Grant("watch-1", "p-0001", "0" * 64, 0))
>>> m.t_ms, m.field, m.value, m.element
(1746093600000, 'hr_bpm', 61.0, '$[0].body.heart_rate.value')
"""

from __future__ import annotations

from typing import Any

import orjson

from wearmon.stream.gateway.interop.codes import DURATION_MS, OMH
from wearmon.stream.gateway.interop.measurements import Measurement, Refused, number, parse_time
from wearmon.stream.gateway.tokens import Grant

MEASURE_KEYS = frozenset(m.body_key for m in OMH.values())


def member(doc: dict[str, Any], key: str, path: str, kind: type = dict) -> Any:
    """``doc[key]`` of type ``kind``, or ``Refused`` naming ``path.key``."""
    if key not in doc:
        raise Refused(f"{path}.{key}", "missing_field", f"{key} is required")
    if not isinstance(doc[key], kind):
        raise Refused(f"{path}.{key}", "wrong_type", f"{key} must be a JSON {kind.__name__}")
    return doc[key]


def points(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused("$", "not_json", "not valid UTF-8 JSON") from None
    listed = doc if isinstance(doc, list) else [doc]
    if not listed:
        raise Refused("$", "empty", "no data points")
    found = []
    for index, point in enumerate(listed):
        path = f"$[{index}]" if isinstance(doc, list) else "$"
        if not isinstance(point, dict):
            raise Refused(path, "wrong_type", "a data point (a JSON object) is needed")
        found.append((path, point))
    return found


def schema_of(path: str, header: dict[str, Any]) -> str:
    schema = member(header, "schema_id", f"{path}.header")
    if schema.get("namespace") != "omh":
        raise Refused(f"{path}.header.schema_id.namespace", "unknown_schema",
                      "only schemas of the omh namespace are taken")
    name = schema.get("name")
    if name not in OMH:
        raise Refused(f"{path}.header.schema_id.name", "unknown_schema",
                      f"{str(name)[:40]!r} is not taken (known: {', '.join(OMH)})")
    return str(name)


def end_of(frame: dict[str, Any], path: str) -> tuple[int, str]:
    """The time of an effective time frame (the end of an interval) and its element."""
    if "date_time" in frame:
        return parse_time(frame["date_time"], f"{path}.date_time"), f"{path}.date_time"
    if "time_interval" not in frame:
        raise Refused(path, "imprecise_time", "date_time or time_interval is needed")
    interval = member(frame, "time_interval", path)
    where = f"{path}.time_interval"
    if "end_date_time" in interval:
        return parse_time(interval["end_date_time"], f"{where}.end_date_time"), \
            f"{where}.end_date_time"
    if "start_date_time" not in interval or "duration" not in interval:
        raise Refused(where, "imprecise_time",
                      "end_date_time, or start_date_time and duration, is needed")
    start_ms = parse_time(interval["start_date_time"], f"{where}.start_date_time")
    duration = member(interval, "duration", where)
    scale = DURATION_MS.get(duration.get("unit"))
    if scale is None:
        raise Refused(f"{where}.duration.unit", "unknown_unit",
                      f"duration units: {', '.join(DURATION_MS)}")
    return start_ms + int(number(duration.get("value"), f"{where}.duration.value") * scale), \
        f"{where}.duration"


def measurement(path: str, point: dict[str, Any], grant: Grant) -> Measurement:
    header = member(point, "header", path)
    name = schema_of(path, header)
    if "user_id" in header and header["user_id"] != grant.patient_id:
        raise Refused(f"{path}.header.user_id", "patient_not_granted",
                      "user_id must be this device's patient (the pseudonymous id)", 403)
    body = member(point, "body", path)
    omh = OMH[name]
    where = f"{path}.body.{omh.body_key}"
    raw = body.get(omh.body_key)
    if raw is None:
        raise Refused(where, "missing_value", f"{omh.body_key} is required")
    if omh.bare_number and not isinstance(raw, dict):
        value, element = number(raw, where), where
    else:
        if not isinstance(raw, dict):
            raise Refused(where, "wrong_type", "a {\"value\", \"unit\"} object is needed")
        unit = raw.get("unit")
        converted = omh.value(number(raw.get("value"), f"{where}.value"), str(unit))
        if converted is None:
            raise Refused(f"{where}.unit", "unknown_unit",
                          f"{str(unit)[:20]!r} is not a unit of omh:{name} (known: "
                          f"{', '.join(omh.units)})")
        value, element = converted, f"{where}.value"
    frame = member(body, "effective_time_frame", f"{path}.body")
    t_ms, time_element = end_of(frame, f"{path}.body.effective_time_frame")
    return Measurement(t_ms, omh.field, value, element, time_element)


def read(body: bytes, grant: Grant) -> list[Measurement]:
    """Every measurement of the request, or ``Refused`` at the first element that is not one."""
    return [measurement(path, point, grant) for path, point in points(body)]


def kept(body: bytes) -> bytes:
    """What a dead letter keeps of a refused request: each point's schema id and the body's
    measure and time frame; not the header's ids, provenance or user id. Not JSON: nothing."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b""
    listed = doc if isinstance(doc, list) else [doc]
    out = []
    for point in listed:
        header = point.get("header") if isinstance(point, dict) else None
        body_doc = point.get("body") if isinstance(point, dict) else None
        out.append({
            "header": {"schema_id": header.get("schema_id")} if isinstance(header, dict) else {},
            "body": {k: v for k, v in body_doc.items()
                     if k in MEASURE_KEYS or k == "effective_time_frame"}
            if isinstance(body_doc, dict) else {}})
    return orjson.dumps(out)

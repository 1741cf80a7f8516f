"""Measurements read from a FHIR or Open mHealth request → one contract-v1 upload.

Every measurement remembers the request element it came from, so that an answer about the
upload (``samples[2].hr_bpm`` out of range) names the request's own element
(``Bundle.entry[5].resource.valueQuantity``). Measurements at the same time become one sample;
the same field twice at one time with two values is refused (``duplicate_time``). The upload id
is a digest of the device and the samples: a request sent again is the same upload, which the
worker drops as a duplicate.

>>> from wearmon.stream.gateway.tokens import Grant
>>> grant = Grant("watch-1", "p-0001", "0" * 64, 0)
>>> done = to_upload([Measurement(2000, "hr_bpm", 61.0, "Observation.valueQuantity"),
...                   Measurement(1000, "steps", 4.0, "Bundle.entry[1].resource.valueQuantity")],
...                  grant, 5000, "fhir", "Bundle.entry")
>>> orjson.loads(done.raw)["samples"]
[{'t_ms': 1000, 'steps': 4}, {'t_ms': 2000, 'hr_bpm': 61.0}]
>>> done.origin["samples[1].hr_bpm"]
'Observation.valueQuantity'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from wearmon.stream.core.schema import SCHEMA_VERSION
from wearmon.stream.gateway.admission import Converted, refuse
from wearmon.stream.gateway.tokens import Grant


class Refused(Exception):
    """A request element that cannot become part of an upload (``refusal`` says why)."""

    def __init__(self, element: str, reason: str, detail: str, status: int = 400) -> None:
        super().__init__(detail)
        self.refusal = refuse(status, element, reason, detail)


@dataclass(frozen=True, slots=True)
class Measurement:
    """One value of one contract field at one time, and the element it was read from."""

    t_ms: int
    field: str
    value: float
    element: str
    time_element: str = ""  # the element of its time (for time issues); default: ``element``


def epoch_ms(moment: datetime, element: str) -> int:
    """Milliseconds since the epoch of an aware date-time; ``Refused`` without a time zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Refused(element, "imprecise_time", "a date-time with a time zone is needed")
    return int(moment.timestamp() * 1000)


def parse_time(text: object, element: str) -> int:
    """An RFC 3339 date-time (``2025-05-01T10:00:00Z``) in ms since the epoch, or ``Refused``."""
    if not isinstance(text, str) or "T" not in text:
        raise Refused(element, "imprecise_time", "a date-time with a time zone is needed")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Refused(element, "bad_time", "not an RFC 3339 date-time") from None
    return epoch_ms(moment, element)


def number(value: object, element: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused(element, "wrong_type", "a number is needed")
    return float(value)


def samples_of(measurements: list[Measurement]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Samples by time (sorted) and where each of their fields came from."""
    by_time: dict[int, dict[str, Any]] = {}
    first: dict[tuple[int, str], Measurement] = {}
    for m in measurements:
        sample = by_time.setdefault(m.t_ms, {"t_ms": m.t_ms})
        if m.field in sample:
            if sample[m.field] != m.value:
                raise Refused(m.element, "duplicate_time",
                              f"another {m.field} value at the same time")
            continue
        sample[m.field] = int(m.value) if m.field == "steps" and m.value.is_integer() else m.value
        first[(m.t_ms, m.field)] = m
    origin: dict[str, str] = {}
    samples = [by_time[t] for t in sorted(by_time)]
    for index, sample in enumerate(samples):
        for name in sample:
            if name != "t_ms":
                m = first[(sample["t_ms"], name)]
                origin[f"samples[{index}].{name}"] = m.element
                origin.setdefault(f"samples[{index}]", m.time_element or m.element)
                origin.setdefault(f"samples[{index}].t_ms", m.time_element or m.element)
    return samples, origin


def to_upload(measurements: list[Measurement], grant: Grant, received_ms: int, prefix: str,
              all_element: str) -> Converted:
    """The contract-v1 upload of one request (its device and patient: the token's)."""
    samples, origin = samples_of(measurements)
    content = orjson.dumps([grant.device_id, samples])
    upload_id = f"{prefix}-{hashlib.blake2b(content, digest_size=12).hexdigest()}"
    raw = orjson.dumps({"schema_version": SCHEMA_VERSION, "upload_id": upload_id,
                        "device_id": grant.device_id, "patient_id": grant.patient_id,
                        "uploaded_at_ms": received_ms, "samples": samples})
    origin |= {"samples": all_element, "$": all_element}
    return Converted(raw, origin)

"""Telemetry contract v1: the wire format gateways send to the telemetry topic.

One Kafka message = one upload from one device = many samples; key = pseudonymous patient id.
Times are integer milliseconds since the Unix epoch, UTC. Units are in field names.
``docs/telemetry.md`` describes the contract; ``stream/core/contract/telemetry-v1.schema.json``
is the JSON Schema generated from this module (``wearmon contract``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

SCHEMA_VERSION: Final = 1
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
PATIENT_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$"


@dataclass(frozen=True, slots=True)
class Range:
    """Plausible physiological range of one sample field (inclusive), with its unit."""

    low: float
    high: float
    unit: str
    description: str
    integer: bool = False


#: Per-field plausible ranges. Values outside are physiologically impossible or sensor artefacts.
SAMPLE_RANGES: Final[dict[str, Range]] = {
    "hr_bpm": Range(25, 250, "beats/min", "heart rate"),
    "steps": Range(0, 1000, "steps", "steps since the previous sample", integer=True),
    "spo2_pct": Range(50, 100, "%", "peripheral oxygen saturation"),
    "resp_rate_brpm": Range(3, 70, "breaths/min", "respiration rate"),
    "skin_temp_c": Range(20, 45, "°C", "skin temperature"),
}
#: Each beat-to-beat interval (ms); 200-3000 ms is 20-300 beats/min.
RR_RANGE: Final = Range(200, 3000, "ms", "beat-to-beat (RR) interval", integer=True)
MAX_RR_PER_SAMPLE: Final = 400
BATTERY_RANGE: Final = Range(0, 100, "%", "device battery level")
VALUE_FIELDS: Final = tuple(SAMPLE_RANGES)


@dataclass(slots=True)
class Sample:
    """One timestamped sample; any vital may be absent (None)."""

    t_ms: int
    hr_bpm: float | None = None
    steps: int | None = None
    spo2_pct: float | None = None
    resp_rate_brpm: float | None = None
    skin_temp_c: float | None = None
    rr_ms: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Upload:
    """A validated upload. ``samples`` are sorted by ``t_ms`` with unique times."""

    upload_id: str
    device_id: str
    patient_id: str
    uploaded_at_ms: int
    received_ms: int
    samples: list[Sample]
    battery_pct: float | None = None


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a v1 upload, generated from the ranges above."""

    def number(r: Range) -> dict[str, Any]:
        return {
            "type": "integer" if r.integer else "number",
            "minimum": r.low,
            "maximum": r.high,
            "description": f"{r.description} ({r.unit})",
        }

    sample_props: dict[str, Any] = {
        "t_ms": {"type": "integer", "minimum": 0, "description": "event time, ms since epoch, UTC"},
        **{name: number(r) for name, r in SAMPLE_RANGES.items()},
        "rr_ms": {
            "type": "array",
            "items": number(RR_RANGE),
            "maxItems": MAX_RR_PER_SAMPLE,
            "description": "beat-to-beat intervals (ms) of beats in this sample, in order",
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://wearmon.dev/schema/telemetry-v1.schema.json",
        "title": "Wearmon telemetry upload v1",
        "type": "object",
        "required": ["schema_version", "upload_id", "device_id", "patient_id", "uploaded_at_ms",
                     "samples"],
        "additionalProperties": False,
        "properties": {
            "schema_version": {"const": SCHEMA_VERSION},
            "upload_id": {"type": "string", "pattern": ID_PATTERN,
                          "description": "unique per upload; re-sent uploads reuse it"},
            "device_id": {"type": "string", "pattern": ID_PATTERN},
            "patient_id": {"type": "string", "pattern": PATIENT_ID_PATTERN,
                           "description": "pseudonym issued at enrolment; never a name or MRN"},
            "uploaded_at_ms": {"type": "integer", "minimum": 0,
                               "description": "gateway send time, ms since epoch, UTC"},
            "battery_pct": number(BATTERY_RANGE),
            "samples": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["t_ms"],
                    "additionalProperties": False,
                    "properties": sample_props,
                },
            },
        },
    }

"""Results → InfluxDB line protocol (schema: docs/influx-schema.md). Pure functions.

Every timestamp is in nanoseconds (the ``/write`` default on InfluxDB 1.x, 2.x and 3.x), so one
batch is one request. influxdb-client's ``Point`` gives correct escaping for the low-rate
measurements; raw vitals are formatted directly (~10x cheaper per point; their ids match safe
patterns). Points are idempotent: the same input gives the same series and timestamp.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from influxdb_client import Point, WritePrecision

from wearmon.stream.alerts.lifecycle import ACTIVE, AlertEvent
from wearmon.stream.core.pipeline import Result
from wearmon.stream.core.validation import Rejection

if TYPE_CHECKING:
    from wearmon.stream.notify.deliver import DeliveryResult

_VITAL_FIELDS = ("hr_bpm", "spo2_pct", "resp_rate_brpm", "skin_temp_c")
_STATUS_CODE = {"ok": 0, "attention": 1, "alert": 2, "cant_assess": 3}


NS_PER_MS = 1_000_000


def _point(measurement: str, t_ms: int, extra_ns: int = 0) -> Point:
    return Point(measurement).time(t_ms * NS_PER_MS + extra_ns, WritePrecision.NS)


def vitals_lines(result: Result) -> list[str]:
    """Native-rate vitals and beat times, formatted directly (ids match safe patterns)."""
    up = result.upload
    tags = f"patient={up.patient_id},device={up.device_id}"
    lines = []
    for s in up.samples:
        fields = [f"{name}={value!r}" for name in _VITAL_FIELDS
                  if (value := getattr(s, name)) is not None]
        if s.steps is not None:
            fields.append(f"steps={s.steps}i")
        if fields:
            lines.append(f"vitals,{tags} {','.join(fields)} {s.t_ms}000000")
        beat_ms = s.t_ms
        for rr in s.rr_ms:
            lines.append(f"beats,{tags} rr_ms={rr}i {beat_ms}000000")
            beat_ms += rr
    return lines


def result_lines(result: Result) -> list[str]:
    """Everything one processed upload produces, as line protocol."""
    patient = result.upload.patient_id
    lines = vitals_lines(result)
    points: list[Point] = []
    for r in result.rollups:
        p = _point("rollup_1m", r.minute_ms).tag("patient", patient)
        if r.hr_n:
            p.field("hr_mean_bpm", r.hr_mean).field("hr_min_bpm", r.hr_min)
            p.field("hr_max_bpm", r.hr_max).field("hr_samples", r.hr_n)
        if r.steps_n:
            p.field("steps", r.steps)
        if r.spo2_n:
            p.field("spo2_mean_pct", r.spo2_mean).field("spo2_min_pct", r.spo2_min)
        if r.hr_n or r.steps_n or r.spo2_n:
            points.append(p)
    for f in result.findings:
        p = _point("anomaly", f.t_ms).tag("patient", patient).tag("detector", f.detector)
        p.tag("kind", f.kind).tag("severity", f.severity.value).field("score", float(f.score))
        p.field("observed", float(f.observed)).field("explanation", f.explanation)
        if f.baseline is not None:
            p.field("baseline", float(f.baseline))
        points.append(p)
    if result.baseline is not None:
        t_ms, mean, sd = result.baseline
        points.append(_point("baseline", t_ms).tag("patient", patient)
                      .field("resting_hr_bpm", mean).field("resting_hr_sd_bpm", sd))
    q = result.quality
    if q is not None:
        p = _point("quality", q.t_ms).tag("patient", patient).tag("device", result.upload.device_id)
        p.field("samples", q.samples).field("worn_samples", q.worn_samples)
        p.field("dropped", q.dropped).field("sync_lag_s", q.sync_lag_s)
        p.field("status", q.status.value).field("status_code", _STATUS_CODE[q.status.value])
        if q.battery_pct is not None:
            p.field("battery_pct", q.battery_pct)
        points.append(p)
    lines.extend(p.to_line_protocol() for p in points)
    return lines


def rejection_line(rejection: Rejection) -> str:
    p = _point("rejected", rejection.received_ms).tag("reason", rejection.reason)
    p.tag("partial", str(rejection.partial).lower())
    p.field("count", len(rejection.issues)).field("field", rejection.field)
    return str(p.to_line_protocol())


def alert_title(event: AlertEvent) -> str:
    """Nurse-readable, no vitals: e.g. "Tachycardia: escalated (critical)"."""
    kind = event.kind.replace("_", " ").capitalize()
    return f"{kind}: {event.action.value.replace('_', ' ')} ({event.severity.value})"


def alert_line(event: AlertEvent) -> str:
    """One alert lifecycle event at ``at_ms`` plus ``step`` nanoseconds, so several transitions of
    one alert in the same millisecond stay apart. ``code``: 2 while the alert is active, 0 once
    resolved (the dashboards' status codes)."""
    p = _point("alert", event.at_ms, min(event.step, 999_999))
    p.tag("patient", event.patient).tag("kind", event.kind).tag("category", event.category.value)
    p.tag("severity", event.severity.value).tag("state", event.state.value)
    p.tag("action", event.action.value)
    p.field("alert_id", event.alert_id).field("title", alert_title(event))
    p.field("step", event.step).field("level", event.level)
    p.field("code", 2 if event.state in ACTIVE else 0)
    return str(p.to_line_protocol())


def notification_line(result: DeliveryResult) -> str:
    """One delivery result (no content) at ``at_ms`` plus a few nanoseconds derived from the
    idempotency key, so results in one millisecond stay apart; ``status`` is a tag (the pipeline
    dashboard groups by it)."""
    p = _point("notification", result.at_ms, zlib.crc32(result.key.encode()) % 1_000_000)
    p.tag("patient", result.patient).tag("audience", result.audience.value)
    p.tag("status", result.status.value).tag("recipient_id", result.recipient_id)
    p.field("alert_id", result.alert_id).field("step", result.step)
    p.field("attempts", result.attempts).field("latency_ms", result.latency_ms)
    if result.error:
        p.field("error", result.error)
    return str(p.to_line_protocol())


def pipeline_line(worker: str, t_ms: int, counts: dict[str, float]) -> str:
    p = _point("pipeline", t_ms).tag("worker", worker)
    for name, value in counts.items():
        p.field(name, value)
    return str(p.to_line_protocol())

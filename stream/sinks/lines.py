"""Results → InfluxDB line protocol (schema: docs/influx-schema.md). Pure functions.

Every timestamp is in nanoseconds (the ``/write`` default on InfluxDB 1.x, 2.x and 3.x), so one
batch is one request. influxdb-client's ``Point`` gives correct escaping for the low-rate
measurements; raw vitals are formatted directly, a whole batch at once (``batch_lines``; ~10x
cheaper per point; their ids match safe patterns). Points are idempotent: the same input gives
the same series and timestamp.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np
from influxdb_client import Point, WritePrecision

from wearmon.stream.alerts.lifecycle import ACTIVE, SYSTEM, AlertEvent
from wearmon.stream.core.issues import as_bytes, safe_text
from wearmon.stream.core.pipeline import Result
from wearmon.stream.core.schema import FLOAT_FIELDS, Columns
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks.records import PipelineHealth, Rollup, UploadPoints

if TYPE_CHECKING:
    from wearmon.stream.notify.deliver import DeliveryResult

_LINE_FIELDS = FLOAT_FIELDS  # the rows of ``Columns.values``
_BITS = np.array([1 << i for i in range(len(_LINE_FIELDS))])
_CODES = 1 << len(_LINE_FIELDS)  # codes are below this
#: The same fields for ``%`` formatting (``%r`` is ``repr``, ``%.0f`` as ``{:.0f}``).
_PERCENT = tuple("steps=%.0fi" if name == "steps" else f"{name}=%r" for name in _LINE_FIELDS)
_STATUS_CODE = {"ok": 0, "attention": 1, "alert": 2, "cant_assess": 3}


NS_PER_MS = 1_000_000


def _point(measurement: str, t_ms: int, extra_ns: int = 0) -> Point:
    return Point(measurement).time(t_ms * NS_PER_MS + extra_ns, WritePrecision.NS)


@lru_cache(maxsize=64)
def _percent_template(code: int) -> tuple[str, tuple[int, ...]]:
    """``%s<fields> %d000000`` for the vitals of ``code`` (the ``%s``: measurement and tags)."""
    rows = tuple(i for i in range(len(_LINE_FIELDS)) if code >> i & 1)
    return "%s" + ",".join(_PERCENT[i] for i in rows) + " %d000000", rows


def _format_many(template: str, columns: Sequence[Sequence[object]]) -> list[str]:
    """``template % row`` for each row of ``columns`` (one list per ``%`` argument), as one
    ``%`` call over the repeated template (the arguments hold no newline).

    >>> _format_many("%s=%r", [["a", "b"], [1.5, 2.0]])
    ['a=1.5', 'b=2.0']
    """
    count = len(columns[0])
    if not count:
        return []
    args = tuple(chain.from_iterable(zip(*columns, strict=True)))
    text = "\n".join([template] * count) % args
    return text.split("\n")


def vitals_lines(results: Sequence[UploadPoints]) -> list[list[str]]:
    """Native-rate vitals and beats of each result, formatted directly over the batch's
    concatenated arrays: samples are grouped by which vitals they carry, with one ``%`` call
    per group (not per upload) and one per batch for the beats. Ids match safe patterns (no
    escaping needed).

    Each result's lines come by group (ascending code), then by time; then its beats.
    """
    if not results:
        return []
    columns = [r.columns for r in results]
    prefixes = [f"patient={r.patient_id},device={r.device_id}{ward_tag(r.ward)} "
                for r in results]
    counts = np.array([len(c) for c in columns], dtype=np.int64)
    owner = np.repeat(np.arange(len(results)), counts)  # the result of each sample
    values = np.concatenate([c.values for c in columns], axis=1)
    t_ms = np.concatenate([c.t_ms for c in columns])
    codes = _BITS @ ~np.isnan(values)
    present = np.flatnonzero(codes)
    order = present[np.argsort(owner[present] * _CODES + codes[present], kind="stable")]
    sorted_codes = codes[order]
    vitals_prefix = np.array([f"vitals,{p}" for p in prefixes], dtype=object)
    lines = np.empty(len(order), dtype=object)
    for code in np.unique(sorted_codes).tolist():
        at = np.flatnonzero(sorted_codes == code)
        samples = order[at]
        template, rows = _percent_template(code)
        lines[at] = _format_many(template, [vitals_prefix[owner[samples]].tolist(),
                                            *values[list(rows)][:, samples].tolist(),
                                            t_ms[samples].tolist()])
    ends = np.cumsum(np.bincount(owner[order], minlength=len(results))).tolist()
    flat: list[str] = lines.tolist()
    out = [flat[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    rr_count = np.concatenate([c.rr_count for c in columns])
    if rr_count.any():
        rr_ms = np.concatenate([c.rr_ms for c in columns])
        beats = Columns(t_ms, values, rr_ms, rr_count).beats()
        beat_owner = np.repeat(owner, rr_count)
        beats_prefix = np.array([f"beats,{p}" for p in prefixes], dtype=object)
        beat_lines = _format_many("%srr_ms=%di %d000000", [beats_prefix[beat_owner].tolist(),
                                                            rr_ms.tolist(), beats.t_ms.tolist()])
        ends = np.cumsum(np.bincount(beat_owner, minlength=len(results))).tolist()
        for upload_lines, start, end in zip(out, [0, *ends[:-1]], ends, strict=True):
            upload_lines.extend(beat_lines[start:end])
    return out


def ward_tag(ward: str) -> str:
    """The ``ward`` tag after a point's other tags ("" for no ward). Enrolment allows only
    letters, digits, ``_ .'/-`` and spaces in a ward; a space is escaped.

    >>> ward_tag("Ward 3"), ward_tag("")
    (',ward=Ward\\\\ 3', '')
    """
    escaped = ward.replace(" ", "\\ ")
    return f",ward={escaped}" if ward else ""


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _fields(fields: Iterable[tuple[str, object]]) -> str:
    """``k=v,…`` of typed field values (None values are left out)."""
    return ",".join([f"{k}={_value(v)}" for k, v in fields if v is not None])


def line(measurement: str, tags: str, fields: dict[str, object], t_ms: int) -> str:
    """One line from safe tags (``k=v,…``) and typed field values (None values are left out).

    >>> line("baseline", "patient=p-0001", {"resting_hr_bpm": 61.5, "n": 3, "x": None}, 1)
    'baseline,patient=p-0001 resting_hr_bpm=61.5,n=3i 1000000'
    """
    return f"{measurement},{tags} {_fields(fields.items())} {t_ms}000000"


def minute_line(patient: str, m: Rollup) -> str | None:
    """The ``rollup_1m`` point of one closed minute (None: nothing was measured)."""
    if not (m.hr_samples or m.steps_samples or m.spo2_samples):
        return None
    fields: list[tuple[str, object]] = []
    if m.hr_samples:
        fields += (("hr_mean_bpm", m.hr_mean_bpm), ("hr_min_bpm", m.hr_min_bpm),
                   ("hr_max_bpm", m.hr_max_bpm), ("hr_samples", m.hr_samples))
    if m.steps_samples:
        fields.append(("steps", m.steps))
    if m.spo2_samples:
        fields += (("spo2_mean_pct", m.spo2_mean_pct), ("spo2_min_pct", m.spo2_min_pct))
    return f"rollup_1m,patient={patient} {_fields(fields)} {m.start_ms}000000"


def result_lines(result: Result) -> list[str]:
    """Everything one processed upload produces, as line protocol (its observed status)."""
    return batch_lines([UploadPoints.observed(result)])[0]


def batch_lines(uploads: Sequence[UploadPoints]) -> list[list[str]]:
    """The points of each upload, with the vitals formatted for the whole batch at once
    (cheaper per upload); one list per upload, so a refused point traces to its upload."""
    out = vitals_lines(uploads)
    for lines, upload in zip(out, uploads, strict=True):
        lines.extend(_derived_lines(upload))
    return out


def _derived_lines(upload: UploadPoints) -> list[str]:
    """The upload's closed minutes, findings, baseline and quality (all but the vitals)."""
    patient = upload.patient_id
    lines = [x for m in upload.rollups if (x := minute_line(patient, m)) is not None]
    for f in upload.findings:
        p = _point("anomaly", f.t_ms).tag("patient", patient).tag("detector", f.detector)
        p.tag("kind", f.kind).tag("severity", f.severity.value).field("score", float(f.score))
        if upload.ward:
            p.tag("ward", upload.ward)
        p.field("observed", float(f.observed)).field("explanation", f.explanation)
        if f.baseline is not None:
            p.field("baseline", float(f.baseline))
        lines.append(str(p.to_line_protocol()))
    if upload.baseline is not None:
        t_ms, mean, sd = upload.baseline
        lines.append(line("baseline", f"patient={patient}",
                          {"resting_hr_bpm": mean, "resting_hr_sd_bpm": sd}, t_ms))
    q = upload.quality
    if q is not None:
        battery = "" if q.battery_pct is None else f",battery_pct={float(q.battery_pct)!r}"
        shown = (upload.status or q.status).value
        lines.append(
            f"quality,device={upload.device_id},patient={patient}{ward_tag(upload.ward)} "
            f"samples={q.samples}i,"
            f"worn_samples={q.worn_samples}i,dropped={q.dropped}i,"
            f"sync_lag_s={float(q.sync_lag_s)!r},status=\"{shown}\","
            f"status_code={_STATUS_CODE[shown]}i{battery} {q.t_ms}000000")
    return lines


def rejected_line(reason: str, partial: bool, field: str, count: int, received_ms: int,
                  original: bytes | None) -> str:
    """One ``rejected`` point; the nanoseconds come from the upload's bytes, so rejections in
    the same millisecond stay apart and a redelivered one overwrites itself."""
    crc = zlib.crc32(as_bytes(original))
    p = _point("rejected", received_ms, crc % 1_000_000).tag("reason", safe_text(reason))
    p.tag("partial", str(partial).lower()).field("count", count).field("field", safe_text(field))
    return str(p.to_line_protocol())


def rejection_line(rejection: Rejection) -> str:
    return rejected_line(rejection.reason, rejection.partial, rejection.field,
                         len(rejection.issues), rejection.received_ms, rejection.original)


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
    if event.ward:
        p.tag("ward", event.ward)
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


def pipeline_line(health: PipelineHealth) -> str:
    p = _point("pipeline", health.t_ms).tag("worker", health.worker)
    for name, value in health.values.items():
        p.field(name, value)
    return str(p.to_line_protocol())


def audit_line(event: AlertEvent) -> str:
    """The care team's action in an ``alert_audit`` point (tags ``patient``, ``kind``,
    ``action``; fields ``alert_id``, ``actor``, ``state``, ``note``), at the action's time plus
    the alert's step in nanoseconds (like ``alert`` points). A command applied again after a
    crash gets a new time and writes a second point.

    >>> from wearmon.models.base import Severity
    >>> from wearmon.stream.alerts.lifecycle import Action, AlertState, Category
    >>> e = AlertEvent("p-1:bradycardia:0", "p-1", "bradycardia", Severity.CRITICAL,
    ...     AlertState.ACKNOWLEDGED, 1_000, "nurse.jo", "on my way", 2, Action.ACKNOWLEDGED,
    ...     Category.CLINICAL)
    >>> line = audit_line(e)
    >>> line.split(" ")[0], 'actor="nurse.jo"' in line, line.split(" ")[-1]
    ('alert_audit,action=acknowledged,kind=bradycardia,patient=p-1', True, '1000000002')
    """
    p = _point("alert_audit", event.at_ms, min(event.step, 999_999))
    p.tag("patient", event.patient).tag("kind", event.kind).tag("action", event.action.value)
    if event.ward:
        p.tag("ward", event.ward)
    p.field("alert_id", event.alert_id).field("actor", event.actor)
    p.field("state", event.state.value).field("note", event.note)
    return str(p.to_line_protocol())


def alert_event_lines(event: AlertEvent) -> list[str]:
    """The ``alert`` point of one alert event, and its ``alert_audit`` point if a person acted
    (the system's own transitions are only ``alert`` points)."""
    return [alert_line(event)] + ([audit_line(event)] if event.actor != SYSTEM else [])

"""The sink's records → groups of InfluxDB lines, one group per thing that can be refused alone.

Four topics feed InfluxDB: the points topic (one group per upload, plus the batch's ``pipeline``
point), the dead-letter topic (``rejected`` points), the alerts topic (``alert`` and
``alert_audit`` points) and the deliveries topic (``notification`` points). Pure: a record that
cannot be read never stops the batch — a points upload that cannot be read becomes a dead letter
(``unreadable_points``, with its bytes), any other unreadable record is counted and logged
without its content.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.notify.deliver import DeliveryResult
from wearmon.stream.sinks.lines import (
    alert_event_lines,
    batch_lines,
    notification_line,
    pipeline_line,
    rejected_line,
)
from wearmon.stream.sinks.records import SCHEMA, PipelineHealth, UploadPoints

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Received:
    """One record as the sink fetched it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Group:
    """Lines that stand or fall together, and the upload they came from (if any)."""

    lines: list[str]
    patient_id: str | None = None
    upload_id: str | None = None
    original: bytes = b""  # the upload's points document, for a dead letter
    received_ms: int = 0


@dataclass
class Decoded:
    groups: list[Group] = field(default_factory=list)
    dead_letters: list[Rejection] = field(default_factory=list)
    unreadable: dict[str, int] = field(default_factory=dict)  # topic kind → records skipped

    def skip(self, kind: str, record: Received, error: BaseException) -> None:
        self.unreadable[kind] = self.unreadable.get(kind, 0) + 1
        log.error("%s record %s/%d@%d not written to InfluxDB: unreadable (%s)", kind,
                  record.topic, record.partition, record.offset, type(error).__name__)


def dead_letter(reason: str, detail: str, original: bytes, received_ms: int,
                patient_id: str | None = None, upload_id: str | None = None) -> Rejection:
    return Rejection((Issue("$", reason, detail),), original, received_ms, patient_id, upload_id)


def points_groups(record: Received, out: Decoded) -> None:
    """A points record: one group per upload (formatted together), the pipeline point alone."""
    doc = orjson.loads(record.value or b"")
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ValueError("not a points record")
    uploads: list[tuple[UploadPoints, bytes]] = []
    for item in doc["uploads"]:
        raw = orjson.dumps(item)
        try:
            uploads.append((UploadPoints.from_json(item), raw))
        except (ValueError, KeyError, TypeError, IndexError) as error:
            out.dead_letters.append(dead_letter(
                "unreadable_points", f"the sink could not read these points "
                f"({type(error).__name__}); nothing of them is stored", raw, record.timestamp_ms,
                *identity(item)))
    for (points, raw), lines in zip(uploads, batch_lines([u for u, _ in uploads]), strict=True):
        out.groups.append(Group(lines, points.patient_id, points.upload_id, raw,
                                record.timestamp_ms))
    if doc.get("pipeline") is not None:
        out.groups.append(Group([pipeline_line(PipelineHealth.from_json(doc["pipeline"]))]))


def identity(item: Any) -> tuple[str | None, str | None]:
    """The patient and upload a points document names, if it names them as text."""
    if not isinstance(item, dict):
        return None, None
    patient, upload = item.get("patient_id"), item.get("upload_id")
    return (patient if isinstance(patient, str) else None,
            upload if isinstance(upload, str) else None)


def rejected_lines(value: bytes) -> list[str]:
    """The ``rejected`` point of one dead-letter record (the record keeps the upload's first
    bytes, from which the point's nanoseconds come)."""
    doc = orjson.loads(value)
    return [rejected_line(str(doc["reason"]), bool(doc["partial"]), str(doc["field"]),
                          int(doc["issue_count"]), int(doc["received_ms"]),
                          base64.b64decode(doc["original_b64"]))]


def alerts_lines(value: bytes) -> list[str]:
    return alert_event_lines(AlertEvent.from_json(orjson.loads(value)))


def deliveries_lines(value: bytes) -> list[str]:
    return [notification_line(DeliveryResult.from_json(orjson.loads(value)))]


#: How each kind of topic's records become lines (points records have their own path).
LINES: dict[str, Callable[[bytes], list[str]]] = {
    "rejected": rejected_lines, "alerts": alerts_lines, "deliveries": deliveries_lines}


def decode(records: Sequence[Received], kinds: dict[str, str]) -> Decoded:
    """Every record's groups; ``kinds`` maps a topic name to its kind (``points``,
    ``rejected``, ``alerts``, ``deliveries``)."""
    out = Decoded()
    for record in records:
        kind = kinds[record.topic]
        try:
            if record.value is None:
                raise ValueError("no value (a tombstone)")
            if kind == "points":
                points_groups(record, out)
            else:
                out.groups.append(Group(LINES[kind](record.value)))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as error:
            out.skip(kind, record, error)
            if kind == "points" and record.value:
                out.dead_letters.append(dead_letter(
                    "unreadable_points", f"the sink could not read this points record "
                    f"({type(error).__name__}); nothing of it is stored", record.value,
                    record.timestamp_ms))
    return out

"""Alert events → outbox records: one message per recipient, each with an idempotency key.

``plan(event, settings, now_ms)`` turns one ``AlertEvent`` into ``OutboxRecord``s, one per
recipient, each with the key ``alert_id|recipient_id|step`` and the rendered text. Records never
hold recipient URLs (they carry credentials): the deliverer looks the URL up when it sends.
Non-critical patient messages are not sent during the patient's quiet hours
(``not_before_ms``; the alert policy holds them back already, this is the second line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import SYSTEM, AlertEvent
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.core.records import typed
from wearmon.stream.notify.next_steps import NextSteps
from wearmon.stream.notify.render import Message, render_care_team, render_patient

RECORD_VERSION = 1


class Audience(StrEnum):
    PATIENT = "patient"
    CARE_TEAM = "care_team"


def idempotency_key(alert_id: str, recipient_id: str, step: int) -> str:
    return f"{alert_id}|{recipient_id}|{step}"


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One message to one recipient; the outbox topic's value (key: ``patient``)."""

    key: str
    alert_id: str
    patient: str
    recipient_id: str
    audience: Audience
    step: int
    title: str
    body: str
    notify_type: str
    critical: bool
    created_ms: int
    not_before_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"v": RECORD_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> OutboxRecord:
        if doc.get("v") != RECORD_VERSION:
            raise ValueError(f"outbox record version {doc.get('v')!r} != {RECORD_VERSION}")
        data = {k: v for k, v in doc.items() if k != "v"}
        data["audience"] = Audience(data["audience"])
        return typed(cls, data)


def plan(event: AlertEvent, settings: PatientSettings, now_ms: int, link: str = "",
         next_steps: NextSteps | None = None) -> list[OutboxRecord]:
    """The messages one event causes: care-team levels it names, and the patient if asked.

    ``link`` (optional) is the signed console link of the alert, for the care team only;
    ``next_steps`` the wards' suggested next steps (default: the built-in ones). A person is
    not told of their own action (a recipient whose ``user`` is the event's actor).
    """
    records: list[OutboxRecord] = []
    critical = event.severity is Severity.CRITICAL

    def add(recipient_id: str, audience: Audience, message: Message, not_before_ms: int) -> None:
        key = idempotency_key(event.alert_id, recipient_id, event.step)
        if any(r.key == key for r in records):
            return
        records.append(
            OutboxRecord(
                key=key,
                alert_id=event.alert_id,
                patient=event.patient,
                recipient_id=recipient_id,
                audience=audience,
                step=event.step,
                title=message.title,
                body=message.body,
                notify_type=message.notify_type,
                critical=critical,
                created_ms=now_ms,
                not_before_ms=not_before_ms,
            )
        )

    if event.notify_levels and settings.care_team:
        step = (next_steps or NextSteps()).suggest(settings.ward, event.kind,
                                                   event.severity.value)
        message = render_care_team(event, settings, link, step)
        last = len(settings.care_team) - 1
        for level in sorted(set(event.notify_levels)):
            recipient = settings.care_team[min(level, last)]
            if event.actor != SYSTEM and recipient.user == event.actor:
                continue  # their own action
            add(recipient.id, Audience.CARE_TEAM, message, 0)
    if event.notify_patient and settings.patient_recipients:
        message = render_patient(event, settings)
        not_before_ms = 0
        if settings.quiet_hours is not None and not critical:
            not_before_ms = settings.quiet_hours.end_after(now_ms)
        for recipient in settings.patient_recipients:
            add(recipient.id, Audience.PATIENT, message, not_before_ms)
    return records

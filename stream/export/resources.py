"""Alert events and care-team messages as FHIR R4 resources (pure; validated with
``fhir.resources``, its ``R4B`` package, whose Flag and Communication are R4's).

* ``flag(event)`` — one ``Flag`` per alert, identified by the alert id: ``active`` while the
  alert is open, escalated, acknowledged or snoozed (the state in an extension), ``inactive``
  once resolved; the severity as the standard ``flag-priority`` extension.
* ``communication(result)`` — one ``Communication`` per care-team message that was sent,
  identified by the message's idempotency key, ``about`` the alert's Flag.

The subject is a logical reference by the pseudonymous patient id (an identifier of system
``PATIENT_SYSTEM``): no name, no MRN, no server-side Patient needed. No vitals: a Flag names the
kind of alert, its severity, state and times; a Communication says when which care-team member
was told about which alert event, never the message's text (the detector's explanation).
``docs/interop.md`` has the mapping tables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.flag import Flag
from pydantic import BaseModel

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import AlertEvent, AlertState, Category
from wearmon.stream.gateway.interop.fhir import PATIENT_SYSTEM
from wearmon.stream.notify.deliver import DeliveryResult, DeliveryStatus
from wearmon.stream.notify.monitoring import NOTICE
from wearmon.stream.notify.outbox import Audience

WEARMON: Final = "https://wearmon.dev/fhir"
ALERT_SYSTEM: Final = f"{WEARMON}/NamingSystem/alert-id"
MESSAGE_SYSTEM: Final = f"{WEARMON}/NamingSystem/message-key"
RECIPIENT_SYSTEM: Final = f"{WEARMON}/NamingSystem/care-team-member"
KIND_SYSTEM: Final = f"{WEARMON}/CodeSystem/alert-kind"
CATEGORY_SYSTEM: Final = f"{WEARMON}/CodeSystem/alert-category"
STATE_EXTENSION: Final = f"{WEARMON}/StructureDefinition/alert-state"
STEP_EXTENSION: Final = f"{WEARMON}/StructureDefinition/alert-step"
ESCALATION_EXTENSION: Final = f"{WEARMON}/StructureDefinition/alert-escalation-step"
UPDATED_EXTENSION: Final = f"{WEARMON}/StructureDefinition/alert-updated"
SNOOZED_UNTIL_EXTENSION: Final = f"{WEARMON}/StructureDefinition/alert-snoozed-until"
PRIORITY_EXTENSION: Final = "http://hl7.org/fhir/StructureDefinition/flag-priority"
PRIORITY_SYSTEM: Final = "http://hl7.org/fhir/flag-priority-code"
FLAG_CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/flag-category"
COMMUNICATION_CATEGORY_SYSTEM: Final = (
    "http://terminology.hl7.org/CodeSystem/communication-category")
#: severity → flag-priority code and display
PRIORITY: Final[dict[Severity, tuple[str, str]]] = {
    Severity.CRITICAL: ("PH", "High priority"), Severity.WARNING: ("PM", "Medium priority"),
    Severity.INFO: ("PL", "Low priority")}
AUTHOR: Final = {"type": "Device", "display": "Wearmon"}


def instant(t_ms: int) -> str:
    """A FHIR ``instant`` (UTC, milliseconds).

    >>> instant(1_772_452_800_123)
    '2026-03-02T12:00:00.123Z'
    """
    moment = datetime.fromtimestamp(t_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t_ms % 1000:03d}Z"


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def patient_reference(patient_id: str) -> dict[str, Any]:
    """The patient by pseudonymous id: a logical reference (no name, nothing to resolve)."""
    return {"type": "Patient", "identifier": identifier(PATIENT_SYSTEM, patient_id)}


def kind_title(kind: str) -> str:
    """An alert kind for people.

    >>> kind_title("tachycardia_at_rest")
    'Tachycardia at rest'
    """
    text = kind.replace("_", " ")
    return text[:1].upper() + text[1:]


def validated(model: type[BaseModel], doc: dict[str, Any]) -> dict[str, Any]:
    """``doc``, once the FHIR model has accepted it (raises pydantic's ``ValidationError``)."""
    model.model_validate(doc)
    return doc


def flag_extensions(event: AlertEvent) -> list[dict[str, Any]]:
    code, display = PRIORITY[event.severity]
    out: list[dict[str, Any]] = [
        {"url": PRIORITY_EXTENSION, "valueCodeableConcept": {
            "coding": [{"system": PRIORITY_SYSTEM, "code": code, "display": display}]}},
        {"url": STATE_EXTENSION, "valueCode": str(event.state)},
        {"url": ESCALATION_EXTENSION, "valueInteger": event.level + 1},
        {"url": STEP_EXTENSION, "valueInteger": event.step},
        {"url": UPDATED_EXTENSION, "valueInstant": instant(event.at_ms)},
    ]
    if event.state is AlertState.SNOOZED and event.due_ms is not None:
        out.append({"url": SNOOZED_UNTIL_EXTENSION, "valueDateTime": instant(event.due_ms)})
    return out


def flag_categories(category: Category) -> list[dict[str, Any]]:
    """Wearmon's own category always; HL7's ``clinical`` for clinical alerts."""
    out: list[dict[str, Any]] = [{"coding": [{"system": CATEGORY_SYSTEM, "code": str(category)}]}]
    if category is Category.CLINICAL:
        out.insert(0, {"coding": [{"system": FLAG_CATEGORY_SYSTEM, "code": "clinical",
                                   "display": "Clinical"}]})
    return out


def flag(event: AlertEvent) -> dict[str, Any]:
    """The alert's Flag as it stands after ``event``.

    >>> from wearmon.stream.alerts.lifecycle import SYSTEM, Action
    >>> e = AlertEvent("p-0001:bradycardia:0", "p-0001", "bradycardia", Severity.CRITICAL,
    ...     AlertState.ACKNOWLEDGED, 60_000, "nurse.jo", "seen", 1, Action.ACKNOWLEDGED,
    ...     Category.CLINICAL, opened_ms=0)
    >>> doc = flag(e)
    >>> doc["status"], doc["identifier"][0]["value"], doc["code"]["text"]
    ('active', 'p-0001:bradycardia:0', 'Bradycardia (critical)')
    >>> [x["valueCode"] for x in doc["extension"] if x["url"] == STATE_EXTENSION]
    ['acknowledged']
    """
    resolved = event.state is AlertState.RESOLVED
    period = {"start": instant(event.opened_ms if event.opened_ms is not None else event.at_ms)}
    if resolved:
        period["end"] = instant(event.at_ms)
    title = kind_title(event.kind)
    return validated(Flag, {
        "resourceType": "Flag",
        "extension": flag_extensions(event),
        "identifier": [identifier(ALERT_SYSTEM, event.alert_id)],
        "status": "inactive" if resolved else "active",
        "category": flag_categories(event.category),
        "code": {"coding": [{"system": KIND_SYSTEM, "code": event.kind, "display": title}],
                 "text": f"{title} ({event.severity})"},
        "subject": patient_reference(event.patient),
        "period": period,
        "author": AUTHOR,
    })


def not_exported(result: DeliveryResult) -> str | None:
    """Why a delivery result is no Communication (None: it is one). Only messages about an
    alert to the care team that were sent are; the console's monitoring notices to a ward's
    on-call are about no patient (the one named holds the on-call's address).

    >>> r = DeliveryResult("k", "monitoring:Ward A:5", "p-1", "oncall", Audience.CARE_TEAM, 0,
    ...                    DeliveryStatus.SENT, 1, 0, 0)
    >>> not_exported(r)
    'monitoring_notice'
    """
    if result.alert_id.startswith(f"{NOTICE}:"):
        return "monitoring_notice"
    if result.status is DeliveryStatus.SENT and result.audience is Audience.CARE_TEAM:
        return None
    return f"{result.audience}_{result.status}"


def communication(result: DeliveryResult) -> dict[str, Any]:
    """A care-team message that was sent: to whom (the care-team member's id in the patient's
    settings, never an address), when, about which alert and which of its events.

    >>> r = DeliveryResult("p-0001:bradycardia:0|nurse|0", "p-0001:bradycardia:0", "p-0001",
    ...     "nurse", Audience.CARE_TEAM, 0, DeliveryStatus.SENT, 1, 1_000, 900)
    >>> doc = communication(r)
    >>> doc["identifier"][0]["value"], doc["about"][0]["identifier"]["value"], doc["sent"]
    ('p-0001:bradycardia:0|nurse|0', 'p-0001:bradycardia:0', '1970-01-01T00:00:01.000Z')
    """
    return validated(Communication, {
        "resourceType": "Communication",
        "extension": [{"url": STEP_EXTENSION, "valueInteger": result.step}],
        "identifier": [identifier(MESSAGE_SYSTEM, result.key)],
        "status": "completed",
        "category": [{"coding": [{"system": COMMUNICATION_CATEGORY_SYSTEM, "code": "alert",
                                  "display": "Alert"}]}],
        "subject": patient_reference(result.patient),
        "about": [{"type": "Flag", "identifier": identifier(ALERT_SYSTEM, result.alert_id)}],
        "sent": instant(result.at_ms),
        "recipient": [{"identifier": identifier(RECIPIENT_SYSTEM, result.recipient_id)}],
        "sender": AUTHOR,
    })

"""Alert events → messages: calm patient texts and explained care-team texts (pure).

Patient messages are short and calm and say what to do; they never contain vitals, the kind of
problem, patient or alert ids — only the greeting the patient chose. Care-team messages carry
the detector's explanation, where the alert stands and how to act.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import apprise

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import (
    BATTERY_LOW,
    CANT_ASSESS,
    DEVICE_OFFLINE,
    SYSTEM,
    Action,
    AlertEvent,
    AlertState,
    Category,
)
from wearmon.stream.core.patients import PatientSettings


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    notify_type: str  # Apprise NotifyType value: info, success, warning, failure


_PATIENT_TEXT: dict[tuple[str, bool], tuple[str, str]] = {
    # (kind group, resolved) -> (title, body); no vitals, no kind of problem, no identifiers
    ("warning", False): (
        "A gentle check-in",
        "Some of your recent readings are different from usual. Please sit down and rest for a "
        "few minutes. Your care team has been told and will contact you if needed. If you feel "
        "unwell, contact your doctor.",
    ),
    ("critical", False): (
        "Please rest: your care team has been alerted",
        "Your care team has been alerted and will contact you soon. Please sit or lie down and "
        "rest. If you have chest pain, trouble breathing, or feel faint or very unwell, call "
        "emergency services now.",
    ),
    ("clinical", True): (
        "All clear",
        "Your readings are back to your usual range. No action is needed. Thank you.",
    ),
    ("reviewed", True): (
        "All clear",
        "Your care team has reviewed your recent readings. No action is needed from you.",
    ),
    (DEVICE_OFFLINE, False): (
        "Please check your device",
        "We have not received data from your device for a while. Please check that it is "
        "charged, worn, and near your phone.",
    ),
    (DEVICE_OFFLINE, True): ("Thank you", "Your device is sending data again."),
    (BATTERY_LOW, False): (
        "Battery low",
        "Your device battery is low. Please charge it soon so that monitoring can continue.",
    ),
    (BATTERY_LOW, True): ("Thank you", "Your device is charged again."),
    (CANT_ASSESS, False): (
        "Please wear your device",
        "We cannot check your readings at the moment because the device does not seem to be "
        "worn. Please put it back on when you can.",
    ),
    (CANT_ASSESS, True): ("Thank you", "We are receiving your readings again."),
}


def render_patient(event: AlertEvent, settings: PatientSettings) -> Message:
    """A short, calm message with what to do; nothing about vitals, diagnoses or ids.

    >>> from wearmon.stream.core.patients import Recipient
    >>> s = PatientSettings(patient_id="p-0001", display_name="Sam",
    ...     care_team=[Recipient(id="n", url="json://127.0.0.1/h")])
    >>> e = AlertEvent("p-0001:bradycardia:0", "p-0001", "bradycardia", Severity.CRITICAL,
    ...     AlertState.OPEN, 0, SYSTEM, "Heart rate 35 bpm", 0, Action.OPENED, Category.CLINICAL)
    >>> m = render_patient(e, s)
    >>> m.body.startswith("Hi Sam. Your care team has been alerted"), "35" in m.body
    (True, False)
    """
    resolved = event.state is AlertState.RESOLVED
    if event.category is Category.CLINICAL:
        if resolved:
            group = "clinical" if event.actor == SYSTEM else "reviewed"
        else:
            group = "critical" if event.severity is Severity.CRITICAL else "warning"
    else:
        group = event.kind if (event.kind, resolved) in _PATIENT_TEXT else DEVICE_OFFLINE
    title, body = _PATIENT_TEXT[(group, resolved)]
    if event.action is Action.REPEATED:
        title = f"Reminder: {title[0].lower()}{title[1:]}"
    if settings.display_name:
        body = f"Hi {settings.display_name}. {body}"
    return Message(title=title, body=body, notify_type=_notify_type(event))


_ACTION_TEXT = {
    Action.OPENED: "new alert",
    Action.REOPENED: "back again (same episode)",
    Action.SEVERITY_RAISED: "severity raised",
    Action.ESCALATED: "escalated to you: not acknowledged in time",
    Action.REPEATED: "reminder: still not acknowledged",
    Action.EXHAUSTED: "no one left to escalate to",
    Action.ACKNOWLEDGED: "acknowledged",
    Action.SNOOZED: "snoozed",
    Action.SNOOZE_ENDED: "snooze ended: please review",
    Action.PATIENT_NOTICE: "patient informed",
    Action.RESOLVED: "resolved",
}


def render_care_team(event: AlertEvent, settings: PatientSettings) -> Message:
    """What happened, why (the detector's explanation), where the alert stands, what to do."""
    kind = event.kind.replace("_", " ")
    title = (
        f"[{event.severity.upper()}] {kind.capitalize()} · patient {event.patient} · "
        f"{_ACTION_TEXT[event.action]}"
    )
    lines = []
    if event.explanation:
        lines.append(event.explanation)
    if event.note and event.note != event.explanation:
        by = "" if event.actor == SYSTEM else f" ({event.actor})"
        lines.append(f"Note{by}: {event.note}")
    if event.late:
        lines.append("Based on late data: the device synced after a delay.")
    levels = len(settings.care_team)
    lines.append(
        f"Alert {event.alert_id} · {event.state} · escalation level "
        f"{min(event.level, levels - 1) + 1} of {levels} · step {event.step}"
    )
    when = f"Decided {_iso(event.at_ms)}"
    if event.event_ms is not None:
        when += f"; data time {_iso(event.event_ms)}"
    lines.append(when)
    if event.state not in (AlertState.RESOLVED, AlertState.ACKNOWLEDGED):
        lines.append(
            f"To act: wearmon alerts ack {event.alert_id}  (or snooze / resolve, with a note)"
        )
    return Message(title=title, body="\n".join(lines), notify_type=_notify_type(event))


def _notify_type(event: AlertEvent) -> str:
    if event.state is AlertState.RESOLVED:
        return apprise.NotifyType.SUCCESS.value
    return {
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.INFO: apprise.NotifyType.INFO,
    }[event.severity].value


def _iso(t_ms: int) -> str:
    return datetime.fromtimestamp(t_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")

"""Alert events → messages: calm patient texts and explained care-team texts (pure).

Patient messages are short and calm and say what to do; they never contain vitals, the kind of
problem, patient or alert ids — only the greeting the patient chose. Care-team messages carry
the detector's explanation (once), where the alert stands (escalation step N of M, numbered from
1 everywhere) and how to act: a signed, expiring console link when a console is configured. The
Apprise type follows the meaning: failure (red) only for critical calls to act, warning, info,
and success for good news.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import apprise

from wearmon.models.base import Severity
from wearmon.stream.alerts.lifecycle import (
    BATTERY_LOW,
    CANT_ASSESS,
    DEVICE_OFFLINE,
    LATE_DATA,
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
        body = f"Hi {plain_text(settings.display_name)}. {body}"
    return Message(title=title, body=body, notify_type=patient_type(event))


_ACTION_TEXT = {
    Action.OPENED: "new alert",
    Action.ANNOUNCED: "new alert (still there after the info hold)",
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
#: Care-team events that ask someone to act: their Apprise type follows the severity.
_CALLS_TO_ACT = frozenset({Action.OPENED, Action.ANNOUNCED, Action.REOPENED,
                           Action.SEVERITY_RAISED, Action.ESCALATED, Action.REPEATED,
                           Action.SNOOZE_ENDED})
#: What a person did, first in the message to everyone told of the alert.
_DONE_BY = {Action.ACKNOWLEDGED: "Acknowledged", Action.SNOOZED: "Snoozed",
            Action.RESOLVED: "Resolved"}
#: Characters that would let typed or device text break out of its place in a message: line
#: and paragraph breaks, other control characters, bidirectional overrides.
_UNSAFE = re.compile("[\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
NOTE_MAX_CHARS = 500


def plain_text(text: str, max_chars: int = NOTE_MAX_CHARS) -> str:
    """Text someone typed or a device sent, made one plain line: control characters,
    line breaks and direction overrides become spaces, runs of spaces one, and it is cut to
    ``max_chars``. Markup is escaped later, by format (Apprise converts the message from plain
    text to the recipient's HTML or Markdown, escaping it).

    >>> plain_text("on my way\\nOpen: http://evil.example  \\u202egnp.exe")
    'on my way Open: http://evil.example gnp.exe'
    """
    cleaned = "".join(" " if unicodedata.category(c) == "Cc" else c
                      for c in _UNSAFE.sub(" ", text))
    line = " ".join(cleaned.split())
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def escalation_step(level: int, care_team_size: int) -> str:
    """One numbering of escalation steps for people (messages, console, CLI): 1-based.

    >>> escalation_step(0, 2), escalation_step(5, 2)
    ('step 1 of 2', 'step 2 of 2')
    """
    size = max(care_team_size, 1)
    return f"step {min(level, size - 1) + 1} of {size}"


def render_care_team(event: AlertEvent, settings: PatientSettings, link: str = "",
                     next_step: str = "") -> Message:
    """What happened, why (the detector's explanation, once), where the alert stands, the
    ward's suggested next step for calls to act, and how to act: ``link`` is a signed console
    link (no patient data in it), else the CLI command. Times are the patient's local times.

    Free text (notes, user names, explanations) is made one plain line (``plain_text``); the
    message is plain text, which Apprise escapes for HTML e-mail and Markdown chats.
    """
    kind = event.kind.replace("_", " ")
    title = (
        f"[{event.severity.upper()}] {kind.capitalize()} · patient {event.patient} · "
        f"{_ACTION_TEXT[event.action]}"
    )
    actor = plain_text(event.actor, 80)
    lines = []
    if event.action in _DONE_BY and event.actor != SYSTEM:
        lines.append(f"{_DONE_BY[event.action]} by {actor}.")
    if event.explanation:
        lines.append(plain_text(event.explanation))
    note = plain_text(event.note)
    if note and event.note != event.explanation:
        lines.append(f"Note ({actor}): {note}" if event.actor != SYSTEM
                     else f"{note[0].upper()}{note[1:]}.")
    if event.late and not event.note.startswith(LATE_DATA):
        lines.append("Based on late data: the device synced after a delay.")
    if next_step and event.action in _CALLS_TO_ACT:
        lines.append(f"Next step: {plain_text(next_step)}")
    lines.append(f"{str(event.state).capitalize()} · escalation "
                 f"{escalation_step(event.level, len(settings.care_team))}")
    when = f"Alert time {_clock(event.at_ms, settings.timezone)}"
    if event.event_ms is not None:
        when += f"; readings from {_clock(event.event_ms, settings.timezone)}"
    lines.append(when)
    if event.state not in (AlertState.RESOLVED, AlertState.ACKNOWLEDGED):
        if link:
            lines.append(f"Open, acknowledge or snooze: {link}")
        else:
            lines.append(f"To act: wearmon alerts ack {event.alert_id}  "
                         "(or snooze / resolve, with a note)")
    elif link:
        lines.append(f"Details: {link}")
    return Message(title=title, body="\n".join(lines), notify_type=care_team_type(event))


def care_team_type(event: AlertEvent) -> str:
    """Red only for what is critical and needs someone now; good news is green.

    >>> e = AlertEvent("p:k:0", "p", "k", Severity.CRITICAL, AlertState.ACKNOWLEDGED, 0, "jo",
    ...     "", 1, Action.ACKNOWLEDGED, Category.CLINICAL)
    >>> care_team_type(e)
    'info'
    """
    if event.state is AlertState.RESOLVED:
        return apprise.NotifyType.SUCCESS.value
    if event.action not in _CALLS_TO_ACT:
        return apprise.NotifyType.INFO.value
    return {
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.INFO: apprise.NotifyType.INFO,
    }[event.severity].value


def patient_type(event: AlertEvent) -> str:
    """Calm for patients: good news is green, a request to rest or check is amber, the rest info;
    never the red "failure" icon."""
    if event.state is AlertState.RESOLVED:
        return apprise.NotifyType.SUCCESS.value
    if event.category is Category.CLINICAL or event.kind == DEVICE_OFFLINE:
        return apprise.NotifyType.WARNING.value
    return apprise.NotifyType.INFO.value


def _clock(t_ms: int, tz: str = "UTC") -> str:
    """``2026-03-02 14:05 GMT``: the patient's local time, with its zone's abbreviation."""
    local = datetime.fromtimestamp(t_ms / 1000, UTC).astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M %Z")

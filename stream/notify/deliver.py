"""Notifications through Apprise: render, plan an outbox, deliver exactly once per key.

``plan(event, settings, now_ms)`` turns one ``AlertEvent`` into ``OutboxRecord``s, one per
recipient, each with the idempotency key ``alert_id|recipient_id|step`` and the rendered text.
Records never hold recipient URLs (they carry credentials): the ``Deliverer`` looks the URL up
from the patient settings when it sends.

Patient messages are short and calm and say what to do; they never contain vitals, the kind of
problem, patient or alert ids — only the greeting the patient chose. Care-team messages carry
the explanation. Non-critical patient messages are not sent during the patient's quiet hours
(``not_before_ms``; the alert policy holds them back already, this is the second line).

``Deliverer.deliver(record)`` sends with retries and exponential backoff, records a
``DeliveryResult`` and marks the key in a pluggable ``SentStore`` only after success, so a
redelivered record is reported ``duplicate`` and not sent again. The one gap: a crash after the
provider accepted a message and before the store write leads to one resend.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

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
from wearmon.stream.core.patients import PatientDirectory, PatientSettings

log = logging.getLogger(__name__)

RECORD_VERSION = 1
INVALID_URL = "invalid_url"  # a transport error that retrying cannot fix


class Audience(StrEnum):
    PATIENT = "patient"
    CARE_TEAM = "care_team"


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DUPLICATE = "duplicate"  # already sent under this idempotency key: not sent again
    DEFERRED = "deferred"  # not before ``not_before_ms`` (quiet hours): offer it again later
    FAILED = "failed"  # every attempt failed: offer it again later, the key stays unsent
    NO_RECIPIENT = "no_recipient"  # the recipient is no longer in the patient's settings


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    body: str
    notify_type: str  # Apprise NotifyType value: info, success, warning, failure


# --- rendering -------------------------------------------------------------------------------

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


# --- outbox ----------------------------------------------------------------------------------


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
        return cls(**data)


def plan(event: AlertEvent, settings: PatientSettings, now_ms: int) -> list[OutboxRecord]:
    """The messages one event causes: care-team levels it names, and the patient if asked."""
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
        message = render_care_team(event, settings)
        last = len(settings.care_team) - 1
        for level in sorted(set(event.notify_levels)):
            add(settings.care_team[min(level, last)].id, Audience.CARE_TEAM, message, 0)
    if event.notify_patient and settings.patient_recipients:
        message = render_patient(event, settings)
        not_before_ms = 0
        if settings.quiet_hours is not None and not critical:
            not_before_ms = settings.quiet_hours.end_after(now_ms)
        for recipient in settings.patient_recipients:
            add(recipient.id, Audience.PATIENT, message, not_before_ms)
    return records


# --- delivery --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one outbox record; for the delivery topic and InfluxDB (no content)."""

    key: str
    alert_id: str
    patient: str
    recipient_id: str
    audience: Audience
    step: int
    status: DeliveryStatus
    attempts: int
    at_ms: int
    latency_ms: int  # from the record's creation to this result
    error: str = ""  # short and content-free: e.g. "FAILURE", "TIMEOUT", "OSError"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SentStore(Protocol):
    """Which idempotency keys were delivered (the worker backs it with a Faust table)."""

    def is_sent(self, key: str) -> bool: ...

    def mark_sent(self, key: str, at_ms: int) -> None: ...


class MemorySentStore:
    def __init__(self) -> None:
        self.sent: dict[str, int] = {}

    def is_sent(self, key: str) -> bool:
        return key in self.sent

    def mark_sent(self, key: str, at_ms: int) -> None:
        self.sent.setdefault(key, at_ms)


#: Sends one message to one Apprise URL; returns an empty string on success, else a short error.
Transport = Callable[[str, Message, float], Awaitable[str]]
#: (patient id, recipient id) → Apprise URL, or None when the recipient no longer exists.
UrlResolver = Callable[[str, str], str | None]


async def apprise_transport(url: str, message: Message, timeout_s: float) -> str:
    """Send through Apprise (its blocking plugins run in Apprise's own thread pool)."""
    asset = apprise.AppriseAsset(app_id="Wearmon", app_desc="Wearmon alerts", storage_mode="memory")
    sender = apprise.Apprise(asset=asset)
    if not sender.add(url):
        return INVALID_URL
    try:
        result = await sender.async_notify(
            body=message.body,
            title=message.title,
            notify_type=apprise.NotifyType(message.notify_type),
            timeout=timeout_s,
        )
    except Exception as exc:  # a plugin bug must not kill the deliverer
        return type(exc).__name__
    return "" if result else result.status.name


def directory_resolver(directory: PatientDirectory) -> UrlResolver:
    """Resolve recipient URLs from the current patient settings."""

    def resolve(patient_id: str, recipient_id: str) -> str | None:
        settings = directory.get(patient_id)
        recipient = None if settings is None else settings.recipient(recipient_id)
        return None if recipient is None else recipient.url.get_secret_value()

    return resolve


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Deliverer:
    """Delivers outbox records at most once per idempotency key, with retries and backoff."""

    def __init__(
        self,
        resolve_url: UrlResolver,
        sent: SentStore,
        *,
        max_attempts: int = 4,
        backoff_s: float = 1.0,
        backoff_max_s: float = 60.0,
        timeout_s: float = 30.0,
        transport: Transport = apprise_transport,
        clock_ms: Callable[[], int] = _wall_clock_ms,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._resolve_url = resolve_url
        self._sent = sent
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._clock_ms = clock_ms
        self._sleep = sleep
        self._inflight: dict[str, asyncio.Future[None]] = {}

    def backoff_s(self, attempt: int) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): 1, 2, 4, … capped."""
        return float(min(self._backoff_max_s, self._backoff_s * 2 ** (attempt - 1)))

    async def deliver(self, record: OutboxRecord) -> DeliveryResult:
        while (pending := self._inflight.get(record.key)) is not None:
            await asyncio.shield(pending)  # the same key is being sent right now: wait for it
        if self._sent.is_sent(record.key):
            return self._result(record, DeliveryStatus.DUPLICATE, 0)
        if record.not_before_ms > self._clock_ms():
            return self._result(record, DeliveryStatus.DEFERRED, 0)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[record.key] = done
        try:
            return await self._send(record)
        finally:
            del self._inflight[record.key]
            done.set_result(None)

    async def deliver_all(self, records: list[OutboxRecord]) -> list[DeliveryResult]:
        """Deliver in order (one patient's messages keep their order)."""
        return [await self.deliver(record) for record in records]

    async def _send(self, record: OutboxRecord) -> DeliveryResult:
        url = self._resolve_url(record.patient, record.recipient_id)
        if url is None:
            return self._result(record, DeliveryStatus.NO_RECIPIENT, 0)
        message = Message(record.title, record.body, record.notify_type)
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            error = await self._transport(url, message, self._timeout_s)
            if not error:
                self._sent.mark_sent(record.key, self._clock_ms())
                return self._result(record, DeliveryStatus.SENT, attempt)
            if error == INVALID_URL:
                return self._result(record, DeliveryStatus.FAILED, attempt, error)
            log.warning(
                "delivery attempt %d/%d failed (%s) to recipient %s",
                attempt,
                self._max_attempts,
                error,
                record.recipient_id,
            )
            if attempt < self._max_attempts:
                await self._sleep(self.backoff_s(attempt))
        return self._result(record, DeliveryStatus.FAILED, self._max_attempts, error)

    def _result(
        self, record: OutboxRecord, status: DeliveryStatus, attempts: int, error: str = ""
    ) -> DeliveryResult:
        now_ms = self._clock_ms()
        return DeliveryResult(
            key=record.key,
            alert_id=record.alert_id,
            patient=record.patient,
            recipient_id=record.recipient_id,
            audience=record.audience,
            step=record.step,
            status=status,
            attempts=attempts,
            at_ms=now_ms,
            latency_ms=max(0, now_ms - record.created_ms),
            error=error,
        )

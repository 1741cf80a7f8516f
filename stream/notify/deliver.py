"""Outbox records → Apprise, at most once per idempotency key, with retries and backoff.

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
from enum import StrEnum
from typing import Any, Protocol

import apprise

from wearmon.stream.core.patients import PatientDirectory
from wearmon.stream.core.records import typed
from wearmon.stream.notify.outbox import Audience, OutboxRecord
from wearmon.stream.notify.render import Message

log = logging.getLogger(__name__)

INVALID_URL = "invalid_url"  # a transport error that retrying cannot fix


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DUPLICATE = "duplicate"  # already sent under this idempotency key: not sent again
    DEFERRED = "deferred"  # not before ``not_before_ms`` (quiet hours): offer it again later
    FAILED = "failed"  # every attempt failed: offer it again later, the key stays unsent
    NO_RECIPIENT = "no_recipient"  # the recipient is no longer in the patient's settings



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

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DeliveryResult:
        return typed(cls, {**doc, "audience": Audience(doc["audience"]),
                           "status": DeliveryStatus(doc["status"])})


class SentStore(Protocol):
    """Which idempotency keys were delivered (the worker backs it with a Faust table)."""

    def is_sent(self, key: str) -> bool: ...

    def mark_sent(self, key: str, at_ms: int) -> None: ...


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
            # plain text: Apprise escapes it for HTML e-mail and Markdown chats (a note with
            # "<a href=…>" or "**urgent**" is shown as typed, never as markup)
            body_format=apprise.NotifyFormat.TEXT,
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

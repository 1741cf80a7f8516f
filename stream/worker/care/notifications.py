"""Notification agents: alert events → outbox → Apprise delivery → delivery results.

* ``plan-notifications`` consumes the alerts topic and, for enrolled patients, sends
  ``notify.outbox.plan(...)``'s ``OutboxRecord``s (care-team messages carry a signed console link
  when ``WEARMON_CONSOLE_SECRET_KEY`` is set) to ``WEARMON_TOPIC_OUTBOX`` (key: patient id),
  awaiting the broker's acknowledgement. Unenrolled patients have nobody to notify.
* ``deliver-notifications`` consumes the outbox and calls ``Deliverer.deliver`` with a
  ``SentStore`` backed by the Faust table ``notify-sent`` (key: patient id, value: JSON
  ``{idempotency key: sent ms}``, the newest ``MAX_SENT_KEYS`` per patient). The sent mark is
  flushed to the table's changelog before the result is recorded on ``WEARMON_TOPIC_DELIVERIES``
  (from where ``wearmon sink`` writes it to InfluxDB); only then is the record acknowledged.

Delivery guarantee: at most one message per (alert, recipient, step) across redeliveries,
restarts and rebalances, except a crash between the provider accepting a message and the sent
mark reaching the broker (then that one message is sent again).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.core.records import Unreadable, read_json
from wearmon.stream.notify.deliver import (
    Deliverer,
    DeliveryResult,
    DeliveryStatus,
    directory_resolver,
)
from wearmon.stream.notify.links import alert_link
from wearmon.stream.notify.next_steps import NextSteps
from wearmon.stream.notify.outbox import OutboxRecord, plan
from wearmon.stream.worker.connections import Connections
from wearmon.stream.worker.dead_letters import DeadLetters
from wearmon.stream.worker.faust_io import fail_stop
from wearmon.stream.worker.metrics import count_notification
from wearmon.stream.worker.paging import Topic, acknowledged

log = logging.getLogger(__name__)
MAX_SENT_KEYS = 2_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class TableSentStore:
    """One patient's sent idempotency keys in the ``notify-sent`` table (inside an agent)."""

    def __init__(self, table: Any, patient: str) -> None:
        self.table = table
        self.key = patient.encode()

    def _load(self) -> dict[str, int]:
        raw = self.table.get(self.key)
        return dict(orjson.loads(raw)) if raw else {}

    def is_sent(self, key: str) -> bool:
        return key in self._load()

    def mark_sent(self, key: str, at_ms: int) -> None:
        sent = self._load()
        sent.setdefault(key, at_ms)
        if len(sent) > MAX_SENT_KEYS:
            sent = dict(sorted(sent.items(), key=lambda kv: kv[1])[-MAX_SENT_KEYS:])
        self.table[self.key] = orjson.dumps(sent)


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Signed, expiring console links for care-team messages (none without a console secret)."""

    console_url: str
    secret: bytes | None
    ttl_s: float

    def link(self, alert_id: str, at_ms: int) -> str:
        if self.secret is None:
            return ""
        return alert_link(self.console_url, self.secret, alert_id, at_ms / 1000, self.ttl_s)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How hard one message is tried."""

    max_attempts: int
    backoff_s: float
    timeout_s: float


@dataclass
class Notifications:
    """What the two notification agents use."""

    connections: Connections
    outbox: Topic
    deliveries: Topic
    sent_table: Any
    links: LinkSigner
    delivery: Delivery
    flush: Callable[[], Awaitable[None]]  # the producer: the sent mark is in the changelog
    dead_letters: DeadLetters
    next_steps: NextSteps = field(default_factory=NextSteps)  # the wards' suggested next steps

    async def plan(self, raw: bytes | None) -> None:
        """One alert event → its outbox records (enrolled patients only), acknowledged."""
        try:
            event = read_json(raw, AlertEvent.from_json)
        except Unreadable as error:
            await self.dead_letters.send("alert_event", error, raw, now_ms())
            return
        await self.connections.ready()
        patient = self.connections.directory.get(event.patient)
        if patient is None:
            return  # not enrolled: nobody to notify
        at_ms = now_ms()
        records = plan(event, patient, at_ms, self.links.link(event.alert_id, at_ms),
                       self.next_steps)
        await acknowledged([await self.outbox.send(key=event.patient.encode(),
                                                   value=orjson.dumps(r.to_json()))
                            for r in records])

    async def deliver(self, raw: bytes | None) -> None:
        """One outbox record → delivered (at most once per key) → its result recorded."""
        try:
            record = read_json(raw, OutboxRecord.from_json)
        except Unreadable as error:
            await self.dead_letters.send("outbox_record", error, raw, now_ms())
            return
        await self.connections.ready()
        deliverer = Deliverer(
            directory_resolver(self.connections.directory.directory),
            TableSentStore(self.sent_table, record.patient),
            max_attempts=self.delivery.max_attempts, backoff_s=self.delivery.backoff_s,
            timeout_s=self.delivery.timeout_s)
        result = await deliverer.deliver(record)
        if result.status is DeliveryStatus.SENT:
            await self.flush()  # the sent mark is in the changelog
        await self.record(result)

    async def record(self, result: DeliveryResult) -> None:
        count_notification(result.status.value)
        if result.status is not DeliveryStatus.SENT:
            log.warning("notification %s to %s: %s %s", result.key, result.recipient_id,
                        result.status.value, result.error)
        await (await self.deliveries.send(key=result.patient.encode(),
                                          value=orjson.dumps(result.to_json())))


def add_notify_agents(app: faust.App, alerts: Any, outbox: Any, notifications: Notifications
                      ) -> None:
    @app.agent(alerts, name="plan-notifications")
    async def plan_notifications(stream: faust.StreamT[bytes | None]) -> None:
        async for raw in stream:
            try:
                await notifications.plan(raw)
            except Exception:
                fail_stop("planning notifications")

    @app.agent(outbox, name="deliver-notifications")
    async def deliver_notifications(stream: faust.StreamT[bytes | None]) -> None:
        async for raw in stream:
            try:
                await notifications.deliver(raw)
            except Exception:
                fail_stop("delivering a notification")

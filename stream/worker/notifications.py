"""Notification agents: alert events → outbox → Apprise delivery → delivery results.

* ``plan-notifications`` consumes the alerts topic and, for enrolled patients, sends
  ``notify.outbox.plan(...)``'s ``OutboxRecord``s (care-team messages carry a signed console link
  when ``WEARMON_CONSOLE_SECRET_KEY`` is set) to ``WEARMON_TOPIC_OUTBOX`` (key: patient id),
  awaiting the broker's acknowledgement. Unenrolled patients have nobody to notify.
* ``deliver-notifications`` consumes the outbox and calls ``Deliverer.deliver`` with a
  ``SentStore`` backed by the Faust table ``notify-sent`` (key: patient id, value: JSON
  ``{idempotency key: sent ms}``, the newest ``MAX_SENT_KEYS`` per patient). The sent mark is
  flushed to the table's changelog before the result is recorded on ``WEARMON_TOPIC_DELIVERIES``
  and as a ``notification`` point in InfluxDB; only then is the record acknowledged.

Delivery guarantee: at most one message per (alert, recipient, step) across redeliveries,
restarts and rebalances, except a crash between the provider accepting a message and the sent
mark reaching the broker (then that one message is sent again).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
import orjson

from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.notify.deliver import (
    Deliverer,
    DeliveryResult,
    DeliveryStatus,
    directory_resolver,
)
from wearmon.stream.notify.links import alert_link
from wearmon.stream.notify.outbox import OutboxRecord, plan
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_io import bytes_table, bytes_topic, fail_stop
from wearmon.stream.worker.metrics import count_notification

log = logging.getLogger(__name__)
MAX_SENT_KEYS = 2_000


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


def add_notify_agents(app: faust.App, context: WorkerContext, alerts: Any) -> None:
    settings = context.settings
    outbox = bytes_topic(app, settings.topic_outbox, settings)
    deliveries = bytes_topic(app, settings.topic_deliveries, settings)
    sent_table = bytes_table(app, "notify-sent", settings)
    secret = settings.console_secret_key

    def console_link(alert_id: str, now_ms: int) -> str:
        """A signed, expiring console link for care-team messages (none without a console)."""
        if secret is None:
            return ""
        return alert_link(settings.console_url, secret.get_secret_value().encode(), alert_id,
                          now_ms / 1000, settings.console_link_ttl_s)

    @app.agent(alerts, name="plan-notifications")
    async def plan_notifications(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            try:
                try:
                    event = AlertEvent.from_json(orjson.loads(raw))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("alert event dropped (not an AlertEvent): %s", exc)
                    continue
                await context.ready()
                patient = context.directory.get(event.patient)
                if patient is None:
                    continue  # not enrolled: nobody to notify
                now_ms = time.time_ns() // 1_000_000
                records = plan(event, patient, now_ms, console_link(event.alert_id, now_ms))
                futures = [await outbox.send(key=event.patient.encode(),
                                             value=orjson.dumps(r.to_json())) for r in records]
                for future in futures:
                    await future
            except Exception:
                fail_stop("planning notifications")

    @app.agent(outbox, name="deliver-notifications")
    async def deliver_notifications(stream: faust.StreamT[bytes]) -> None:
        async for raw in stream:
            try:
                try:
                    record = OutboxRecord.from_json(orjson.loads(raw))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("outbox record dropped: %s", exc)
                    continue
                await context.ready()
                deliverer = Deliverer(
                    directory_resolver(context.directory.directory),
                    TableSentStore(sent_table, record.patient),
                    max_attempts=settings.notify_max_attempts,
                    backoff_s=settings.notify_backoff_s,
                    timeout_s=settings.notify_timeout_s,
                )
                result = await deliverer.deliver(record)
                if result.status is DeliveryStatus.SENT:
                    await app.producer.flush()  # the sent mark is in the changelog
                await record_result(result)
            except Exception:
                fail_stop("delivering a notification")

    async def record_result(result: DeliveryResult) -> None:
        count_notification(result.status.value)
        if result.status is not DeliveryStatus.SENT:
            log.warning("notification %s to %s: %s %s", result.key, result.recipient_id,
                        result.status.value, result.error)
        await (await deliveries.send(key=result.patient.encode(),
                                     value=orjson.dumps(result.to_json())))

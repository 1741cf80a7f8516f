"""The console's watch over the pipeline: which wards are not being monitored, told on every
page and to each ward's on-call once, with an all-clear when monitoring is back.

Every ``WEARMON_CONSOLE_WATCH_EVERY_S`` it asks Kafka (``views.pipeline_watch``) how far the
workers' group has come on each telemetry partition; a reading waiting longer than
``WEARMON_CONSOLE_WATCH_GRACE_S`` delays its partition, and with it the wards of the partition's
patients (``views.monitoring``). It needs no worker: when every worker is down the readings
wait, and the wards show as delayed. Each opened or cleared delay is published on the
monitoring topic (key: ward) before its notices are sent, so that a restarted console neither
tells again nor forgets to send the all-clear; notices go through the same ``Deliverer`` as
alert messages, their results onto the deliveries topic (and from there into InfluxDB).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka.errors import KafkaError

from wearmon.stream.config import Settings
from wearmon.stream.core.records import Unreadable, checked, read_json
from wearmon.stream.notify.deliver import Deliverer, DeliveryResult, directory_resolver
from wearmon.stream.notify.monitoring import (
    delay_text,
    delayed_message,
    notice_record,
    restored_message,
)
from wearmon.stream.views.follow import FollowedView, TopicFollower
from wearmon.stream.views.monitoring import Episodes, delayed_since, on_call, ward_delays
from wearmon.stream.views.patients import PatientsView
from wearmon.stream.views.pipeline_watch import PipelineWatch

log = logging.getLogger(__name__)
#: Publishes one record (topic, key, value) and waits for the broker's acknowledgement.
Publish = Callable[[str, bytes, bytes], Awaitable[None]]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class NoticeMarks:
    """Which notices were delivered (a ``SentStore``), as read back from the monitoring topic."""

    sent: dict[str, int] = field(default_factory=dict)

    def is_sent(self, key: str) -> bool:
        return key in self.sent

    def mark_sent(self, key: str, at_ms: int) -> None:
        self.sent.setdefault(key, at_ms)


#: A monitoring record's fields (``WardWatch.tell`` writes them).
DELAY_FIELDS: dict[str, Any] = {"ward": str, "state": str, "since_ms": int,
                                "until_ms": int | None, "at_ms": int, "sent": list[str]}


class MonitoringRecords(FollowedView):
    """The monitoring topic: each ward's last delay (open or cleared) and the notices sent."""

    def __init__(self, settings: Settings) -> None:
        self.by_ward: dict[str, dict[str, Any]] = {}
        self.marks = NoticeMarks()
        self.skipped = 0  # records that are not a ward's delay
        self.follower = TopicFollower(settings, [settings.topics.monitoring], self.apply,
                                      "monitoring-records")

    def apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        """One record: a ward's delay and its notices; any other shape is a logged and counted
        skip (this never raises: the follower would read the topic again from the start)."""
        try:
            doc = read_json(value, lambda doc: checked(doc, DELAY_FIELDS))
        except Unreadable as error:
            self.skipped += 1
            log.error("monitoring topic: record skipped (%s %s)", error.field, error.reason)
            return
        self.by_ward[doc["ward"]] = doc
        for notice in doc["sent"]:
            self.marks.mark_sent(notice, doc["at_ms"])

    def open_delays(self) -> dict[str, int]:
        return {ward: int(doc["since_ms"]) for ward, doc in self.by_ward.items()
                if doc.get("state") == "delayed"}


class WardWatch:
    def __init__(self, settings: Settings, patients: PatientsView, publish: Publish) -> None:
        self.settings = settings
        self.patients = patients
        self.publish = publish
        self.watch = PipelineWatch(settings)
        self.records = MonitoringRecords(settings)
        self.episodes = Episodes()
        self.delays: dict[str, int] = {}  # ward → delayed since (what the pages show)
        self.deliverer = Deliverer(
            directory_resolver(patients.directory), self.records.marks,
            max_attempts=settings.notify.max_attempts, backoff_s=settings.notify.backoff_s,
            timeout_s=settings.notify.timeout_s)

    def banners(self, sees: Callable[[str], bool]) -> list[str]:
        """The delays of the wards ``sees`` accepts (an account's own wards)."""
        tz = self.settings.console.timezone
        return [delay_text(ward, since, tz) for ward, since in sorted(self.delays.items())
                if sees(ward)]

    async def run(self) -> None:
        await self.records.wait_ready()
        await self.patients.wait_ready()
        self.episodes.since.update(self.records.open_delays())
        await self.watch.start()
        try:
            while True:
                try:
                    await self.check(wall_ms())
                except (KafkaError, OSError, TimeoutError):
                    log.warning("could not ask Kafka how far monitoring has come; trying again",
                                exc_info=True)
                await asyncio.sleep(self.settings.console.watch_every_s)
        finally:
            await self.watch.stop()
            await self.records.stop()

    async def check(self, now_ms: int) -> None:
        grace_ms = int(self.settings.console.watch_grace_s * 1000)
        since = {p.partition: s for p in await self.watch.look()
                 if (s := delayed_since(p, now_ms, grace_ms)) is not None}
        self.delays = ward_delays(since, self.patients.by_patient.values(),
                                  self.settings.kafka.partitions)
        opened, cleared = self.episodes.update(self.delays)
        for ward, since_ms in opened.items():
            log.warning("monitoring of a ward is delayed: telling its on-call")
            await self.tell(ward, since_ms, None, now_ms)
        for ward, since_ms in cleared.items():
            log.info("monitoring of a ward is back: sending the all-clear")
            await self.tell(ward, since_ms, now_ms, now_ms)

    async def tell(self, ward: str, since_ms: int, until_ms: int | None, now_ms: int) -> None:
        """Tell the on-call, then record the delay (or its end) and the notices sent on the
        monitoring topic (a crash in between tells again after the restart: at least once)."""
        tz = self.settings.console.timezone
        message = (delayed_message(ward, since_ms, tz) if until_ms is None
                   else restored_message(ward, since_ms, until_ms, tz))
        records = [notice_record(ward, since_ms, until_ms is not None, patient, recipient.id,
                                 message, now_ms)
                   for patient, recipient in on_call(ward, self.patients.by_patient.values())]
        sent = []
        for record in records:
            result = await self.deliverer.deliver(record)
            await self.record(result)
            if result.status.value in ("sent", "duplicate"):
                sent.append(record.key)
        doc = {"ward": ward, "state": "delayed" if until_ms is None else "ok",
               "since_ms": since_ms, "until_ms": until_ms, "at_ms": now_ms, "sent": sent}
        await self.publish(self.settings.topics.monitoring, ward.encode(), orjson.dumps(doc))

    async def record(self, result: DeliveryResult) -> None:
        if result.status.value != "sent":
            log.warning("monitoring notice to %s: %s", result.recipient_id, result.status.value)
        await self.publish(self.settings.topics.deliveries, result.patient.encode(),
                           orjson.dumps(result.to_json()))

"""``wearmon sink``: the topics that feed InfluxDB → InfluxDB, in bulk, in its own consumer group.

The worker makes each batch durable in Kafka only (points, dead letters, alert events and
delivery results on their topics), so a reading becomes a page without waiting for InfluxDB.
This process writes all of it to InfluxDB afterwards; run one or more (they share the topics'
partitions). Per fetch of at most ``WEARMON_SINK_BATCH_RECORDS`` records:

1. the records become groups of lines (``decode``): one per upload, so a refused point traces
   to its upload;
2. the lines are written in one request and the writer waits out outages of any length
   (``InfluxWriter``: backpressure, never a drop); what InfluxDB refuses (400/413/422) is found
   by halving (``traced``) and dead-lettered as ``sink_refused``;
3. the dead letters are published and acknowledged;
4. only then are the records' offsets committed.

At least once, idempotent: every point's series and time come from the input, so a record
written twice (a crash between 2 and 4) writes the same points.
"""

from __future__ import annotations

import logging
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from wearmon.stream.config import Settings
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks import metrics
from wearmon.stream.sinks.decode import Decoded, Group, decode
from wearmon.stream.sinks.group import GroupMember, received
from wearmon.stream.sinks.influx import InfluxRejectedError, InfluxWriter
from wearmon.stream.sinks.traced import write_traced

log = logging.getLogger(__name__)


def kinds_of(settings: Settings) -> dict[str, str]:
    """Topic name → what kind of records it holds."""
    topics = settings.topics
    return {topics.points: "points", topics.rejected: "rejected", topics.alerts: "alerts",
            topics.deliveries: "deliveries"}


def refused_letter(group: Group, refused: InfluxRejectedError) -> Rejection | None:
    """The dead letter of an upload whose points InfluxDB refused."""
    if group.patient_id is None and not group.original:
        return None
    issue = Issue("$", "sink_refused",
                  f"InfluxDB refused this upload's points (HTTP {refused.status}, "
                  f"{refused.kind}); nothing of it is stored there")
    return Rejection((issue,), group.original, group.received_ms, group.patient_id,
                     group.upload_id)


class Sink(GroupMember):
    """One sink's loop over its consumer, producer (dead letters) and InfluxDB writer."""

    role = "sink"
    rewrites = "their new owner writes those records again (the same points)"

    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer: AIOKafkaProducer, writer: InfluxWriter) -> None:
        super().__init__(settings, consumer, producer)
        self.kinds = kinds_of(settings)
        self.writer = writer

    async def step(self) -> int:
        """Fetch, write, dead-letter and commit one batch; returns the records handled."""
        fetched = await self.fetch(self.settings.sink.batch_records)
        records = [record for batch in fetched.values() for record in batch]
        if not records:
            await self.probe_when_idle()
            return 0
        decoded = decode([received(r) for r in records], self.kinds)
        written = await self.write(decoded)
        await self.publish(decoded.dead_letters)
        await self.commit(fetched)
        metrics.handled(records, self.kinds, written, decoded)
        return len(records)

    async def probe(self) -> None:
        await self.writer.probe()

    def reasons(self) -> list[str]:
        return metrics.reasons(self.writer, self.state, self.settings.sink.max_lag_s)

    def collector(self) -> metrics.SinkCollector:
        return metrics.SinkCollector(self.writer, self.state, lambda: not self.reasons())

    async def write(self, decoded: Decoded) -> int:
        started_s = time.perf_counter()
        written, refused = await write_traced(self.writer,
                                              [(g, g.lines) for g in decoded.groups])
        metrics.WRITE_SECONDS.observe(time.perf_counter() - started_s)
        for group, error in refused:
            letter = refused_letter(group, error)
            if letter is None:
                log.error("InfluxDB refused %d points of a record (HTTP %s, %s)",
                          len(group.lines), error.status, error.kind)
            else:
                decoded.dead_letters.append(letter)
        metrics.REFUSED.inc(len(refused))
        return written

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

import asyncio
import logging
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from wearmon.stream.config import Settings
from wearmon.stream.core.issues import Issue
from wearmon.stream.core.validation import Rejection
from wearmon.stream.sinks import metrics
from wearmon.stream.sinks.decode import Decoded, Group, Received, decode
from wearmon.stream.sinks.influx import InfluxRejectedError, InfluxWriter
from wearmon.stream.sinks.metrics import SinkState
from wearmon.stream.sinks.traced import write_traced

log = logging.getLogger(__name__)
#: How long a write may block before the consumer would be thought dead: never (an outage of
#: any length is waited out; the group's heartbeats go on meanwhile).
MAX_POLL_INTERVAL_MS = 7 * 24 * 3600 * 1000
PROBE_EVERY_S = 5.0  # while idle, how often InfluxDB is asked whether it would take writes


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


class Sink:
    """One sink's loop over its consumer, producer (dead letters) and InfluxDB writer."""

    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer: AIOKafkaProducer, writer: InfluxWriter) -> None:
        self.settings = settings
        self.kinds = kinds_of(settings)
        self.consumer = consumer
        self.producer = producer
        self.writer = writer
        self.state = SinkState()
        self.probed_s = 0.0

    async def step(self) -> int:
        """Fetch, write, dead-letter and commit one batch; returns the records handled."""
        fetched = await self.consumer.getmany(timeout_ms=500,
                                              max_records=self.settings.sink.batch_records)
        records = [record for batch in fetched.values() for record in batch]
        if not records:
            await self.probe_when_idle()
            return 0
        self.state.oldest_pending_ms = min(r.timestamp for r in records)
        decoded = decode([received(r) for r in records], self.kinds)
        written = await self.write(decoded)
        await self.publish(decoded.dead_letters)
        await self.commit({tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch})
        self.state.oldest_pending_ms = None
        metrics.handled(records, self.kinds, written, decoded)
        return len(records)

    async def probe_when_idle(self) -> None:
        """Nothing to write: still tell whether InfluxDB would take it (every few seconds)."""
        now_s = time.monotonic()
        if now_s - self.probed_s >= PROBE_EVERY_S:
            self.probed_s = now_s
            await self.writer.probe()

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

    async def publish(self, letters: list[Rejection]) -> None:
        """Dead letters on their topic, acknowledged (the sink writes their points next)."""
        max_bytes = self.settings.uploads.dead_letter_max_bytes
        pending = [await self.producer.send(
            self.settings.topics.rejected, orjson.dumps(r.to_record(max_bytes)),
            key=(r.patient_id or "").encode() or None) for r in letters]
        for future in pending:
            await future

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:  # the partitions moved: their new owner writes them again
            log.warning("the sink's partitions moved before their offsets were committed; "
                        "their new owner writes those records again (the same points)")
            return
        self.state.committed.update(offsets)

    async def watch_lag(self, every_s: float = 1.0) -> None:
        """Every few seconds: each assigned partition's end, for the lag gauges."""
        while True:
            await asyncio.sleep(every_s)
            assigned = list(self.consumer.assignment())
            try:
                for tp in assigned:
                    if tp not in self.state.committed:
                        self.state.committed[tp] = await self.consumer.committed(tp) or 0
                self.state.ends = await asyncio.wait_for(
                    self.consumer.end_offsets(assigned), self.settings.kafka.connect_timeout_s)
                self.state.broker_down_since_s = None
                self.state.lag_checked_s = time.time()
            except (KafkaError, OSError, TimeoutError):
                if self.state.broker_down_since_s is None:
                    self.state.broker_down_since_s = time.time()
            self.state.ends = {tp: end for tp, end in self.state.ends.items() if tp in assigned}


def received(record: ConsumerRecord[bytes, bytes]) -> Received:
    return Received(record.topic, record.partition, record.offset, record.timestamp,
                    record.value)

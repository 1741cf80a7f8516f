"""The telemetry agent: batches of Faust events → ``process_batch`` → ``commit``. A thin loop.

Each batch first passes the offset ``Tracker`` (``worker.progress``): only records that follow
contiguously from the next expected offset of their partition are processed; after a hole the
consumer is sent back to the expected offset. The batch is processed and pages (alert events,
then alert state: ``commit.page``) under the worker's lock; the rest is made durable in the
background (``worker.in_flight``) while the next batch is processed: after ``commit``
(InfluxDB, topics, the patients' state as it was right after processing) the producer is
flushed, so the state is in its changelog, and only then are the batch's expected offsets
written. Batches become durable one after the other, and a batch waits for InfluxDB without
the lock (care-team actions and escalation go on); a rebalance first waits for the batch in
flight. A timer sends a partition back when records are known to exist beyond the expected
offset but none arrives. An unexpected error stops the worker (fail-stop): nothing of the batch
is recorded as processed, and the restarted worker resumes from the saved offsets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import TP, EventT

from wearmon.stream.sinks.lines import pipeline_line
from wearmon.stream.worker.batch import BatchOutput, Incoming, process_batch
from wearmon.stream.worker.commit import commit, page
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_io import fail_stop
from wearmon.stream.worker.metrics import UNPROCESSED_DELETED, observe_batch
from wearmon.stream.worker.progress import Tracker
from wearmon.stream.worker.state_cache import Snapshot

log = logging.getLogger(__name__)
STALL_S = 5.0  # records beyond the expected offset but none delivered for this long: go back


def incoming(event: EventT) -> Incoming:
    message = event.message
    return Incoming(value=event.value, received_ms=int(message.timestamp * 1000),
                    partition=message.partition, offset=message.offset)


def lag_of(events: Sequence[EventT], highwater: Callable[[Any], int]) -> int | None:
    """Messages behind the end of the partitions this batch came from."""
    last: dict[Any, int] = {}
    for event in events:
        last[event.message.tp] = event.message.offset
    try:
        return sum(max(0, highwater(tp) - offset - 1) for tp, offset in last.items())
    except (KeyError, TypeError):
        return None


def health_line(context: WorkerContext, output: BatchOutput, started_s: float, now_ms: int,
                lag: int | None) -> str:
    health: dict[str, float] = {
        name: output.counts[name] for name in ("uploads", "samples", "rejected", "duplicates",
                                               "anomalies", "alert_events", "skipped_seen")}
    health["e2e_latency_ms"] = float(output.e2e_latency_ms)
    health["batch_ms"] = (time.perf_counter() - started_s) * 1000
    if lag is not None:
        health["lag_messages"] = lag
    return pipeline_line(context.worker_name, now_ms, health)


@dataclass(frozen=True, slots=True)
class Processed:
    """A processed batch, ready to be made durable."""

    output: BatchOutput
    patient_state: Snapshot  # as it was right after processing
    offsets: dict[int, int]  # partition → next offset, once this batch is durable
    health: str
    lag: int | None
    started_s: float
    now_ms: int


@dataclass
class Telemetry:
    """The agent's loop state: the offset tracker and when each partition last delivered."""

    app: faust.App
    context: WorkerContext
    topic: str
    tracker: Tracker
    last_seen_s: dict[int, float] = field(default_factory=dict)
    rewinding: set[int] = field(default_factory=set)

    async def rewind(self, partition: int, offset: int, why: str) -> None:
        if partition not in self.rewinding:
            log.warning("telemetry partition %d: %s; going back to offset %d", partition, why,
                        offset)
            self.rewinding.add(partition)
        await self.app.consumer.seek(TP(self.topic, partition), offset)

    async def earliest(self, partition: int) -> int:
        """The partition's oldest offset the broker still holds."""
        tp = TP(self.topic, partition)
        return int((await self.app.consumer.earliest_offsets(tp)).get(tp) or 0)

    async def go_back(self, partition: int, why: str) -> None:
        """Go back to the expected offset, or past records that retention deleted before they
        were processed (said loudly and counted: the broker lost them, not this worker)."""
        lost = self.tracker.skip_deleted(partition, await self.earliest(partition))
        if lost:
            UNPROCESSED_DELETED.inc(lost)
            log.error("telemetry partition %d: %d records were deleted by the topic's retention "
                      "before they were processed; continuing after them", partition, lost)
        await self.rewind(partition, self.tracker.expected[partition], why)

    async def know(self, partitions: set[int]) -> None:
        for partition in partitions:
            if not self.tracker.known(partition):
                self.tracker.start(partition, await self.earliest(partition))
            if partition not in self.context.next_offsets:
                self.show_handled({partition: self.tracker.expected[partition]})

    def show_handled(self, offsets: dict[int, int]) -> None:
        """Show these partitions' next offsets on ``/health`` (once counted and durable)."""
        self.context.next_offsets.update(offsets)

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process a batch, then start making it durable once the batch before is."""
        context = self.context
        await context.ready()
        started_s = time.perf_counter()
        now_ms = int(time.time() * 1000)
        records = [(e.message.partition, e.message.offset) for e in events]
        await self.know({partition for partition, _ in records})
        admission = self.tracker.admit(records)
        for partition in admission.holes:
            await self.go_back(partition, "records missing before this batch")
        admitted = [events[i] for i in admission.process]
        partitions = {e.message.partition for e in admitted}
        for partition in partitions:
            self.last_seen_s[partition] = time.monotonic()
            self.rewinding.discard(partition)
        async with context.lock:
            output = process_batch([incoming(e) for e in admitted], context, now_ms)
            output.counts["skipped_seen"] = admission.skipped
            lag = lag_of(admitted, self.app.consumer.highwater)
            batch = Processed(output, context.patients.snapshot(output.patients),
                              {p: self.tracker.expected[p] for p in partitions},
                              health_line(context, output, started_s, now_ms, lag), lag,
                              started_s, now_ms)
            await page(output, context.sinks, context.alerts.snapshot(output.alert_patients))
            context.index_due(output.alert_patients, now_ms)
        await context.in_flight.settle()  # the batch before is durable (outside the lock)
        context.in_flight.start(self.make_durable(batch))
        context.shrink_caches(now_ms)

    async def make_durable(self, batch: Processed) -> None:
        """Commit (InfluxDB, topics, patients' state), flush the producer so that the state is
        in its changelog, and only then save the next offsets and count the batch as handled."""
        context, output = self.context, batch.output
        output.counts["points"] = await commit(output, context.sinks, batch.patient_state,
                                               [batch.health])
        if batch.offsets:
            await self.app.producer.flush()  # the state is in its changelog first
            self.tracker.save(batch.offsets)
        context.count(output.counts)
        self.show_handled(batch.offsets)
        observe_batch(output, time.perf_counter() - batch.started_s, batch.lag)

    async def end_offset(self, partition: int) -> int | None:
        """The partition's end: from the last fetch, else asked of the broker."""
        tp = TP(self.topic, partition)
        try:
            highwater = self.app.consumer.highwater(tp)
        except (KeyError, TypeError):
            highwater = None
        if highwater is None:
            highwater = (await self.app.consumer.highwaters(tp)).get(tp)
        return highwater

    async def check_stalls(self) -> None:
        """Records exist beyond the expected offset but none came for a while: go back."""
        now_s = time.monotonic()
        assigned = {tp.partition for tp in self.app.consumer.assignment()
                    if tp.topic == self.topic}
        await self.know(assigned)  # also partitions that have delivered nothing at all yet
        for partition in assigned:
            expected = self.tracker.expected[partition]
            highwater = await self.end_offset(partition)
            idle_s = now_s - self.last_seen_s.get(partition, now_s)
            self.last_seen_s.setdefault(partition, now_s)
            if highwater is not None and highwater > expected and idle_s > STALL_S:
                self.last_seen_s[partition] = now_s
                await self.go_back(partition, "records not delivered")


def add_telemetry_agent(app: faust.App, context: WorkerContext, topic: Any) -> Telemetry:
    settings = context.settings
    loop = Telemetry(app, context, settings.topic_telemetry,
                     Tracker(context.patients.table, settings.partitions))

    @app.agent(topic, name="process-telemetry")
    async def process_telemetry(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_max_uploads, within=settings.batch_within_s)
        try:
            async for events in batches:
                try:
                    await loop.handle(list(events))
                except Exception:
                    fail_stop("processing a batch")
        finally:
            context.in_flight.cancel()

    @app.timer(STALL_S / 2)
    async def stalls() -> None:
        if app.rebalancing:
            return
        try:
            await loop.check_stalls()
        except Exception:  # a check that cannot run now runs again at the next tick
            log.warning("checking telemetry partitions for stalls failed", exc_info=True)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        await context.in_flight.settle()  # its state and offsets belong to these partitions
        context.forget_state()
        partitions = {tp.partition for tp in revoked if tp.topic == loop.topic}
        loop.tracker.forget(partitions)
        for partition in partitions:
            context.next_offsets.pop(partition, None)

    return loop

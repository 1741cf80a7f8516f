"""The telemetry agent: each Faust batch walks forward through the telemetry flow. A thin loop.

Admit (``progress.Offsets``: only records that follow on from their partition's next expected
offset) → the due alert transitions and ``process.process_batch`` under the worker's alert lock
→ page (``worker.paging``) → start making the batch durable in the background once the batch
before is (``durable.make_durable``, ``in_flight``): points, dead letters, the patients' state as
it was right after processing; then the producer is flushed (the state is in its changelog) and
only then are the batch's next offsets saved. A batch waits for InfluxDB without the lock, so
care-team actions and escalation go on; a rebalance first waits for the batch in flight. An
unexpected error stops the worker (fail-stop): nothing of the batch is recorded as processed,
and the restarted worker resumes from the saved offsets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import EventT

from wearmon.stream.sinks.records import PipelineHealth
from wearmon.stream.worker.connections import Connections
from wearmon.stream.worker.faust_io import fail_stop, log_failure
from wearmon.stream.worker.metrics import observe_batch
from wearmon.stream.worker.paging import PageTopics, due_transitions, page
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.state_cache import Snapshot
from wearmon.stream.worker.status import WorkerStatus
from wearmon.stream.worker.telemetry.batch import BatchOutput, Incoming
from wearmon.stream.worker.telemetry.durable import DurableTopics, make_durable
from wearmon.stream.worker.telemetry.in_flight import InFlight
from wearmon.stream.worker.telemetry.process import BatchRules, process_batch
from wearmon.stream.worker.telemetry.progress import STALL_S, Offsets

STOP_WAIT_S = 15.0  # on SIGTERM, how long the batch in flight may take to become durable
BROKER_TIMEOUT_S = 5.0  # a check of the partitions' ends that takes longer: broker unreachable
log = logging.getLogger(__name__)
HEALTH_COUNTS = ("uploads", "samples", "rejected", "duplicates", "anomalies", "alert_events",
                 "skipped_seen")


def incoming(event: EventT, now_ms: int) -> Incoming:
    """The message as the worker judges it: a tombstone is an empty upload, and it arrived when
    the broker says, but never later than now (a producer may set the record's timestamp, and
    one from the future must not move a patient's clock: samples beyond the clock-skew bound from
    the worker's clock are ``future_sample``)."""
    message = event.message
    value = event.value if isinstance(event.value, bytes) else b""
    return Incoming(value=value, received_ms=min(int(message.timestamp * 1000), now_ms),
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


def health_of(worker: str, output: BatchOutput, started_s: float, now_ms: int,
              lag: int | None) -> PipelineHealth:
    values: dict[str, float] = {name: output.counts[name] for name in HEALTH_COUNTS}
    values["e2e_latency_ms"] = float(output.e2e_latency_ms)
    values["batch_ms"] = (time.perf_counter() - started_s) * 1000
    if lag is not None:
        values["lag_messages"] = lag
    return PipelineHealth(worker, now_ms, values)


@dataclass(frozen=True, slots=True)
class Processed:
    """A processed batch, ready to be made durable."""

    output: BatchOutput
    patient_state: Snapshot  # as it was right after processing
    offsets: dict[int, int]  # partition → next offset, once this batch is durable
    event_ms: dict[int, int]  # partition → broker timestamp of its last record in the batch
    health: PipelineHealth
    lag: int | None
    started_s: float


@dataclass
class Telemetry:
    """What the telemetry agent uses, and its loop."""

    store: PatientStore
    rules: BatchRules
    lock: asyncio.Lock  # one writer of alert state (shared with the care-team commands)
    connections: Connections
    page_topics: PageTopics
    durable_topics: DurableTopics
    offsets: Offsets
    status: WorkerStatus
    flush: Callable[[], Awaitable[None]]  # the producer: everything sent is acknowledged
    highwater: Callable[[Any], int]
    in_flight: InFlight

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process a batch, then start making it durable once the batch before is."""
        await self.connections.ready()
        started_s = time.perf_counter()
        now_ms = int(time.time() * 1000)
        admission = await self.offsets.admit([(e.message.partition, e.message.offset)
                                              for e in events])
        self.status.assigned(self.offsets.tracker.expected)
        admitted = [events[i] for i in admission.process]
        messages = [incoming(e, now_ms) for e in admitted]
        event_ms = {m.partition: m.received_ms for m in messages}
        async with self.lock:
            found = due_transitions(self.store, now_ms)
            output = process_batch(messages, self.store, self.rules, now_ms)
            found.merge(output.page)
            output.page = found
            output.counts["skipped_seen"] = admission.skipped
            output.counts["alert_events"] = len(found.alert_events)
            lag = lag_of(admitted, self.highwater)
            state = self.store.patients.snapshot(output.patients)
            offsets = {p: self.offsets.tracker.expected[p] for p in event_ms}
            health = health_of(self.status.worker_name, output, started_s, now_ms, lag)
            batch = Processed(output, state, offsets, event_ms, health, lag, started_s)
            await page(found, self.page_topics,
                       self.store.alerts.snapshot(found.alert_patients))
            self.store.index_due(found.alert_patients, now_ms)
        await self.in_flight.settle()  # the batch before is durable (outside the lock)
        self.in_flight.start(self.make_durable(batch))
        self.store.shrink()

    async def make_durable(self, batch: Processed) -> None:
        """Points, dead letters, the patients' state; the producer flushed, so that the state
        is in its changelog; only then the next offsets saved and the batch counted."""
        output = batch.output
        await make_durable(output, self.durable_topics, batch.patient_state, batch.health)
        if batch.offsets:
            await self.flush()
            self.offsets.tracker.save(batch.offsets)
        self.status.handled(output.counts, batch.offsets, batch.event_ms)
        observe_batch(output.counts, output.rejections, time.perf_counter() - batch.started_s)

    def partitions_revoked(self, partitions: set[int]) -> None:
        """After the batch in flight settled: their state and offsets go with them."""
        self.store.forget_state()
        self.offsets.forget(partitions)
        self.status.revoked(partitions)

    async def check(self) -> None:
        """Every few seconds: stalled partitions sent back; ends, broker and tracker state
        recorded for ``/ready`` and ``/metrics``."""
        try:
            ends = await asyncio.wait_for(self.offsets.check_stalls(), BROKER_TIMEOUT_S)
        except Exception:
            self.status.broker_failed()
            raise
        self.status.assigned(self.offsets.tracker.expected)
        self.status.ends(ends)
        self.status.rewinding(set(self.offsets.rewinding))


def add_telemetry_agent(app: faust.App, topic: Any, telemetry: Telemetry, max_uploads: int,
                        within_s: float) -> None:
    """Register the agent, its stall timer and its rebalance hook on ``app``."""

    @app.agent(topic, name="process-telemetry")
    async def process_telemetry(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(max_uploads, within=within_s)  # type: ignore[attr-defined]
        try:
            async for events in batches:
                try:
                    await telemetry.handle(list(events))
                except Exception:
                    fail_stop("processing a batch")
        finally:  # stopping: the batch in flight is finished, not processed again next time
            if await telemetry.in_flight.finish(STOP_WAIT_S):
                log.info("stopping: the batch in flight is durable")
            else:
                log.warning("stopping: the batch in flight did not finish within %.0f s; it "
                            "is processed again after the restart", STOP_WAIT_S)

    @app.timer(STALL_S / 2)
    async def stalls() -> None:
        if not app.rebalancing:
            with log_failure("checking telemetry partitions"):  # again at the next tick
                await telemetry.check()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        await telemetry.in_flight.settle()  # its state and offsets belong to these partitions
        telemetry.partitions_revoked({tp.partition for tp in revoked
                                      if tp.topic == topic.get_topic_name()})

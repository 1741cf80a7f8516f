"""Latency under load: produce → anomaly record on its topic, with a worker running.

Simulated uploads are sent at a fixed rate of samples per second (the bench uses half the
worker's measured maximum), paced in real time. Every ``probe_every``-th message is a probe: a
patient of its own whose upload holds only critical heart rates (30 bpm, bradycardia) with
sample times ending at the wall clock, so that the worker's first finding for that patient is
at the probe's first sample. A consumer of the anomalies topic, in the same process and on the
same clock, notes when each probe's anomaly arrives; latency = that moment − the moment the
probe was handed to the producer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaConsumer

from wearmon.stream.config import Settings
from wearmon.stream.datasets.simulator import SAMPLE_MS
from wearmon.stream.kafka import client_options, ensure_topics
from wearmon.stream.tools.bench.data import (
    Message,
    probe_patient,
    probe_upload,
    schedule,
)
from wearmon.stream.tools.bench.kafka_io import bench_producer


@dataclass(frozen=True, slots=True)
class Probe:
    patient_id: str
    first_ms: int  # sample times of the probe upload
    last_ms: int
    sent_s: float  # time.perf_counter() when handed to the producer


@dataclass(frozen=True, slots=True)
class Seen:
    """An anomaly record as the consumer received it."""

    patient_id: str
    t_ms: int
    seen_s: float  # time.perf_counter() when the consumer had it


def match(probes: Iterable[Probe], seen: Iterable[Seen]) -> dict[str, float]:
    """Latency (s) of each probe that has an anomaly: the first one received for its patient
    at one of its sample times.

    >>> p = [Probe("a", 100, 200, 1.0), Probe("b", 100, 200, 2.0)]
    >>> match(p, [Seen("a", 50, 1.5), Seen("a", 150, 1.7), Seen("a", 100, 1.6), Seen("c", 1, 3)])
    {'a': 0.6000000000000001}
    """
    first: dict[str, float] = {}
    by_patient = {p.patient_id: p for p in probes}
    for s in seen:
        probe = by_patient.get(s.patient_id)
        if probe is not None and probe.first_ms <= s.t_ms <= probe.last_ms:
            first[s.patient_id] = min(first.get(s.patient_id, math.inf), s.seen_s)
    return {patient: seen_s - by_patient[patient].sent_s for patient, seen_s in first.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile.

    >>> percentile([4.0, 1.0, 3.0, 2.0], 0.5), percentile([4.0, 1.0, 3.0, 2.0], 0.99)
    (2.0, 4.0)
    """
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class LatencyRun:
    target_rate: float  # samples/s asked for
    sent_samples: int = 0
    send_s: float = 0.0
    probes: list[Probe] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Samples/s actually sent."""
        return self.sent_samples / self.send_s if self.send_s > 0 else 0.0

    @property
    def p50_s(self) -> float:
        return percentile(self.latencies_s, 0.5)

    @property
    def p99_s(self) -> float:
        return percentile(self.latencies_s, 0.99)


@dataclass
class AnomalyWatch:
    """Anomaly records of probe patients as they arrive; done when every probe has one."""

    consumer: AIOKafkaConsumer
    probes: dict[str, Probe] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    matched: set[str] = field(default_factory=set)

    async def poll(self) -> None:
        fetched = await self.consumer.getmany(timeout_ms=50)
        seen_s = time.perf_counter()
        for batch in fetched.values():
            for record in batch:
                doc = orjson.loads(record.value)
                probe = self.probes.get(str(doc.get("patient_id")))
                if probe is None:
                    continue
                t_ms = int(doc["t_ms"])
                self.seen.append(Seen(probe.patient_id, t_ms, seen_s))
                if probe.first_ms <= t_ms <= probe.last_ms:
                    self.matched.add(probe.patient_id)

    async def run(self, sending: asyncio.Event, drain_s: float) -> None:
        """Poll until sending is over and every probe is matched, or ``drain_s`` after it."""
        while not sending.is_set():
            await self.poll()
        deadline = time.monotonic() + drain_s
        while len(self.matched) < len(self.probes) and time.monotonic() < deadline:
            await self.poll()


async def run_latency(settings: Settings, background: Iterable[Message], samples_per_upload: int,
                      rate: float, duration_s: float, probe_every: int = 10,
                      drain_s: float = 30.0) -> LatencyRun:
    """Send ``background`` with probes at ``rate`` samples/s for ``duration_s`` to the telemetry
    topic of ``settings`` (a worker is consuming it) and time the probes' anomalies."""
    await ensure_topics(settings)
    consumer = AIOKafkaConsumer(settings.topics.anomalies, **client_options(settings),
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    producer = bench_producer(settings)
    await consumer.start()
    await producer.start()
    run = LatencyRun(rate)
    watch = AnomalyWatch(consumer)
    sending = asyncio.Event()
    watcher = asyncio.create_task(watch.run(sending, drain_s))
    try:
        futures = []
        started = time.perf_counter()
        for slot in schedule(background, samples_per_upload, rate, duration_s, probe_every):
            wait_s = slot.due_s - (time.perf_counter() - started)
            if wait_s > 0:
                await asyncio.sleep(wait_s)  # pacing in real time
            if slot.message is None:
                end_ms = int(time.time() * 1000)
                patient = probe_patient(samples_per_upload, len(run.probes) + 1)
                key, value = probe_upload(patient, samples_per_upload, end_ms)
                probe = Probe(patient, end_ms - (samples_per_upload - 1) * SAMPLE_MS, end_ms,
                              time.perf_counter())
                run.probes.append(probe)
                watch.probes[patient] = probe
            else:
                key, value = slot.message
            futures.append(await producer.send(settings.topics.telemetry, value, key=key))
            run.sent_samples += slot.samples
        run.send_s = time.perf_counter() - started
        for future in futures:
            await future
        sending.set()
        await watcher
    finally:
        watcher.cancel()
        await producer.stop()
        await consumer.stop()
    run.latencies_s = list(match(run.probes, watch.seen).values())
    return run


async def broker_hop(settings: Settings, messages: int = 60, gap_s: float = 0.1) -> list[float]:
    """The baseline of the latency: one hop through the broker as the worker's consumer makes it.

    Messages sent one by one, ``gap_s`` apart, to a topic of their own; a plain consumer with
    the worker's fetch wait (``WEARMON_FETCH_MAX_WAIT_MS``) notes when each arrives. A broker
    that answers a fetch as soon as data is there (Kafka) gives milliseconds; one that holds
    every fetch for the whole wait adds up to that wait to every hop, to the worker's as much
    as to this one.
    """
    topic = f"{settings.topics.telemetry}-hop"
    await ensure_topics(settings.with_topics(telemetry=topic))
    producer = bench_producer(settings)
    consumer = AIOKafkaConsumer(topic, **client_options(settings), auto_offset_reset="latest",
                                enable_auto_commit=False,
                                fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms)
    await producer.start()
    await consumer.start()
    latencies: list[float] = []
    try:
        await consumer.seek_to_end()
        for i in range(messages):
            sent_s = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode(), key=b"hop")
            await consumer.getone()
            latencies.append(time.perf_counter() - sent_s)
            await asyncio.sleep(gap_s)  # pacing: a steady trickle, as in the latency run
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies

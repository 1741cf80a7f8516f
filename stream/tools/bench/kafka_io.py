"""The bench's Kafka side: fill a telemetry topic, the plain-consumer baseline, warm-ups."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from wearmon.stream.config import Settings
from wearmon.stream.kafka import client_options, ensure_topics, make_producer
from wearmon.stream.tools.bench.data import Message, sample_count, warm_up_upload
from wearmon.stream.tools.workers import WorkerError, WorkerProcess

#: Every producer of a bench run batches as Kafka does by default, the workers' too. Tests and
#: the demo give workers batches of one record, because the embedded broker misreports the end
#: of a changelog written in larger batches and a restarted worker would then recover its state
#: short (``config.py``); nothing in a bench run restarts, and one-record batches cost a worker
#: about a third of its batch time there (a request per record), which a deployment on Kafka
#: never pays.
PRODUCER_BATCH_BYTES = 16_384


def bench_producer(settings: Settings) -> AIOKafkaProducer:
    kafka = settings.kafka.model_copy(update={"producer_max_batch_bytes": PRODUCER_BATCH_BYTES})
    return make_producer(settings.model_copy(update={"kafka": kafka}))


async def produce(settings: Settings, messages: list[Message]) -> None:
    """Every message into the telemetry topic, acknowledged (acks=all)."""
    await ensure_topics(settings)
    producer = bench_producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(settings.topics.telemetry, value, key=key)
                   for key, value in messages]
        for future in futures:
            await future
    finally:
        await producer.stop()


@dataclass(frozen=True, slots=True)
class Timed:
    """How many things (samples, points) were handled, and the seconds that took."""

    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds


def median(runs: list[Timed]) -> Timed:
    """The run of median rate.

    >>> median([Timed(10, 1.0), Timed(30, 1.0), Timed(20, 1.0)]).count
    20
    """
    return sorted(runs, key=lambda run: run.per_s)[len(runs) // 2]


async def consume_all(settings: Settings, count: int, timeout_s: float = 300.0) -> Timed:
    """Baseline: a plain aiokafka consumer reads and decodes the whole telemetry topic in batches
    of at most the worker's; timed as the worker is, from its first batch to the last message
    (the samples of the first batch are not counted)."""
    consumer = AIOKafkaConsumer(settings.topics.telemetry, **client_options(settings),
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen = samples = 0
    first_s: float | None = None
    deadline = time.monotonic() + timeout_s
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumed {seen} of {count} messages")
            fetched = await consumer.getmany(timeout_ms=500,
                                             max_records=settings.worker.batch_max_uploads)
            if first_s is None and fetched:
                first_s = time.perf_counter()
                seen += sum(len(batch) for batch in fetched.values())  # not timed
                for batch in fetched.values():
                    for message in batch:
                        orjson.loads(message.value)
                continue
            for batch in fetched.values():
                for message in batch:
                    orjson.loads(message.value)
                    samples += sample_count(message.value)
                seen += len(batch)
    finally:
        await consumer.stop()
    assert first_s is not None
    return Timed(samples, time.perf_counter() - first_s)


async def records_in(settings: Settings, topics: list[str]) -> int:
    """How many records these topics hold (their partitions' end offsets, added up)."""
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics
               for p in (consumer.partitions_for_topic(topic)
                         or await partitions_of(consumer, topic))]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer.topics()
    return consumer.partitions_for_topic(topic) or set()


async def warm_up(settings: Settings, workers: list[WorkerProcess], round_s: float = 0.5,
                  timeout_s: float = 180.0) -> int:
    """Send one small upload into every telemetry partition each round until every worker has
    handled one (each has joined the group and got its partitions); returns how many were
    sent."""
    await ensure_topics(settings)
    producer = bench_producer(settings)
    await producer.start()
    sent = 0
    deadline = time.monotonic() + timeout_s
    try:
        while not all(w.handled() > 0 for w in workers):
            if time.monotonic() > deadline:
                raise WorkerError("workers did not all handle a warm-up upload in "
                                  f"{timeout_s:.0f} s\n" + "\n".join(w.log_tail() for w in workers))
            now_ms = int(time.time() * 1000)
            for partition in range(settings.kafka.partitions):
                patient = f"warm-up-{partition}"
                await producer.send_and_wait(settings.topics.telemetry,
                                             warm_up_upload(patient, sent, now_ms),
                                             key=patient.encode(), partition=partition)
                sent += 1
            await asyncio.sleep(round_s)  # polling the workers' /health: no event to await
    finally:
        await producer.stop()
    return sent

"""The shell every sink shares: a plain aiokafka consumer group that writes each batch somewhere
durable, dead-letters what is refused, and commits only then.

``wearmon sink`` (InfluxDB) and ``wearmon fhir-export`` (a FHIR server) are ``GroupMember``s:
each implements ``step`` (fetch, write, dead-letter, commit one batch) with the pieces here —
``publish`` (dead letters, acknowledged), ``commit`` (after the writes), ``watch_lag`` (the
partitions' ends for ``/ready`` and ``/metrics``) — and is run by ``run_member``: its web server
(``/health``, ``/ready``, ``/metrics``), until SIGINT/SIGTERM, finishing the batch in hand.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

import orjson
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from wearmon.stream.config import Settings
from wearmon.stream.core.validation import Rejection
from wearmon.stream.kafka import client_options
from wearmon.stream.signals import stop_on_signals
from wearmon.stream.sinks.decode import Received
from wearmon.stream.sinks.metrics import SinkState

log = logging.getLogger(__name__)
#: How long a write may block before the consumer would be thought dead: never (an outage of
#: any length is waited out; the group's heartbeats go on meanwhile).
MAX_POLL_INTERVAL_MS = 7 * 24 * 3600 * 1000
STOP_WAIT_S = 10.0
PROBE_EVERY_S = 5.0  # while idle, how often the destination is asked whether it takes writes
Fetched = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


def new_consumer(settings: Settings, topics: list[str], group: str) -> AIOKafkaConsumer:
    """A member of ``group`` reading ``topics`` from the start, committing by hand."""
    return AIOKafkaConsumer(
        *topics, **client_options(settings), group_id=group,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=int(settings.kafka.broker_session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.kafka.broker_heartbeat_interval_s * 1000),
        rebalance_timeout_ms=int(settings.kafka.broker_session_timeout_s * 1000),
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms)


def received(record: ConsumerRecord[bytes, bytes]) -> Received:
    """A fetched record as the pure steps read it."""
    return Received(record.topic, record.partition, record.offset, record.timestamp,
                    record.value)


class GroupMember:
    """One member's consumer, producer (dead letters) and state; ``step``, ``reasons`` and
    ``collector`` are its own."""

    role = "member"  # how /health and /ready name it
    #: who writes again what was not committed (said when partitions move before a commit)
    rewrites = "their new owner writes those records again"

    def __init__(self, settings: Settings, consumer: AIOKafkaConsumer,
                 producer: AIOKafkaProducer) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.state = SinkState()
        self.probed_s = 0.0

    async def step(self) -> int:
        """Fetch, write, dead-letter and commit one batch; returns the records handled."""
        raise NotImplementedError

    def reasons(self) -> list[str]:
        """Why this member is not keeping up (empty: ready)."""
        raise NotImplementedError

    def collector(self) -> Collector:
        """Its gauges, read at scrape time."""
        raise NotImplementedError

    async def probe(self) -> None:
        """Ask the destination whether it would take writes (updates its outage state)."""

    async def probe_when_idle(self) -> None:
        """Nothing to write: still tell whether the destination would take it (every few
        seconds), so that ``/ready`` is true while idle too."""
        now_s = time.monotonic()
        if now_s - self.probed_s >= PROBE_EVERY_S:
            self.probed_s = now_s
            await self.probe()

    async def fetch(self, max_records: int) -> Fetched:
        """The next records (at most ``max_records``); marks the oldest as pending."""
        fetched = await self.consumer.getmany(timeout_ms=500, max_records=max_records)
        records = [record for batch in fetched.values() for record in batch]
        if records:
            self.state.oldest_pending_ms = min(r.timestamp for r in records)
        return fetched

    async def publish(self, letters: list[Rejection]) -> None:
        """Dead letters on their topic, acknowledged before the batch is committed."""
        max_bytes = self.settings.uploads.dead_letter_max_bytes
        pending = [await self.producer.send(
            self.settings.topics.rejected, orjson.dumps(r.to_record(max_bytes)),
            key=(r.patient_id or "").encode() or None) for r in letters]
        for future in pending:
            await future

    async def commit(self, fetched: Fetched) -> None:
        """The fetched records' offsets, once everything of them is durable."""
        offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
        self.state.oldest_pending_ms = None
        try:
            await self.consumer.commit(offsets)
        except CommitFailedError:  # the partitions moved: their new owner writes them again
            log.warning("the partitions moved before their offsets were committed; %s",
                        self.rewrites)
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


def web_app(member: GroupMember) -> web.Application:
    """``/health`` (alive, with the offsets and lag), ``/ready`` (200, or 503 with the
    member's reasons) and ``/metrics`` of one member."""
    name, state = f"{socket.gethostname()}-{os.getpid()}", member.state
    registry = CollectorRegistry(auto_describe=True)
    registry.register(member.collector())

    async def health(request: web.Request) -> web.Response:
        body: dict[str, Any] = {member.role: name, "committed": sum(state.committed.values()),
                                "lag_records": sum(state.lag().values()),
                                "lag_checked_s": state.lag_checked_s,
                                "partitions": len(state.ends)}
        return web.json_response(body)

    async def readiness(request: web.Request) -> web.Response:
        why = member.reasons()
        return web.json_response({"ready": not why, member.role: name, "reasons": why},
                                 status=200 if not why else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", readiness)
    app.router.add_get("/metrics", metrics)
    return app


async def run_member(member: GroupMember, host: str, port: int) -> None:
    """Join the group, serve its web app on host:port, and step until SIGINT/SIGTERM."""
    await member.consumer.start()
    await member.producer.start()
    runner = web.AppRunner(web_app(member), access_log=None)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await until_stopped(member, stop_on_signals())
    finally:
        await runner.cleanup()
        await member.consumer.stop()
        await member.producer.stop()


async def until_stopped(member: GroupMember, stop: asyncio.Event) -> None:
    """Step batch after batch; on a signal, finish the batch in hand and return."""
    lag = asyncio.create_task(member.watch_lag())
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(member.step())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():  # finish the batch in hand, unless its writes keep it waiting:
                await asyncio.wait({step}, timeout=STOP_WAIT_S)  # then nothing of it is
                step.cancel()  # committed, and the next member writes it again (the same)
            stopped.cancel()
            if not step.cancelled():
                step.result()
    finally:
        lag.cancel()

"""Follow whole topics from the start, outside any consumer group: the global views' reader.

The patients directory (``views.patients``), the cluster-wide alerts view
(``views.alerts_feed``) and the gateways' device registry (``gateway.devices``) need *every*
partition in every process, so they use a plain aiokafka consumer with manual assignment instead
of Faust's group-partitioned streams. A follower is ready once it has caught up with the end
offsets seen at start-up; it keeps following afterwards, and retries (from the start) if the
consumer fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from wearmon.stream.config import Settings
from wearmon.stream.kafka import client_options, ensure_topics

log = logging.getLogger(__name__)

#: One record: (topic, key, value).
Apply = Callable[[str, bytes | None, bytes | None], None]


class TopicFollower:
    """Calls ``apply`` for every record of ``topics`` and ``after_batch`` after each fetch."""

    def __init__(self, settings: Settings, topics: list[str], apply: Apply, name: str,
                 after_batch: Callable[[], None] | None = None,
                 reset: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.topics = topics
        self.apply = apply
        self.name = name
        self.after_batch = after_batch
        self.reset = reset  # called before re-reading from the start after a failure
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_ready(self) -> None:
        self.start()
        await self._ready.wait()

    async def _run(self) -> None:
        while True:
            try:
                await self._follow()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reader failed; reading again from the start", self.name)
                if self.reset is not None:
                    self.reset()
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        await ensure_topics(self.settings, extra=self.topics)
        consumer = AIOKafkaConsumer(
            **client_options(self.settings), enable_auto_commit=False,
            group_id=None, auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.kafka.fetch_max_wait_ms)
        await consumer.start()
        try:
            tps = await _all_partitions(consumer, self.topics)
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    for record in records:
                        self.apply(tp.topic, record.key, record.value)
                if batches and self.after_batch is not None:
                    self.after_batch()
                if not self._ready.is_set() and await _caught_up(consumer, ends):
                    log.info("%s: caught up", self.name)
                    self._ready.set()
        finally:
            await consumer.stop()


class FollowedView:
    """A view kept up to date by ``self.follower``: ready once it has read up to the end."""

    follower: TopicFollower

    @property
    def ready(self) -> bool:
        return self.follower.ready

    def start(self) -> None:
        self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()

    async def wait_ready(self) -> None:
        await self.follower.wait_ready()


async def _all_partitions(consumer: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    tps: list[TopicPartition] = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic) or set()
        while not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
            if not parts:
                await asyncio.sleep(0.2)
        tps += [TopicPartition(topic, p) for p in sorted(parts)]
    return tps


async def _caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True

"""Follow a small keyed topic from its beginning: the last value per key wins, a tombstone deletes.

Used for registries that every process needs whole (device tokens for the gateways). Brokers that
do not compact the topic (the embedded one) are fine: it is read from the start. The reader is a
plain aiokafka consumer outside any consumer group, assigned every partition; it is *ready* once it
has caught up with the end offsets seen when it started, and it keeps following afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from wearmon.stream.config import Settings
from wearmon.stream.kafka import ensure_topics

log = logging.getLogger(__name__)

Apply = Callable[[bytes | None, bytes | None], None]


class TopicView:
    """Calls ``apply(key, value)`` for every record of ``topic``; ``await wait_ready()`` first."""

    def __init__(self, settings: Settings, topic: str, apply: Apply) -> None:
        self.settings = settings
        self.topic = topic
        self.apply = apply
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"view-{self.topic}")

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
            except Exception as exc:
                log.error("reading topic %s failed (%s); retrying", self.topic, type(exc).__name__)
                await asyncio.sleep(1.0)

    async def _follow(self) -> None:
        await ensure_topics(self.settings, extra=[self.topic])
        consumer = AIOKafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                    enable_auto_commit=False, group_id=None,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            while not parts:
                await consumer.topics()
                parts = consumer.partitions_for_topic(self.topic) or set()
                if not parts:
                    await asyncio.sleep(0.2)
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            while True:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        self.apply(record.key, record.value)
                if not self._ready.is_set() and await caught_up(consumer, ends):
                    self._ready.set()
        finally:
            await consumer.stop()


async def caught_up(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True

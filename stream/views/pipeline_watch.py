"""The telemetry partitions as the broker sees them: how far the workers' group has come, and
since when the oldest reading not yet processed has waited. Kafka only: it works when every
worker is down. It never joins the workers' group and never commits (it reads the group's
committed offsets, which Faust moves as the workers handle their batches)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from wearmon.stream.config import Settings
from wearmon.stream.kafka import client_options
from wearmon.stream.views.monitoring import PartitionProgress

log = logging.getLogger(__name__)


class PipelineWatch:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer: AIOKafkaConsumer | None = None
        self.tps: list[TopicPartition] = []

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            **client_options(self.settings), group_id=self.settings.kafka.app_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            fetch_max_wait_ms=self.settings.kafka.fetch_max_wait_ms)
        await self.consumer.start()
        topic = self.settings.topics.telemetry
        self.tps = [TopicPartition(topic, p) for p in range(self.settings.kafka.partitions)]
        self.consumer.assign(self.tps)

    async def stop(self) -> None:
        if self.consumer is not None:
            with contextlib.suppress(KafkaError):
                await self.consumer.stop()

    async def look(self) -> list[PartitionProgress]:
        """Every telemetry partition's end, committed offset and oldest waiting reading."""
        consumer = self.consumer
        assert consumer is not None, "start() first"
        ends = await consumer.end_offsets(self.tps)
        out = []
        for tp in self.tps:
            committed = await consumer.committed(tp) or 0
            first = None
            if committed < ends[tp]:
                first = await self.arrival(tp, committed)
            out.append(PartitionProgress(tp.partition, ends[tp], committed, first))
        return out

    async def arrival(self, tp: TopicPartition, offset: int) -> int | None:
        """The broker timestamp of the record at ``offset`` (None: it cannot be read now)."""
        consumer = self.consumer
        assert consumer is not None
        consumer.seek(tp, offset)
        try:
            fetched = await asyncio.wait_for(consumer.getmany(tp, timeout_ms=1000,
                                                              max_records=1), 5)
        except TimeoutError:
            return None
        records = fetched.get(tp, [])
        return records[0].timestamp if records else None

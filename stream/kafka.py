"""Kafka plumbing shared by the worker, simulator, replay and demo (aiokafka)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from wearmon.stream.config import Settings

log = logging.getLogger(__name__)


def topic_names(settings: Settings) -> list[str]:
    return [settings.topic_telemetry, settings.topic_rejected, settings.topic_anomalies,
            settings.topic_alerts, settings.topic_patients, settings.topic_alert_commands,
            settings.topic_outbox, settings.topic_deliveries, settings.topic_alert_replies]


async def ensure_topics(settings: Settings, extra: list[str] | None = None,
                        timeout_s: float = 30.0) -> None:
    """Create Wearmon's topics with the configured partition count (existing ones are kept)."""
    settings.require_broker()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topic_names(settings) + (extra or []) if t not in existing]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([
                    NewTopic(name, num_partitions=settings.partitions, replication_factor=1)
                    for name in wanted
                ])
    finally:
        await admin.close()


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer that waits for the broker's acknowledgement of every message."""
    settings.require_broker()
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        max_batch_size=settings.producer_max_batch_bytes,
        max_request_size=max(2 * settings.max_upload_bytes, 1_048_576),
    )

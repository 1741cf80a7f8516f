"""Kafka plumbing shared by the worker, gateway, console and tools (aiokafka and Faust).

``client_options`` is the one place that turns the security settings (TLS, SASL) into client
arguments; every aiokafka client and the Faust app use it. ``ensure_topics`` declares Wearmon's
topics with their partitions, replication and retention policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from wearmon.stream.config import Settings

log = logging.getLogger(__name__)

#: Topics whose every record is "the current value of this key": compacted, never expired.
COMPACTED = "compact"


def ssl_context(settings: Settings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.kafka.security.ca_file or None)
    if settings.kafka.security.cert_file:
        context.load_cert_chain(settings.kafka.security.cert_file, settings.kafka.security.key_file)
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for every aiokafka client (bootstrap servers and security).

    >>> from wearmon.stream.config import variables_only
    >>> s = variables_only({"WEARMON_BROKER": "kafka://k:9092",
    ...                     "WEARMON_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    ...                     "WEARMON_KAFKA_SASL_USERNAME": "wearmon",
    ...                     "WEARMON_KAFKA_SASL_PASSWORD": "secret"})
    >>> o = client_options(s)
    >>> o["bootstrap_servers"], o["security_protocol"], o["sasl_mechanism"]
    ('k:9092', 'SASL_PLAINTEXT', 'SCRAM-SHA-512')
    """
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka.bootstrap,
                               "security_protocol": settings.kafka.security.security_protocol}
    if settings.kafka.security.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = ssl_context(settings)
    if settings.kafka.security.security_protocol.startswith("SASL_"):
        password = settings.kafka.security.sasl_password
        options.update(sasl_mechanism=settings.kafka.security.sasl_mechanism,
                       sasl_plain_username=settings.kafka.security.sasl_username,
                       sasl_plain_password=password.get_secret_value() if password else "")
    return options


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key`` (murmur2, as Java's).

    >>> key_partition(b"p-0001", 4) == (murmur2(b"p-0001") & 0x7FFFFFFF) % 4
    True
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def compacted_topics(settings: Settings) -> set[str]:
    """Registries keyed by id (last value wins, a tombstone deletes): compacted, never expired."""
    return {settings.topics.patients, settings.topics.devices, settings.topics.monitoring}


def new_topic(settings: Settings, name: str) -> NewTopic:
    configs = {"cleanup.policy": COMPACTED} if name in compacted_topics(settings) else {}
    if name == settings.topics.telemetry:  # the broker's clock, not the producer's, on Kafka
        configs["message.timestamp.type"] = "LogAppendTime"  # (the worker bounds it too)
    return NewTopic(name, num_partitions=settings.kafka.partitions,
                    replication_factor=settings.kafka.replication_factor, topic_configs=configs)


def topic_names(settings: Settings) -> list[str]:
    return [settings.topics.telemetry, settings.topics.points, settings.topics.rejected,
            settings.topics.anomalies,
            settings.topics.alerts, settings.topics.patients, settings.topics.alert_commands,
            settings.topics.outbox, settings.topics.deliveries, settings.topics.alert_replies,
            settings.topics.devices, settings.topics.monitoring]


async def ensure_topics(settings: Settings, extra: list[str] | None = None,
                        timeout_s: float = 30.0) -> None:
    """Create Wearmon's topics with the configured partition count (existing ones are kept)."""
    settings.require_broker()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings))
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
                await admin.create_topics([new_topic(settings, name) for name in wanted])
    finally:
        await admin.close()


def make_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer that waits for the broker's acknowledgement of every message."""
    settings.require_broker()
    return AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        linger_ms=5,
        max_batch_size=settings.kafka.producer_max_batch_bytes,
        max_request_size=max(2 * settings.uploads.max_upload_bytes, 1_048_576),
    )

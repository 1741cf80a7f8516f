"""How Wearmon declares Faust topics and tables: raw bytes (JSON via orjson), explicit partitions.

Tables must declare ``key_type=bytes, value_type=bytes``: Faust derives the changelog serializers
from those types, and any other combination breaks changelog recovery. ``use_partitioner`` puts
each changelog entry on the partition that the key bytes hash to, exactly where the gateways'
default partitioner put the telemetry (key = patient id), so state and data stay together.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NoReturn

import faust
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

from wearmon.stream.config import Settings
from wearmon.stream.kafka import ssl_context

log = logging.getLogger(__name__)


def bytes_topic(app: faust.App, name: str, settings: Settings) -> Any:
    return app.topic(name, partitions=settings.partitions, key_serializer="raw",
                     value_serializer="raw")


def bytes_table(app: faust.App, name: str, settings: Settings) -> Any:
    return app.Table(name, partitions=settings.partitions, use_partitioner=True,
                     key_type=bytes, value_type=bytes)


def prompt_fetches(app: faust.App, fetch_max_wait_ms: int) -> None:
    """Let the worker's consumer ask the broker to hold a fetch at most ``fetch_max_wait_ms``.

    Faust hard-codes 1,500 ms in its aiokafka driver. Kafka answers a fetch as soon as data is
    there, so the wait only matters when idle; a broker that holds every fetch for the whole wait
    (the embedded test broker does) adds it to every hop through the worker. Call before the
    worker starts (the consumer is created when it starts).
    """

    class PromptConsumerThread(AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            # aiokafka reads this when it starts its fetcher (pinned versions, see the lock file)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class PromptConsumer(Consumer):
        def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
            return PromptConsumerThread(self, loop=self.loop, beacon=self.beacon)

    app.transport.Consumer = PromptConsumer  # type: ignore[misc]  # this app's transport only


def fail_stop(what: str) -> NoReturn:
    """Exit at once after an unexpected error inside an agent.

    Faust acks a message (and ``take()`` a whole batch) even when the agent body raises, which
    would commit offsets of results that were never stored. Exiting without cleanup commits
    nothing: the uncommitted messages go to the restarted worker.
    """
    log.critical("unexpected error while %s; stopping the worker so that nothing is committed",
                 what, exc_info=True)
    os._exit(70)


def faust_credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The Faust app's ``broker_credentials`` for the same security settings."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.kafka_sasl_password
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password else "",
        mechanism=settings.kafka_sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )

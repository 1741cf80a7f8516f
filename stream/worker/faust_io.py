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

from wearmon.stream.config import Settings
from wearmon.stream.kafka import ssl_context

log = logging.getLogger(__name__)


def bytes_topic(app: faust.App, name: str, settings: Settings) -> Any:
    return app.topic(name, partitions=settings.partitions, key_serializer="raw",
                     value_serializer="raw")


def bytes_table(app: faust.App, name: str, settings: Settings) -> Any:
    return app.Table(name, partitions=settings.partitions, use_partitioner=True,
                     key_type=bytes, value_type=bytes)


def fail_stop(what: str, error: BaseException | None = None) -> NoReturn:
    """Exit at once after an unexpected error inside an agent (the one being handled, or
    ``error``).

    Faust acks a message (and ``take()`` a whole batch) even when the agent body raises, which
    would commit offsets of results that were never stored. Exiting without cleanup commits
    nothing: the uncommitted messages go to the restarted worker.
    """
    log.critical("unexpected error while %s; stopping the worker so that nothing is committed",
                 what, exc_info=error or True)
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

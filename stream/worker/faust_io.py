"""How Wearmon declares Faust topics and tables: raw bytes (JSON via orjson), explicit partitions.

Tables must declare ``key_type=bytes, value_type=bytes``: Faust derives the changelog serializers
from those types, and any other combination breaks changelog recovery. ``use_partitioner`` puts
each changelog entry on the partition that the key bytes hash to, exactly where the gateways'
default partitioner put the telemetry (key = patient id), so state and data stay together.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import faust
from faust.types import TP

from wearmon.stream.config import Settings
from wearmon.stream.kafka import ssl_context
from wearmon.stream.worker.faust_store import OPTIONS as STORE_OPTIONS

log = logging.getLogger(__name__)


def bytes_topic(app: faust.App, name: str, settings: Settings) -> Any:
    return app.topic(name, partitions=settings.kafka.partitions, key_serializer="raw",
                     value_serializer="raw")


def bytes_table(app: faust.App, name: str, settings: Settings) -> Any:
    options = dict(STORE_OPTIONS) if settings.worker.state_store == "rocksdb" else None
    return app.Table(name, partitions=settings.kafka.partitions, use_partitioner=True,
                     key_type=bytes, value_type=bytes, options=options)


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
    protocol = settings.kafka.security.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    password = settings.kafka.security.sasl_password
    return faust.SASLCredentials(
        username=settings.kafka.security.sasl_username,
        password=password.get_secret_value() if password else "",
        mechanism=settings.kafka.security.sasl_mechanism,
        ssl_context=ssl_context(settings) if protocol == "SASL_SSL" else None,
    )


@contextlib.contextmanager
def log_failure(what: str) -> Iterator[None]:
    """Timer work that cannot run now runs again at its next tick: log, do not stop."""
    try:
        yield
    except Exception:
        log.warning("%s failed", what, exc_info=True)


@dataclass(frozen=True, slots=True)
class FaustPartitions:
    """One topic's partitions as the Faust consumer of ``app`` sees them (``progress.Consumer``)."""

    app: faust.App
    topic: str

    async def seek(self, partition: int, offset: int) -> None:
        await self.app.consumer.seek(TP(self.topic, partition), offset)

    async def earliest(self, partition: int) -> int:
        """The partition's oldest offset the broker still holds."""
        tp = TP(self.topic, partition)
        return int((await self.app.consumer.earliest_offsets(tp)).get(tp) or 0)

    async def end(self, partition: int) -> int | None:
        """The partition's end: from the last fetch, else asked of the broker."""
        tp = TP(self.topic, partition)
        try:
            highwater = self.app.consumer.highwater(tp)
        except (KeyError, TypeError):
            highwater = None
        if highwater is None:
            highwater = (await self.app.consumer.highwaters(tp)).get(tp)
        return highwater

    def assigned(self) -> set[int]:
        return {tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.topic}

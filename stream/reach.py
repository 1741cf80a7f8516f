"""Can the broker be reached? One-line answers within seconds, for start-up and CLI.

Clients of both retry for a long time by design (a worker waits out an outage). A command that
starts against a wrong address should instead stop at once with one line that names the address
and the variable to change. aiokafka logs every failed connection attempt at ERROR; while
checking, those lines are muted (the one-line error says it all).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.kafka import client_options

KAFKA_LOGGERS = ("aiokafka", "aiokafka.conn", "aiokafka.client")


class Unreachable(ConfigError):
    """A configured service does not answer (exits with the message, no traceback)."""


@contextlib.contextmanager
def quiet_kafka_logs() -> Iterator[None]:
    """Mute aiokafka's per-attempt connection errors while the caller reports its own."""
    loggers = [logging.getLogger(name) for name in KAFKA_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


async def check_broker(settings: Settings, timeout_s: float | None = None) -> None:
    """Raise ``Unreachable`` unless a bootstrap server answers within the timeout."""
    settings.require_broker()
    timeout_s = settings.kafka.connect_timeout_s if timeout_s is None else timeout_s
    client = AIOKafkaClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        with quiet_kafka_logs():
            await asyncio.wait_for(client.bootstrap(), timeout_s)
    except (KafkaError, OSError, TimeoutError):
        raise Unreachable(
            f"cannot reach the Kafka broker at {settings.kafka.broker} within {timeout_s:g} s: "
            "check WEARMON_BROKER (is the broker running? `wearmon demo` starts its own)"
        ) from None
    finally:
        await client.close()


def require_services(settings: Settings) -> None:
    """Check the broker from synchronous code, e.g. a CLI command (exits when unreachable)."""
    asyncio.run(check_broker(settings))

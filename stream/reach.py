"""Can the broker and InfluxDB be reached? One-line answers within seconds, for start-up and CLI.

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

import aiohttp
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


async def check_influx(settings: Settings, timeout_s: float | None = None) -> None:
    """Raise ``Unreachable`` unless InfluxDB (if configured) answers ``/ping`` in time."""
    if not settings.influx.url:
        return
    timeout_s = settings.kafka.connect_timeout_s if timeout_s is None else timeout_s
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(f"{settings.influx.url}/ping") as resp:
            if resp.status >= 500:
                raise aiohttp.ClientError(f"HTTP {resp.status}")
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise Unreachable(
            f"cannot reach InfluxDB at {settings.influx.url} within {timeout_s:g} s "
            f"({type(exc).__name__}): check WEARMON_INFLUX_URL"
        ) from None


def require_services(settings: Settings) -> None:
    """Check the broker from synchronous code, e.g. a CLI command (exits when unreachable)."""
    asyncio.run(check_broker(settings))


def influx_problem(settings: Settings) -> str | None:
    """One line saying why InfluxDB does not answer, or None when it does (or is not set)."""
    try:
        asyncio.run(check_influx(settings))
    except Unreachable as exc:
        return str(exc)
    return None

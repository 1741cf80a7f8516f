"""Start ``wearmon sink``: check InfluxDB, join the sink's consumer group, serve ``/health``,
``/ready`` and ``/metrics``, and write until SIGINT/SIGTERM (the batch in hand is finished)."""

from __future__ import annotations

import logging

import aiohttp

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.sinks.group import new_consumer, run_member
from wearmon.stream.sinks.influx import InfluxOutage, InfluxWriter
from wearmon.stream.sinks.service import Sink, kinds_of

log = logging.getLogger(__name__)


async def check_influx(writer: InfluxWriter) -> None:
    """A refusal (credentials, database) stops the sink with one line; no answer is an outage
    to wait out, said once."""
    try:
        problem = await writer.check()
    except InfluxOutage as outage:
        log.warning("%s; the sink waits for it (nothing is committed meanwhile)", outage)
        writer.failed(outage)
        return
    if problem is not None:
        raise ConfigError(problem)


async def serve(settings: Settings) -> None:
    quiet_libraries()
    settings.require_broker()
    if not settings.influx.url:
        raise ConfigError("The sink writes to InfluxDB: set WEARMON_INFLUX_URL "
                          "(e.g. http://127.0.0.1:8086)")
    async with aiohttp.ClientSession() as session:
        writer = InfluxWriter(settings.influx, session)
        await check_influx(writer)
        await ensure_topics(settings)
        consumer = new_consumer(settings, list(kinds_of(settings)), settings.sink_group)
        sink = Sink(settings, consumer, make_producer(settings), writer)
        await run_member(sink, settings.sink.host, settings.sink.port)

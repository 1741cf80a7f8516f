"""Start ``wearmon sink``: check InfluxDB, join the sink's consumer group, serve ``/health``,
``/ready`` and ``/metrics``, and write until SIGINT/SIGTERM (the batch in hand is finished)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaConsumer
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from wearmon.stream.config import ConfigError, Settings
from wearmon.stream.kafka import client_options, ensure_topics, make_producer
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.signals import stop_on_signals
from wearmon.stream.sinks.influx import InfluxOutage, InfluxWriter
from wearmon.stream.sinks.metrics import SinkCollector, reasons
from wearmon.stream.sinks.service import MAX_POLL_INTERVAL_MS, Sink, kinds_of

log = logging.getLogger(__name__)
STOP_WAIT_S = 10.0


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


def new_consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *kinds_of(settings), **client_options(settings), group_id=settings.sink_group,
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_interval_ms=MAX_POLL_INTERVAL_MS,
        session_timeout_ms=int(settings.kafka.broker_session_timeout_s * 1000),
        heartbeat_interval_ms=int(settings.kafka.broker_heartbeat_interval_s * 1000),
        rebalance_timeout_ms=int(settings.kafka.broker_session_timeout_s * 1000),
        fetch_max_wait_ms=settings.kafka.fetch_max_wait_ms)


def web_app(sink: Sink) -> web.Application:
    name = f"{socket.gethostname()}-{os.getpid()}"
    max_lag_s = sink.settings.sink.max_lag_s

    def ready() -> bool:
        return not reasons(sink.writer, sink.state, max_lag_s)

    registry = CollectorRegistry(auto_describe=True)
    registry.register(SinkCollector(sink.writer, sink.state, ready))

    async def health(request: web.Request) -> web.Response:
        state = sink.state
        return web.json_response({"sink": name, "committed": sum(state.committed.values()),
                                  "lag_records": sum(state.lag().values()),
                                  "lag_checked_s": state.lag_checked_s,
                                  "partitions": len(state.ends)})

    async def readiness(request: web.Request) -> web.Response:
        why = reasons(sink.writer, sink.state, max_lag_s)
        return web.json_response({"ready": not why, "sink": name, "reasons": why},
                                 status=200 if not why else 503)

    async def metrics(request: web.Request) -> web.Response:
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", readiness)
    app.router.add_get("/metrics", metrics)
    return app


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
        consumer, producer = new_consumer(settings), make_producer(settings)
        await consumer.start()
        await producer.start()
        sink = Sink(settings, consumer, producer, writer)
        runner = web.AppRunner(web_app(sink), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.sink.host, settings.sink.port).start()
        stop = stop_on_signals()
        try:
            await until_stopped(sink, stop)
        finally:
            await runner.cleanup()
            await consumer.stop()
            await producer.stop()


async def until_stopped(sink: Sink, stop: asyncio.Event) -> None:
    """Write batch after batch; on a signal, finish the batch in hand and return."""
    lag = asyncio.create_task(sink.watch_lag())
    try:
        while not stop.is_set():
            step = asyncio.ensure_future(sink.step())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():  # finish the batch in hand, unless InfluxDB keeps it waiting:
                await asyncio.wait({step}, timeout=STOP_WAIT_S)  # then nothing of it is
                step.cancel()  # committed, and the next sink writes it again (the same points)
            stopped.cancel()
            if not step.cancelled():
                step.result()
    finally:
        lag.cancel()

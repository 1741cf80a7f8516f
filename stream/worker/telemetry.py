"""The telemetry agent: batches of Faust events → ``process_batch`` → ``commit``. A thin loop.

Faust acknowledges a batch's events only after the loop body returns, and commits only
acknowledged offsets; ``commit`` returns only after the results are durable. An unexpected error
stops the worker (fail-stop) so that nothing of the batch is committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import faust
from faust.types import EventT

from wearmon.stream.sinks.lines import pipeline_line
from wearmon.stream.worker.batch import BatchOutput, Incoming, process_batch
from wearmon.stream.worker.commit import commit
from wearmon.stream.worker.context import WorkerContext
from wearmon.stream.worker.faust_io import fail_stop
from wearmon.stream.worker.metrics import observe_batch


def incoming(event: EventT) -> Incoming:
    message = event.message
    return Incoming(value=event.value, received_ms=int(message.timestamp * 1000),
                    partition=message.partition, offset=message.offset)


def lag_of(events: Sequence[EventT], highwater: Callable[[Any], int]) -> int | None:
    """Messages behind the end of the partitions this batch came from."""
    last: dict[Any, int] = {}
    for event in events:
        last[event.message.tp] = event.message.offset
    try:
        return sum(max(0, highwater(tp) - offset - 1) for tp, offset in last.items())
    except (KeyError, TypeError):
        return None


def health_line(context: WorkerContext, output: BatchOutput, started_s: float, now_ms: int,
                lag: int | None) -> str:
    health: dict[str, float] = {
        name: output.counts[name] for name in ("uploads", "samples", "rejected", "duplicates",
                                               "anomalies", "alert_events")}
    health["e2e_latency_ms"] = output.e2e_latency_ms
    health["batch_ms"] = (time.perf_counter() - started_s) * 1000
    if lag is not None:
        health["lag_messages"] = lag
    return pipeline_line(context.worker_name, now_ms, health)


async def handle(app: faust.App, context: WorkerContext, events: Sequence[EventT]) -> None:
    await context.ready()
    started_s = time.perf_counter()
    now_ms = int(time.time() * 1000)
    async with context.lock:
        output = process_batch([incoming(e) for e in events], context, now_ms)
        lag = lag_of(events, app.consumer.highwater)
        health = health_line(context, output, started_s, now_ms, lag)
        output.counts["points"] = await commit(output, context.sinks, context.patients,
                                               context.alerts, [health])
    context.count(output.counts)
    observe_batch(output, time.perf_counter() - started_s, lag)


def add_telemetry_agent(app: faust.App, context: WorkerContext, topic: Any) -> None:
    batch_max = context.settings.batch_max_uploads
    within_s = context.settings.batch_within_s

    @app.agent(topic, name="process-telemetry")
    async def process_telemetry(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(batch_max, within=within_s)  # type: ignore[attr-defined]
        async for events in batches:
            try:
                await handle(app, context, list(events))
            except Exception:
                fail_stop("processing a batch")

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        context.forget_state()

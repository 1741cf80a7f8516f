"""Produce simulated uploads to Kafka, paced in event time (used by ``wearmon simulate``/demo)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wearmon.stream.config import Settings
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.tools.simulator import Simulator


@dataclass(slots=True)
class ProduceStats:
    uploads: int = 0
    samples: int = 0
    bytes: int = 0


async def simulate(settings: Settings, sim: Simulator, speed: float,
                   labels_path: Path | None = None, show_progress: bool = False,
                   stop: asyncio.Event | None = None,
                   stats: ProduceStats | None = None,
                   clock_ms: Callable[[], int] | None = None) -> ProduceStats:
    """Send the simulator's uploads; ``speed`` = event seconds per wall second (0: no pacing).

    ``stats`` (optional) is updated as uploads are sent, for live views. ``clock_ms`` (optional)
    replaces the pacing: everything up to its value is sent, e.g. the wall clock for real time
    (the history before it goes at once: a fast-forward).
    """
    await ensure_topics(settings)
    if labels_path is not None:
        labels_path.write_bytes(sim.labels_json())
    stats = stats if stats is not None else ProduceStats()
    producer = make_producer(settings)
    await producer.start()
    total_ms = sim.end_ms - sim.start_ms
    wall0 = time.monotonic()
    from rich.progress import Progress  # the tools extra

    try:
        with Progress(disable=not show_progress, transient=True) as progress:
            task = progress.add_task("simulating", total=total_ms / 1000)
            cursor_ms = sim.start_ms
            while cursor_ms < sim.end_ms and not (stop and stop.is_set()):
                if clock_ms is not None:
                    cursor_ms = clock_ms()
                elif speed > 0:
                    cursor_ms = sim.start_ms + int((time.monotonic() - wall0) * speed * 1000)
                else:
                    cursor_ms = sim.end_ms
                batch = []
                for key, value, _ in sim.uploads_until(cursor_ms):
                    batch.append(await producer.send(settings.topic_telemetry, value, key=key))
                    stats.uploads += 1
                    stats.samples += value.count(b'"t_ms"')
                    stats.bytes += len(value)
                for fut in batch:
                    await fut
                progress.update(task, completed=(min(cursor_ms, sim.end_ms) - sim.start_ms) / 1000)
                if (speed > 0 or clock_ms is not None) and cursor_ms < sim.end_ms:
                    await asyncio.sleep(0.2)
    finally:
        await producer.stop()
    return stats

"""Baseline: a Faust agent that only decodes, through the same backlog as the worker.

The plain aiokafka consumer shows what the broker and the client library can deliver; this shows
what any Faust agent can: the same app settings as the worker (``worker.app.new_app``: consumer,
fetch wait, acks), the same ``take_events`` batches, and per batch nothing but ``orjson.loads`` of
each value and a count of its samples. Its rate is the ceiling of a worker built on Faust agents
on this machine; the worker's rate divided by it shows what the worker's own work costs.

Run as ``python -m wearmon.stream.tools.bench.faust_floor COUNT FILE`` with the worker's
``WEARMON_*`` environment; it writes its figure to FILE as JSON (samples and seconds, timed like
the worker from its first batch to the last message) and exits as soon as it has handled
``COUNT`` messages.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import orjson

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.worker.app import new_app
from wearmon.stream.worker.faust_io import bytes_topic


@dataclass
class Floor:
    """Messages and samples seen; the first batch starts the clock and is not counted."""

    count: int
    seen: int = 0
    samples: int = 0
    first_s: float | None = None

    def add(self, values: Sequence[bytes]) -> None:
        samples = sum(len(orjson.loads(value).get("samples") or ()) for value in values)
        self.seen += len(values)
        if self.first_s is None:
            self.first_s = time.perf_counter()
        else:
            self.samples += samples

    @property
    def done(self) -> bool:
        return self.seen >= self.count

    def result(self) -> dict[str, float]:
        return {"samples": self.samples,
                "seconds": time.perf_counter() - (self.first_s or time.perf_counter())}


def floor_app(settings: Settings, count: int, out: Path) -> faust.App:
    app = new_app(settings)
    topic = bytes_topic(app, settings.topics.telemetry, settings)
    floor = Floor(count)

    @app.agent(topic, name="faust-floor")
    async def decode_only(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.worker.batch_max_uploads, within=settings.worker.batch_within_s)
        async for events in batches:
            floor.add([event.value for event in events])
            if floor.done:
                out.write_text(json.dumps(floor.result()))
                os._exit(0)  # the figure is out; a bench process has nothing else to keep

    return app


def main(argv: list[str] | None = None) -> Any:
    count, out = (argv or sys.argv[1:])[:2]
    app = floor_app(load_settings(), int(count), Path(out))
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()

"""A rolling restart of two workers under load (SIGTERM one, start it again on the same state
folder, then the other): no alert is missed, and at most one batch is processed twice.

Devices upload every 2 s throughout; two patients' heart rates fall to 30 bpm while the workers
are being restarted. Each opens exactly one alert. The uploads the workers made durable (the
``pipeline`` points, one per batch) add up to the uploads sent, give or take one batch.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import Worker, influx_query
from tests.integration.conftest import consume, send_messages, settings_of
from tests.integration.test_alert_notifications import uploads
from tests.waiting import wait_until
from wearmon.stream.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]

PATIENTS = tuple(f"p-roll-{i}" for i in range(8))
FALLING = PATIENTS[:2]  # their heart rates fall during the restarts
BATCH = 200  # WEARMON_BATCH_MAX_UPLOADS


@dataclass
class Load:
    settings: Settings
    low: set[str] = field(default_factory=set)
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.wait(2):
            now_ms = int(time.time() * 1000)
            messages = [message for patient in PATIENTS for message in uploads(
                patient, now_ms - 60_000, 1, 30.0 if patient in self.low else 70.0,
                f"r{self.sent}")]
            asyncio.run(send_messages(self.settings, messages))
            self.sent += len(messages)


def openings(settings: Settings, count: int, timeout_s: float) -> list[str]:
    """The patients of the alerts opened so far (up to ``count``), sorted."""
    events = asyncio.run(consume(settings, settings.topics.alerts, count, timeout_s=timeout_s,
                                 keep=lambda e: e["action"] == "opened"))
    return sorted(str(e["patient"]) for e in events)


def restart(worker: Worker) -> None:
    """SIGTERM (the batch in flight is finished), then the same worker again: same web port,
    so the same state folder."""
    worker.stop()
    worker.start()
    wait_until(lambda: worker.health(), "the restarted worker to answer", 120)


def test_a_rolling_restart_misses_no_alert_and_repeats_at_most_one_batch(
        make_worker: Callable[..., Worker]) -> None:
    first = make_worker(WEARMON_ALERT_TICK_S="1")
    second = make_worker(**first.same_settings())
    settings = settings_of(first)
    load = Load(settings)
    thread = threading.Thread(target=load.run, daemon=True)
    first.start()
    second.start()
    thread.start()
    try:
        wait_until(lambda: sum((w.health() or {}).get("uploads", 0) for w in (first, second))
                   >= 2 * len(PATIENTS), "both workers to process", 180)
        restart(first)
        load.low.add(FALLING[0])
        time.sleep(10)  # the load goes on through the restarts
        restart(second)
        load.low.add(FALLING[1])
        # and on until both alerts open (30 bpm: held one median window, then found in two
        # one-minute windows)
        assert openings(settings, len(FALLING), 300) == sorted(FALLING)
    finally:
        load.stop.set()
        thread.join(30)

    def durable() -> int:
        """Uploads the workers made durable, from their batches' ``pipeline`` points."""
        series = influx_query(settings.influx.url, settings.influx.db,
                              "SELECT sum(uploads) FROM pipeline GROUP BY worker")
        return sum(int(s["values"][0][1]) for s in series)  # type: ignore[index]

    wait_until(durable, "every upload processed and durable", 180,
               until=lambda n: n >= load.sent, interval_s=1)
    first.wait_stored()
    processed = durable()
    assert load.sent <= processed <= load.sent + BATCH, (load.sent, processed)
    # the whole topic, read for a few seconds past its end: one opening each, none twice
    assert openings(settings, len(FALLING) + 1, 5) == sorted(FALLING)

"""InfluxDB feeds Grafana; it is not in the path from a reading to a page.

Two pipelines side by side (a worker, its sink, an InfluxDB and a real HTTP receiver each) while
devices keep uploading every 10 s: one InfluxDB is frozen (SIGSTOP), the other killed, each for
five minutes. Before the outage a patient's heart rate falls to 30 bpm at rest and the nurse's
message is timed; during it another patient's does, and the message must arrive during the
outage within the same latency. After InfluxDB is back, every sample is stored exactly once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import SecretStr

from tests.conftest import Services, Worker, influx_query, new_worker
from tests.integration.conftest import settings_of
from tests.integration.receivers import Arrival, Inbox, WebhookServer
from tests.integration.test_alert_notifications import uploads
from tests.integration.test_console_browser import enrolment, in_thread, produce
from tests.waiting import wait_until
from wearmon.stream.config import Settings
from wearmon.stream.core.patients import Recipient
from wearmon.stream.tools.services import Service, launch_influxd, start_influxd
from wearmon.stream.views.patients import publish_patient

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fault]

OUTAGE_S = 300.0  # at least five minutes
EVERY_S = 10.0  # each device uploads every 10 s (6 samples each)
MIN = 60_000
SLACK_S = 30.0  # "the same latency": at most this much more than without the outage


@dataclass
class Pipeline:
    how: str  # "stop" (SIGSTOP) or "kill"
    worker: Worker
    settings: Settings
    influx: Service
    inbox: Inbox
    hooks: WebhookServer
    low: set[str] = field(default_factory=set)  # patients whose heart rate has fallen
    samples: Counter[str] = field(default_factory=Counter)  # sent per patient
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def patients(self) -> tuple[str, ...]:
        return tuple(f"p-{self.how}-{name}" for name in ("before", "during", "steady"))

    def load(self) -> None:
        """Every patient uploads every ``EVERY_S`` until stopped, 30 bpm once fallen."""
        sent = 0
        while not self.stop.wait(EVERY_S):
            now_ms = int(time.time() * 1000)
            for patient in self.patients:
                hr = 30.0 if patient in self.low else 70.0
                produce(self.settings, uploads(patient, now_ms - MIN, 1, hr, f"u{sent}"))
                self.samples[patient] += 6
            sent += 1

    def page_latency(self, patient: str, timeout_s: float) -> tuple[float, float]:
        """The patient's heart rate falls now: seconds until their nurse's message, and when
        it arrived (monotonic)."""
        fell = time.monotonic()
        self.low.add(patient)
        while True:  # the patients' own messages (their phones) arrive here too
            left = timeout_s - (time.monotonic() - fell)
            arrival: Arrival = self.inbox.next(max(left, 0.1))
            if arrival.channel == f"/{patient}-nurse":
                return time.monotonic() - fell, time.monotonic()


def pipeline(services: Services, directory: Path, how: str) -> Pipeline:
    influx = start_influxd()
    worker = new_worker(services, directory, WEARMON_INFLUX_URL=influx.url)
    settings = settings_of(worker)
    inbox = Inbox()
    hooks = WebhookServer(inbox)
    hooks.start()
    made = Pipeline(how, worker, settings, influx, inbox, hooks)
    for patient in made.patients:
        team = [Recipient(id="nurse", label="Nurse", url=SecretStr(hooks.url(f"{patient}-nurse")))]
        in_thread(publish_patient(settings, patient, enrolment(
            patient, "Ward 9", team, 3600, hooks.url(f"{patient}-phone"), 0).to_json()))
    worker.start()
    return made


@pytest.fixture
def pipelines(services: Services, tmp_path: Path) -> Iterator[list[Pipeline]]:
    made = [pipeline(services, tmp_path, how) for how in ("stop", "kill")]
    try:
        yield made
    finally:
        for one in made:
            one.stop.set()
            one.worker.stop(sink=True)
            one.hooks.stop()
            if one.influx.proc.poll() is None:
                os.kill(one.influx.proc.pid, signal.SIGCONT)
            one.influx.stop()


def stored(one: Pipeline) -> dict[str, int]:
    series = influx_query(one.influx.url, one.settings.influx.db,
                          "SELECT count(hr_bpm) FROM vitals GROUP BY patient")
    return {str(s["tags"]["patient"]): int(s["values"][0][1]) for s in series}  # type: ignore


def outage(one: Pipeline) -> None:
    """The whole story of one pipeline (run in a thread of its own)."""
    threading.Thread(target=one.load, daemon=True).start()
    wait_until(lambda: (one.worker.health() or {}).get("uploads", 0) >= 6, "warm data", 120)
    before_s, _ = one.page_latency(one.patients[0], 240)
    if one.how == "stop":
        os.kill(one.influx.proc.pid, signal.SIGSTOP)
    else:
        one.influx.proc.kill()
        one.influx.proc.wait()
    down = time.monotonic()
    time.sleep(30)  # well into the outage (the waiting is the test's subject)
    during_s, arrived = one.page_latency(one.patients[1], OUTAGE_S - 30)
    assert arrived - down < OUTAGE_S, "the page came only after the outage"
    assert during_s <= before_s + SLACK_S, (one.how, before_s, during_s)
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down)))  # the outage lasts its time
    if one.how == "stop":
        os.kill(one.influx.proc.pid, signal.SIGCONT)
    else:
        one.influx = launch_influxd(one.influx.workdir or Path(), one.influx.url)
    one.stop.set()
    time.sleep(EVERY_S)  # the last uploads are sent
    one.worker.wait_processed(sum(one.samples.values()) // 6, timeout_s=300)
    wait_until(lambda: stored(one) == dict(one.samples), "every sample stored exactly once",
               300, detail=lambda: (stored(one), dict(one.samples)))


def test_paging_goes_on_through_influxdb_outages_and_every_sample_is_stored_once(
        pipelines: list[Pipeline]) -> None:
    with ThreadPoolExecutor(len(pipelines)) as pool:
        for done in [pool.submit(outage, one) for one in pipelines]:
            done.result()

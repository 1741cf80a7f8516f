"""Send simulated uploads, paced in event time (``wearmon simulate`` and the demo), either way in:

* straight to the telemetry topic (``KafkaSender``: acks=all producer, key = patient id), or
* through a gateway (``GatewaySender``: ``POST /v1/uploads`` with one device token per simulated
  device, issued on the devices topic at start; 429/503 are retried after ``Retry-After``).

``forever`` keeps the same patients going: the history is sent at ``speed``, then event time
follows the wall clock, and the simulator is extended an hour at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from wearmon.stream.config import Settings
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.kafka import ensure_topics, make_producer
from wearmon.stream.signals import stop_on_signals

log = logging.getLogger(__name__)
EXTEND_S = 3600.0
RETRY_STATUSES = (401, 429, 503)  # 401: a fresh token not yet seen by the gateway


@dataclass(slots=True)
class ProduceStats:
    uploads: int = 0
    samples: int = 0
    bytes: int = 0
    refused: int = 0  # uploads a gateway refused (4xx other than those retried)


class KafkaSender:
    """Produce to the telemetry topic; ``flush`` waits for the broker's acknowledgements."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer = make_producer(settings)
        self.pending: list[asyncio.Future[object]] = []

    async def start(self) -> None:
        await self.producer.start()

    async def send(self, key: bytes, value: bytes) -> None:
        self.pending.append(await self.producer.send(self.settings.topics.telemetry, value,
                                                     key=key))

    async def flush(self) -> None:
        pending, self.pending = self.pending, []
        for future in pending:
            await future

    async def close(self) -> None:
        await self.producer.stop()


class GatewaySender:
    """POST each upload to a gateway with its device's token, at most ``concurrency`` at once."""

    def __init__(self, url: str, tokens: dict[str, str], stats: ProduceStats,
                 concurrency: int = 32, tls: ssl.SSLContext | None = None,
                 max_attempts: int = 20) -> None:
        self.url = url.rstrip("/") + "/v1/uploads"
        self.tokens = tokens  # by patient id (the upload key)
        self.stats = stats
        self.slots = asyncio.Semaphore(concurrency)
        self.tls = tls
        self.max_attempts = max_attempts
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self.pending: set[asyncio.Task[None]] = set()

    async def send(self, key: bytes, value: bytes) -> None:
        await self.slots.acquire()
        task = asyncio.create_task(self.post(self.tokens[key.decode()], value))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def post(self, token: str, value: bytes) -> None:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            for _ in range(self.max_attempts):
                async with self.session.post(self.url, data=value, headers=headers,
                                             ssl=self.tls if self.tls is not None else True
                                             ) as resp:
                    if resp.status == 202:
                        return
                    if resp.status not in RETRY_STATUSES:
                        break
                    wait_s = float(resp.headers.get("Retry-After", "0.5"))
                await asyncio.sleep(wait_s)
            self.stats.refused += 1
            log.warning("the gateway refused an upload (HTTP %s)", resp.status)
        finally:
            self.slots.release()

    async def flush(self) -> None:
        await asyncio.gather(*list(self.pending))

    async def close(self) -> None:
        await self.flush()
        await self.session.close()


async def gateway_sender(settings: Settings, sim: Simulator, url: str, stats: ProduceStats,
                         tls: ssl.SSLContext | None = None) -> GatewaySender:
    """Issue a token for every simulated device, then a sender that posts to ``url``."""
    from wearmon.stream.gateway.devices import issue_tokens

    tokens = await issue_tokens(settings, {p.device_id: p.patient_id for p in sim.patients})
    by_patient = {p.patient_id: tokens[p.device_id] for p in sim.patients}
    return GatewaySender(url, by_patient, stats, tls=tls)


@contextlib.contextmanager
def progress(show: bool, total_s: float) -> Iterator[Callable[[float], None]]:
    """A progress bar on terminals (rich, the tools extra); a no-op otherwise."""
    if not show:
        yield lambda done_s: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=total_s)
        yield lambda done_s: bar.update(task, completed=done_s)


def cursor_at(sim: Simulator, speed: float, elapsed_s: float, forever: bool) -> int:
    """Event time reached after ``elapsed_s`` wall seconds (never past now when forever)."""
    cursor_ms = sim.start_ms + int(elapsed_s * speed * 1000) if speed > 0 else sim.end_ms
    if forever:
        return min(cursor_ms if speed > 0 else 2**62, int(time.time() * 1000))
    return min(cursor_ms, sim.end_ms)


async def simulate(settings: Settings, sim: Simulator, speed: float,
                   labels_path: Path | None = None, show_progress: bool = False,
                   stop: asyncio.Event | None = None,
                   stats: ProduceStats | None = None, forever: bool = False,
                   gateway_url: str = "",
                   clock_ms: Callable[[], int] | None = None) -> ProduceStats:
    """Send the simulator's uploads; ``speed`` = event seconds per wall second (0: no pacing).

    ``stats`` (optional) is updated as uploads are sent, for live views. ``stop`` ends it early
    (what was sent so far is flushed first). ``clock_ms`` (optional) replaces the pacing:
    everything up to its value is sent, e.g. the wall clock for real time (the history before it
    goes at once: a fast-forward).
    """
    await ensure_topics(settings)
    if labels_path is not None:
        labels_path.write_bytes(sim.labels_json())
    stats = stats if stats is not None else ProduceStats()
    sender: KafkaSender | GatewaySender
    if gateway_url:
        sender = await gateway_sender(settings, sim, gateway_url, stats)
    else:
        sender = KafkaSender(settings)
        await sender.start()
    wall0 = time.monotonic()
    try:
        with progress(show_progress and not forever, (sim.end_ms - sim.start_ms) / 1000) as done:
            while not (stop and stop.is_set()):
                if clock_ms is not None:
                    cursor_ms = clock_ms() if forever else min(clock_ms(), sim.end_ms)
                else:
                    cursor_ms = cursor_at(sim, speed, time.monotonic() - wall0, forever)
                while forever and cursor_ms > sim.end_ms - 60_000:
                    sim.extend(EXTEND_S)
                for key, value, _ in sim.uploads_until(cursor_ms):
                    await sender.send(key, value)
                    stats.uploads += 1
                    stats.samples += value.count(b'"t_ms"')
                    stats.bytes += len(value)
                await sender.flush()
                done((cursor_ms - sim.start_ms) / 1000)
                if cursor_ms >= sim.end_ms and not forever:
                    break
                await asyncio.sleep(0.2)
    finally:
        await sender.close()
    return stats


async def simulate_until_signalled(settings: Settings, sim: Simulator, speed: float,
                                   **options: Any) -> ProduceStats:
    """``simulate`` that Ctrl-C or SIGTERM ends cleanly (flushed, with its counts)."""
    return await simulate(settings, sim, speed, stop=stop_on_signals(), **options)

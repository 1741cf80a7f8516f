"""Shared fixtures: real services (embedded Kafka-protocol broker, Debian influxd) and a worker.

Tests that need a service *fail* when it cannot start (they never skip): CI installs everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.waiting import wait_until
from wearmon.stream.config import Settings, load_settings
from wearmon.stream.kafka import client_options
from wearmon.stream.sinks.service import kinds_of
from wearmon.stream.tools.services import (
    Service,
    free_port,
    start_broker,
    start_influxd,
    worker_health,
)

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Services:
    broker: Service
    influx: Service

    @property
    def broker_url(self) -> str:
        return self.broker.url

    @property
    def influx_url(self) -> str:
        return self.influx.url


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    yield from running_services()


def running_services() -> Iterator[Services]:
    """A broker and an InfluxDB, stopped when the generator is closed."""
    broker = start_broker()
    try:
        influx = start_influxd()
    except Exception:
        broker.stop()
        raise
    yield Services(broker, influx)
    influx.stop()
    broker.stop()


def influx_query(url: str, db: str, query: str) -> list[dict[str, object]]:
    """Run InfluxQL; return the series of the first statement (raises on errors)."""
    params = urllib.parse.urlencode({"db": db, "q": query, "epoch": "ms"})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=30) as resp:
        doc = json.loads(resp.read())
    result = doc["results"][0]
    if "error" in result:
        raise AssertionError(f"InfluxQL error for {query!r}: {result['error']}")
    return list(result.get("series", []))


async def sink_backlog(settings: Settings) -> int:
    """Records on the sinks' topics after their group's committed offsets (the broker's view,
    whichever sinks share the group)."""
    return await group_backlog(settings, settings.sink_group, list(kinds_of(settings)))


async def group_backlog(settings: Settings, group: str, topics: list[str]) -> int:
    """Records on ``topics`` after ``group``'s committed offsets (the broker's view)."""
    consumer = AIOKafkaConsumer(**client_options(settings), group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for topic in topics
               for p in range(settings.kafka.partitions)]
        ends = await consumer.end_offsets(tps)
        waiting = 0
        for tp in tps:
            waiting += ends[tp] - (await consumer.committed(tp) or 0)
        return waiting
    finally:
        await consumer.stop()


@dataclass
class Worker:
    """A real ``wearmon worker`` process with its own topics, consumer group and database, and
    a ``wearmon sink`` next to it that writes its results to InfluxDB (``sink=False``: none)."""

    env: dict[str, str]
    web_port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    sink: bool = True
    sink_proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wearmon", "worker"],
            env=self.env,
            cwd=REPO,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        if self.sink and (self.sink_proc is None or self.sink_proc.poll() is not None):
            self.start_sink()

    def start_sink(self) -> None:
        self.sink_proc = subprocess.Popen(
            [sys.executable, "-m", "wearmon", "sink"], env=self.env, cwd=REPO,
            stdout=self.sink_log_path.open("ab"), stderr=subprocess.STDOUT)

    @property
    def sink_log_path(self) -> Path:
        return self.log_path.with_name(f"sink-{self.log_path.name}")

    def wait_stored(self, timeout_s: float = 120.0) -> None:
        """Block until the sinks of this worker's group have written (committed) everything on
        their topics up to now, as the broker sees it (nothing when it runs without one)."""
        if not self.sink:
            return
        settings = load_settings({k: v for k, v in self.env.items() if k.startswith("WEARMON_")})

        def backlog() -> int:
            assert self.sink_proc is not None and self.sink_proc.poll() is None, self.log_tail()
            return asyncio.run(sink_backlog(settings))

        wait_until(backlog, "the sink to catch up", timeout_s, until=lambda left: left == 0,
                   detail=self.log_tail)

    def health(self) -> dict[str, int] | None:
        return worker_health(self.web_port)

    def same_settings(self) -> dict[str, str]:
        """This worker's ``WEARMON_*`` settings with a free web port: to start it again after a
        kill, or a second member of its consumer group."""
        env = {k: v for k, v in self.env.items() if k.startswith("WEARMON_")}
        return env | {"WEARMON_WEB_PORT": str(free_port()), "WEARMON_SINK_PORT": str(free_port())}

    def running_health(self) -> dict[str, int] | None:
        """The worker's health counters; fails at once if the process has exited."""
        assert self.proc is not None and self.proc.poll() is None, self.log_tail()
        return self.health()

    def wait_processed(self, messages: int, timeout_s: float = 180.0) -> dict[str, int]:
        """Block until the worker has handled ``messages`` telemetry messages."""
        seen = wait_until(
            self.running_health, f"the worker to handle {messages} messages", timeout_s,
            until=lambda seen: seen is not None
            and seen["uploads"] + seen["rejected"] + seen["duplicates"] >= messages,
            detail=self.log_tail,
        )
        self.wait_stored()
        return seen

    def wait_handled_through(self, offsets_total: int, timeout_s: float = 180.0) -> dict[str, int]:
        """Block until the next telemetry offsets to process add up to ``offsets_total`` (all
        records before them processed or skipped, and counted)."""
        seen = wait_until(
            self.running_health, f"the worker to handle through offsets {offsets_total}",
            timeout_s, until=lambda seen: seen is not None
            and seen["next_offsets_total"] >= offsets_total,
            detail=self.log_tail,
        )
        self.wait_stored()
        return seen

    def stop(self, kill: bool = False, sink: bool = False) -> None:
        """Stop the worker (SIGTERM, or SIGKILL with ``kill``); its sink too with ``sink``."""
        for proc in (self.proc, self.sink_proc if sink else None):
            if proc is not None and proc.poll() is None:
                if kill:
                    proc.kill()
                else:
                    proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def log_tail(self) -> str:
        sink = (self.sink_log_path.read_text(errors="replace")[-2000:]
                if self.sink_log_path.exists() else "")
        return self.log_path.read_text(errors="replace")[-4000:] + "\n--- sink ---\n" + sink

    def wait_logged(self, text: str, timeout_s: float = 30.0, sink: bool = False) -> None:
        """Block until the worker's log (``sink``: its sink's) holds ``text``."""
        path = self.sink_log_path if sink else self.log_path
        wait_until(lambda: path.exists() and text in path.read_text(errors="replace"),
                   f"{text!r} in the {'sink' if sink else 'worker'}'s log", timeout_s,
                   interval_s=0.1, detail=self.log_tail)


def new_worker(services: Services, directory: Path, **overrides: str) -> Worker:
    """A worker env isolated by a unique app id, topic names and database."""
    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    env = {
        **os.environ,
        "WEARMON_BROKER": services.broker_url,
        "WEARMON_INFLUX_URL": services.influx_url,
        "WEARMON_INFLUX_DB": f"test_{suffix}",
        "WEARMON_INFLUX_CREATE_DB": "true",
        "WEARMON_APP_ID": f"wearmon-test-{suffix}",
        "WEARMON_TOPIC_TELEMETRY": f"telemetry-{suffix}",
        "WEARMON_TOPIC_REJECTED": f"rejected-{suffix}",
        "WEARMON_TOPIC_ANOMALIES": f"anomalies-{suffix}",
        "WEARMON_TOPIC_ALERTS": f"alerts-{suffix}",
        "WEARMON_TOPIC_PATIENTS": f"patients-{suffix}",
        "WEARMON_TOPIC_ALERT_COMMANDS": f"alert-commands-{suffix}",
        "WEARMON_TOPIC_OUTBOX": f"outbox-{suffix}",
        "WEARMON_TOPIC_DELIVERIES": f"deliveries-{suffix}",
        "WEARMON_TOPIC_ALERT_REPLIES": f"alert-replies-{suffix}",
        "WEARMON_PARTITIONS": "2",
        "WEARMON_STATE_DIR": str(directory / f"state-{suffix}"),
        "WEARMON_WEB_PORT": str(port),
        "WEARMON_SINK_PORT": str(free_port()),
        "WEARMON_TOPIC_POINTS": f"points-{suffix}",
        "WEARMON_TOPIC_MONITORING": f"monitoring-{suffix}",
        "WEARMON_BATCH_WITHIN_S": "0.2",
        "WEARMON_PRODUCER_MAX_BATCH_BYTES": "1",  # the embedded broker's end offsets (config.py)
        **overrides,
    }
    return Worker(env, int(env["WEARMON_WEB_PORT"]), directory / f"worker-{suffix}.log")


def worker_factory(services: Services, directory: Path) -> Iterator[Callable[..., Worker]]:
    """Factory of isolated workers on ``services``; all are stopped when it is closed."""
    created: list[Worker] = []

    def factory(**overrides: str) -> Worker:
        worker = new_worker(services, directory, **overrides)
        created.append(worker)
        return worker

    yield factory
    for worker in created:
        worker.stop(sink=True)


@pytest.fixture
def make_worker(services: Services, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Factory of isolated workers; all are stopped at the end of the test."""
    yield from worker_factory(services, tmp_path)

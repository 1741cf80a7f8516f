"""``wearmon demo``: the whole system on one machine with nothing configured.

Starts the embedded Kafka-protocol broker, a local influxd when Debian's InfluxDB is installed
(or uses ``WEARMON_INFLUX_URL``), a worker process and the simulator; shows a live view of
patients and anomalies; prints a summary; stops everything it started, also on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live
from rich.table import Table

from wearmon.stream.config import Settings, load_settings
from wearmon.stream.core.patients import PatientSettings, Recipient
from wearmon.stream.kafka import ensure_topics
from wearmon.stream.tools.producer import ProduceStats, simulate
from wearmon.stream.tools.services import (
    Service,
    ServiceError,
    free_port,
    influxd_binary,
    start_broker,
    start_influxd,
    worker_health,
)
from wearmon.stream.tools.simulator import Simulator
from wearmon.stream.worker.directory import publish_patient


@dataclass
class DemoView:
    """What the live view and the summary show; fed from the anomalies and rejected topics."""

    anomalies: Counter[str] = field(default_factory=Counter)
    by_patient: dict[str, list[str]] = field(default_factory=dict)
    rejected: Counter[str] = field(default_factory=Counter)
    recent: list[str] = field(default_factory=list)
    alert_actions: Counter[str] = field(default_factory=Counter)
    alerts_by_patient: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_alert(self, event: dict[str, object]) -> str:
        action = str(event["action"])
        self.alert_actions[action] += 1
        alerts = self.alerts_by_patient.setdefault(str(event["patient"]), {})
        alerts[str(event["kind"])] = str(event["state"])
        line = (f"ALERT {event['patient']} {event['kind']} ({event['severity']}): {action} "
                f"-> {event['state']}")
        self.recent = [*self.recent[-7:], line]
        return line

    def add_anomaly(self, record: dict[str, object]) -> str:
        kind = str(record["kind"])
        self.anomalies[kind] += 1
        self.by_patient.setdefault(str(record["patient_id"]), []).append(kind)
        line = f"{record['patient_id']} {kind} ({record['severity']}): {record['explanation']}"
        self.recent = [*self.recent[-7:], line]
        return line

    def table(self, produced: int) -> Table:
        table = Table(title=f"Wearmon demo — {produced} uploads sent", expand=True)
        table.add_column("patient")
        table.add_column("alerts (state)")
        table.add_column("anomalies")
        for patient in sorted(self.by_patient.keys() | self.alerts_by_patient.keys()):
            kinds = Counter(self.by_patient.get(patient, []))
            alerts = self.alerts_by_patient.get(patient, {})
            table.add_row(patient, ", ".join(f"{k}: {v}" for k, v in alerts.items()),
                          ", ".join(f"{k}×{n}" for k, n in kinds.items()))
        if self.recent:
            table.caption = "\n".join(self.recent[-4:])
        return table


async def _watch(settings: Settings, view: DemoView, console: Console, live: bool,
                 stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        settings.topic_anomalies, settings.topic_rejected, settings.topic_alerts,
        bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=300)
            for tp, messages in batches.items():
                for msg in messages:
                    record = orjson.loads(msg.value)
                    if tp.topic == settings.topic_anomalies:
                        line = view.add_anomaly(record)
                        if not live:
                            console.print(f"anomaly: {line}")
                    elif tp.topic == settings.topic_alerts:
                        line = view.add_alert(record)
                        if not live:
                            console.print(line)
                    else:
                        view.rejected[record["reason"]] += 1
    finally:
        await consumer.stop()


def _influx_count(url: str, db: str, query: str) -> int:
    params = urllib.parse.urlencode({"db": db, "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as resp:
        doc = orjson.loads(resp.read())
    series = doc["results"][0].get("series", [])
    return sum(int(s["values"][0][1]) for s in series)


async def _enrol(settings: Settings, sim: Simulator, notify_url: str) -> None:
    """Enrol every simulated patient with ``notify_url`` for the care team and the patient."""
    await ensure_topics(settings)
    for p in sim.patients:
        url = SecretStr(notify_url)
        enrolment = PatientSettings(
            patient_id=p.patient_id, devices=[p.device_id],
            care_team=[Recipient(id="demo-care-team", url=url, label="Demo care team")],
            patient_recipients=[Recipient(id="demo-patient", url=url, label="Demo patient")])
        await publish_patient(settings, p.patient_id, enrolment.to_json())


async def _run(settings: Settings, duration_s: float, patients: int, speed: float, seed: int,
               console: Console, labels: Path, notify_url: str) -> tuple[DemoView, int, int]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    view = DemoView()
    sim_span_s = duration_s * speed * 0.8
    sim = Simulator(patients, int(time.time() * 1000 - sim_span_s * 1000), sim_span_s, seed=seed,
                    event_every_s=max(600.0, sim_span_s / 3))
    if notify_url:
        await _enrol(settings, sim, notify_url)
        console.print(f"enrolled {len(sim.patients)} patients; notifications go to the URL given")
    live = console.is_terminal
    watcher = asyncio.create_task(_watch(settings, view, console, live, stop))
    sent = ProduceStats()
    producer = asyncio.create_task(simulate(settings, sim, speed, labels, stop=stop, stats=sent))
    deadline = loop.time() + duration_s
    with Live(view.table(0), console=console, refresh_per_second=2) if live \
            else contextlib.nullcontext() as screen:
        while loop.time() < deadline and not stop.is_set():
            await asyncio.sleep(0.5)
            if screen is not None:
                screen.update(view.table(sent.uploads))
    stop.set()
    produced = await producer
    await watcher
    return view, produced.uploads, produced.samples


def _wait_for_worker(port: int, uploads: int, timeout_s: float = 60.0) -> dict[str, int] | None:
    """Give the worker time to finish what was sent, so the summary counts everything."""
    deadline = time.monotonic() + timeout_s
    totals = None
    while time.monotonic() < deadline:
        totals = worker_health(port)
        if totals and totals["uploads"] + totals["rejected"] + totals["duplicates"] >= uploads:
            break
        time.sleep(0.5)
    return totals


def run_demo(duration_s: float, patients: int, speed: float, seed: int,
             notify_url: str = "") -> int:
    console = Console()
    started: list[Service] = []
    worker: subprocess.Popen[bytes] | None = None
    workdir = Path(tempfile.mkdtemp(prefix="wearmon-demo-"))
    try:
        base = load_settings()
        broker_url = base.broker
        if not broker_url:
            broker = start_broker()
            started.append(broker)
            broker_url = broker.url
            console.print(f"started the embedded Kafka-protocol broker at {broker_url}")
        influx_url = base.influx_url
        if not influx_url and influxd_binary():
            influx = start_influxd()
            started.append(influx)
            influx_url = influx.url
            console.print(f"started a local InfluxDB at {influx_url}")
        elif not influx_url:
            console.print("InfluxDB is not installed and WEARMON_INFLUX_URL is not set: "
                          "results go to Kafka topics only")
        settings = load_settings(broker=broker_url, influx_url=influx_url,
                                 influx_create_db=True, state_dir=str(workdir / "state"),
                                 web_port=free_port())
        api_token = os.environ.get("WEARMON_API_TOKEN") or secrets.token_urlsafe(24)
        env = {**os.environ, "WEARMON_BROKER": broker_url, "WEARMON_INFLUX_URL": influx_url,
               "WEARMON_INFLUX_CREATE_DB": "true", "WEARMON_STATE_DIR": settings.state_dir,
               "WEARMON_PRODUCER_MAX_BATCH_BYTES": "1",  # the embedded broker (config.py)
               "WEARMON_WEB_PORT": str(settings.web_port), "WEARMON_API_TOKEN": api_token}
        log_path = workdir / "worker.log"
        worker = subprocess.Popen([sys.executable, "-m", "wearmon", "worker"], env=env,
                                  stdout=log_path.open("wb"), stderr=subprocess.STDOUT)
        console.print(f"started a worker (log: {log_path}); simulating {patients} patients "
                      f"for {duration_s:.0f} s at {speed:g}x")
        labels = workdir / "labels.json"
        view, uploads, samples = asyncio.run(
            _run(settings, duration_s, patients, speed, seed, console, labels, notify_url))
        totals = _wait_for_worker(settings.web_port, uploads) or {}
        console.print("\n[bold]Summary[/bold]")
        console.print(f"  uploads sent: {uploads}, samples sent: {samples}")
        console.print(f"  worker processed: {totals.get('uploads', '?')} uploads, "
                      f"{totals.get('samples', '?')} samples, wrote "
                      f"{totals.get('points', '?')} points")
        console.print(f"  labelled events injected: {len(orjson.loads(labels.read_bytes()))} "
                      f"({labels})")
        console.print(f"  anomalies: {sum(view.anomalies.values())} {dict(view.anomalies)}")
        console.print(f"  alert events: {sum(view.alert_actions.values())} "
                      f"{dict(view.alert_actions)}")
        console.print(f"  rejected uploads: {sum(view.rejected.values())} {dict(view.rejected)}")
        if influx_url:
            db = settings.influx_db
            points = _influx_count(influx_url, db, "SELECT count(hr_bpm) FROM vitals")
            console.print(f"  heart-rate points in InfluxDB {influx_url} db={db}: {points}")
        if notify_url:
            console.print(f"  notification deliveries: see topic {settings.topic_deliveries}")
        console.print(f"  topics: {settings.topic_alerts}, {settings.topic_anomalies}, "
                      f"{settings.topic_rejected} "
                      f"at {broker_url}")
        return 0
    except ServiceError as exc:
        console.print(f"[red]cannot start a service: {exc}[/red]")
        return 1
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for service in reversed(started):
            service.stop()

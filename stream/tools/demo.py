"""``wearmon demo``: the care team's whole loop on one machine, with nothing configured.

It always runs its own services, whatever the environment or ``.env`` say (and says which
settings it ignores): the embedded Kafka-protocol broker and a local influxd (when Debian's
InfluxDB is installed; otherwise it says so and nothing is stored). Then worker process(es),
the care-team console with a demo login, and a local inbox for the messages. The simulator
fast-forwards a short history, then runs in real time and injects clinical events in the first
minutes, so a newcomer can open the console, read a live alert, acknowledge it and see the
escalation stop. ``--duration 0`` runs until Ctrl-C.

Stopping (end of the duration, Ctrl-C or SIGTERM) goes in order: the simulator, then — once
the workers have processed what was sent and the summary is printed — the console, the
workers, and last the services. Every child runs in a process group of its own, so the
terminal's Ctrl-C reaches only the demo, which stops them in that order. Temporary folders
are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
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
from types import FrameType

import orjson
from dotenv import dotenv_values
from pydantic import SecretStr
from rich.console import Console
from rich.live import Live

from wearmon.stream.config import Settings, variables_only
from wearmon.stream.console.access.accounts import add_account
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient
from wearmon.stream.datasets.simulator import Simulator
from wearmon.stream.kafka import ensure_topics
from wearmon.stream.tools.demo_inbox import Inbox, InboxMessage
from wearmon.stream.tools.demo_view import DemoView, watch
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
from wearmon.stream.views.patients import publish_patient

DEMO_USER = "demo.nurse"
WARDS = ("Ward A", "Ward B")
RUN_UNTIL_STOPPED_S = 7 * 86_400.0  # --duration 0: the simulator's horizon
MINUTE_MS = 60_000
#: (patient index, kind, start relative to the end of the fast-forward, length): one alert right
#: away, then one new event a minute or two apart, each at rest.
LIVE_EVENTS = (
    (0, "tachycardia_at_rest", -150_000, 8 * MINUTE_MS),
    (1, "desaturation", 30_000, 8 * MINUTE_MS),
    (2, "bradycardia", 90_000, 8 * MINUTE_MS),
    (3, "tachycardia_at_rest", 180_000, 8 * MINUTE_MS),
)
#: Unacknowledged alerts go to the charge nurse after this long: time to find the console, log
#: in, read the first alert and acknowledge it (printed at start).
ESCALATE_CRITICAL_S, ESCALATE_WARNING_S = 300, 600
DEMO_REMINDERS = 1  # then nobody is left to page: the console's banner shows within the demo
DEMO_POLICY = AlertPolicy(ack_timeout_critical_s=ESCALATE_CRITICAL_S,
                          ack_timeout_warning_s=ESCALATE_WARNING_S, max_repeats=DEMO_REMINDERS)


@dataclass
class Demo:
    """Everything the demo started, so that it can stop it in order."""

    console: Console
    workdir: Path
    services: list[Service] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    web_ports: list[int] = field(default_factory=list)
    care_console: subprocess.Popen[bytes] | None = None
    sink: subprocess.Popen[bytes] | None = None  # Kafka → InfluxDB

    def start_child(self, args: list[str], env: dict[str, str], log: Path
                    ) -> subprocess.Popen[bytes]:
        """A ``wearmon`` child in its own process group (the terminal's Ctrl-C skips it)."""
        return subprocess.Popen([sys.executable, "-m", "wearmon", *args], env=env,
                                cwd=self.workdir, stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)

    def health(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for port in self.web_ports:
            totals.update({k: v for k, v in (worker_health(port) or {}).items()
                           if isinstance(v, int)})
        return dict(totals)

    def stop(self) -> None:
        if self.care_console is not None:
            _terminate(self.care_console)
            self.console.print("stopped the care-team console")
        for index, worker in enumerate(self.workers, 1):
            _terminate(worker)
            self.console.print(f"stopped worker {index}")
        if self.sink is not None:
            _terminate(self.sink)
            self.console.print("stopped the sink")
        for service in reversed(self.services):
            service.stop()
            self.console.print(f"stopped {service.name}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.console.print(f"removed {self.workdir}")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ignored_settings() -> list[str]:
    """WEARMON_* settings in the environment or ./.env that the demo does not use."""
    names = {k for k in os.environ if k.startswith("WEARMON_")}
    with contextlib.suppress(OSError):
        names |= {k for k in dotenv_values(".env") if k.startswith("WEARMON_")}
    return sorted(names)


def demo_settings(values: dict[str, str]) -> Settings:
    """Settings from ``values`` only: neither the environment nor ``.env`` is read."""
    return variables_only(values)


def enrolments(sim: Simulator, inbox: Inbox, notify_url: str) -> list[PatientSettings]:
    """Every simulated patient, with a two-step care team of their ward and their own phone."""
    out = []
    for index, p in enumerate(sim.patients):
        ward = WARDS[index % len(WARDS)]
        slug = ward.lower().replace(" ", "-")

        def url(recipient: str) -> SecretStr:
            return SecretStr(notify_url or inbox.url(recipient))

        out.append(PatientSettings(
            patient_id=p.patient_id, devices=[p.device_id], ward=ward,
            care_team=[Recipient(id="nurse", url=url(f"{slug}-nurse"), label=f"{ward} nurse"),
                       Recipient(id="charge-nurse", url=url(f"{slug}-charge-nurse"),
                                 label=f"{ward} charge nurse")],
            patient_recipients=[Recipient(id="patient-phone", url=url(f"{p.patient_id}-phone"),
                                          label="Patient's phone")],
            policy=DEMO_POLICY))
    return out


async def _run(settings: Settings, demo: Demo, sim: Simulator, duration_s: float,
               notify_url: str, view: DemoView) -> ProduceStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console, live = demo.console, demo.console.is_terminal
    inbox = Inbox()

    def show(message: InboxMessage) -> None:
        line = view.add_message(message)
        if not live:
            console.print(line, markup=False, highlight=False)

    inbox.on_message = show
    await inbox.start(free_port())
    await ensure_topics(settings)
    for enrolment in enrolments(sim, inbox, notify_url):
        await publish_patient(settings, enrolment.patient_id, enrolment.to_json())
    where = "the URL given" if notify_url else f"the inbox {inbox.page_url}"
    if not notify_url:
        view.header += f"\nInbox: {inbox.page_url}"
    console.print(f"enrolled {len(sim.patients)} patients in {', '.join(WARDS)}; "
                  f"their messages go to {where}")
    watcher = asyncio.create_task(watch(settings, view, console, live, stop))
    sent = ProduceStats()
    producer = asyncio.create_task(simulate(settings, sim, 0, None, stop=stop, stats=sent,
                                            clock_ms=lambda: time.time_ns() // 1_000_000))
    deadline = loop.time() + duration_s if duration_s > 0 else float("inf")
    try:
        with Live(view.table(0), console=console, refresh_per_second=2) if live \
                else contextlib.nullcontext() as screen:
            while loop.time() < deadline and not stop.is_set() and not producer.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.5)
                if screen is not None:
                    screen.update(view.table(sent.uploads))
    finally:
        stop.set()
        produced = await producer
        console.print("stopped the simulator")
        await watcher
        await inbox.stop()
    return produced


def _wait_for_workers(demo: Demo, uploads: int, timeout_s: float) -> dict[str, int]:
    """Give the workers time to finish what was sent, so the summary counts everything."""
    deadline = time.monotonic() + timeout_s
    totals = demo.health()
    while time.monotonic() < deadline:
        totals = demo.health()
        if totals and totals["uploads"] + totals["rejected"] + totals["duplicates"] >= uploads:
            break
        time.sleep(0.5)
    return totals


def escalation_line(now_ms: int) -> str:
    """When the first alerts open and when the first escalates if nobody acknowledges it."""
    escalates = time.strftime("%H:%M", time.localtime(now_ms / 1000 + 60 + ESCALATE_CRITICAL_S))
    return (f"Alerts open within the first minutes. One that nobody acknowledges goes to the "
            f"charge nurse {ESCALATE_CRITICAL_S // 60} min after it opens (critical; warnings "
            f"after {ESCALATE_WARNING_S // 60} min): the first at about {escalates}; after "
            f"{DEMO_REMINDERS} reminder nobody is left to page, and the console says so.")


def events_so_far(sim: Simulator, until_ms: int) -> Counter[str]:
    """The simulated clinical and device events that began by ``until_ms`` (not the ones the
    simulator has planned for later)."""
    return Counter(label.kind for label in sim.labels
                   if sim.start_ms <= label.start_ms <= until_ms)


def _influx_count(url: str, db: str, query: str) -> int:
    params = urllib.parse.urlencode({"db": db, "q": query})
    with urllib.request.urlopen(f"{url}/query?{params}", timeout=10) as resp:
        doc = orjson.loads(resp.read())
    series = doc["results"][0].get("series", [])
    return sum(int(s["values"][0][1]) for s in series)


def _summary(console: Console, settings: Settings, view: DemoView, produced: ProduceStats,
             totals: dict[str, int], events: Counter[str]) -> None:
    console.print("\n[bold]Summary[/bold]")
    console.print(f"  uploads sent: {produced.uploads}, samples sent: {produced.samples}")
    console.print(f"  worker processed: {totals.get('uploads', '?')} uploads, "
                  f"{totals.get('samples', '?')} samples")
    console.print(f"  simulated events that began during the run (history included): "
                  f"{sum(events.values())} {dict(events)}")
    console.print(f"  anomaly findings (a detector repeats one about once a minute while a "
                  f"condition lasts): {sum(view.anomalies.values())} {dict(view.anomalies)}")
    console.print(f"  alerts opened: {len(view.opened)}; alert lifecycle events: "
                  f"{sum(view.alert_actions.values())} {dict(view.alert_actions)}")
    console.print(f"  care-team actions: {dict(view.acted_by) or 'none'}")
    console.print(f"  messages delivered to the inbox: {view.messages}")
    console.print(f"  rejected uploads: {sum(view.rejected.values())} {dict(view.rejected)}")
    if settings.influx.url:
        points = _influx_count(settings.influx.url, settings.influx.db,
                               "SELECT count(hr_bpm) FROM vitals")
        console.print(f"  heart-rate points in InfluxDB {settings.influx.url} "
                      f"db={settings.influx.db}: {points}")


def _start(demo: Demo, workers: int, notify_url: str, view: DemoView) -> Settings:
    """Services, then workers and the console; returns the demo's settings."""
    console = demo.console
    ignored = ignored_settings()
    if ignored:
        console.print(f"ignoring {', '.join(ignored)} (environment or .env): the demo runs its "
                      "own services; use `wearmon worker` and `wearmon console` for yours")
    broker = start_broker()
    demo.services.append(broker)
    console.print(f"started the embedded Kafka-protocol broker at {broker.url}")
    values = {"WEARMON_BROKER": broker.url, "WEARMON_STATE_DIR": str(demo.workdir / "state"),
              "WEARMON_ALERT_TICK_S": "2", "WEARMON_API_TOKEN": secrets.token_urlsafe(24),
              "WEARMON_CONSOLE_SECRET_KEY": secrets.token_hex(32),
              "WEARMON_CONSOLE_PORT": str(free_port()),
              "WEARMON_CONSOLE_USERS_FILE": str(demo.workdir / "console-users.json"),
              "WEARMON_PRODUCER_MAX_BATCH_BYTES": "1"}  # the embedded broker (config.py)
    if influxd_binary():
        influx = start_influxd()
        demo.services.append(influx)
        values |= {"WEARMON_INFLUX_URL": influx.url, "WEARMON_INFLUX_CREATE_DB": "true"}
        console.print(f"started a local InfluxDB at {influx.url}")
    else:
        console.print("InfluxDB is not installed (apt-get install influxdb): results go to "
                      "Kafka topics only, the console's patient pages show no history")
    password = secrets.token_urlsafe(9)
    add_account(Path(values["WEARMON_CONSOLE_USERS_FILE"]), DEMO_USER, password,
                "Demo nurse", admin=True)  # the demo's patients are on several wards
    base = {k: v for k, v in os.environ.items() if not k.startswith("WEARMON_")}
    for index in range(1, workers + 1):
        port = free_port()
        env = {**base, **values, "WEARMON_WEB_PORT": str(port),
               "WEARMON_STATE_DIR": f"{values['WEARMON_STATE_DIR']}-{index}"}
        log = demo.workdir / f"worker-{index}.log"
        demo.workers.append(demo.start_child(["worker"], env, log))
        demo.web_ports.append(port)
        console.print(f"started worker {index} (log: {log})")
    sink_port = free_port()
    if "WEARMON_INFLUX_URL" in values:
        demo.sink = demo.start_child(["sink"], {**base, **values,
                                                "WEARMON_SINK_PORT": str(sink_port)},
                                     demo.workdir / "sink.log")
        console.print(f"started the sink (Kafka → InfluxDB; log: {demo.workdir / 'sink.log'})")
    demo.care_console = demo.start_child(["console"], {**base, **values},
                                         demo.workdir / "console.log")
    settings = demo_settings(values)
    view.header = f"Console: {settings.console.url}  login: {DEMO_USER} / {password}"
    console.print(f"[bold]Care-team console: {settings.console.url}[/bold]  "
                  f"(login: {DEMO_USER} / {password})")
    token = values["WEARMON_API_TOKEN"]
    for index, port in enumerate(demo.web_ports, 1):
        console.print(f"worker {index}: metrics http://127.0.0.1:{port}/metrics, alerts API "
                      f"http://127.0.0.1:{port}/alerts (header 'Authorization: Bearer {token}')",
                      markup=False, highlight=False)
    if demo.sink is not None:
        console.print(f"sink: metrics http://127.0.0.1:{sink_port}/metrics", markup=False,
                      highlight=False)
    return settings


def run_demo(duration_s: float, patients: int, history_s: float, seed: int,
             notify_url: str = "", workers: int = 1) -> int:
    console = Console(soft_wrap=True)  # plain lines stay whole when not on a terminal
    demo = Demo(console, Path(tempfile.mkdtemp(prefix="wearmon-demo-")))
    view = DemoView()
    signal.signal(signal.SIGTERM, _interrupt)  # like Ctrl-C: stop in order
    settings: Settings | None = None
    produced, interrupted = ProduceStats(), False
    sim: Simulator | None = None
    try:
        settings = _start(demo, workers, notify_url, view)
        now_ms = time.time_ns() // 1_000_000
        horizon_s = duration_s if duration_s > 0 else RUN_UNTIL_STOPPED_S
        sim = Simulator(patients, now_ms - int(history_s * 1000), history_s + horizon_s,
                        seed=seed, event_every_s=1800.0)
        for index, kind, start_ms, length_ms in LIVE_EVENTS:
            if index < patients:
                sim.inject(index, kind, now_ms + start_ms, length_ms)
        console.print(f"simulating {patients} patients: {history_s / 60:.0f} min of history "
                      "at once, then real time"
                      + (f" for {duration_s:.0f} s" if duration_s > 0 else " until Ctrl-C"))
        console.print(escalation_line(now_ms))
        produced = asyncio.run(_run(settings, demo, sim, duration_s, notify_url, view))
    except ServiceError as exc:
        console.print(f"[red]cannot start a service: {exc}[/red]")
        return 1
    except KeyboardInterrupt:
        interrupted = True
        console.print("interrupted")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # stopping in order: not to be interrupted
        console.print("stopping (the workers finish what was sent first)")
        try:
            if settings is not None:
                timeout_s = 15.0 if interrupted else 60.0
                totals = _wait_for_workers(demo, produced.uploads, timeout_s)
                events = events_so_far(sim, time.time_ns() // 1_000_000) if sim else Counter()
                _summary(console, settings, view, produced, totals, events)
        finally:
            demo.stop()
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt

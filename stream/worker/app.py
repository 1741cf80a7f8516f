"""The Faust app: the only module that touches Faust streams. Thin loops over the pure stages.

Per batch of uploads (``take_events``): validate -> per-patient state -> features/detectors ->
alert policy (``alerts.policy.observe``) -> write everything to InfluxDB (awaited until durable)
-> send rejections, anomalies and alert events to their topics (awaited) -> save patient state and
alert state to their tables. Faust acks the batch's events only after the
loop body returns, and commits only acked offsets: at-least-once, with idempotent InfluxDB points.

Time-driven alert transitions (``alerts.policy.tick``: escalation, reminders, snooze end, device
offline) run at the start of each batch for the patients cached on this worker whose next due time
has passed, and from a timer through the alert-commands agent (``stream.worker.commands``), which
also applies the care team's actions from the HTTP API (``worker.api``). Notifications are planned
and delivered by ``stream.worker.notifications``; enrolled patients' settings come from the patients
topic (``stream.worker.directory``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiohttp
import faust
import orjson
from faust.types import EventT

from wearmon.models.bands import BandSettings
from wearmon.models.base import Status
from wearmon.stream.alerts import policy as alerting
from wearmon.stream.alerts.lifecycle import AlertEvent, Category
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.config import Settings
from wearmon.stream.core.patients import PatientSettings, default_settings
from wearmon.stream.core.pipeline import PatientState, Result, process
from wearmon.stream.core.validation import Issue, Limits, Rejection, validate
from wearmon.stream.sinks.influx import (
    InfluxRejectedError,
    InfluxWriter,
    alert_line,
    pipeline_line,
    rejection_line,
    result_lines,
)
from wearmon.stream.worker.api import add_api
from wearmon.stream.worker.commands import add_alert_agents
from wearmon.stream.worker.directory import PatientsView
from wearmon.stream.worker.faust_io import bytes_table, bytes_topic, fail_stop
from wearmon.stream.worker.notifications import add_notify_agents

log = logging.getLogger(__name__)
T = TypeVar("T")



def finding_record(result: Result) -> list[dict[str, Any]]:
    up = result.upload
    return [
        {
            "patient_id": up.patient_id, "device_id": up.device_id, "t_ms": f.t_ms,
            "detector": f.detector, "kind": f.kind, "severity": f.severity.value,
            "score": f.score, "observed": f.observed, "baseline": f.baseline,
            "explanation": f.explanation,
        }
        for f in result.findings
    ]


def _cached(cache: dict[str, T], table: Any, patient_id: str, fresh: Callable[[], T],
            decode: Callable[[dict[str, Any]], T], what: str) -> T:
    """A patient's state from the cache, else from its table, else new (when unreadable too)."""
    state = cache.get(patient_id)
    if state is None:
        raw = table.get(patient_id.encode())
        state = fresh()
        if raw is not None:
            try:
                state = decode(orjson.loads(raw))
            except (ValueError, KeyError, TypeError):  # incl. state version errors
                log.warning("%s could not be restored; starting afresh", what)
        cache[patient_id] = state
    return state


class BatchProcessor:
    """Holds the worker's per-patient state cache and sinks; processes batches of events."""

    def __init__(self, settings: Settings, table: Any, rejected: Any, anomalies: Any,
                 alert_table: Any = None, alerts: Any = None) -> None:
        self.settings = settings
        self.table = table
        self.rejected_topic = rejected
        self.anomalies_topic = anomalies
        self.alert_table = alert_table if alert_table is not None else {}
        self.alerts_topic = alerts
        self.alert_cache: dict[str, PatientAlerts] = {}
        self.patient_settings: dict[str, PatientSettings] = {}
        self.directory: PatientsView | None = None  # enrolled patients' settings
        self.lock = asyncio.Lock()  # one writer of the alert state at a time (batches, commands)
        self._start_lock = asyncio.Lock()
        self.limits = Limits(
            max_upload_bytes=settings.max_upload_bytes,
            max_samples=settings.max_samples_per_upload,
            max_clock_skew_ms=int(settings.max_clock_skew_s * 1000),
        )
        self.max_lateness_ms = int(settings.max_lateness_s * 1000)
        self.cache: dict[str, PatientState] = {}
        self.influx: InfluxWriter | None = None
        self.session: aiohttp.ClientSession | None = None
        self.started = False
        self.highwater: Callable[[Any], int] | None = None
        self.worker_name = f"{socket.gethostname()}-{os.getpid()}"
        self.totals = {"uploads": 0, "samples": 0, "rejected": 0, "duplicates": 0,
                       "anomalies": 0, "alert_events": 0, "points": 0}

    async def start(self) -> None:
        self.started = True
        if self.settings.influx_url:
            self.session = aiohttp.ClientSession()
            self.influx = InfluxWriter(self.settings, self.session)
            if self.settings.influx_create_db:
                await self.influx.ensure_database()
        else:
            log.warning("WEARMON_INFLUX_URL is not set: results are not stored in InfluxDB")

    async def ready(self) -> None:
        """Start once (sinks) and wait until the patients' settings have been read."""
        async with self._start_lock:
            if not self.started:
                await self.start()
        if self.directory is not None:
            await self.directory.wait_ready()

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()

    def forget_state(self) -> None:
        """Partitions moved: reload patient state from the (recovered) table when next needed."""
        self.cache.clear()
        self.alert_cache.clear()

    def _state(self, patient_id: str) -> PatientState:
        return _cached(self.cache, self.table, patient_id, PatientState, PatientState.from_json,
                       "patient state")

    def _settings_for(self, patient_id: str) -> PatientSettings:
        enrolled = self.directory.get(patient_id) if self.directory is not None else None
        if enrolled is not None:
            return enrolled
        settings = self.patient_settings.get(patient_id)
        if settings is None:
            settings = self.patient_settings[patient_id] = default_settings(patient_id)
        return settings

    def _alerts(self, patient_id: str, now_ms: int) -> PatientAlerts:
        return _cached(self.alert_cache, self.alert_table, patient_id,
                       lambda: PatientAlerts.new(patient_id, now_ms), PatientAlerts.from_json,
                       "alert state")

    def _tick_due(self, now_ms: int) -> tuple[list[AlertEvent], set[str]]:
        """Time-driven transitions for cached patients whose next due time has passed."""
        events: list[AlertEvent] = []
        ticked: set[str] = set()
        for patient_id, state in self.alert_cache.items():
            settings = self._settings_for(patient_id)
            due = alerting.next_due_ms(state, settings, now_ms)
            if due is not None and due <= now_ms:
                new = alerting.tick(state, settings, now_ms)
                if new:
                    events.extend(new)
                    ticked.add(patient_id)
        return events, ticked

    def _apply_thresholds(self, patient_id: str, state: PatientState) -> None:
        """An enrolled patient's thresholds (and SpO2 scale) drive the clinical bands."""
        enrolled = self.directory.get(patient_id) if self.directory is not None else None
        if enrolled is None:
            return
        bands = state.models.bands
        wanted = dataclasses.replace(
            BandSettings(), spo2_scale=enrolled.spo2_scale,
            skin_temp_offset_c=bands.settings.skin_temp_offset_c,
            news2_alert_total=bands.settings.news2_alert_total, **enrolled.band_overrides())
        if bands.settings != wanted:
            bands.settings = wanted

    async def handle(self, events: list[EventT]) -> None:
        async with self.lock:
            await self._handle(events)

    async def _handle(self, events: list[EventT]) -> None:
        await self.ready()
        started = time.perf_counter()
        lines: list[str] = []
        rejections: list[Rejection] = []
        findings: list[dict[str, Any]] = []
        touched: set[str] = set()
        counts = dict.fromkeys(self.totals, 0)
        e2e_ms = 0.0
        now_ms = time.time() * 1000
        last_offsets: dict[Any, int] = {}
        alert_events, alert_touched = self._tick_due(int(now_ms))
        for event in events:
            last_offsets[event.message.tp] = event.message.offset
            received_ms = int(event.message.timestamp * 1000)
            e2e_ms = max(e2e_ms, now_ms - received_ms)
            checked = validate(event.value, received_ms, self.limits)
            if isinstance(checked, Rejection):
                rejections.append(checked)
                continue
            up = checked.upload
            state = self._state(up.patient_id)
            self._apply_thresholds(up.patient_id, state)
            result = process(state, up, self.max_lateness_ms, checked.issues)
            if result.duplicate:
                counts["duplicates"] += 1
                rejections.append(Rejection(
                    (Issue("upload_id", "duplicate_upload", "already processed; dropped"),),
                    event.value, received_ms, up.patient_id, up.upload_id))
                continue
            if result.issues:
                rejections.append(Rejection(tuple(result.issues), event.value, received_ms,
                                            up.patient_id, up.upload_id, partial=True))
            counts["uploads"] += 1
            counts["samples"] += len(up.samples)
            patient_alerts = self._alerts(up.patient_id, received_ms)
            alert_events.extend(alerting.observe(
                patient_alerts, self._settings_for(up.patient_id),
                result.findings, result.quality, now_ms=received_ms))
            alert_touched.add(up.patient_id)
            if result.quality is not None and any(
                    a.category is Category.CLINICAL for a in patient_alerts.active()):
                result.quality.status = Status.ALERT
            lines.extend(result_lines(result))
            findings.extend(finding_record(result))
            touched.add(up.patient_id)
        counts["rejected"] = len(rejections) - counts["duplicates"]
        counts["anomalies"] = len(findings)
        counts["alert_events"] = len(alert_events)
        lines.extend(rejection_line(r) for r in rejections)
        if self.influx is not None:
            health: dict[str, float] = {**counts, "e2e_latency_ms": e2e_ms,
                                        "batch_ms": (time.perf_counter() - started) * 1000}
            lag = self._lag(last_offsets)
            if lag is not None:
                health["lag_messages"] = lag
            lines.append(pipeline_line(self.worker_name, int(now_ms), health))
            try:
                counts["points"] = await self.influx.write(lines)
            except InfluxRejectedError as exc:
                log.error("%s", exc)
            counts["points"] += await self.write_alert_points(alert_events)
        await self._publish(rejections, findings, alert_events)
        for patient_id in touched:  # only after the results are durable
            self.table[patient_id.encode()] = orjson.dumps(self.cache[patient_id].to_json())
        self.save_alerts(alert_touched)
        for name, value in counts.items():
            self.totals[name] += value

    async def write_alert_points(self, events: Sequence[AlertEvent]) -> int:
        """``alert`` points for lifecycle events (awaited until durable); points written."""
        if self.influx is None or not events:
            return 0
        try:
            return await self.influx.write([alert_line(e) for e in events], precision="us")
        except InfluxRejectedError as exc:
            log.error("%s", exc)
            return 0

    def save_alerts(self, patients: set[str]) -> None:
        """Persist the cached alert state of these patients (inside an agent's iteration)."""
        for patient_id in patients:
            self.alert_table[patient_id.encode()] = orjson.dumps(
                self.alert_cache[patient_id].to_json())

    def _lag(self, last_offsets: dict[Any, int]) -> int | None:
        """Messages behind the end of the partitions this batch came from."""
        if self.highwater is None:
            return None
        try:
            return sum(max(0, self.highwater(tp) - offset - 1) for tp, offset in
                       last_offsets.items())
        except (KeyError, TypeError):
            return None

    async def _publish(self, rejections: list[Rejection], findings: list[dict[str, Any]],
                       alert_events: Sequence[AlertEvent] = ()) -> None:
        futures = []
        for r in rejections:
            record = r.to_record(self.settings.dead_letter_max_bytes)
            futures.append(await self.rejected_topic.send(
                key=(r.patient_id or "").encode() or None, value=orjson.dumps(record)))
        for f in findings:
            futures.append(await self.anomalies_topic.send(
                key=f["patient_id"].encode(), value=orjson.dumps(f)))
        if self.alerts_topic is not None:
            for e in alert_events:
                futures.append(await self.alerts_topic.send(
                    key=e.patient.encode(), value=orjson.dumps(e.to_json())))
        for fut in futures:
            await fut


def create_app(settings: Settings) -> faust.App:
    settings.require_broker()
    app = faust.App(
        settings.app_id,
        broker=settings.broker_urls,
        autodiscover=False,
        store="memory://",
        datadir=settings.state_dir,
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        table_standby_replicas=0,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=settings.broker_heartbeat_interval_s,
        broker_rebalance_timeout=settings.broker_session_timeout_s,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
    )
    telemetry = bytes_topic(app, settings.topic_telemetry, settings)
    rejected = bytes_topic(app, settings.topic_rejected, settings)
    anomalies = bytes_topic(app, settings.topic_anomalies, settings)
    alerts = bytes_topic(app, settings.topic_alerts, settings)
    table = bytes_table(app, "patient-state", settings)
    alert_table = bytes_table(app, "alert-state", settings)
    processor = BatchProcessor(settings, table, rejected, anomalies, alert_table, alerts)
    processor.highwater = lambda tp: app.consumer.highwater(tp)
    app.wearmon = processor  # type: ignore[attr-defined]
    processor.directory = PatientsView(settings)
    add_alert_agents(app, settings, processor, alert_table, alerts)
    add_notify_agents(app, settings, processor, alerts)
    add_api(app, settings, processor)

    @app.agent(telemetry, name="process-telemetry")
    async def process_telemetry(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_max_uploads, within=settings.batch_within_s)
        async for events in batches:
            try:
                await processor.handle(list(events))
            except Exception:
                fail_stop("processing a batch")

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(app: faust.App, revoked: set[Any], **kwargs: Any) -> None:
        processor.forget_state()

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"worker": processor.worker_name, **processor.totals})

    return app

"""``WorkerContext``: what the agents, the timer and the HTTP API of one worker share.

One object, declared here and built by ``worker.app.create_app``: settings, the per-patient state
caches over their Faust tables, the patients directory, the sinks, the lock that serialises
changes to alert state, the batch on its way to the sinks, and the counters shown on
``/health``. It also implements the ``BatchContext`` that the pure batch function reads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wearmon.stream.alerts import policy
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.config import Settings
from wearmon.stream.core.patients import DefaultSettings, PatientSettings
from wearmon.stream.core.pipeline import PatientState
from wearmon.stream.core.validation import Limits
from wearmon.stream.log_privacy import quiet_libraries
from wearmon.stream.sinks.influx import InfluxWriter
from wearmon.stream.worker.commit import Sinks
from wearmon.stream.worker.directory import PatientsView
from wearmon.stream.worker.in_flight import InFlight
from wearmon.stream.worker.metrics import TimedWriter, WorkerGauges
from wearmon.stream.worker.state_cache import StateCache

log = logging.getLogger(__name__)

TOTALS = ("uploads", "samples", "rejected", "duplicates", "anomalies", "alert_events", "points",
          "skipped_seen", "sink_refused")


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_upload_bytes=settings.max_upload_bytes,
        max_samples=settings.max_samples_per_upload,
        max_clock_skew_ms=int(settings.max_clock_skew_s * 1000),
    )


@dataclass
class WorkerContext:
    settings: Settings
    patients: StateCache[PatientState]
    alerts: StateCache[PatientAlerts]
    directory: PatientsView
    sinks: Sinks
    unenrolled: DefaultSettings
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one writer of alert state
    in_flight: InFlight = field(default_factory=InFlight)  # the telemetry batch in flight
    totals: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(TOTALS, 0)))
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    session: aiohttp.ClientSession | None = None
    due_ms: dict[str, int] = field(default_factory=dict)  # patient → next alert transition
    next_offsets: dict[int, int] = field(default_factory=dict)  # telemetry partition → handled
    started: bool = False
    _start_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, settings: Settings, patient_table: Any, alert_table: Any, sinks: Sinks
               ) -> WorkerContext:
        return cls(
            settings=settings,
            patients=StateCache(patient_table, PatientState.from_json, PatientState.to_json,
                                "patient state"),
            alerts=StateCache(alert_table, PatientAlerts.from_json, PatientAlerts.to_json,
                              "alert state"),
            directory=PatientsView(settings),
            sinks=sinks,
            unenrolled=DefaultSettings(settings.max_cached_patients),
        )

    # --- BatchContext -------------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return limits_of(self.settings)

    @property
    def max_lateness_ms(self) -> int:
        return int(self.settings.max_lateness_s * 1000)

    def patient_state(self, patient_id: str) -> PatientState:
        return self.patients.get(patient_id, PatientState)

    def patient_alerts(self, patient_id: str, now_ms: int) -> PatientAlerts:
        return self.alerts.get(patient_id, lambda: PatientAlerts.new(patient_id, now_ms))

    def enrolled(self, patient_id: str) -> PatientSettings | None:
        return self.directory.get(patient_id)

    def settings_for(self, patient_id: str) -> PatientSettings:
        """The enrolled settings, else the defaults (nobody is notified about the patient)."""
        enrolled = self.directory.get(patient_id)
        if enrolled is not None:
            return enrolled
        return self.unenrolled.get(patient_id)  # bounded like the states

    def due_alerts(self, now_ms: int) -> list[tuple[str, PatientAlerts]]:
        """The alert states with a transition due by ``now_ms`` (from the due index)."""
        return [(patient, self.patient_alerts(patient, now_ms))
                for patient, due in list(self.due_ms.items()) if due <= now_ms]

    # --- the due index: every patient of this worker with an alert transition coming ----------

    def index_due(self, patients: Iterable[str], now_ms: int) -> None:
        """Record when these patients' alert states next need the timer (after a save)."""
        for patient in patients:
            state = self.alerts.peek(patient)
            due = None if state is None else policy.next_due_ms(
                state, self.settings_for(patient), now_ms)
            if due is None:
                self.due_ms.pop(patient, None)
            else:
                self.due_ms[patient] = due

    def load_due_index(self, now_ms: int) -> None:
        """After an assignment: index every alert state of the (recovered) table."""
        self.due_ms.clear()
        self.index_due((key.decode() for key in self.alerts.patient_keys()), now_ms)

    def shrink_caches(self, now_ms: int) -> None:
        """Keep at most ``WEARMON_MAX_CACHED_PATIENTS`` in memory (the rest is in the tables;
        the due index tells the timer which evicted patients need it)."""
        limit = self.settings.max_cached_patients
        self.patients.shrink(limit)
        self.alerts.shrink(limit)

    def forget_patient(self, patient_id: str) -> None:
        self.patients.evict(patient_id)
        self.alerts.evict(patient_id)

    # --- life cycle ---------------------------------------------------------------------

    async def ready(self) -> None:
        """Start the sinks once and wait until the patients' settings have been read."""
        async with self._start_lock:
            if not self.started:
                await self._start()
        await self.directory.wait_ready()

    async def _start(self) -> None:
        self.started = True
        quiet_libraries()  # again: Faust's logging set-up ran after the command's
        if not self.settings.influx_url:
            log.warning("WEARMON_INFLUX_URL is not set: results are not stored in InfluxDB")
            return
        self.session = aiohttp.ClientSession()
        influx = InfluxWriter(self.settings, self.session)
        self.sinks.influx = TimedWriter(influx)
        if self.settings.influx_create_db:
            await influx.ensure_database()

    async def stop(self) -> None:
        await self.directory.stop()
        if self.session is not None:
            await self.session.close()

    def gauges(self) -> WorkerGauges:
        influx = self.sinks.influx
        writer = influx.inner if isinstance(influx, TimedWriter) else influx
        return WorkerGauges(
            influx_retries=writer.retries if isinstance(writer, InfluxWriter) else 0,
            cached_patients=len(self.patients),
            evicted_patients=self.patients.evicted,
            enrolled_patients=len(self.directory.by_patient),
        )

    def forget_state(self) -> None:
        """Partitions moved: reload state from the (recovered) tables when next needed."""
        self.patients.forget()
        self.alerts.forget()
        self.due_ms.clear()

    def count(self, counts: Counter[str]) -> None:
        self.totals.update(counts)

"""``PatientStore``: what one worker knows about its patients, over their Faust tables.

Patient state (features, detectors) and alert state, each a ``StateCache`` over its table; the
enrolments (settings from the patients topic, else defaults for unenrolled patients); and the
due index: when each patient's alert state next needs the timer. The telemetry batch, the
care-team commands and the escalation timer read and change patients only through this store.
``PatientStore.in_memory()`` is the same store over plain dicts (the bench and unit tests).

An enrolled patient's clinical thresholds and illness alarm budget are applied to their
detectors when the enrolment changes (or when their state is loaded), not on every message.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Protocol

from wearmon.models.bands import BandSettings
from wearmon.stream.alerts import policy
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.patients import DefaultSettings, PatientSettings
from wearmon.stream.core.pipeline import PatientState
from wearmon.stream.worker.state_cache import StateCache


class Enrolments(Protocol):
    """Enrolled patients' settings (the patients topic's view)."""

    def get(self, patient_id: str) -> PatientSettings | None: ...


class NoEnrolments:
    def get(self, patient_id: str) -> PatientSettings | None:
        return None


def apply_thresholds(state: PatientState, enrolled: PatientSettings) -> None:
    """An enrolled patient's thresholds (and SpO2 scale) drive their clinical bands; the ward's
    illness alarm budget sets the illness score's threshold (``models.alarm_budget``)."""
    state.models.slow.alert_score = enrolled.policy.illness_alert_score()
    bands = state.models.bands
    wanted = dataclasses.replace(
        BandSettings(), spo2_scale=enrolled.spo2_scale,
        skin_temp_offset_c=bands.settings.skin_temp_offset_c,
        news2_alert_total=bands.settings.news2_alert_total, **enrolled.band_overrides())
    if bands.settings != wanted:
        bands.settings = wanted


@dataclass
class PatientStore:
    patients: StateCache[PatientState]
    alerts: StateCache[PatientAlerts]
    enrolments: Enrolments
    unenrolled: DefaultSettings
    max_cached_patients: int
    due_ms: dict[str, int] = field(default_factory=dict)  # patient → next alert transition
    applied: dict[str, PatientSettings] = field(default_factory=dict)  # enrolment in the bands

    @classmethod
    def over(cls, patient_table: MutableMapping[bytes, bytes],
             alert_table: MutableMapping[bytes, bytes], enrolments: Enrolments,
             max_cached_patients: int) -> PatientStore:
        return cls(
            patients=StateCache(patient_table, PatientState.from_json, PatientState.to_json,
                                "patient state"),
            alerts=StateCache(alert_table, PatientAlerts.from_json, PatientAlerts.to_json,
                              "alert state"),
            enrolments=enrolments, unenrolled=DefaultSettings(max_cached_patients),
            max_cached_patients=max_cached_patients)

    @classmethod
    def in_memory(cls) -> PatientStore:
        """Over plain dicts, every patient unenrolled, nothing evicted."""
        return cls.over({}, {}, NoEnrolments(), sys.maxsize)

    # --- what a batch or a command reads and changes -------------------------------------

    def patient_state(self, patient_id: str) -> PatientState:
        """The patient's state (cached, else restored, else fresh), with their enrolment's
        thresholds in the detectors."""
        state = self.patients.get(patient_id, PatientState)
        enrolled = self.enrolments.get(patient_id)
        if enrolled is not None and self.applied.get(patient_id) is not enrolled:
            apply_thresholds(state, enrolled)
            self.applied[patient_id] = enrolled
        return state

    def patient_alerts(self, patient_id: str, now_ms: int) -> PatientAlerts:
        return self.alerts.get(patient_id, lambda: PatientAlerts.new(patient_id, now_ms))

    def has_alerts(self, patient_id: str) -> bool:
        return patient_id in self.alerts

    def settings_for(self, patient_id: str) -> PatientSettings:
        """The enrolled settings, else the defaults (nobody is notified about the patient)."""
        enrolled = self.enrolments.get(patient_id)
        return enrolled if enrolled is not None else self.unenrolled.get(patient_id)

    def due_alerts(self, now_ms: int) -> list[tuple[str, PatientAlerts]]:
        """The alert states with a transition due by ``now_ms`` (from the due index)."""
        return [(patient, self.patient_alerts(patient, now_ms))
                for patient, due in list(self.due_ms.items()) if due <= now_ms]

    def forget_patient(self, patient_id: str) -> None:
        """Drop the patient's cached state: the next use restores the last saved one."""
        self.patients.evict(patient_id)
        self.alerts.evict(patient_id)
        self.applied.pop(patient_id, None)

    # --- the due index: every patient of this worker with an alert transition coming ------

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

    async def load_due_index(self, now_ms: int, chunk: int = 500) -> None:
        """After an assignment: index every alert state of the (recovered) table, a chunk at a
        time (a worker with 100,000 patients decodes for seconds: telemetry goes on meanwhile)."""
        self.due_ms.clear()
        keys = self.alerts.patient_keys()
        for start in range(0, len(keys), chunk):
            self.index_due((key.decode() for key in keys[start:start + chunk]), now_ms)
            await asyncio.sleep(0)

    # --- memory and rebalances ---------------------------------------------------------------

    def shrink(self) -> None:
        """Keep at most ``max_cached_patients`` decoded in memory (the rest is in the tables;
        the due index tells the timer which evicted patients need it)."""
        for patient_id in self.patients.shrink(self.max_cached_patients):
            self.applied.pop(patient_id, None)  # restored from the table when next seen
        self.alerts.shrink(self.max_cached_patients)

    def forget_state(self) -> None:
        """Partitions moved: reload state from the (recovered) tables when next needed."""
        self.patients.forget()
        self.alerts.forget()
        self.applied.clear()
        self.due_ms.clear()
        self.applied.clear()

"""A ``BatchContext`` over in-memory dicts: the worker's batch function without Faust tables.

The bench times the worker's own ``process_batch`` with it (the stage on one core), and unit
tests run batches against it. Patients are unenrolled (default settings); state is cached and
saved to plain dicts exactly as the worker does to its tables.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from wearmon.stream.alerts.policy import next_due_ms
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.patients import DefaultSettings, PatientSettings
from wearmon.stream.core.pipeline import DEFAULT_MAX_LATENESS_MS, PatientState
from wearmon.stream.core.validation import Limits
from wearmon.stream.worker.state_cache import StateCache


def patient_cache() -> StateCache[PatientState]:
    return StateCache({}, PatientState.from_json, PatientState.to_json, "patient state")


def alert_cache() -> StateCache[PatientAlerts]:
    return StateCache({}, PatientAlerts.from_json, PatientAlerts.to_json, "alert state")


@dataclass
class LocalContext:
    limits: Limits = field(default_factory=Limits)
    max_lateness_ms: int = DEFAULT_MAX_LATENESS_MS
    patients: StateCache[PatientState] = field(default_factory=patient_cache)
    alerts: StateCache[PatientAlerts] = field(default_factory=alert_cache)
    defaults: DefaultSettings = field(default_factory=lambda: DefaultSettings(sys.maxsize))

    def patient_state(self, patient_id: str) -> PatientState:
        return self.patients.get(patient_id, PatientState)

    def patient_alerts(self, patient_id: str, now_ms: int) -> PatientAlerts:
        return self.alerts.get(patient_id, lambda: PatientAlerts.new(patient_id, now_ms))

    def settings_for(self, patient_id: str) -> PatientSettings:
        return self.defaults.get(patient_id)

    def enrolled(self, patient_id: str) -> PatientSettings | None:
        return None

    def due_alerts(self, now_ms: int) -> Iterable[tuple[str, PatientAlerts]]:
        return [(p, s) for p, s in self.alerts.cached()
                if (due := next_due_ms(s, self.settings_for(p), now_ms)) is not None
                and due <= now_ms]

    def forget_patient(self, patient_id: str) -> None:
        self.patients.evict(patient_id)
        self.alerts.evict(patient_id)

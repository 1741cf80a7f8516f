"""``PatientStore``: an enrolment's thresholds and alarm budget reach the patient's detectors,
also after the state was evicted and restored."""

from __future__ import annotations

from pydantic import SecretStr

from wearmon.models.alarm_budget import DEFAULT_BUDGET, alert_score_for_budget
from wearmon.stream.core.patients import AlertPolicy, PatientSettings, Recipient, Thresholds
from wearmon.stream.worker.patient_store import PatientStore


class Enrolled:
    def __init__(self, *settings: PatientSettings) -> None:
        self.by_id = {s.patient_id: s for s in settings}

    def get(self, patient_id: str) -> PatientSettings | None:
        return self.by_id.get(patient_id)


def test_the_wards_budget_and_thresholds_reach_the_detectors_and_survive_eviction() -> None:
    nurse = Recipient(id="nurse", url=SecretStr("json://127.0.0.1/"))
    generous = PatientSettings(patient_id="p-0001", care_team=[nurse],
                               thresholds=Thresholds(rest_hr_high_bpm=110),
                               policy=AlertPolicy(illness_alarm_budget_per_30d=1.5))
    store = PatientStore.over({}, {}, Enrolled(generous), max_cached_patients=1)
    models = store.patient_state("p-0001").models
    assert models.slow.alert_score == alert_score_for_budget(1.5)
    assert alert_score_for_budget(1.5) < alert_score_for_budget(DEFAULT_BUDGET)
    assert models.bands.settings.rest_hr_high_bpm == 110
    store.patients.save(["p-0001"])
    unenrolled = store.patient_state("p-0002").models  # an unenrolled patient: the default
    assert unenrolled.slow.alert_score == alert_score_for_budget(DEFAULT_BUDGET)
    store.shrink()  # one patient cached at most: p-1 is evicted, restored when next seen
    assert store.patient_state("p-0001").models.slow.alert_score == alert_score_for_budget(1.5)
    store.patients.save(["p-0001"])
    store.forget_state()  # a rebalance: restored from the table
    restored = store.patient_state("p-0001").models
    assert restored is not models and restored.slow.alert_score == alert_score_for_budget(1.5)

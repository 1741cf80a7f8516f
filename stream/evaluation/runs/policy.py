"""How much the alert policy removes: the stream's anomalies versus the alerts it opens.

Runs one patient's samples exactly as the worker would see them (gateway uploads of 15 minutes,
validation, ``pipeline.process``, ``alerting.observe`` and ``alerting.tick`` with the default
policy), with no Kafka, and counts anomaly findings (what the ``anomaly`` measurement receives)
and alerts opened (what would reach a care team).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import orjson

from wearmon.stream.alerts import policy as alerting
from wearmon.stream.alerts.lifecycle import Action
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.patients import default_settings
from wearmon.stream.core.pipeline import PatientState, process
from wearmon.stream.core.schema import Sample
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.datasets.uploads import build_uploads

UPLOAD_EVERY_MS = 900_000
SYNC_DELAY_MS = 1_000  # the upload arrives a second after its last sample


def policy_effect(patient: str, samples: Iterable[Sample]) -> Counter[str]:
    """Counts of ``anomalies`` (all), ``anomalies_actionable`` (warning/critical), ``alerts``
    (opened, any category) and ``clinical_alerts`` for one patient.

    >>> samples = [Sample(t_ms=i * 5_000, hr_bpm=150.0, steps=0) for i in range(240)]
    >>> counts = policy_effect("p-0001", samples)
    >>> counts["clinical_alerts"], counts["anomalies"] > counts["clinical_alerts"]
    (1, True)
    """
    state = PatientState()
    settings = default_settings(patient)
    alerts: PatientAlerts | None = None
    counts: Counter[str] = Counter()
    limits = Limits(max_samples=100_000, max_upload_bytes=1 << 30)
    for upload in build_uploads(patient, samples, device_id=f"{patient}-dev",
                                upload_every_ms=UPLOAD_EVERY_MS, max_samples=100_000):
        received_ms = int(upload["samples"][-1]["t_ms"]) + SYNC_DELAY_MS
        checked = validate(orjson.dumps(upload), received_ms, limits)
        if isinstance(checked, Rejection):
            continue
        alerts = alerts or PatientAlerts.new(patient, received_ms)
        result = process(state, checked.upload, 172_800_000, checked.issues)
        counts["anomalies"] += len(result.findings)
        counts["anomalies_actionable"] += sum(f.severity.value != "info" for f in result.findings)
        events = alerting.observe(alerts, settings, result.findings, result.quality, received_ms)
        events += alerting.tick(alerts, settings, received_ms)
        for event in events:
            if event.action is Action.OPENED:
                counts["alerts"] += 1
                counts["clinical_alerts"] += event.category.value == "clinical"
    return counts

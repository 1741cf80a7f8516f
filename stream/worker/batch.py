"""One batch of telemetry messages → what to write, publish and save. Pure: no I/O.

``process_batch(messages, context, now_ms)`` validates each message, runs each upload through its
patient's pipeline (``core.pipeline.process``) and alert policy (``alerts.policy.observe``), and
collects everything the batch causes into a ``BatchOutput``: InfluxDB lines, dead-letter records,
anomaly records, alert events, and which patients' state changed. It mutates the patients' state
objects handed out by the context (the worker's caches); nothing becomes durable until
``worker.commit.commit`` has written, published and saved the output, in that order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wearmon.models.bands import BandSettings
from wearmon.stream.alerts import policy
from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.core.pipeline import PatientState, Result, process
from wearmon.stream.core.validation import Issue, Limits, Rejection, validate
from wearmon.stream.sinks.lines import alert_line, rejection_line, result_lines


@dataclass(frozen=True, slots=True)
class Incoming:
    """One telemetry message as the worker received it."""

    value: bytes
    received_ms: int  # broker timestamp of the message
    partition: int = 0
    offset: int = 0


class BatchContext(Protocol):
    """What a batch reads and mutates: per-patient state and settings (no I/O)."""

    @property
    def limits(self) -> Limits: ...

    @property
    def max_lateness_ms(self) -> int: ...

    def patient_state(self, patient_id: str) -> PatientState: ...

    def patient_alerts(self, patient_id: str, now_ms: int) -> PatientAlerts: ...

    def settings_for(self, patient_id: str) -> PatientSettings: ...

    def enrolled(self, patient_id: str) -> PatientSettings | None: ...

    def cached_alerts(self) -> Iterable[tuple[str, PatientAlerts]]: ...


@dataclass
class BatchOutput:
    """Everything one batch (or one alert command) causes, in the order it must be made durable."""

    lines: list[str] = field(default_factory=list)  # InfluxDB line protocol, all of it
    rejections: list[Rejection] = field(default_factory=list)  # → dead-letter topic
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # → anomalies topic
    alert_events: list[AlertEvent] = field(default_factory=list)  # → alerts topic
    patients: set[str] = field(default_factory=set)  # patient states to save
    alert_patients: set[str] = field(default_factory=set)  # alert states to save
    counts: Counter[str] = field(default_factory=Counter)
    e2e_latency_ms: float = 0.0  # oldest message of the batch: broker arrival → processing

    def add_alert_events(self, patient_id: str, events: Sequence[AlertEvent]) -> None:
        self.alert_patients.add(patient_id)
        self.alert_events.extend(events)
        self.lines.extend(alert_line(e) for e in events)


def anomaly_records(result: Result) -> list[dict[str, Any]]:
    """The anomalies topic's records of one processed upload (one per finding)."""
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


def tick_due(context: BatchContext, now_ms: int, output: BatchOutput) -> None:
    """Time-driven alert transitions of the cached patients whose next due time has passed."""
    for patient_id, state in context.cached_alerts():
        settings = context.settings_for(patient_id)
        due = policy.next_due_ms(state, settings, now_ms)
        if due is not None and due <= now_ms:
            events = policy.tick(state, settings, now_ms)
            if events:
                output.add_alert_events(patient_id, events)


def apply_thresholds(state: PatientState, enrolled: PatientSettings | None) -> None:
    """An enrolled patient's thresholds (and SpO2 scale) drive the clinical bands."""
    if enrolled is None:
        return
    bands = state.models.bands
    wanted = dataclasses.replace(
        BandSettings(), spo2_scale=enrolled.spo2_scale,
        skin_temp_offset_c=bands.settings.skin_temp_offset_c,
        news2_alert_total=bands.settings.news2_alert_total, **enrolled.band_overrides())
    if bands.settings != wanted:
        bands.settings = wanted


def identity_rejection(message: Incoming, result: Result) -> Rejection:
    """A re-sent upload (dropped), or another upload under a used id (refused, first kept)."""
    up = result.upload
    issue = (Issue("upload_id", "conflicting_upload",
                   "this device already sent another upload with this id; the first is kept")
             if result.conflict else
             Issue("upload_id", "duplicate_upload", "already processed; dropped"))
    return Rejection((issue,), message.value, message.received_ms, up.patient_id, up.upload_id)


def process_message(context: BatchContext, message: Incoming, output: BatchOutput) -> None:
    """One message: validate, run its patient's pipeline and alert policy, collect the output."""
    checked = validate(message.value, message.received_ms, context.limits)
    if isinstance(checked, Rejection):
        output.rejections.append(checked)
        output.counts["rejected"] += 1
        return
    up = checked.upload
    state = context.patient_state(up.patient_id)
    settings = context.settings_for(up.patient_id)
    apply_thresholds(state, context.enrolled(up.patient_id))
    result = process(state, up, context.max_lateness_ms, checked.issues, settings.timezone)
    if result.duplicate or result.conflict:
        output.rejections.append(identity_rejection(message, result))
        output.counts["duplicates" if result.duplicate else "rejected"] += 1
        return
    if result.issues:
        output.rejections.append(Rejection(tuple(result.issues), message.value,
                                           message.received_ms, up.patient_id, up.upload_id,
                                           partial=True))
        output.counts["rejected"] += 1
    output.counts["uploads"] += 1
    output.counts["samples"] += len(up.columns)
    alerts = context.patient_alerts(up.patient_id, message.received_ms)
    output.add_alert_events(up.patient_id, policy.observe(
        alerts, context.settings_for(up.patient_id), result.findings, result.quality,
        now_ms=message.received_ms))
    if result.quality is not None:
        result.quality.status = policy.assessment(
            alerts, context.settings_for(up.patient_id), message.received_ms,
            observed=result.quality.status)
    output.lines.extend(result_lines(result))
    output.anomalies.extend(anomaly_records(result))
    output.patients.add(up.patient_id)


def process_batch(messages: Sequence[Incoming], context: BatchContext, now_ms: int
                  ) -> BatchOutput:
    """Process a batch of telemetry messages (in offset order) into a ``BatchOutput``."""
    output = BatchOutput()
    tick_due(context, now_ms, output)
    for message in messages:
        output.e2e_latency_ms = max(output.e2e_latency_ms, now_ms - message.received_ms)
        process_message(context, message, output)
    output.lines.extend(rejection_line(r) for r in output.rejections)
    output.counts["anomalies"] = len(output.anomalies)
    output.counts["alert_events"] = len(output.alert_events)
    return output

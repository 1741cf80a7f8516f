"""One batch of telemetry messages → what to write, publish and save. Pure: no I/O.

``process_batch(messages, context, now_ms)`` validates the messages (together:
``validate_many``), runs the uploads through their patients' pipelines (together:
``core.pipeline.process_many``) and each through its alert policy (``alerts.policy.observe``),
formats the points (together: ``batch_lines``), and collects everything the batch causes into a
``BatchOutput``: InfluxDB lines (kept by message), dead-letter records,
anomaly records, alert events, and which patients' state changed. It mutates the patients' state
objects handed out by the context (the worker's caches); nothing becomes durable until
``worker.commit.commit`` has written, published and saved the output, in that order.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wearmon.models.bands import BandSettings
from wearmon.stream.alerts import policy
from wearmon.stream.alerts.lifecycle import AlertEvent
from wearmon.stream.alerts.state import PatientAlerts
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.core.pipeline import Job, PatientState, Result, process_many
from wearmon.stream.core.validation import (
    Issue,
    Limits,
    Rejection,
    Validated,
    validate,
    validate_many,
)
from wearmon.stream.sinks.lines import batch_lines, rejection_line, result_lines

log = logging.getLogger(__name__)


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

    def due_alerts(self, now_ms: int) -> Iterable[tuple[str, PatientAlerts]]: ...

    def forget_patient(self, patient_id: str) -> None:
        """Drop the patient's cached state: the next message restores the last saved one."""


@dataclass
class Part:
    """The InfluxDB lines of one message (or of the batch itself: ``source`` None), kept apart
    so that points InfluxDB refuses can be traced to the upload that caused them."""

    source: Incoming | None
    lines: list[str] = field(default_factory=list)
    patient_id: str | None = None
    upload_id: str | None = None


@dataclass
class BatchOutput:
    """Everything one batch (or one alert command) causes, in the order it must be made durable."""

    parts: list[Part] = field(default_factory=list)  # InfluxDB line protocol, by message
    rejections: list[Rejection] = field(default_factory=list)  # → dead-letter topic
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # → anomalies topic
    alert_events: list[AlertEvent] = field(default_factory=list)  # → alerts topic
    patients: set[str] = field(default_factory=set)  # patient states to save
    alert_patients: set[str] = field(default_factory=set)  # alert states to save
    counts: Counter[str] = field(default_factory=Counter)
    e2e_latency_ms: float = 0.0  # oldest message of the batch: broker arrival → processing (ms)

    def part(self, source: Incoming | None = None) -> Part:
        new = Part(source)
        self.parts.append(new)
        return new

    @property
    def lines(self) -> list[str]:
        return [line for part in self.parts for line in part.lines]

    def merge(self, other: BatchOutput) -> None:
        self.parts += other.parts
        self.rejections += other.rejections
        self.anomalies += other.anomalies
        self.alert_events += other.alert_events
        self.patients |= other.patients
        self.alert_patients |= other.alert_patients
        self.counts.update(other.counts)

    def add_alert_events(self, patient_id: str, events: Sequence[AlertEvent]) -> None:
        """Alert events for the alerts topic (their points are written from there:
        ``worker.history``)."""
        self.alert_patients.add(patient_id)
        self.alert_events.extend(events)


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
    for patient_id, state in context.due_alerts(now_ms):
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


@dataclass(slots=True)
class Checked:
    """A message that passed validation, with what its patient's pipeline needs."""

    message: Incoming
    part: Part
    validated: Validated
    settings: PatientSettings
    state: PatientState


def check_message(context: BatchContext, message: Incoming, output: BatchOutput,
                  validated: Validated | Rejection | None = None) -> Checked | None:
    """Validate one message (unless ``validated`` already holds the outcome); a refused one
    goes to the output's dead letters."""
    part = output.part(message)
    checked = (validate(message.value, message.received_ms, context.limits)
               if validated is None else validated)
    if isinstance(checked, Rejection):
        reject(output, part, checked)
        return None
    up = checked.upload
    part.patient_id, part.upload_id = up.patient_id, up.upload_id
    state = context.patient_state(up.patient_id)
    apply_thresholds(state, context.enrolled(up.patient_id))
    return Checked(message, part, checked, context.settings_for(up.patient_id), state)


def job_of(context: BatchContext, checked: Checked) -> Job:
    return Job(checked.state, checked.validated.upload, context.max_lateness_ms,
               checked.validated.issues, checked.settings.timezone)


def settle_message(context: BatchContext, checked: Checked, result: Result,
                   output: BatchOutput) -> bool:
    """A processed upload's dead letters, alert policy and anomaly records; True when it has
    points to write (``add_lines``), False for a re-sent or conflicting upload."""
    message, up, settings = checked.message, checked.validated.upload, checked.settings
    if result.duplicate or result.conflict:
        reject(output, checked.part, identity_rejection(message, result),
               "duplicates" if result.duplicate else "rejected")
        return False
    if result.issues:
        reject(output, checked.part, Rejection(tuple(result.issues), message.value,
                                               message.received_ms, up.patient_id,
                                               up.upload_id, partial=True))
    output.counts["uploads"] += 1
    output.counts["samples"] += len(up.columns)
    alerts = context.patient_alerts(up.patient_id, message.received_ms)
    output.add_alert_events(up.patient_id, policy.observe(
        alerts, settings, result.findings, result.quality, now_ms=message.received_ms))
    if result.quality is not None:
        result.quality.status = policy.assessment(alerts, settings, message.received_ms,
                                                  observed=result.quality.status)
    output.anomalies.extend(anomaly_records(result))
    output.patients.add(up.patient_id)
    return True


def add_lines(checked: Checked, lines: list[str]) -> None:
    "\n".join(lines).encode()  # text that cannot be encoded fails here, for this upload only
    checked.part.lines.extend(lines)


def finish_message(context: BatchContext, checked: Checked, result: Result,
                   output: BatchOutput) -> None:
    """A processed upload on its own: ``settle_message``, then its points."""
    if settle_message(context, checked, result, output):
        add_lines(checked, result_lines(result))


def finish_batch(context: BatchContext, done: Sequence[tuple[Checked, BatchOutput, Result]],
                 output: BatchOutput) -> None:
    """The processed uploads of a batch: each settled on its own, the points of all of them
    formatted together (``batch_lines``), then each merged into ``output`` in message order;
    an error is contained to its message."""
    outcomes: list[bool | Exception] = []  # has points to write / the error that stopped it
    for checked, one, result in done:
        try:
            outcomes.append(settle_message(context, checked, result, one))
        except Exception as error:
            outcomes.append(error)
    with_points = [result for (_, _, result), o in zip(done, outcomes, strict=True) if o is True]
    formatted: list[list[str]] = []  # of each result with points, in order
    try:
        formatted = batch_lines(with_points)
    except Exception:
        log.warning("formatting a batch's points failed; formatting them one by one",
                    exc_info=True)
    next_formatted = iter(formatted)
    for (checked, one, result), outcome in zip(done, outcomes, strict=True):
        try:
            if isinstance(outcome, Exception):
                raise outcome
            if outcome:
                lines = next(next_formatted, None)
                add_lines(checked, result_lines(result) if lines is None else lines)
        except Exception as error:
            contain(context, checked.message, output, one, error)
        else:
            output.merge(one)


def process_message(context: BatchContext, message: Incoming, output: BatchOutput) -> None:
    """One message on its own: validate, run its patient's pipeline and alert policy."""
    checked = check_message(context, message, output)
    if checked is not None:
        finish_message(context, checked, process_many([job_of(context, checked)])[0], output)


def reject(output: BatchOutput, part: Part, rejection: Rejection, count: str = "rejected"
           ) -> None:
    output.rejections.append(rejection)
    output.counts[count] += 1
    part.lines.append(rejection_line(rejection))


def where(error: BaseException) -> str:
    """The code location an exception came from (file:line of its last frame), for logs that
    must not carry the exception's text (it can quote vitals).

    >>> try:
    ...     {}["x"]
    ... except KeyError as e:
    ...     where(e).startswith("<doctest")
    True
    """
    frames = traceback.extract_tb(error.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


def contain(context: BatchContext, message: Incoming, output: BatchOutput,
            partial: BatchOutput, error: Exception) -> None:
    """An unexpected error while processing one message: dead-letter it (the exception's type,
    never its text: it could quote vitals); nothing else of it is kept, and that patient's state
    restarts from the last saved one (whatever the message changed in memory is dropped)."""
    part = partial.parts[0] if partial.parts else None
    patient = part.patient_id if part is not None else None
    if patient is not None:
        context.forget_patient(patient)
        output.patients.discard(patient)
        output.alert_patients.discard(patient)
    log.error("internal error while processing an upload (dead-lettered; the batch goes on): "
              "%s at %s", type(error).__name__, where(error))
    issue = Issue("$", "internal_error",
                  f"{type(error).__name__} while processing this upload; the rest of the batch "
                  "went on")
    rejection = Rejection((issue,), message.value, message.received_ms, patient,
                          part.upload_id if part is not None else None)
    reject(output, output.part(message), rejection)


def validate_all(messages: Sequence[Incoming], limits: Limits
                 ) -> Sequence[Validated | Rejection | None]:
    """The messages validated together (``validate_many``); if that fails unexpectedly, None
    for each, so that each is validated on its own and the one that fails is contained."""
    try:
        return validate_many([m.value for m in messages], [m.received_ms for m in messages],
                             limits)
    except Exception:
        log.warning("validating a batch together failed; validating its messages one by one",
                    exc_info=True)
        return [None] * len(messages)


def process_batch(messages: Sequence[Incoming], context: BatchContext, now_ms: int
                  ) -> BatchOutput:
    """Process a batch of telemetry messages (in offset order) into a ``BatchOutput``.

    The valid uploads run through ``process_many`` together (the array work of all of them at
    once). Whatever depends on one message's content is contained: an unexpected error becomes
    that message's dead-letter record (``internal_error``) and the batch goes on; if the batch's
    shared work fails, every patient of the batch restarts from its last saved state and the
    messages are processed one at a time, so that the one that failed is found.
    """
    output = BatchOutput()
    tick_due(context, now_ms, output)
    validated = validate_all(messages, context.limits)
    checked: list[tuple[Checked, BatchOutput]] = []
    for message, outcome in zip(messages, validated, strict=True):
        output.e2e_latency_ms = max(output.e2e_latency_ms, now_ms - message.received_ms)
        one = BatchOutput()
        try:
            passed = check_message(context, message, one, outcome)
        except Exception as error:  # one message must not stop the stream
            contain(context, message, output, one, error)
            continue
        if passed is None:
            output.merge(one)
        else:
            checked.append((passed, one))
    try:
        results = process_many([job_of(context, c) for c, _ in checked])
    except Exception:
        for c, _ in checked:  # back to the last saved state, then one message at a time
            context.forget_patient(c.validated.upload.patient_id)
        log.warning("a batch's shared processing failed; processing its messages one by one",
                    exc_info=True)
        for c, _ in checked:
            one = BatchOutput()
            try:
                process_message(context, c.message, one)
            except Exception as error:
                contain(context, c.message, output, one, error)
            else:
                output.merge(one)
    else:
        finish_batch(context, [(c, one, result) for (c, one), result
                               in zip(checked, results, strict=True)], output)
    output.counts["anomalies"] = len(output.anomalies)
    output.counts["alert_events"] = len(output.alert_events)
    return output

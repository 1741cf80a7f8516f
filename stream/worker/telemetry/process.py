"""One batch of telemetry messages → a ``BatchOutput``. Pure: no I/O.

``process_batch(messages, store, rules, now_ms)`` validates the messages (together:
``validate_many``), runs the uploads through their patients' pipelines (together:
``core.pipeline.process_many``) and each through its alert policy (``alerts.policy.observe``),
and collects what the batch causes: points records by message (formatted for InfluxDB only where
they are written), dead-letter records, anomaly records and alert events, and whose state
changed. It mutates the patients' state objects handed out by the store (the worker's caches);
nothing becomes durable until the page and ``durable.make_durable`` have run.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from wearmon.stream.alerts import policy
from wearmon.stream.core.patients import PatientSettings
from wearmon.stream.core.pipeline import (
    DEFAULT_MAX_LATENESS_MS,
    Job,
    PatientState,
    Result,
    process_many,
)
from wearmon.stream.core.validation import (
    Issue,
    Limits,
    Rejection,
    Validated,
    validate,
    validate_many,
)
from wearmon.stream.sinks.records import UploadPoints
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.telemetry.batch import BatchOutput, Incoming

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BatchRules:
    """The bounds every upload is checked against."""

    limits: Limits = field(default_factory=Limits)
    max_lateness_ms: int = DEFAULT_MAX_LATENESS_MS


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
    validated: Validated
    settings: PatientSettings
    state: PatientState


def check_message(store: PatientStore, rules: BatchRules, message: Incoming,
                  output: BatchOutput, validated: Validated | Rejection | None = None
                  ) -> Checked | None:
    """Validate one message (unless ``validated`` already holds the outcome); a refused one
    goes to the output's dead letters."""
    checked = (validate(message.value, message.received_ms, rules.limits)
               if validated is None else validated)
    if isinstance(checked, Rejection):
        output.reject(checked)
        return None
    up = checked.upload
    output.about = (up.patient_id, up.upload_id)
    state = store.patient_state(up.patient_id)
    return Checked(message, checked, store.settings_for(up.patient_id), state)


def job_of(rules: BatchRules, checked: Checked) -> Job:
    return Job(checked.state, checked.validated.upload, rules.max_lateness_ms,
               checked.validated.issues, checked.settings.timezone)


def settle_message(store: PatientStore, checked: Checked, result: Result,
                   output: BatchOutput) -> None:
    """A processed upload's dead letters, alert policy, anomaly records and points."""
    message, up, settings = checked.message, checked.validated.upload, checked.settings
    if result.duplicate or result.conflict:
        output.reject(identity_rejection(message, result),
                      "duplicates" if result.duplicate else "rejected")
        return
    if result.issues:
        output.reject(Rejection(tuple(result.issues), message.value, message.received_ms,
                                up.patient_id, up.upload_id, partial=True))
    output.counts["uploads"] += 1
    output.counts["samples"] += len(up.columns)
    alerts = store.patient_alerts(up.patient_id, message.received_ms)
    output.page.add_alert_events(up.patient_id, policy.observe(
        alerts, settings, result.findings, result.quality, now_ms=message.received_ms),
        ward=settings.ward)
    status = None if result.quality is None else policy.assessment(
        alerts, settings, message.received_ms, observed=result.quality.status)
    output.uploads.append((message.partition, UploadPoints.of(result, status, settings.ward)))
    output.page.anomalies.extend(anomaly_records(result))
    output.patients.add(up.patient_id)


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


def contain(store: PatientStore, message: Incoming, output: BatchOutput,
            partial: BatchOutput, error: Exception) -> None:
    """An unexpected error while processing one message: dead-letter it (the exception's type,
    never its text: it could quote vitals); nothing else of it is kept, and that patient's state
    restarts from the last saved one (whatever the message changed in memory is dropped)."""
    patient, upload_id = partial.about or (None, None)
    if patient is not None:
        store.forget_patient(patient)
        output.patients.discard(patient)
        output.page.alert_patients.discard(patient)
    log.error("internal error while processing an upload (dead-lettered; the batch goes on): "
              "%s at %s", type(error).__name__, where(error))
    issue = Issue("$", "internal_error",
                  f"{type(error).__name__} while processing this upload; the rest of the batch "
                  "went on")
    output.reject(Rejection((issue,), message.value, message.received_ms, patient, upload_id))


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


def check_all(store: PatientStore, rules: BatchRules, messages: Sequence[Incoming],
              output: BatchOutput, now_ms: int) -> list[tuple[Checked, BatchOutput]]:
    """Every message validated; the refused ones are in ``output``, the rest returned with
    their own output (merged once processed)."""
    checked: list[tuple[Checked, BatchOutput]] = []
    for message, outcome in zip(messages, validate_all(messages, rules.limits), strict=True):
        output.e2e_latency_ms = max(output.e2e_latency_ms, now_ms - message.received_ms)
        one = BatchOutput()
        try:
            passed = check_message(store, rules, message, one, outcome)
        except Exception as error:  # one message must not stop the stream
            contain(store, message, output, one, error)
            continue
        if passed is None:
            output.merge(one)
        else:
            checked.append((passed, one))
    return checked


def settle_all(store: PatientStore, done: Sequence[tuple[Checked, BatchOutput, Result]],
               output: BatchOutput) -> None:
    """The processed uploads, each settled on its own and merged into ``output`` in message
    order; an error is contained to its message."""
    for checked, one, result in done:
        try:
            settle_message(store, checked, result, one)
        except Exception as error:
            contain(store, checked.message, output, one, error)
        else:
            output.merge(one)


def one_by_one(store: PatientStore, rules: BatchRules,
               checked: Sequence[tuple[Checked, BatchOutput]], output: BatchOutput) -> None:
    """After the batch's shared work failed: every patient of the batch back to its last saved
    state, then each message on its own, so that the one that fails is found and contained."""
    for c, _ in checked:
        store.forget_patient(c.validated.upload.patient_id)
    for c, _ in checked:
        one = BatchOutput()
        try:
            again = check_message(store, rules, c.message, one)
            if again is not None:
                settle_message(store, again, process_many([job_of(rules, again)])[0], one)
        except Exception as error:
            contain(store, c.message, output, one, error)
        else:
            output.merge(one)


def process_batch(messages: Sequence[Incoming], store: PatientStore, rules: BatchRules,
                  now_ms: int) -> BatchOutput:
    """Process a batch of telemetry messages (in offset order) into a ``BatchOutput``.

    The valid uploads run through ``process_many`` together (the array work of all of them at
    once). Whatever depends on one message's content is contained: an unexpected error becomes
    that message's dead-letter record (``internal_error``) and the batch goes on; if the batch's
    shared work fails, every patient of the batch restarts from its last saved state and the
    messages are processed one at a time, so that the one that failed is found.
    """
    output = BatchOutput()
    checked = check_all(store, rules, messages, output, now_ms)
    try:
        results = process_many([job_of(rules, c) for c, _ in checked])
    except Exception:
        log.warning("a batch's shared processing failed; processing its messages one by one",
                    exc_info=True)
        one_by_one(store, rules, checked, output)
    else:
        settle_all(store, [(c, one, result) for (c, one), result
                           in zip(checked, results, strict=True)], output)
    output.counts["anomalies"] = len(output.page.anomalies)
    output.counts["alert_events"] = len(output.page.alert_events)
    return output

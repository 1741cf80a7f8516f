"""The stream stage on one core, next to its baseline, on the same uploads in one process.

* baseline: ``orjson.loads`` of every upload (the least any consumer must do; it takes
  milliseconds, so the median of three runs);
* stage: validation, features and detectors, and the InfluxDB lines, batch by batch as the
  worker takes them (``validate_many``, ``process_many``, ``batch_lines``: the stage as #12
  defines it, comparable with the code before);
* worker batch: all the worker does to a batch between the consumer and the topics, by its own
  ``process_batch`` (the stage without the lines, plus the alert policy, anomaly records and
  containment per message), the points records encoded for their topic, and the patients' state
  saved after each batch (serialised into plain dicts, where the worker has its tables).

Each of the two is the median of three runs from fresh state (this machine's speed varies).
The lines are kept: they are the points of the raw InfluxDB write (the sink's baseline).

With a few patients, a batch holds several uploads of each, and a patient's state is saved
once per batch. A region's worker sees the opposite: every upload of a batch from another
patient, each state saved after each upload. ``run_region`` times the worker batch that way:
the last hour of many patients, after their first hours (untimed) have grown their state.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import orjson

from wearmon.stream.core.pipeline import DEFAULT_MAX_LATENESS_MS, Job, PatientState, process_many
from wearmon.stream.core.validation import Limits, Rejection, validate_many
from wearmon.stream.sinks.lines import batch_lines
from wearmon.stream.sinks.records import UploadPoints, encode_upload, points_records
from wearmon.stream.tools.bench.data import Uploads, sample_count
from wearmon.stream.worker.paging import due_transitions
from wearmon.stream.worker.patient_store import PatientStore
from wearmon.stream.worker.telemetry.batch import Incoming
from wearmon.stream.worker.telemetry.process import BatchRules, process_batch

REPEATS = 3  # each short or noisy timing of the bench is the median of this many runs
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StageRun:
    samples: int
    decode_s: float
    stage_s: float
    batch_s: float
    lines: list[str]
    state_bytes: list[int]  # serialised state of each patient after the run
    rejected: int

    @property
    def decode_samples_per_s(self) -> float:
        return self.samples / self.decode_s

    @property
    def stage_samples_per_s(self) -> float:
        return self.samples / self.stage_s

    @property
    def batch_samples_per_s(self) -> float:
        return self.samples / self.batch_s

    @property
    def state_bytes_per_patient(self) -> float:
        return sum(self.state_bytes) / len(self.state_bytes)


def decode(values: list[bytes]) -> None:
    for value in values:
        orjson.loads(value)


def batches(values: list[bytes], size: int) -> list[list[bytes]]:
    """
    >>> batches([b"a", b"b", b"c"], 2)
    [[b'a', b'b'], [b'c']]
    """
    return [values[i:i + size] for i in range(0, len(values), size)]


def stage_batches(values: list[bytes], batch_uploads: int, received_ms: int) -> None:
    """Validate, process and format the uploads batch by batch (one patient state each)."""
    limits = Limits()
    states: dict[str, PatientState] = {}
    for batch in batches(values, batch_uploads):
        jobs = []
        for checked in validate_many(batch, [received_ms] * len(batch), limits):
            if isinstance(checked, Rejection):
                continue
            up = checked.upload
            state = states.get(up.patient_id)
            if state is None:
                state = states[up.patient_id] = PatientState()
            jobs.append(Job(state, up, DEFAULT_MAX_LATENESS_MS, checked.issues))
        batch_lines([UploadPoints.observed(r) for r in process_many(jobs)
                     if not (r.duplicate or r.conflict)])


def process_batches(values: list[bytes], batch_uploads: int, received_ms: int,
                    store: PatientStore) -> tuple[list[UploadPoints], int]:
    """Run the worker's batch work over the uploads in batches (due alert transitions,
    ``process_batch``, the points records encoded for their topic) and save the patients' state
    after each, as the worker does; returns the points and how many uploads were rejected."""
    stored: list[UploadPoints] = []
    rejected = 0
    rules = BatchRules()
    for batch in batches(values, batch_uploads):
        found = due_transitions(store, received_ms)
        output = process_batch([Incoming(value, received_ms) for value in batch], store, rules,
                               received_ms)
        found.merge(output.page)
        store.patients.save(output.patients)
        store.alerts.save(found.alert_patients)
        points = [upload for _, upload in output.uploads]
        list(points_records([encode_upload(upload) for upload in points]))
        stored += points
        rejected += output.counts["rejected"]
    return stored, rejected


def timed(run: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``run`` took, and what it returned."""
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def median_s(runs: Sequence[tuple[float, object]]) -> float:
    return statistics.median(seconds for seconds, _ in runs)


def run_stage(uploads: Uploads, batch_uploads: int, received_ms: int) -> StageRun:
    """Time the decode baseline, the stage and the worker batch on the same uploads (one
    core)."""
    values = [value for _, value in uploads.messages]
    decode_s = median_s([timed(lambda: decode(values)) for _ in range(REPEATS)])
    stage_s = median_s([timed(lambda: stage_batches(values, batch_uploads, received_ms))
                        for _ in range(REPEATS)])
    contexts = [PatientStore.in_memory() for _ in range(REPEATS)]  # fresh state for each run
    batch_runs = [timed(partial(process_batches, values, batch_uploads, received_ms, c))
                  for c in contexts]
    stored, rejected = batch_runs[-1][1]
    lines = [line for group in batch_lines(stored) for line in group]  # what the sink writes
    sizes = [len(raw) for raw in contexts[-1].patients.table.values()]
    return StageRun(uploads.samples, decode_s, stage_s, median_s(batch_runs), lines, sizes,
                    rejected)


def run_region(uploads: Uploads, timed_from: int, batch_uploads: int, received_ms: int
               ) -> float:
    """Samples/s of the worker batch over ``uploads.messages[timed_from:]`` after the earlier
    ones warmed the patients' state (untimed); the median of ``REPEATS`` runs."""
    values = [value for _, value in uploads.messages]
    warm, timed_values = values[:timed_from], values[timed_from:]
    runs = []
    for _ in range(REPEATS):
        context = PatientStore.in_memory()
        process_batches(warm, batch_uploads, received_ms, context)
        runs.append(timed(partial(process_batches, timed_values, batch_uploads, received_ms,
                                  context)))
    return sum(sample_count(value) for value in timed_values) / median_s(runs)

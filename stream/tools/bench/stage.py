"""The stream stage on one core, next to its baseline, on the same uploads in one process.

* baseline: ``orjson.loads`` of every upload (the least any consumer must do; it takes
  milliseconds, so the median of three runs);
* stage: what the worker does to a batch between the consumer and the sinks: validation, the
  patients' pipelines together (``process_many``, in batches of ``batch_max_uploads`` uploads as
  the worker takes them), and the InfluxDB lines (``batch_lines``, a batch at once).

The lines are kept: they are the points of the raw InfluxDB write (the sink's baseline).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import orjson

from wearmon.stream.core.pipeline import Job, PatientState, process_many
from wearmon.stream.core.validation import Limits, Rejection, validate_many
from wearmon.stream.sinks.lines import batch_lines
from wearmon.stream.tools.bench.data import Uploads

MAX_LATENESS_MS = 172_800_000  # the worker's default (WEARMON_MAX_LATENESS_S)
DECODE_REPEATS = 3  # decoding takes milliseconds: the median of this many runs


@dataclass(frozen=True, slots=True)
class StageRun:
    samples: int
    decode_s: float
    stage_s: float
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
    def state_bytes_per_patient(self) -> float:
        return sum(self.state_bytes) / len(self.state_bytes)


def decode_seconds(values: list[bytes]) -> float:
    started = time.perf_counter()
    for value in values:
        orjson.loads(value)
    return time.perf_counter() - started


def batches(values: list[bytes], size: int) -> list[list[bytes]]:
    """
    >>> batches([b"a", b"b", b"c"], 2)
    [[b'a', b'b'], [b'c']]
    """
    return [values[i:i + size] for i in range(0, len(values), size)]


def process_batches(values: list[bytes], batch_uploads: int, received_ms: int,
                    states: dict[str, PatientState]) -> tuple[list[str], int]:
    """Validate, process and format the uploads batch by batch; returns the lines and how
    many uploads were rejected. ``states`` (patient → state) is updated."""
    limits = Limits()
    lines: list[str] = []
    rejected = 0
    for batch in batches(values, batch_uploads):
        jobs = []
        for checked in validate_many(batch, [received_ms] * len(batch), limits):
            if isinstance(checked, Rejection):
                rejected += 1
                continue
            up = checked.upload
            state = states.get(up.patient_id)
            if state is None:  # (not setdefault: a new state costs ~11 µs)
                state = states[up.patient_id] = PatientState()
            jobs.append(Job(state, up, MAX_LATENESS_MS, list(checked.issues)))
        results = [r for r in process_many(jobs) if not (r.duplicate or r.conflict)]
        for upload_lines in batch_lines(results):
            lines += upload_lines
    return lines, rejected


def run_stage(uploads: Uploads, batch_uploads: int, received_ms: int) -> StageRun:
    """Time the decode baseline and the stage on the same uploads (one core)."""
    values = [value for _, value in uploads.messages]
    decode_s = statistics.median(decode_seconds(values) for _ in range(DECODE_REPEATS))
    states: dict[str, PatientState] = {}
    started = time.perf_counter()
    lines, rejected = process_batches(values, batch_uploads, received_ms, states)
    stage_s = time.perf_counter() - started
    sizes = [len(orjson.dumps(state.to_json())) for state in states.values()]
    return StageRun(uploads.samples, decode_s, stage_s, lines, sizes, rejected)

"""The stream stage on one core, next to its baseline, on the same uploads in one process.

* baseline: ``orjson.loads`` of every upload (the least any consumer must do; it takes
  milliseconds, so the median of three runs);
* stage: what the worker does to a batch between the consumer and the sinks, by the worker's
  own ``process_batch`` (validation, the patients' pipelines together, the alert policy, the
  InfluxDB lines), in batches of ``batch_max_uploads`` uploads as the worker takes them, and
  the patients' state saved after each batch (serialised into plain dicts, where the worker
  has its tables); the median of three runs from fresh state (this machine's speed varies).

The lines are kept: they are the points of the raw InfluxDB write (the sink's baseline).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import orjson

from wearmon.stream.tools.bench.data import Uploads
from wearmon.stream.worker.batch import Incoming, process_batch
from wearmon.stream.worker.local_context import LocalContext

DECODE_REPEATS = 3  # decoding takes milliseconds: the median of this many runs
STAGE_REPEATS = 3  # this machine's speed varies from run to run: the median of this many


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
                    context: LocalContext) -> tuple[list[str], int]:
    """Run the worker's ``process_batch`` over the uploads in batches and save the patients'
    state after each, as the worker does; returns the lines and how many uploads were
    rejected."""
    lines: list[str] = []
    rejected = 0
    for batch in batches(values, batch_uploads):
        output = process_batch([Incoming(value, received_ms) for value in batch], context,
                               received_ms)
        context.patients.save(output.patients)
        context.alerts.save(output.alert_patients)
        lines += output.lines
        rejected += output.counts["rejected"]
    return lines, rejected


def run_stage(uploads: Uploads, batch_uploads: int, received_ms: int) -> StageRun:
    """Time the decode baseline and the stage on the same uploads (one core)."""
    values = [value for _, value in uploads.messages]
    decode_s = statistics.median(decode_seconds(values) for _ in range(DECODE_REPEATS))
    runs = []
    for _ in range(STAGE_REPEATS):  # each from fresh state, on the same uploads
        context = LocalContext()
        started = time.perf_counter()
        lines, rejected = process_batches(values, batch_uploads, received_ms, context)
        runs.append(time.perf_counter() - started)
    sizes = [len(raw) for raw in context.patients.table.values()]
    return StageRun(uploads.samples, decode_s, statistics.median(runs), lines, sizes, rejected)

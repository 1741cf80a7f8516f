"""``wearmon bench``: throughput and memory of the per-upload work, next to a baseline, in one run.

Baseline: decoding the same uploads with orjson (the least any consumer must do). Wearmon:
validation + per-patient pipeline (features, detectors) + InfluxDB line formatting. Both run on
the same simulated uploads in the same process; the ratio is what the stream stage costs.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass

import orjson

from stream.pipeline import PatientState, process
from stream.simulator import Simulator
from stream.sinks.influx import result_lines
from stream.validation import Limits, Rejection, validate


@dataclass(slots=True)
class BenchResult:
    uploads: int
    samples: int
    baseline_s: float
    wearmon_s: float
    state_bytes_per_patient: float
    memory_bytes_per_patient: float

    @property
    def ratio(self) -> float:
        return self.wearmon_s / self.baseline_s


def run_bench(patients: int = 50, hours: float = 6.0, seed: int = 1) -> BenchResult:
    end_ms = 1_800_000_000_000
    sim = Simulator(patients, end_ms - int(hours * 3_600_000), hours * 3600, seed=seed)
    uploads = [value for _, value, _ in sim.uploads_until(end_ms)]
    samples = sum(len(orjson.loads(u)["samples"]) for u in uploads)

    started = time.perf_counter()
    for raw in uploads:
        orjson.loads(raw)
    baseline_s = time.perf_counter() - started

    limits = Limits()
    states: dict[str, PatientState] = {}
    started = time.perf_counter()
    for raw in uploads:
        checked = validate(raw, end_ms, limits)
        if isinstance(checked, Rejection):
            continue
        state = states.setdefault(checked.upload.patient_id, PatientState())
        result_lines(process(state, checked.upload, 172_800_000, checked.issues))
    wearmon_s = time.perf_counter() - started
    tracemalloc.start()
    snapshot_before = tracemalloc.get_traced_memory()[0]
    copies = [PatientState.from_json(orjson.loads(orjson.dumps(s.to_json())))
              for s in states.values()]
    memory = tracemalloc.get_traced_memory()[0] - snapshot_before
    tracemalloc.stop()
    state_bytes = sum(len(orjson.dumps(s.to_json())) for s in copies) / len(copies)
    return BenchResult(len(uploads), samples, baseline_s, wearmon_s, state_bytes,
                       memory / len(copies))

"""``process_many`` (the batch's array work for many patients at once) gives exactly what
``process`` gives one upload after the other."""

from __future__ import annotations

import copy

import numpy as np
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from wearmon.stream.core.pipeline import Job, PatientState, Result, process, process_many
from wearmon.stream.core.schema import Columns, Sample, Upload
from wearmon.stream.sinks.lines import result_lines

T0_MS = 1_750_000_000_000


def uploads(seed: int, patients: int, count: int) -> list[Upload]:
    """Uploads of several patients interleaved, with abnormal stretches, gaps, beats, late
    samples and re-sends."""
    rng = np.random.default_rng(seed)
    clock = {p: T0_MS for p in range(patients)}
    out: list[Upload] = []
    for n in range(count):
        p = int(rng.integers(patients))
        size = int(rng.integers(1, 30))
        step_ms = int(rng.choice([1000, 5000, 60_000]))
        start = clock[p] + (int(rng.integers(0, 3)) * 900_000 if rng.random() < 0.1 else 0)
        if rng.random() < 0.1:
            start -= 300_000  # late: before the patient's newest sample
        samples = []
        episode = float(rng.choice([0.0, 150.0, 36.0], p=[0.8, 0.1, 0.1]))  # a whole upload
        for i in range(size):
            t = start + i * step_ms
            worn = rng.random() > 0.1
            hr = episode or float(rng.choice([38.0, 62.0, 75.0, 150.0], p=[0.05, 0.6, 0.3, 0.05]))
            samples.append(Sample(
                t_ms=t, hr_bpm=hr + float(rng.normal(0, 2)) if worn else None,
                steps=int(rng.choice([0, 0, 0, 12, 90])) if rng.random() > 0.2 else None,
                spo2_pct=float(rng.choice([97.0, 87.0])) if rng.random() < 0.2 else None,
                resp_rate_brpm=float(rng.choice([16.0, 27.0])) if rng.random() < 0.05 else None,
                rr_ms=[int(rng.integers(500, 1200)) for _ in range(3)] if p == 0 else []))
        clock[p] = max(clock[p], samples[-1].t_ms + step_ms)
        up = Upload(f"u{n}", f"d{p}", f"p-{p:04d}", clock[p], clock[p],
                    Columns.from_samples(samples))
        out.append(up)
        if rng.random() < 0.05:
            out.append(copy.deepcopy(up))  # re-sent
    return out


def summary(result: Result) -> list[object]:
    return [result.duplicate, result.conflict, [(i.field, i.reason) for i in result.issues],
            [(f.detector, f.kind, f.t_ms, f.severity, f.explanation) for f in result.findings],
            [m.start_ms for m in result.minutes], [d.day for d in result.days],
            result.quality, result.baseline, sorted(result_lines(result))]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_together_equals_one_after_the_other(seed: int, patients: int) -> None:
    ups = uploads(seed, patients, 60)
    alone = {f"p-{p:04d}": PatientState() for p in range(patients)}
    together = {f"p-{p:04d}": PatientState() for p in range(patients)}
    expected = [summary(process(alone[u.patient_id], copy.deepcopy(u), 86_400_000))
                for u in ups]
    got = []
    for lo in range(0, len(ups), 16):  # batches of 16 uploads
        batch = [Job(together[u.patient_id], copy.deepcopy(u), 86_400_000)
                 for u in ups[lo:lo + 16]]
        got += [summary(r) for r in process_many(batch)]
    assert got == expected
    for patient, state in alone.items():
        assert orjson.dumps(together[patient].to_json()) == orjson.dumps(state.to_json())


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 6))
def test_features_together_equal_features_one_after_the_other(seed: int, patients: int) -> None:
    from wearmon.stream.core.features import PatientFeatures, update_many

    ups = [u for u in uploads(seed, patients, 60) if u.upload_id]
    alone = {f"p-{p:04d}": PatientFeatures() for p in range(patients)}
    together = {f"p-{p:04d}": PatientFeatures() for p in range(patients)}
    offsets = {f"p-{p:04d}": 3_600_000 * (p - 2) for p in range(patients)}

    def arrays(block: object) -> list[list[object]]:
        return [[None if v != v else v for v in getattr(block, name).tolist()] for name in (
            "t_ms", "hr_bpm", "steps_recent", "at_rest", "hour_of_day", "worn", "has_steps")]

    expected = []
    for u in ups:
        one = alone[u.patient_id].update(u.columns, offsets[u.patient_id])
        expected.append((arrays(one.block), [m.start_ms for m in one.uploads[0].minutes]))
    got: list[object] = []
    i = 0
    while i < len(ups):  # rounds of distinct patients, as process_many takes them
        batch, seen = [], set()
        while i < len(ups) and ups[i].patient_id not in seen:
            seen.add(ups[i].patient_id)
            batch.append(ups[i])
            i += 1
        result = update_many([together[u.patient_id] for u in batch], [u.columns for u in batch],
                             [offsets[u.patient_id] for u in batch])
        got += [(arrays(result.block_of(k)), [m.start_ms for m in result.uploads[k].minutes])
                for k in range(len(batch))]
    assert got == expected

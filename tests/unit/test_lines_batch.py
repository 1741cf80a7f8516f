"""``batch_lines`` (a batch's vitals formatted over concatenated arrays) gives, for each
result, exactly the lines of a plain per-sample formatter (``reference_vitals``, below) followed
by the result's other lines, on real processed results."""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np
import orjson

from wearmon.stream.core.pipeline import Job, PatientState, Result, process_many
from wearmon.stream.core.schema import FLOAT_FIELDS, Columns, Upload
from wearmon.stream.core.validation import Limits, Rejection, validate
from wearmon.stream.sinks.lines import batch_lines, result_lines
from wearmon.stream.sinks.records import UploadPoints
from wearmon.stream.tools.bench.data import simulated

END_MS = 1_750_000_000_000
BATCH = 50  # uploads per process_many call and per batch_lines call


def reference_vitals(result: Result) -> list[str]:
    """One sample at a time: its vitals as one line (groups of the same vitals together, in
    ascending order of which vitals they carry), then the beats."""
    up, c = result.upload, result.upload.columns
    tags = f"patient={up.patient_id},device={up.device_id}"
    by_group: dict[int, list[str]] = {}
    for i in range(len(c)):
        present = [(k, name) for k, name in enumerate(FLOAT_FIELDS)
                   if not np.isnan(c.values[k, i])]
        if not present:
            continue
        fields = ",".join(f"steps={c.values[k, i]:.0f}i" if name == "steps"
                          else f"{name}={float(c.values[k, i])!r}" for k, name in present)
        code = sum(1 << k for k, _ in present)
        by_group.setdefault(code, []).append(f"vitals,{tags} {fields} {int(c.t_ms[i])}000000")
    lines = [x for code in sorted(by_group) for x in by_group[code]]
    beats = c.beats() if len(c.rr_ms) else None
    if beats is not None:
        lines += [f"beats,{tags} rr_ms={int(rr)}i {int(t)}000000"
                  for rr, t in zip(c.rr_ms, beats.t_ms, strict=True)]
    return lines


def varied(value: bytes, rng: random.Random) -> bytes:
    """A simulated upload with beats, extra vitals, gaps and sometimes no battery, so that
    several groups of vitals occur within one upload."""
    doc = orjson.loads(value)
    for sample in doc["samples"]:
        if rng.random() < 0.3:
            sample["rr_ms"] = [rng.randint(600, 1100) for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.1:
            sample["resp_rate_brpm"] = round(rng.uniform(10, 25), 1)
        if rng.random() < 0.1:
            sample["skin_temp_c"] = round(rng.uniform(31, 36), 2)
        if rng.random() < 0.1:
            sample.pop("hr_bpm", None)
        if rng.random() < 0.1:
            sample.pop("steps", None)
    if rng.random() < 0.2:
        del doc["battery_pct"]
    return orjson.dumps(doc)


@lru_cache(maxsize=4)
def processed(samples_per_upload: int, seed: int) -> tuple[list[Result], ...]:
    """Simulated uploads (half of them varied), validated and processed batch by batch."""
    rng = random.Random(seed)
    data = simulated(8, 3, samples_per_upload, END_MS, seed)
    values = [varied(v, rng) if rng.random() < 0.5 else v for _, v in data.messages]
    states: dict[str, PatientState] = {}
    batches = []
    for start in range(0, len(values), BATCH):
        jobs = []
        for value in values[start:start + BATCH]:
            checked = validate(value, END_MS, Limits())
            assert not isinstance(checked, Rejection)
            state = states.setdefault(checked.upload.patient_id, PatientState())
            jobs.append(Job(state, checked.upload, 172_800_000, list(checked.issues)))
        batches.append([r for r in process_many(jobs) if not (r.duplicate or r.conflict)])
    return tuple(batches)


def points(results: list[Result]) -> list[UploadPoints]:
    return [UploadPoints.observed(r) for r in results]


def test_batch_lines_equals_the_reference_and_result_lines() -> None:
    results = 0
    for size, seed in ((10, 1), (60, 2), (3, 3)):
        for batch in processed(size, seed):
            formatted = batch_lines(points(batch))
            assert formatted == [result_lines(r) for r in batch]
            for lines, result in zip(formatted, batch, strict=True):
                vitals = reference_vitals(result)
                assert lines[:len(vitals)] == vitals
                assert not any(x.startswith(("vitals,", "beats,")) for x in lines[len(vitals):])
            results += len(batch)
    assert results > 1000


def test_the_results_cover_every_kind_of_line() -> None:
    batch = [r for b in processed(10, 1) for r in b]
    lines = [x for r in batch_lines(points(batch)) for x in r]
    for measurement in ("vitals", "beats", "rollup_1m", "anomaly", "baseline", "quality"):
        assert any(x.startswith(f"{measurement},") for x in lines), measurement
    quality = [x for x in lines if x.startswith("quality,")]
    assert any("battery_pct=" in x for x in quality)
    assert any("battery_pct=" not in x for x in quality)
    fields = {x.split(" ")[1].count(",") for x in lines if x.startswith("vitals,")}
    assert len(fields) >= 3  # several groups of vitals


def test_empty_batch_and_an_upload_without_samples() -> None:
    assert batch_lines([]) == []
    empty = Result(Upload("u1", "d1", "p-0001", END_MS, END_MS, Columns.empty()))
    batch = [r for b in processed(3, 4)[:1] for r in b]
    mixed = [empty, *batch[:5], empty, *batch[5:]]
    assert batch_lines(points(mixed)) == [result_lines(r) for r in mixed]
    assert batch_lines(points([empty])) == [[]]


def test_an_enrolled_patients_points_carry_the_ward_tag() -> None:
    """The Ward overview filters vitals, beats, quality and anomalies by the ``ward`` tag."""
    batch = [r for b in processed(10, 1) for r in b]
    lines = [x for r in batch_lines([UploadPoints.of(r, None, "Ward 3") for r in batch])
             for x in r]
    for measurement in ("vitals", "beats", "quality", "anomaly"):
        found = [x for x in lines if x.startswith(f"{measurement},")]
        assert found and all(",ward=Ward\\ 3" in x for x in found), measurement
    assert not any("ward=" in x for x in lines if x.startswith(("rollup_1m,", "baseline,")))
    assert not any("ward=" in x for r in batch_lines(points(batch)) for x in r)  # no ward

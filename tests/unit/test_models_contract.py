"""Contract checks run over every detector of the suite, and bounded state after a long run.

The long runs go through the stream's own ``process()`` (features, minutes, days, detectors).
"""

from __future__ import annotations

import json
import random

import pytest

from wearmon.models.base import Minute, SampleBlock, Status
from wearmon.models.suite import MAX_STATE_BYTES, PatientModels
from wearmon.stream.core.pipeline import PatientState, process
from wearmon.stream.core.schema import Columns, Sample, Upload

DAY_MS = 86_400_000


def _detectors(m: PatientModels) -> list[object]:
    return [m.quality, m.bands, m.contextual_hr, m.slow, m.activity, m.rhythm]


def _long_run(days: int, seed: int = 3) -> tuple[PatientState, int]:
    """Simulated wearer: 1-minute HR and steps with daily rhythm, plus beats every minute,
    uploaded an hour at a time."""
    rng = random.Random(seed)
    state = PatientState()
    findings = 0
    for hour_index in range(days * 24):
        samples = []
        for minute in range(hour_index * 60, hour_index * 60 + 60):
            t = minute * 60_000
            hour = (minute // 60) % 24
            active = 8 <= hour < 21 and rng.random() < 0.3
            steps = rng.randint(20, 110) if active else 0
            hr = 58 + (25 if active else 0) + (5 if 8 <= hour < 22 else 0) + rng.gauss(0, 3)
            rr = [int(60_000 / hr + rng.gauss(0, 15)) for _ in range(4)]
            samples.append(Sample(t_ms=t, hr_bpm=hr, steps=steps, rr_ms=rr))
        last = samples[-1].t_ms
        up = Upload(f"u{hour_index}", "d1", "p-0001", last, last, Columns.from_samples(samples))
        findings += len(process(state, up, 2 * DAY_MS).findings)
    return state, findings


def test_every_detector_warms_up_as_cant_assess() -> None:
    m = PatientModels()
    assert m.status() is Status.CANT_ASSESS
    for det in _detectors(m):
        if det is m.bands:
            continue  # fixed limits: nothing to learn
        assert det.status() is Status.CANT_ASSESS, det  # type: ignore[attr-defined]


def test_state_is_bounded_after_sixty_days_and_round_trips() -> None:
    state, findings = _long_run(60)
    models = state.models
    doc = json.dumps(models.to_state(), separators=(",", ":"))
    assert len(doc) <= MAX_STATE_BYTES, len(doc)
    restored = PatientModels.from_state(json.loads(doc))
    assert json.dumps(restored.to_state(), separators=(",", ":")) == doc
    for det in _detectors(models):
        if det is not models.bands:
            assert det.status() is Status.OK, det  # type: ignore[attr-defined]
    whole = json.dumps(state.to_json(), separators=(",", ":"))
    assert len(whole) <= MAX_STATE_BYTES, len(whole)  # features and dedup window included
    # a healthy, steady wearer: few findings over two months
    assert findings < 60


def test_restored_models_score_like_the_originals() -> None:
    state, _ = _long_run(10, seed=5)
    models = state.models
    twin = PatientModels.from_state(json.loads(json.dumps(models.to_state())))
    t = 10 * DAY_MS + 10 * 3_600_000
    times = [t + i * 30_000 for i in range(30)]
    block = SampleBlock.build(times, hr_bpm=[130] * 30, at_rest=True, has_steps=True,
                              hour_of_day=10)
    assert [(f.kind, f.t_ms) for f in models.score_samples(block)] == \
        [(f.kind, f.t_ms) for f in twin.score_samples(block)]
    minutes = [Minute(t + i * 60_000, 10, hr_samples=6, hr_mean_bpm=130, has_steps=True,
                      context=1, at_rest=True, worn=True) for i in range(15)]
    assert [f.kind for m in minutes for f in models.observe_minute(m)] == \
        [f.kind for m in minutes for f in twin.observe_minute(m)]


def test_flagged_minutes_are_not_learned() -> None:
    state, _ = _long_run(3, seed=9)
    det = state.models.contextual_hr
    t = 3 * DAY_MS + 12 * 3_600_000
    counts = list(det.counts)
    base = det.baseline()
    kinds = set()
    for i in range(40):
        minute = Minute(t + i * 60_000, 12, hr_samples=12, hr_mean_bpm=140, has_steps=True,
                        context=1, at_rest=True, worn=True)
        kinds |= {f.kind for f in state.models.observe_minute(minute)}
    assert "high_hr_for_patient" in kinds
    assert det.counts[5] == counts[5]  # no resting-day minute learned while high
    assert det.baseline() == base


@pytest.mark.parametrize("bad", [{"v": 1}, {"v": 99}])
def test_unknown_state_version_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PatientModels.from_state(bad)


def test_every_finding_explains_itself() -> None:
    m = PatientModels()
    half_minute = list(range(0, 35_000, 5_000))  # critical heart rate: held 30 s
    out = m.score_samples(SampleBlock.build(half_minute, hr_bpm=[30] * 7, spo2_pct=[80] * 7,
                                            at_rest=True, has_steps=True))
    assert {f.kind for f in out} >= {"bradycardia", "desaturation"}
    for f in out:
        assert f.explanation and f.detector and f.kind
        assert "%" in f.explanation or "bpm" in f.explanation


def test_saved_contextual_state_follows_every_learned_minute() -> None:
    state, _ = _long_run(3, seed=11)
    det = state.models.contextual_hr
    first = json.loads(json.dumps(det.to_state()))
    assert json.loads(json.dumps(det.to_state())) == first  # nothing learned: the same state
    t = 3 * DAY_MS + 12 * 3_600_000
    det.observe_minute(Minute(t, 12, hr_samples=12, hr_mean_bpm=75, has_steps=True, context=1,
                              at_rest=True, worn=True))
    saved = det.to_state()
    assert saved != first
    twin = type(det).from_state(json.loads(json.dumps(saved)))
    assert twin.baseline() == det.baseline() != type(det).from_state(first).baseline()
    assert twin.to_state() == saved

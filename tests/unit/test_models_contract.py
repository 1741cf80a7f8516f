"""Contract checks run over every detector of the suite, and bounded state after a long run."""

from __future__ import annotations

import json
import random

import pytest

from wearmon.models.base import Context, Status
from wearmon.models.suite import MAX_STATE_BYTES, PatientModels
from wearmon.stream.core.features import PatientFeatures
from wearmon.stream.core.schema import Sample

DAY_MS = 86_400_000


def _detectors(m: PatientModels) -> list[object]:
    return [m.quality, m.bands, m.contextual_hr, m.slow, m.activity, m.rhythm]


def _long_run(days: int, seed: int = 3) -> tuple[PatientModels, PatientFeatures, int]:
    """Simulated wearer: 1-minute HR and steps with daily rhythm, plus beats every minute."""
    rng = random.Random(seed)
    feats, models = PatientFeatures(), PatientModels()
    findings = 0
    for minute in range(days * 1440):
        t = minute * 60_000
        hour = (minute // 60) % 24
        active = 8 <= hour < 21 and rng.random() < 0.3
        steps = rng.randint(20, 110) if active else 0
        hr = 58 + (25 if active else 0) + (5 if 8 <= hour < 22 else 0) + rng.gauss(0, 3)
        rr = [int(60_000 / hr + rng.gauss(0, 15)) for _ in range(4)]
        ctx = feats.update(Sample(t_ms=t, hr_bpm=hr, steps=steps, rr_ms=rr))
        findings += len(models.observe(ctx))
        feats.close_minutes()
    return models, feats, findings


def test_every_detector_warms_up_as_cant_assess() -> None:
    m = PatientModels()
    assert m.status() is Status.CANT_ASSESS
    for det in _detectors(m):
        if det is m.bands:
            continue  # fixed limits: nothing to learn
        assert det.status() is Status.CANT_ASSESS, det  # type: ignore[attr-defined]


def test_state_is_bounded_after_sixty_days_and_round_trips() -> None:
    models, _, findings = _long_run(60)
    doc = json.dumps(models.to_state(), separators=(",", ":"))
    assert len(doc) <= MAX_STATE_BYTES, len(doc)
    restored = PatientModels.from_state(json.loads(doc))
    assert json.dumps(restored.to_state(), separators=(",", ":")) == doc
    for det in _detectors(models):
        if det is not models.bands:
            assert det.status() is Status.OK, det  # type: ignore[attr-defined]
    # a healthy, steady wearer: few findings over two months
    assert findings < 60


def test_restored_models_score_like_the_originals() -> None:
    models, _, _ = _long_run(10, seed=5)
    twin = PatientModels.from_state(json.loads(json.dumps(models.to_state())))
    t = 10 * DAY_MS + 10 * 3_600_000
    for i in range(30):
        ctx = Context(
            t_ms=t + i * 30_000, hr_bpm=130, at_rest=True, has_steps=True, steps=0, hour_of_day=10
        )
        assert [f.kind for f in models.observe(ctx)] == [f.kind for f in twin.observe(ctx)]


def test_flagged_minutes_are_not_learned() -> None:
    models, _, _ = _long_run(3, seed=9)
    det = models.contextual_hr
    t = 3 * DAY_MS + 12 * 3_600_000
    models.observe(
        Context(t_ms=t, hr_bpm=140, at_rest=True, has_steps=True, steps=0, hour_of_day=12)
    )  # closes (and learns) the last normal minute
    counts = list(det.counts)
    base = det.baseline()
    kinds = set()
    for i in range(5, 40 * 60, 5):
        ctx = Context(
            t_ms=t + i * 1000, hr_bpm=140, at_rest=True, has_steps=True, steps=0, hour_of_day=12
        )
        kinds |= {f.kind for f in models.observe(ctx)}
    assert "high_hr_for_patient" in kinds
    assert det.counts[5] == counts[5]  # no resting-day minute learned while high
    assert det.baseline() == base


@pytest.mark.parametrize("bad", [{"v": 1}, {"v": 99}])
def test_unknown_state_version_is_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PatientModels.from_state(bad)


def test_every_finding_explains_itself() -> None:
    m = PatientModels()
    out = m.observe(Context(t_ms=0, hr_bpm=30, spo2_pct=80, at_rest=True, has_steps=True))
    assert out
    for f in out:
        assert f.explanation and f.detector and f.kind
        assert "%" in f.explanation or "bpm" in f.explanation


def test_per_sample_cost_is_small() -> None:
    import time

    models, _, _ = _long_run(2)
    ctx = Context(t_ms=3 * DAY_MS, hr_bpm=70, at_rest=True, has_steps=True, steps=0, hour_of_day=3)
    n = 20_000
    start = time.perf_counter()
    for i in range(n):
        models.observe(
            Context(
                t_ms=ctx.t_ms + i * 1000,
                hr_bpm=70,
                at_rest=True,
                has_steps=True,
                steps=0,
                hour_of_day=3,
            )
        )
    per_sample_us = (time.perf_counter() - start) / n * 1e6
    assert per_sample_us < 60, per_sample_us

"""Behaviour of the individual detectors on small constructed scenarios."""

from __future__ import annotations

import random

from wearmon.models.activity import ActivityPattern
from wearmon.models.bands import BandSettings, ClinicalBands, partial_news2
from wearmon.models.base import Context, Severity, Status
from wearmon.models.quality import DataQuality
from wearmon.models.rhythm import IrregularRhythm
from wearmon.models.slow import SlowDeviation

DAY_MS = 86_400_000


def test_spo2_scale_2_lowers_the_desaturation_limit() -> None:
    scale1 = ClinicalBands()
    scale2 = ClinicalBands(settings=BandSettings(spo2_scale=2))
    for t in range(0, 181_000, 60_000):
        low = Context(t_ms=t, spo2_pct=88)
        a, b = scale1.score_then_learn(low), scale2.score_then_learn(low)
        no_reading = Context(t_ms=t + 30_000, hr_bpm=70)  # SpO2 missing: the timer keeps going
        scale1.score_then_learn(no_reading)
    assert a is not None and a.kind == "desaturation"
    assert b is None


def test_partial_news2_lists_missing_parameters() -> None:
    news = partial_news2(Context(t_ms=0, hr_bpm=80, at_rest=True, has_steps=True), BandSettings())
    assert news.total == 0
    assert "SpO2" in news.missing and "respiration rate" in news.missing
    assert "partial NEWS2" in news.describe()


def test_news2_red_parameter_alerts_after_persistence() -> None:
    bands = ClinicalBands()
    first = bands.score_then_learn(Context(t_ms=0, resp_rate_brpm=27))
    assert first is None
    bands.score_then_learn(Context(t_ms=60_000, resp_rate_brpm=27))
    later = bands.score_then_learn(Context(t_ms=2 * 60_000, resp_rate_brpm=27))
    assert later is not None and later.kind == "news2_partial"


def test_skin_temperature_scored_only_with_an_offset() -> None:
    ctx = Context(t_ms=0, skin_temp_c=36.0)
    assert "temperature" in partial_news2(ctx, BandSettings()).missing
    scored = partial_news2(ctx, BandSettings(skin_temp_offset_c=3.5))
    assert scored.subscores["temperature"] == 2


def test_warning_tachycardia_needs_ten_minutes() -> None:
    bands = ClinicalBands()
    ctxs = [
        Context(t_ms=s * 1000, hr_bpm=130, at_rest=True, has_steps=True) for s in range(0, 660, 30)
    ]
    out = [bands.score_then_learn(c) for c in ctxs]
    assert out[0] is None and out[-1] is not None
    assert out[-1].severity is Severity.WARNING


def test_slow_deviation_cusum_catches_a_gradual_rise() -> None:
    det = SlowDeviation(min_days=7)
    found = []
    for day in range(30):
        hr = 60 if day < 20 else 60 + 1.5 * (day - 19)
        for minute in range(0, 300, 5):
            t = day * DAY_MS + minute * 60_000
            f = det.score_then_learn(
                Context(
                    t_ms=t,
                    hr_bpm=hr,
                    at_rest=True,
                    has_steps=True,
                    steps=0,
                    hour_of_day=minute // 60,
                )
            )
            if f:
                found.append(day)
    assert found and min(found) >= 20
    assert det.status() is Status.OK


def test_activity_steps_decline() -> None:
    det = ActivityPattern(min_days=5)
    kinds = []
    for day in range(12):
        per_minute = 10 if day < 9 else 2
        for minute in range(0, 1440, 1):
            t = day * DAY_MS + minute * 60_000
            hour = minute // 60
            steps = per_minute if 8 <= hour < 20 else 0
            f = det.score_then_learn(
                Context(
                    t_ms=t,
                    hr_bpm=70,
                    steps=steps,
                    has_steps=True,
                    at_rest=steps == 0,
                    hour_of_day=hour,
                )
            )
            if f:
                kinds.append((day, f.kind))
    assert (12 - 1, "steps_decline") in kinds or any(k == "steps_decline" for _, k in kinds)


def test_data_quality_off_wrist_is_cant_assess() -> None:
    dq = DataQuality()
    dq.score_then_learn(Context(t_ms=0, hr_bpm=60))
    for s in range(0, 20 * 60, 30):
        dq.score_then_learn(Context(t_ms=s * 1000, worn=False))
    assert dq.status() is Status.CANT_ASSESS


def test_rhythm_ignores_artefacts_and_ectopic_beats() -> None:
    rng = random.Random(2)
    det = IrregularRhythm()
    t = 0
    for i in range(400):
        rr = 850 + rng.randint(-20, 20)
        if i % 37 == 0:
            rr = 5000  # missed detections: filtered out
        if i % 23 == 0:
            rr = 520  # a premature beat
        t += rr
        det.score_then_learn(Context(t_ms=t, rr_ms=(rr,)))
        assert not det.irregular


def test_slow_deviation_short_night_is_not_evidence() -> None:
    det = SlowDeviation(min_days=5)

    def night(day: int, hr: float, minutes: int) -> object:
        out = None
        for minute in range(minutes):
            t = day * DAY_MS + minute * 60_000
            ctx = Context(t_ms=t, hr_bpm=hr, at_rest=True, has_steps=True, steps=0,
                          hour_of_day=minute // 60)
            out = det.score_then_learn(ctx) or out
        ctx = Context(t_ms=day * DAY_MS + 7 * 3_600_000, hr_bpm=hr, has_steps=True, steps=0,
                      hour_of_day=7)
        return det.score_then_learn(ctx) or out

    for day in range(6):
        assert night(day, 60, 300) is None
    # two short nights (20 minutes each, e.g. awake and restless) are "can't assess", not a rise
    assert night(6, 75, 20) is None and night(7, 75, 20) is None
    assert len(det.history) == 5  # the first night opens the record; short nights not learned
    assert night(8, 66, 300) is None  # one full high night: not yet
    assert night(9, 66, 300) is not None

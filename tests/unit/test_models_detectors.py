"""Behaviour of the individual detectors on small constructed scenarios."""

from __future__ import annotations

import numpy as np

from wearmon.models.activity import ActivityPattern
from wearmon.models.bands import BandSettings, ClinicalBands, partial_news2
from wearmon.models.base import BeatBlock, Day, SampleBlock, Severity, Status
from wearmon.models.quality import DataQuality
from wearmon.models.rhythm import IrregularRhythm
from wearmon.models.slow import SlowDeviation
from wearmon.models.suite import PatientModels

DAY_MS = 86_400_000


def test_spo2_scale_2_lowers_the_desaturation_limit() -> None:
    # one SpO2 reading a minute at 88 %, heart rate in between (SpO2 missing: the timer goes on)
    times = [t for m in range(0, 181_000, 60_000) for t in (m, m + 30_000)]
    spo2 = [v for _ in range(0, 181_000, 60_000) for v in (88, None)]
    hr = [v for _ in range(0, 181_000, 60_000) for v in (None, 70)]
    block = SampleBlock.build(times, spo2_pct=spo2, hr_bpm=hr)
    scale1 = ClinicalBands().score_samples(block)
    scale2 = ClinicalBands(settings=BandSettings(spo2_scale=2)).score_samples(block)
    assert {f.kind for f in scale1} == {"desaturation"}
    assert scale1[0].t_ms == 120_000  # after two minutes below the limit
    assert scale2 == []


def test_partial_news2_lists_missing_parameters() -> None:
    news = partial_news2(BandSettings(), hr_bpm=80)
    assert news.total == 0
    assert "SpO2" in news.missing and "respiration rate" in news.missing
    assert "partial NEWS2" in news.describe()


def test_news2_red_parameter_alerts_after_persistence() -> None:
    bands = ClinicalBands()
    assert bands.score_samples(SampleBlock.build([0], resp_rate_brpm=[27])) == []
    assert bands.score_samples(SampleBlock.build([60_000], resp_rate_brpm=[27])) == []
    later = bands.score_samples(SampleBlock.build([120_000], resp_rate_brpm=[27]))
    assert [f.kind for f in later] == ["news2_partial"]


def test_skin_temperature_scored_only_with_an_offset() -> None:
    assert "temperature" in partial_news2(BandSettings(), skin_temp_c=36.0).missing
    scored = partial_news2(BandSettings(skin_temp_offset_c=3.5), skin_temp_c=36.0)
    assert scored.subscores["temperature"] == 2


def test_bands_arrays_agree_with_the_scalar_news2() -> None:
    rng = np.random.default_rng(4)
    n = 200
    block = SampleBlock.build(
        list(range(n)), hr_bpm=rng.uniform(30, 160, n).tolist(),
        spo2_pct=rng.uniform(80, 100, n).tolist(), resp_rate_brpm=rng.uniform(5, 30, n).tolist(),
        skin_temp_c=rng.uniform(30, 37, n).tolist(), at_rest=True, has_steps=True)
    settings = BandSettings(skin_temp_offset_c=1.5)
    from wearmon.models.bands import news2_arrays

    total, red = news2_arrays(block, settings)
    for i in range(n):
        scalar = partial_news2(settings, hr_bpm=float(block.hr_bpm[i]),
                               spo2_pct=float(block.spo2_pct[i]),
                               resp_rate_brpm=float(block.resp_rate_brpm[i]),
                               skin_temp_c=float(block.skin_temp_c[i]))
        assert total[i] == scalar.total
        assert red[i] == any(v == 3 for v in scalar.subscores.values())


def test_warning_tachycardia_needs_persistence() -> None:
    bands = ClinicalBands()
    times = list(range(0, 660_000, 30_000))
    out = bands.score_samples(SampleBlock.build(times, hr_bpm=[130] * len(times), at_rest=True,
                                                has_steps=True))
    assert out and out[0].t_ms == 120_000  # no jump seen: 2 minutes, the fifth reading
    assert all(f.severity is Severity.WARNING for f in out)
    assert [f.t_ms for f in out] == list(range(120_000, 660_000, 60_000))  # once a minute


def test_a_sudden_jump_past_the_limit_needs_less_persistence() -> None:
    """Heart rate drifting past 120 (exertion without steps) waits 2 minutes; jumping past it
    from a resting level (as an arrhythmia starts) 45 s."""
    times = list(range(0, 600_000, 15_000))
    drift = [100 + 2 * i for i in range(len(times))]  # 100 → 178, 2 bpm per reading
    jump = [65] * 10 + [135] * (len(times) - 10)
    found = {}
    for name, hr in (("drift", drift), ("jump", jump)):
        bands = ClinicalBands()
        out = bands.score_samples(SampleBlock.build(times, hr_bpm=hr, at_rest=True,
                                                    has_steps=True))
        first_high = times[next(i for i, v in enumerate(hr) if v > 120)]
        found[name] = out[0].t_ms - first_high
    assert found == {"drift": 120_000, "jump": 45_000}


def test_a_sudden_jump_is_remembered_across_uploads() -> None:
    bands = ClinicalBands()
    rest = SampleBlock.build(list(range(0, 60_000, 5_000)), hr_bpm=[62] * 12, at_rest=True,
                             has_steps=True)
    assert PatientModels.score_many([PatientModels(bands=bands)], rest,
                                    np.array([0, len(rest)]))[0] == []  # the quick path
    high = SampleBlock.build(list(range(60_000, 120_000, 5_000)), hr_bpm=[140] * 12,
                             at_rest=True, has_steps=True)
    out = bands.score_samples(high)
    assert out and out[0].t_ms == 60_000 + 45_000


def test_a_critical_burst_shorter_than_the_median_window_is_an_artefact() -> None:
    burst = SampleBlock.build(list(range(0, 7_000, 1_000)), hr_bpm=[207] * 7, at_rest=True,
                              has_steps=True)
    assert ClinicalBands().score_samples(burst) == []
    held = SampleBlock.build(list(range(0, 31_000, 1_000)), hr_bpm=[207] * 31, at_rest=True,
                             has_steps=True)
    out = ClinicalBands().score_samples(held)
    assert [(f.kind, f.severity, f.t_ms) for f in out] == [
        ("tachycardia_at_rest", Severity.CRITICAL, 30_000)]


def test_samples_without_heart_rate_neither_hold_nor_break_a_heart_rate_condition() -> None:
    """A steps-only sample at each minute start (Fitbit exports) must not restart the timer."""
    times = list(range(0, 300_000, 5_000))
    hr = [None if t % 60_000 == 0 else 130.0 for t in times]
    out = ClinicalBands().score_samples(SampleBlock.build(
        times, hr_bpm=hr, steps_recent=[0] * len(times), at_rest=True, has_steps=True))
    assert out and out[0].t_ms == 125_000  # 2 minutes after the first reading (5 s)


def test_a_reading_across_uploads_keeps_the_timer() -> None:
    one_by_one, whole = ClinicalBands(), ClinicalBands()
    times = list(range(0, 300_000, 5_000))
    hr = [130.0] * len(times)
    found = []
    for t, v in zip(times, hr, strict=True):
        found += one_by_one.score_samples(SampleBlock.build([t], hr_bpm=[v], at_rest=True,
                                                            has_steps=True))
    block = SampleBlock.build(times, hr_bpm=hr, at_rest=True, has_steps=True)
    assert [f.t_ms for f in found] == [f.t_ms for f in whole.score_samples(block)]


def day(d: int, rest_hr: float | None, steps: int | None = 8000, minutes: int = 360) -> Day:
    return Day(d, (d + 1) * DAY_MS, rest_hr, minutes if rest_hr is not None else 0, steps, 1200)


def test_slow_deviation_catches_a_gradual_rise() -> None:
    det = SlowDeviation(min_days=7)
    found = []
    for d in range(30):
        hr = 60 if d < 20 else 60 + 1.5 * (d - 19)
        if det.judge_day(day(d, hr)):
            found.append(d)
    assert found and min(found) >= 20
    assert det.status() is Status.OK


def test_activity_steps_decline() -> None:
    det = ActivityPattern(min_days=5)
    kinds = [f.kind for d in range(12)
             if (f := det.observe_day(day(d, None, steps=7200 if d < 9 else 1440)))]
    assert "steps_decline" in kinds


def test_data_quality_off_wrist_is_cant_assess() -> None:
    dq = DataQuality()
    dq.score_samples(SampleBlock.build([0], hr_bpm=[60]))
    dq.score_samples(SampleBlock.build(list(range(0, 1_200_000, 30_000))))
    assert dq.status() is Status.CANT_ASSESS


def test_rhythm_ignores_artefacts_and_ectopic_beats() -> None:
    rng = np.random.default_rng(2)
    rr = 850 + rng.integers(-20, 21, 400)
    rr[::37] = 5000  # missed detections: filtered out
    rr[::23] = 520  # premature beats
    det = IrregularRhythm()
    findings, irregular = det.score_beats(BeatBlock.build(rr.tolist()))
    assert findings == [] and not irregular.any() and not det.irregular


def test_rhythm_beat_by_beat_equals_all_at_once() -> None:
    rng = np.random.default_rng(5)
    rr = np.concatenate((800 + rng.integers(-15, 16, 200), rng.integers(400, 1100, 600)))
    whole = IrregularRhythm()
    all_at_once, decisions = whole.score_beats(BeatBlock.build(rr.tolist()))
    parts = IrregularRhythm()
    t0, pieces, found = 0, [], []
    for lo in range(0, len(rr), 7):
        block = BeatBlock.build(rr[lo:lo + 7].tolist(), start_ms=t0)
        t0 = int(block.t_ms[-1])
        f, d = parts.score_beats(block)
        found += f
        pieces.append(d)
    assert [f.t_ms for f in found] == [f.t_ms for f in all_at_once]
    assert np.array_equal(np.concatenate(pieces), decisions)


def test_slow_deviation_short_night_is_not_evidence() -> None:
    det = SlowDeviation(min_days=5)
    for d in range(6):
        assert det.judge_day(day(d, 60)) is None
    # two short nights (20 minutes each, e.g. awake and restless) are "can't assess", not a rise
    assert det.judge_day(day(6, 75, minutes=20)) is None
    assert det.judge_day(day(7, 75, minutes=20)) is None
    assert len(det.history) == 6  # the six full nights; short nights are not learned
    assert det.judge_day(day(8, 66)) is None  # one full high night: not yet
    assert det.judge_day(day(9, 68)) is not None


def test_explanations_say_what_was_compared_since_when_and_how_it_moved() -> None:
    """"Heart rate 36–38 bpm (last 36) for 4 min since 02:03, below this patient's configured
    limit": the range of the episode, its start in the patient's local time, across uploads
    and across a restart of the detector state."""
    start = 2 * 3_600_000 + 3 * 60_000  # 02:03 UTC; the patient is at UTC+1
    bands = ClinicalBands()
    found = []
    for minute, hr in enumerate((38, 37, 38, 37, 36)):
        t0 = start + minute * 60_000
        block = SampleBlock.build([t0 + k * 15_000 for k in range(4)], hr_bpm=[hr] * 4,
                                  at_rest=True, has_steps=True, hour_of_day=3,
                                  utc_offset_ms=3_600_000)
        found += bands.score_samples(block)
        bands = ClinicalBands.from_state(bands.to_state())  # a restart between uploads
    last = found[-1].explanation
    assert last.startswith("Heart rate 36–38 bpm (last 36) for 4 min since 03:03, below this "
                           "patient's configured limit of 40 bpm; at rest"), last
    # heart-rate warnings wait 2 min (hr_persist_ms)
    assert found[0].explanation.startswith("Heart rate 37–38 bpm (last 38) for 2 min since 03:03")


def test_the_desaturation_text_names_missing_news2_parameters_in_one_short_clause() -> None:
    times = list(range(0, 181_000, 30_000))
    block = SampleBlock.build(times, spo2_pct=[86, 85, 84, 85, 86, 85, 84], hr_bpm=[72] * 7,
                              at_rest=True, has_steps=True)
    found = {f.kind: f for f in ClinicalBands().score_samples(block)}
    text = found["desaturation"].explanation
    assert text.startswith("SpO2 84–86% (last 84) for 3 min since 00:00, below this patient's "
                           "configured limit of 90% (NEWS2 SpO2 scale 1)"), text
    assert text.endswith("partial NEWS2 3 (heart rate 0, SpO2 3; without BP, consciousness, "
                         "O₂ therapy, respiration or temperature).")
    assert "missing:" not in text
    news2 = found["news2_partial"].explanation
    assert news2.startswith("The partial NEWS2 3 (heart rate 0, SpO2 3; without BP, "), news2
    assert "at the configured alert level (a single parameter scores 3) for 3 min since 00:00" \
        in news2


def test_a_new_episode_starts_a_new_range() -> None:
    bands = ClinicalBands()
    high = SampleBlock.build([k * 15_000 for k in range(5)], hr_bpm=[160] * 5, at_rest=True,
                             has_steps=True)
    assert "160 bpm" in bands.score_samples(high)[0].explanation
    bands.score_samples(SampleBlock.build([90_000], hr_bpm=[70], at_rest=True, has_steps=True))
    again = SampleBlock.build([600_000 + k * 15_000 for k in range(9)], hr_bpm=[130] * 9,
                              at_rest=True, has_steps=True)  # a warning: held 2 min
    [second] = bands.score_samples(again)
    assert second.explanation.startswith("Heart rate 130 bpm for 2 min since 00:10"), \
        second.explanation


def test_a_high_heart_rate_with_activity_unknown_is_judged_at_night_only() -> None:
    """A device without steps cannot tell exercise from a racing heart by day."""
    from wearmon.models.base import Minute
    from wearmon.models.contextual_hr import ContextualHeartRate

    def run(hour: int) -> list[str]:
        det = ContextualHeartRate(warmup_minutes=30)
        out = []
        for m in range(150):
            hr = 60 + m % 3 if m < 100 else 120
            f = det.observe_minute(Minute(m * 60_000, hour_of_day=hour, hr_samples=6,
                                          hr_mean_bpm=hr, worn=True))
            out += [f.kind] if f else []
        return out

    assert run(hour=14) == []
    assert run(hour=3) and set(run(hour=3)) == {"high_hr_for_patient"}


def test_a_bands_state_saved_before_the_sudden_rule_restores() -> None:
    old = {"settings": BandSettings().to_state(),
           "timers": {"tachycardia_at_rest": [1_000, 46_000], "bradycardia": [-1, -1]},
           "emitted": {"tachycardia_at_rest": 46_000}, "episodes": {}}
    bands = ClinicalBands.from_state(old)
    assert bands.timers["tachycardia_at_rest"].since_ms == 1_000
    assert not bands.timers["tachycardia_at_rest"].sudden
    assert bands.last_hr_ms == [-1, -1]
    again = ClinicalBands.from_state(bands.to_state())
    assert again.to_state() == bands.to_state()

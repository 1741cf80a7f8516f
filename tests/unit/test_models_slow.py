"""The daily illness score (``SlowDeviation.judge_day``): warm-up, sparse nights, steps, one
alert per episode and the larger rise that must not hide behind an earlier alert."""

from __future__ import annotations

from wearmon.models.base import Day, Status
from wearmon.models.slow import SlowDeviation

DAY_MS = 86_400_000


def day(d: int, rest_hr: float | None, steps: int | None = 8000, minutes: int = 360,
        worn: int = 1200) -> Day:
    return Day(d, (d + 1) * DAY_MS, rest_hr, minutes if rest_hr is not None else 0, steps, worn)


def usual(det: SlowDeviation, days: range) -> None:
    for d in days:
        assert det.judge_day(day(d, 60 + (d % 3) - 1)) is None


def test_assessed_after_five_nights_thanks_to_the_population_prior() -> None:
    det = SlowDeviation()
    usual(det, range(4))
    assert det.status() is Status.CANT_ASSESS
    usual(det, range(4, 5))
    assert det.status() is Status.OK
    assert 1.0 < det.spread() < det.prior_sd_bpm  # a steady patient: between the two
    assert [d for d in (5, 6) if det.judge_day(day(d, 70))] == [6]  # a week in: two high nights


def test_a_larger_rise_inside_the_refractory_week_alerts_again() -> None:
    """The missed case of issue 10: a smaller (false) alert, short nights, then +15 bpm."""
    det = SlowDeviation()
    usual(det, range(12))
    first = [d for d in (12, 13) if det.judge_day(day(d, 68))]
    assert first == [13] or first == [12]
    assert det.judge_day(day(14, 60)) is None  # back to baseline
    assert det.judge_day(day(15, 74, minutes=10)) is None  # short nights: can't assess
    assert det.judge_day(day(16, 75, minutes=10)) is None
    found = [d for d in (17, 18, 19) if det.judge_day(day(d, 76))]
    assert found and found[0] <= 18  # within the week after the first alert


def test_sparse_nights_are_still_assessed() -> None:
    det = SlowDeviation()
    usual(det, range(10))
    found = [d for d in (10, 11) if det.judge_day(day(d, 69, minutes=45))]
    assert found == [11]  # 45 resting minutes suffice; one high night is smoothed, two alert


def test_one_alert_per_episode_and_flagged_days_not_learned() -> None:
    det = SlowDeviation()
    usual(det, range(10))
    alerts = [d for d in range(10, 16) if det.judge_day(day(d, 68))]
    assert len(alerts) == 1
    assert alerts == [11]  # the first high night alone (smoothed) is not yet an alert ...
    assert list(det.history).count(68) == 1  # ... and is learned; the episode's nights are not


def test_a_step_decline_adds_to_a_modest_rise() -> None:
    plain, tired = SlowDeviation(), SlowDeviation()
    usual(plain, range(10))
    usual(tired, range(10))
    assert not any(plain.judge_day(day(d, 64)) for d in (10, 11))
    assert any(tired.judge_day(day(d, 64, steps=1500)) for d in (10, 11))


def test_a_day_barely_worn_says_nothing_about_steps() -> None:
    det = SlowDeviation()
    usual(det, range(10))
    assert not any(det.judge_day(day(d, 64, steps=300, worn=60)) for d in (10, 11))


def test_state_round_trip_mid_episode() -> None:
    det = SlowDeviation()
    usual(det, range(10))
    det.judge_day(day(10, 66))
    restored = SlowDeviation.from_state(det.to_state())
    for d, hr in ((11, 67), (12, 61), (13, 70), (14, 71)):
        assert (det.judge_day(day(d, hr)) is None) == (restored.judge_day(day(d, hr)) is None)
    assert det.to_state() == restored.to_state()


def test_a_state_saved_before_the_daily_score_restores() -> None:
    old = {"history": [60.0] * 10, "steps_history": [8000] * 10, "streak": 0, "cusum": 0.0,
           "flagged": 1, "open": False, "last": 60.0, "last_alert": 3}
    det = SlowDeviation.from_state(old)
    assert det.last_alert_day == 3 and det.baseline() == 60.0
    assert any(det.judge_day(day(d, 70)) for d in (20, 21))

"""Activity: the multi-day step decline is reported once per decline, and again after recovery."""

from __future__ import annotations

from wearmon.models.activity import ActivityPattern
from wearmon.models.base import Day

DAY_MS = 86_400_000


def steps_day(d: int, steps: int, worn: int = 1200) -> Day:
    return Day(d, (d + 1) * DAY_MS, None, 0, steps, worn)


def test_one_finding_per_decline_and_declined_days_not_learned() -> None:
    det = ActivityPattern(min_days=5)
    plan = [8000] * 10 + [2000] * 6 + [8000] * 6 + [1500] * 4
    found = [d for d, s in enumerate(plan) if det.observe_day(steps_day(d, s))]
    assert found == [12, 23]  # 3-day means fall below half of usual on days 12 and 23
    assert list(det.daily_steps).count(1500) == 1  # only the day before the decline showed


def test_days_barely_worn_are_skipped() -> None:
    det = ActivityPattern(min_days=5)
    for d in range(10):
        det.observe_day(steps_day(d, 8000))
    assert not any(det.observe_day(steps_day(d, 500, worn=120)) for d in range(10, 16))

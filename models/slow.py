"""Slow deviation: overnight resting heart rate against the patient's baseline over days.

In the spirit of NightSignal (Alavi et al., Nature Medicine 2022) and CuSum alarms. A monitoring
day runs from 07:00 to 07:00 local time, so the night that just ended is judged in the morning,
once per closed ``Day`` (``judge_day``: the daily decision, callable with one day's values). The
day's value is its night's resting heart rate (the stream's features take the median of the
night's resting minutes, one value per minute whatever the device's sampling rate); a night with
too few resting minutes is "can't assess": it is neither evidence nor learned, and it neither
extends nor breaks a run of high nights. The value is compared with the median of the last
``history_days`` learned nights (robust spread: 1.4826 × MAD):

* **NightSignal rule**: ``rise_bpm`` or more above baseline on ``days_in_a_row`` nights in a row;
* **CuSum**: the running sum of standardised rises (minus slack ``cusum_k``) exceeds ``cusum_h``;
  the sum restarts once it has signalled.

A decline in daily steps against the patient's usual is a second signal: it lowers the rule's
threshold to ``rise_with_steps_bpm`` and is named in the explanation. One alert per episode:
while an episode is open (until a night is back under the threshold) and for
``refractory_days`` after an alert, no new alert is raised. Nights of a flagged episode are not
learned; single high nights that raise no alarm are (so the baseline follows slow changes).
State: at most ``history_days`` numbers of each kind.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Day, Finding, Severity, Status


def hist_median(hist: dict[int, int]) -> float | None:
    """Median of a histogram {value: count}.

    >>> hist_median({60: 2, 62: 1, 70: 1})
    61.0
    >>> hist_median({}) is None
    True
    """
    n = sum(hist.values())
    if n == 0:
        return None
    lo_rank, hi_rank = (n - 1) // 2, n // 2
    lo = hi = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo is None and seen > lo_rank:
            lo = value
        if seen > hi_rank:
            hi = value
            break
    assert lo is not None and hi is not None
    return (lo + hi) / 2


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass(slots=True)
class SlowDeviation:
    """Daily resting heart rate against a personal baseline of the previous weeks.

    >>> det = SlowDeviation(min_days=5)
    >>> def night(day, hr, steps=8000):
    ...     return det.judge_day(Day(day, end_ms=day * 86_400_000, rest_hr_bpm=hr,
    ...                              rest_minutes=360, steps=steps, worn_minutes=1200))
    >>> [night(d, 60) for d in range(7)] == [None] * 7
    True
    >>> night(7, 66) is None   # one night up: not yet
    True
    >>> print(night(8, 67).explanation)  # doctest: +ELLIPSIS
    Resting heart rate 67 bpm (overnight) is 7 bpm above this patient's baseline of 60 bpm ...
    """

    name: str = "slow_deviation"
    min_days: int = 10
    history_days: int = 28
    rise_bpm: float = 3.0
    rise_with_steps_bpm: float = 2.5
    days_in_a_row: int = 2
    cusum_k: float = 0.5
    cusum_h: float = 8.0
    min_sd_bpm: float = 1.5
    min_night_minutes: int = 60  # fewer resting night minutes: can't assess
    refractory_days: int = 7  # after an alert, no new alert for a week (one per illness)
    steps_decline: float = 0.6  # a day with steps below 60 % of usual counts as a decline
    history: deque[float] = field(default_factory=deque)
    steps_history: deque[int] = field(default_factory=deque)
    last_alert_day: int = -1_000_000
    streak: int = 0
    cusum: float = 0.0
    repeat_daily: bool = False  # one finding per episode (False) or per day of it (True)
    alarm_open: bool = False
    flagged_days: int = 0
    last_value: float | None = None  # the last judged day's resting heart rate

    def status(self) -> Status:
        return Status.OK if len(self.history) >= self.min_days else Status.CANT_ASSESS

    def baseline(self) -> float | None:
        return _median(list(self.history)) if len(self.history) >= self.min_days else None

    def judge_day(self, day: Day) -> Finding | None:
        """The daily decision for one closed day (its night's resting HR and its steps)."""
        value = day.rest_hr_bpm if day.rest_minutes >= self.min_night_minutes else None
        usual_steps = (
            _median([float(s) for s in self.steps_history])
            if len(self.steps_history) >= self.min_days
            else None
        )
        declined = (
            day.steps is not None
            and usual_steps is not None
            and usual_steps > 0
            and day.steps < self.steps_decline * usual_steps
        )
        if day.steps is not None and value is not None and not declined:
            self.steps_history.append(day.steps)
            while len(self.steps_history) > self.history_days:
                self.steps_history.popleft()
        if value is None:
            return None  # not enough of the night measured: can't assess (no evidence, no learning)
        self.last_value = value
        if len(self.history) < self.min_days:
            self._learn(value)
            return None
        hist = list(self.history)
        base = _median(hist)
        sd = max(1.4826 * _median([abs(v - base) for v in hist]), self.min_sd_bpm)
        rise = value - base
        limit = self.rise_with_steps_bpm if declined else self.rise_bpm
        self.streak = self.streak + 1 if rise >= limit else 0
        self.cusum = max(0.0, self.cusum + rise / sd - self.cusum_k)
        rule = self.streak >= self.days_in_a_row
        cusum_alarm = self.cusum >= self.cusum_h
        flagged = rule or cusum_alarm
        if cusum_alarm:
            self.cusum = 0.0  # a CuSum restarts once it has signalled
        if not flagged and not self.alarm_open:
            self._learn(value)  # single high nights are learned; flagged episodes are not
        if not flagged:
            if rise < limit:
                self.alarm_open = False  # back to baseline: the next rise is a new episode
            return None
        if self.alarm_open and not self.repeat_daily:
            return None  # the episode's alert is already out; days of it are not new alerts
        if day.day - self.last_alert_day < self.refractory_days:
            return None  # within a week of the last alert: no new alert (it may repeat after)
        self.alarm_open = True
        self.last_alert_day = day.day
        self.flagged_days += 1
        why = []
        if rule:
            why.append(
                f"the {self.streak}{_ordinal(self.streak)} day in a row ≥ {limit:.0f} bpm "
                "above baseline"
            )
        if cusum_alarm:
            why.append("a sustained upward drift (CuSum alarm)")
        steps_words = ""
        if declined and usual_steps is not None and day.steps is not None:
            steps_words = (
                f"; daily steps fell to {day.steps:,} from a usual "
                f"{usual_steps:,.0f} ({100 * (day.steps / usual_steps - 1):.0f}%)"
            )
        return Finding(
            self.name,
            day.end_ms,
            Severity.WARNING,
            rise / sd,
            value,
            base,
            f"Resting heart rate {value:.0f} bpm (overnight) is {rise:.0f} bpm above this "
            f"patient's baseline of {base:.0f} bpm (median of the last {len(hist)} nights, "
            f"±{sd:.1f}): {' and '.join(why)}{steps_words}. Possible illness or other strain.",
            kind="resting_hr_rise",
        )

    def _learn(self, value: float) -> None:
        self.history.append(value)
        while len(self.history) > self.history_days:
            self.history.popleft()

    def to_state(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "steps_history": list(self.steps_history),
            "streak": self.streak,
            "cusum": self.cusum,
            "flagged": self.flagged_days,
            "open": self.alarm_open,
            "last": self.last_value,
            "last_alert": self.last_alert_day,
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> SlowDeviation:
        det = cls()
        det.history = deque(float(v) for v in st["history"])
        det.steps_history = deque(int(v) for v in st["steps_history"])
        det.streak, det.cusum = int(st["streak"]), float(st["cusum"])
        det.flagged_days = int(st["flagged"])
        det.alarm_open = bool(st["open"])
        det.last_value = None if st["last"] is None else float(st["last"])
        det.last_alert_day = int(st.get("last_alert", det.last_alert_day))
        return det


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")

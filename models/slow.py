"""Slow deviation: a daily illness score from the night's resting heart rate and the day's steps.

A monitoring day runs from 07:00 to 07:00 local time, so the night that just ended is judged in
the morning, once per closed ``Day`` (``judge_day``: the daily decision, a function of one day's
values, so the same code scores the stream and a table of daily values). Each day gets one score:

* **resting-heart-rate rise**: the night's resting heart rate against the median of the last
  ``history_days`` learned nights, in standard deviations. The spread is the patient's robust
  spread (1.4826 × MAD) shrunk towards a population prior (``prior_sd_bpm``, worth
  ``prior_nights`` nights), so a patient is assessed after ``min_days`` nights instead of weeks;
* **plus a step decline**: how far the day's steps fell below the patient's usual (median of the
  learned days, on a log scale, ``steps_scale`` per unit); only a decline counts, only on days
  worn for at least ``min_worn_minutes``, weighted by ``steps_weight``.

The day's score is the mean over the last ``smooth_days`` assessed nights within
``max_gap_days`` calendar days (a night missing there counts as no evidence): one high night is
not an illness, and nights that cannot be assessed neither break nor count in a run of high
nights. An alert is raised when the score reaches ``alert_score`` (set by the ward's alarm
budget through the population curve, ``models.alarm_budget``; ``ALERT_SCORE`` by default). One
alert per episode:
while the score stays high, and for ``refractory_days`` after an alert, no new alert is raised,
unless the score reaches ``escalate_ratio`` times the last alert's score (a clearly larger rise
is not hidden behind an earlier, smaller one).

A night with fewer than ``min_night_minutes`` resting minutes is "can't assess": it is neither
evidence nor learned, and it neither extends nor ends an episode. Days of a flagged episode are
not learned. State: at most ``history_days`` numbers of each kind.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wearmon.models.base import Day, Finding, Severity, Status

#: Score at which an illness alert is raised unless the patient's ward sets an alarm budget:
#: the threshold the default budget (``alarm_budget.DEFAULT_BUDGET``, 0.5 false alert-days per
#: patient-month) picks on the population curve that ships (``illness_budget_curve.json``,
#: fitted on the 67 covid-daily people; a test keeps the two equal). Each covid-daily person's
#: published figure uses the threshold chosen without that person (leave-one-patient-out).
ALERT_SCORE = 3.625
#: Changes whenever the score's definition changes: the shipped population curve
#: (``models/illness_budget_curve.json``) must have been made with the same version.
SCORE_VERSION = 1
#: Population prior of the day-to-day spread of resting heart rate (bpm): a fixed round value,
#: not fitted (wearable resting heart rate varies by about 2-3 bpm from day to day).
PRIOR_SD_BPM = 2.5
STEPS_OFFSET = 1000  # steps added before the log ratio, so that quiet days do not dominate


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def steps_decline(steps: int, usual_steps: float, scale: float) -> float:
    """How far ``steps`` fell below the usual, in units of ``scale`` on a log scale (≥ 0).

    >>> steps_decline(8000, 8000, 0.35), round(steps_decline(2000, 8000, 0.35), 2)
    (0.0, 3.14)
    """
    ratio = (steps + STEPS_OFFSET) / (usual_steps + STEPS_OFFSET)
    return max(0.0, -math.log(ratio)) / scale


@dataclass(slots=True)
class SlowDeviation:
    """Daily resting heart rate and steps against the patient's own previous weeks.

    >>> det = SlowDeviation(min_days=5)
    >>> def night(day, hr, steps=8000):
    ...     return det.judge_day(Day(day, end_ms=day * 86_400_000, rest_hr_bpm=hr,
    ...                              rest_minutes=360, steps=steps, worn_minutes=1200))
    >>> [night(d, 60 + d % 2) for d in range(7)] == [None] * 7
    True
    >>> night(7, 68) is None   # one night up: not yet
    True
    >>> print(night(8, 69, steps=3000).explanation)  # doctest: +ELLIPSIS
    Resting heart rate 69 bpm (overnight) is 8 bpm above this patient's baseline of 60 bpm ...
    """

    name: str = "slow_deviation"
    min_days: int = 5
    history_days: int = 28
    prior_sd_bpm: float = PRIOR_SD_BPM
    prior_nights: float = 7.0
    steps_weight: float = 1.0
    steps_scale: float = 0.35
    smooth_days: int = 2  # assessed nights averaged into the day's score ...
    max_gap_days: int = 4  # ... looking back at most this many days
    alert_score: float = ALERT_SCORE
    min_night_minutes: int = 30  # fewer resting night minutes: can't assess
    min_worn_minutes: int = 120  # less wear (2 h): the day's steps are not compared
    refractory_days: int = 7  # after an alert, no new alert for a week (one per illness) ...
    escalate_ratio: float = 1.5  # ... unless the score is this much higher than that alert's
    history: deque[float] = field(default_factory=deque)
    steps_history: deque[int] = field(default_factory=deque)
    recent: list[tuple[int, float]] = field(default_factory=list)  # (day, score) to smooth
    last_alert_day: int = -1_000_000
    last_alert_score: float = 0.0
    alarm_open: bool = False
    flagged_days: int = 0
    last_value: float | None = None  # the last judged day's resting heart rate
    last_score: float | None = None  # the last judged day's (smoothed) score

    def status(self) -> Status:
        return Status.OK if len(self.history) >= self.min_days else Status.CANT_ASSESS

    def baseline(self) -> float | None:
        return _median(list(self.history)) if len(self.history) >= self.min_days else None

    def spread(self) -> float:
        """The patient's robust spread shrunk towards the population prior (bpm)."""
        hist = list(self.history)
        base = _median(hist)
        mad_sd = 1.4826 * _median([abs(v - base) for v in hist])
        n = len(hist)
        return math.sqrt((n * mad_sd**2 + self.prior_nights * self.prior_sd_bpm**2)
                         / (n + self.prior_nights))

    def judge_day(self, day: Day) -> Finding | None:
        """The daily decision for one closed day (its night's resting HR and its steps)."""
        if day.rest_hr_bpm is None or day.rest_minutes < self.min_night_minutes:
            return None  # not enough of the night measured: can't assess (no evidence, no learning)
        value = day.rest_hr_bpm
        steps = day.steps if day.worn_minutes >= self.min_worn_minutes else None
        self.last_value = value
        if len(self.history) < self.min_days:
            self._learn(value, steps)
            return None
        base, sd = _median(list(self.history)), self.spread()
        usual = (_median([float(s) for s in self.steps_history])
                 if len(self.steps_history) >= self.min_days else None)
        decline = (steps_decline(steps, usual, self.steps_scale)
                   if steps is not None and usual is not None else 0.0)
        today = (value - base) / sd + self.steps_weight * decline
        self.recent = [(d, s) for d, s in self.recent if day.day - d < self.max_gap_days]
        self.recent = [*self.recent, (day.day, today)][-self.smooth_days:]
        score = sum(s for _, s in self.recent) / self.smooth_days  # fewer nights: less evidence
        self.last_score = score
        if score < self.alert_score:
            if not self.alarm_open:
                self._learn(value, steps)  # days of a flagged episode are not learned
            self.alarm_open = False  # back under the threshold: the next rise is a new episode
            return None
        quiet = self.alarm_open or day.day - self.last_alert_day < self.refractory_days
        self.alarm_open = True
        if quiet and score < self.escalate_ratio * self.last_alert_score:
            return None  # this episode's alert is already out
        self.last_alert_day, self.last_alert_score = day.day, score
        self.flagged_days += 1
        return self._finding(day, value, base, sd, score, steps, usual, decline)

    def _finding(self, day: Day, value: float, base: float, sd: float, score: float,
                 steps: int | None, usual: float | None, decline: float) -> Finding:
        steps_words = ""
        if steps is not None and usual is not None and decline > 0:
            steps_words = (f"; daily steps fell to {steps:,} from a usual {usual:,.0f} "
                           f"({100 * (steps / max(usual, 1.0) - 1):.0f}%)")
        days = len(self.recent)
        return Finding(
            self.name,
            day.end_ms,
            Severity.WARNING,
            score,
            value,
            base,
            f"Resting heart rate {value:.0f} bpm (overnight) is {value - base:.0f} bpm above "
            f"this patient's baseline of {base:.0f} bpm (median of the last {len(self.history)}"
            f" nights, ±{sd:.1f}){steps_words}. Illness score {score:.1f} over the last {days} "
            f"night{'s' if days > 1 else ''} (alert at {self.alert_score:g}). Possible illness "
            "or other strain.",
            kind="resting_hr_rise",
        )

    def _learn(self, value: float, steps: int | None) -> None:
        self.history.append(value)
        while len(self.history) > self.history_days:
            self.history.popleft()
        if steps is not None:
            self.steps_history.append(steps)
            while len(self.steps_history) > self.history_days:
                self.steps_history.popleft()

    def to_state(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "steps_history": list(self.steps_history),
            "recent": self.recent,
            "flagged": self.flagged_days,
            "open": self.alarm_open,
            "last": self.last_value,
            "score": self.last_score,
            "last_alert": [self.last_alert_day, self.last_alert_score],
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> SlowDeviation:
        """Restore; a state saved before the daily score (no ``recent``) restores its history."""
        det = cls()
        det.history = deque(float(v) for v in st["history"])
        det.steps_history = deque(int(v) for v in st["steps_history"])
        det.recent = [(int(d), float(s)) for d, s in st.get("recent", [])]
        det.flagged_days = int(st["flagged"])
        det.alarm_open = bool(st["open"])
        det.last_value = None if st["last"] is None else float(st["last"])
        det.last_score = None if st.get("score") is None else float(st["score"])
        last_alert = st.get("last_alert", [det.last_alert_day, 0.0])
        if not isinstance(last_alert, list):
            last_alert = [last_alert, 0.0]
        det.last_alert_day, det.last_alert_score = int(last_alert[0]), float(last_alert[1])
        return det
